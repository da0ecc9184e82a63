// `passthrough verify`: after the reboot, prove the plan took effect (src/apply/verify.ts).
// The expectation comes from the newest applied journal that covers the devices, else from
// planning for --device on the host as it is.

import { bootTimeOf } from "../../apply/pending-reboot.js";
import { listJournals } from "../../apply/history.js";
import { hostRootSource, type LoadedJournal } from "../../apply/journal.js";
import { verifyHost } from "../../apply/verify.js";
import { bootloaderOf } from "../../boot/loaders.js";
import { EXIT, InputError } from "../../errors.js";
import { openHostRoot, type OpenedRoot } from "../../host/open-root.js";
import { normalizePciAddress } from "../../host/pci/read-pci.js";
import { readHostState } from "../../host/read-host.js";
import type { HostRoot } from "../../host/root.js";
import type { HostState } from "../../host/types.js";
import type { Expectation, Planner } from "../../plan/types.js";
import { printJson, type CommandContext } from "../context.js";
import type { CommandRegistration } from "../registration.js";
import { renderFinding } from "../render/finding-line.js";
import { addPlanChoiceFlags, openPlanRoot, planOptionsFrom, type PlanFlags } from "./plan.js";

type VerifyOptions = PlanFlags;

/** --device values as full addresses (slots or functions), for matching a journal's selection. */
function deviceList(flags: Pick<PlanFlags, "device">): string[] {
  return (flags.device ?? [])
    .flatMap((d) => d.split(","))
    .map((d) => d.trim())
    .filter(Boolean)
    .map((d) => {
      const a = normalizePciAddress(d);
      if (a === null)
        throw new InputError(
          `--device ${d}: not a PCI address; write it like 0000:01:00 (a slot) or 0000:01:00.0 (a function)`,
        );
      return a;
    });
}

function groupList(flags: Pick<PlanFlags, "group">): number[] {
  return (flags.group ?? []).map((g) => {
    if (!/^\d+$/.test(g.trim()))
      throw new InputError(
        `--group ${g}: not a group number; \`passthrough list\` shows the IOMMU groups`,
      );
    return Number(g.trim());
  });
}

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

/** Does this journal's plan cover every requested device (slot or function)? */
export function journalCovers(
  j: LoadedJournal,
  devices: readonly string[],
  groups: readonly number[],
): boolean {
  const fns = j.plan.selection?.functions ?? [];
  return (
    devices.every((d) => fns.some((f) => f === d || f.startsWith(`${d}.`))) &&
    groups.every((g) => (j.plan.selection?.groups ?? []).includes(g))
  );
}

interface ExpectationSource {
  expect: Expectation;
  source:
    { kind: "journal"; id: string; appliedAt: string | null; path: string } | { kind: "plan" };
  allowUnsafe: boolean;
}

function fromJournal(
  root: HostRoot,
  devices: string[],
  groups: number[],
  unreadable: string[],
): ExpectationSource | null {
  const source = hostRootSource(root);
  for (const e of listJournals(source)) {
    if (!e.ok) unreadable.push(`${e.id}: ${e.error}`);
    if (!e.ok || e.summary.status !== "applied") continue;
    if (!journalCovers(e.journal, devices, groups)) continue;
    const j = e.journal;
    // The opt-in travels in the plan itself: the modprobe option it writes.
    const allowUnsafe = j.plan.steps.some(
      (s) =>
        s.kind === "file" &&
        s.after !== null &&
        /allow_unsafe_interrupts\s*=\s*(1|y)/i.test(s.after),
    );
    return {
      expect: j.plan.expect,
      source: {
        kind: "journal",
        id: j.id,
        appliedAt: e.summary.finishedAt,
        path: source.where(j.dir),
      },
      allowUnsafe,
    };
  }
  return null;
}

function bootTime(root: HostRoot): Date | null {
  const r = root.readText("proc/stat");
  return bootTimeOf(r.ok ? r.value : null);
}

/** The configuration the boot loader's refresh generated (grub.cfg), when this host has one to read. */
function grubCfg(root: HostRoot, state: HostState): string | null {
  for (const p of bootloaderOf(state.bootloader).generated(state.bootloader)) {
    const r = root.readText(p);
    if (r.ok) return r.value;
  }
  return null;
}

function verifyCommand(ctx: CommandContext, opts: VerifyOptions, planner: Planner): number {
  if (opts.snapshot !== undefined && opts.root !== undefined)
    throw new InputError("give --snapshot or --root, not both");
  const opened: OpenedRoot =
    opts.root !== undefined ? openPlanRoot({ root: opts.root }) : openHostRoot(opts.snapshot);
  const state = readHostState(opened.root, { manifest: opened.manifest });
  const devices = deviceList(opts);
  const groups = groupList(opts);

  const unreadable: string[] = [];
  let exp = fromJournal(opened.root, devices, groups, unreadable);
  if (!exp) {
    if (devices.length === 0 && groups.length === 0) {
      const why = unreadable.length ? ` (could not read ${unreadable.join("; ")})` : "";
      throw new InputError(
        `no applied journal in ${hostRootSource(opened.root).where("/var/lib/passthrough/journal")}${why}; pass --device 0000:01:00 (with the flags you applied with) to verify against a fresh plan`,
      );
    }
    const plan = planner(state, planOptionsFrom(opts));
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
    grubCfg: grubCfg(opened.root, state),
    bootedAt: bootTime(opened.root),
    appliedAt,
  });

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
  const { style } = ctx;
  const from =
    exp.source.kind === "journal"
      ? `expectation from journal ${exp.source.id}`
      : "expectation from a fresh plan";
  ctx.out(
    style.bold(`passthrough verify — ${state.system.hostname ?? opened.root.label} · ${from}`),
    "",
  );
  const width = Math.max(...report.findings.map((f) => f.id.length), 10);
  for (const f of report.findings) ctx.out(...renderFinding(f, style, width));
  ctx.out("");
  if (report.ok) {
    ctx.out(
      style.green("Verified: everything planned is in effect.") +
        " Next: passthrough vm configure (the VM that gets the device).",
    );
    return EXIT.ok;
  }
  const failed = report.findings.filter((f) => f.status === "fail");
  ctx.out(
    style.red(`Not verified: ${failed.length} problem${failed.length === 1 ? "" : "s"}.`) +
      (failed[0]?.fix ? ` Start with: ${failed[0].fix}` : ""),
  );
  return EXIT.problems;
}
