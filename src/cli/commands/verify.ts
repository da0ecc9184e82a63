// `passthrough verify`: after the reboot, prove the plan took effect (src/apply/verify.ts).
// The expectation comes from the newest applied journal that covers the devices, else from
// planning for --device on the host as it is.

import { fromJournal, type ExpectationSource } from "../../apply/expectation.js";
import { readFirstText } from "../../host/root.js";
import { readBootTime } from "../../host/system.js";
import { hostRootSource } from "../../apply/journal.js";
import { verifyHost, type VerifyReport } from "../../apply/verify.js";
import { bootloaderOf } from "../../boot/loaders.js";
import { EXIT, InputError } from "../../errors.js";
import { openHostRoot, type OpenedRoot } from "../../host/open-root.js";
import { parseGroupArgs } from "../../formats/device-selection.js";
import { selectDevices } from "../options.js";
import { readHostState } from "../../host/read-host.js";
import type { HostState } from "../../host/types.js";
import type { Planner } from "../../plan/types.js";
import { printJson, type CommandContext } from "../context.js";
import type { CommandRegistration } from "../registration.js";
import { renderFinding } from "../render/finding-line.js";
import { maxWidth, type Style } from "../render/style.js";
import { addPlanChoiceFlags, openPlanRoot, planOptionsFrom, type PlanFlags } from "./plan.js";

type VerifyOptions = PlanFlags;

export function registerVerifyWith(planner: Planner): CommandRegistration {
  return (program, run) => {
    const cmd = program
      .command("verify")
      .description(
        "after the reboot: prove the planned kernel parameters, IOMMU, vfio modules and vfio-pci binding are in effect",
      )
      .addHelpText(
        "after",
        `
Checks /proc/cmdline for every planned parameter, that the IOMMU and interrupt remapping are
on (or the opted-in unsafe mode), that the vfio modules are loaded, and that every function
of the devices and every other endpoint of their IOMMU groups is on vfio-pci (or no driver).
Each failure names its most likely cause and the fix: boot loader config not refreshed, no
reboot yet, initramfs not rebuilt, native driver loaded first (softdep missing), ...

What to expect comes from the newest applied journal for the devices
(/var/lib/passthrough/journal), else from planning for --device with the same flags as apply.

Exit codes: 0 everything holds, 1 something does not, 2 usage or input error.

Examples:
  passthrough verify
  passthrough verify --device 0000:01:00 --json
  passthrough verify --snapshot after-reboot.tar.gz`,
      );
    addPlanChoiceFlags(cmd)
      .option(
        "--snapshot <path>",
        "verify a snapshot (folder or .tar.gz made by `passthrough snapshot`) instead of this host",
      )
      .option("--root <dir>", "verify the tree an apply --root wrote to (its journal and files)")
      .option(
        "--json",
        "print one JSON object: {ok, source, expect, rebooted, findings[], functions[]}",
      );
    cmd.action(run<VerifyOptions>((ctx, opts) => verifyCommand(ctx, opts, planner)));
  };
}

export interface VerifyOutcome {
  exp: ExpectationSource;
  report: VerifyReport;
}

/**
 * What `verify` concludes for the host read from `opened`: against the newest applied journal
 * that covers the devices, else (unless `journalOnly`) against a fresh plan. Null only with
 * `journalOnly` and no such journal.
 */
export function verifyOpened(
  ctx: Pick<CommandContext, "err">,
  opened: OpenedRoot,
  state: HostState,
  opts: VerifyOptions,
  planner: Planner,
  journalOnly = false,
): VerifyOutcome | null {
  const devices = selectDevices(ctx, state.pci, opts.device).map((d) => d.address);
  const groups = parseGroupArgs(opts.group);

  const unreadable: string[] = [];
  let exp = fromJournal(opened.root, devices, groups, unreadable);
  if (!exp) {
    if (journalOnly) return null;
    if (devices.length === 0 && groups.length === 0) {
      const why = unreadable.length ? ` (could not read ${unreadable.join("; ")})` : "";
      throw new InputError(
        `no applied journal in ${hostRootSource(opened.root).where("/var/lib/passthrough/journal")}${why}; pass --device 0000:01:00 (with the flags you applied with) to verify against a fresh plan`,
      );
    }
    const plan = planner(state, { ...planOptionsFrom(opts), devices });
    exp = {
      expect: plan.expect,
      source: { kind: "plan" },
      allowUnsafe: opts.allowUnsafeInterrupts === true,
    };
  }
  const appliedAt =
    exp.source.kind === "journal" && exp.source.appliedAt ? new Date(exp.source.appliedAt) : null;
  const report = verifyHost({
    state,
    expect: exp.expect,
    allowUnsafeInterrupts: exp.allowUnsafe || opts.allowUnsafeInterrupts === true,
    grubCfg: readFirstText(opened.root, bootloaderOf(state.bootloader).generated(state.bootloader)),
    bootedAt: readBootTime(opened.root),
    appliedAt,
  });
  return { exp, report };
}

/** `verify` as people read it: the header, one line per finding, the verdict. */
export function renderVerify(hostLabel: string, outcome: VerifyOutcome, style: Style): string[] {
  const { exp, report } = outcome;
  const from =
    exp.source.kind === "journal"
      ? `expectation from journal ${exp.source.id}`
      : "expectation from a fresh plan";
  const lines = [style.bold(`passthrough verify — ${hostLabel} · ${from}`), ""];
  const width = maxWidth(
    report.findings.map((f) => f.id.length),
    10,
  );
  for (const f of report.findings) lines.push(...renderFinding(f, style, width));
  lines.push("");
  if (report.ok) {
    lines.push(
      style.green("Verified: everything planned is in effect.") +
        " Next: passthrough vm configure (the VM that gets the device).",
    );
    return lines;
  }
  const failed = report.findings.filter((f) => f.status === "fail");
  lines.push(
    style.red(`Not verified: ${failed.length} problem${failed.length === 1 ? "" : "s"}.`) +
      (failed[0]?.fix ? ` Start with: ${failed[0].fix}` : ""),
  );
  return lines;
}

function verifyCommand(ctx: CommandContext, opts: VerifyOptions, planner: Planner): number {
  if (opts.snapshot !== undefined && opts.root !== undefined)
    throw new InputError("give --snapshot or --root, not both");
  const opened: OpenedRoot =
    opts.root !== undefined ? openPlanRoot({ root: opts.root }) : openHostRoot(opts.snapshot);
  const state = readHostState(opened.root, { manifest: opened.manifest });
  const { exp, report } = verifyOpened(ctx, opened, state, opts, planner)!;
  if (opts.json) {
    printJson(ctx, {
      ok: report.ok,
      source: exp.source,
      expect: exp.expect,
      rebooted: report.rebooted,
      findings: report.findings,
      functions: report.functions,
    });
    return report.ok ? EXIT.ok : EXIT.problems;
  }
  ctx.out(renderVerify(state.system.hostname ?? opened.root.label, { exp, report }, ctx.style));
  return report.ok ? EXIT.ok : EXIT.problems;
}
