// `passthrough apply`: plan from the host as it is now, show the plan, ask, and run exactly
// that plan with a journal (src/apply/executor.ts). Nothing to do -> exit 0 without a journal,
// so running apply twice changes nothing the second time.

import { quoteArgv } from "../../process/quote.js";
import { describeOutcome } from "../../process/run.js";
import {
  describeStep,
  executePlan,
  type ExecuteResult,
  type Progress,
} from "../../apply/executor.js";
import { listJournals } from "../../apply/history.js";
import { writerSource } from "../../apply/journal.js";
import { ApplyLock } from "../../apply/lock.js";
import { alreadyAppliedAwaitingReboot } from "../../apply/pending-reboot.js";
import { bootTimeOf } from "../../host/system.js";
import { ApplyError, EXIT, InputError } from "../../errors.js";
import { NOTHING_SELECTED } from "../../formats/device-selection.js";
import { openHostRoot } from "../../host/open-root.js";
import { readHostState } from "../../host/read-host.js";
import type { HostState } from "../../host/types.js";
import type { Plan, Planner } from "../../plan/types.js";
import {
  addTargetOptions,
  applyTarget,
  type ApplyTarget,
  type TargetOptions,
} from "../apply-target.js";
import { confirmed, requireAnswerable } from "../confirm.js";
import type { CommandContext } from "../context.js";
import { isInteractive } from "../io.js";
import { type CommandRegistration } from "../registration.js";
import { VERSION } from "../../version.js";
import { renderFinding } from "../render/finding-line.js";
import { renderPlanText } from "../render/plan-text.js";
import {
  addPlanChoiceFlags,
  onHost,
  openPlanRoot,
  planOptionsFrom,
  type PlanFlags,
} from "./plan.js";

export interface ApplyOptions extends PlanFlags, TargetOptions {
  yes?: boolean;
}

export function registerApplyWith(planner: Planner): CommandRegistration {
  return (program, run) => {
    const cmd = program
      .command("apply")
      .description(
        "plan from this host as it is now, show the plan, and (after confirmation) make the changes with a journal",
      )
      .addHelpText(
        "after",
        `
Runs exactly the plan it shows, re-made from the host at this moment. Before any change it
writes a journal to /var/lib/passthrough/journal/<id>/ (the plan, the exact bytes, mode and
owner of every file it will touch, and a log of every step and command), so
\`passthrough rollback\` can undo it — also after a failure, a kill or a power cut.
Files are replaced atomically; commands run from argv, never through a shell. One run at a
time (a lock). Needs root, except with --root.

Exit codes: 0 done or nothing to do, 2 usage (no terminal and no --yes, not root),
            3 refused for safety (nothing written), 4 a step failed (journal says what ran).

Examples:
  sudo passthrough apply --device 0000:01:00
  sudo passthrough apply --device 0000:01:00 --yes          (no terminal: scripts, Ansible)
  passthrough apply --device 0000:01:00 --root /mnt/image   (files only; commands listed)`,
      );
    addTargetOptions(addPlanChoiceFlags(cmd)).option(
      "-y, --yes",
      "answer the confirmation (required without a terminal)",
    );
    cmd.action(run<ApplyOptions>((ctx, opts) => runApply(ctx, opts, planner)));
  };
}

/** The host the plan is made from: this host, or the tree under --root (read as `plan --root` reads it). */
export function readTargetHost(target: ApplyTarget): HostState {
  const opened = target.live ? openHostRoot(undefined) : openPlanRoot({ root: target.rootDir });
  return readHostState(opened.root, { manifest: opened.manifest });
}

function readProcStat(target: ApplyTarget): string | null {
  const b = writerSource(target.writer).read("/proc/stat");
  return b === null ? null : b.toString("utf8");
}

/** Steps that change something (the reboot is the user's to do). */
export function changeCount(plan: Plan): number {
  return plan.steps.filter((s) => s.kind !== "reboot").length;
}

export function rollbackHint(id: string, target: ApplyTarget, interactive: boolean): string {
  return ["passthrough", "rollback", id, ...target.flags, ...(interactive ? [] : ["--yes"])].join(
    " ",
  );
}

/**
 * Plan, show, confirm and carry out with a journal: `apply` with planHost, and `mode vm|host
 * --persist` with planHost or planUnbind (the same flow, lock and journal for both).
 */
export async function runApply(
  ctx: CommandContext,
  opts: ApplyOptions,
  planner: Planner,
  /** The functions to plan for, read on the target host (default: --device widened to slots). */
  devicesOn?: (state: HostState) => string[],
): Promise<number> {
  const flagOpts = planOptionsFrom(opts);
  if (flagOpts.devices.length === 0 && flagOpts.groups.length === 0)
    throw new InputError(NOTHING_SELECTED);
  const target = applyTarget(opts, "apply");
  requireAnswerable(ctx.io, opts.yes, "apply");
  const { style } = ctx;
  const lock = ApplyLock.acquire(target.writer, "apply");
  try {
    const state = readTargetHost(target);
    const planOpts = devicesOn
      ? { ...flagOpts, devices: devicesOn(state) }
      : onHost(ctx, state, flagOpts, opts);
    const plan = planner(state, planOpts);
    const where = target.live ? (state.system.hostname ?? "this host") : target.rootDir;
    const notes = plan.findings.filter(
      (f) => f.status === "warn" || f.status === "fail" || f.status === "info",
    );
    const bootedAt = bootTimeOf(readProcStat(target));
    const awaiting =
      changeCount(plan) > 0
        ? alreadyAppliedAwaitingReboot(
            plan,
            state,
            listJournals(writerSource(target.writer)),
            bootedAt,
          )
        : null;
    if (awaiting) {
      ctx.out(
        `Nothing to do: journal ${awaiting.journalId} applied this at ${awaiting.appliedAt} and the files still hold what it wrote; only the reboot is pending.`,
      );
      ctx.out(
        `Next: reboot, then passthrough verify${target.live ? "" : ` --root ${target.rootDir}`}`,
      );
      return EXIT.ok;
    }
    if (changeCount(plan) === 0) {
      ctx.out(
        `Nothing to do: ${where} is already configured for ${plan.selection.functions.join(", ") || planOpts.devices.join(", ")}.`,
      );
      for (const f of notes) ctx.out(renderFinding(f, style));
      ctx.out(
        `Next: ${plan.steps.some((s) => s.kind === "reboot") ? "reboot, then " : ""}passthrough verify${target.live ? "" : ` --root ${target.rootDir}`}`,
      );
      return EXIT.ok;
    }
    // Exactly what `plan` shows for the same flags, without its "Next: passthrough apply" line.
    const shown = renderPlanText(state, plan, planOpts, style).filter(
      (l) => !l.startsWith("Next: "),
    );
    while (shown.length && shown[shown.length - 1] === "") shown.pop();
    ctx.out(shown);
    if (!target.live)
      ctx.out("", `Files go under ${target.rootDir}; commands ${target.runner.description}.`);
    ctx.out("");
    const n = changeCount(plan);
    if (
      !(await confirmed(
        ctx.io,
        opts.yes,
        `Apply these ${n} change${n === 1 ? "" : "s"}?`,
        "applying",
      ))
    ) {
      ctx.out("Not applied; nothing was changed.");
      return EXIT.ok;
    }
    const result = executePlan({
      plan,
      writer: target.writer,
      runner: target.runner,
      version: VERSION,
      bootedAt,
      onProgress: (p) => progress(ctx, p),
    });
    return report(ctx, plan, result, target);
  } finally {
    lock.release();
  }
}

function progress(ctx: CommandContext, p: Progress): void {
  const { style } = ctx;
  const n = `[${p.step + 1}/${p.total}]`;
  if (p.phase === "start" && p.kind === "command") ctx.out(`${style.dim(n)} ${p.what} ...`);
  if (p.phase === "done") {
    const o = p.outcome;
    const mark = style.green("✓");
    if (o.kind === "command")
      ctx.out(
        `${style.dim(n)} ${mark} ${o.what}: ${o.command ? describeOutcome(o.command) : "ok"}${o.command?.ran ? ` (${(o.command.durationMs / 1000).toFixed(1)} s)` : ""}`,
      );
    else if (o.kind === "reboot")
      ctx.out(
        `${style.dim(n)} ${style.yellow("…")} reboot: yours to do (passthrough never reboots on its own)`,
      );
    else
      ctx.out(
        `${style.dim(n)} ${mark} ${o.what}${o.result === "unchanged" ? " (already as planned)" : ""}`,
      );
  }
  if (p.phase === "failed") ctx.out(`${style.dim(n)} ${style.red("✗")} ${p.error}`);
}

function report(ctx: CommandContext, plan: Plan, r: ExecuteResult, target: ApplyTarget): number {
  const { style } = ctx;
  const restore = rollbackHint(r.journalId, target, isInteractive(ctx.io));
  ctx.out("");
  if (r.status === "failed") {
    const f = r.failure!;
    ctx.out(style.red(`Stopped at step ${f.step + 1} of ${plan.steps.length}: ${f.what}`));
    if (f.command && (f.command.stderr || f.command.stdout)) {
      const out = (f.command.stderr.trim() || f.command.stdout.trim()).split("\n").slice(-8);
      ctx.out("  last output:", ...out.map((l) => `    ${l}`));
    }
    ctx.out(
      `Done before it: ${r.outcomes.length ? r.outcomes.map((o) => o.what).join("; ") : "nothing"}.`,
    );
    if (r.notRun.length)
      ctx.out(
        `Not run: ${r.notRun.map((k) => `${k + 1}. ${describeStep(plan.steps[k]!)}`).join("; ")}.`,
      );
    ctx.out(`Journal: ${r.journalPath}`);
    if (r.journalProblem) ctx.out(style.yellow(r.journalProblem));
    ctx.out(`To restore every file as it was: ${restore}`);
    throw new ApplyError(
      `apply failed at step ${f.step + 1} of ${plan.steps.length} (${f.error}); restore with \`${restore}\``,
    );
  }
  ctx.out(
    style.green(`Applied ${r.outcomes.length} step${r.outcomes.length === 1 ? "" : "s"}.`) +
      ` Journal ${r.journalId}: ${r.journalPath}`,
  );
  if (r.journalProblem) ctx.out(style.yellow(r.journalProblem));
  const listed = r.outcomes.filter((o) => o.command && !o.command.ran);
  if (listed.length) {
    ctx.out(
      "",
      `Commands not run (--root without --run-commands); run them inside ${target.rootDir} (e.g. chroot ${target.rootDir} ...):`,
    );
    for (const o of listed) ctx.out(`  ${quoteArgv(o.command!.argv)}`);
  }
  const { expect } = plan;
  ctx.out(
    "",
    style.bold("Reboot required:") +
      " the kernel command line, module loading and driver binding take effect at the next boot.",
  );
  ctx.out("After the reboot, `passthrough verify` checks:");
  if (expect.cmdline.length) ctx.out(`  /proc/cmdline has      ${expect.cmdline.join(" ")}`);
  if (!expect.boundToHost?.length)
    ctx.out("  IOMMU                  on, with interrupt remapping (or the opted-in unsafe mode)");
  if (expect.modulesLoaded.length)
    ctx.out(`  modules loaded         ${expect.modulesLoaded.join(", ")}`);
  if (expect.boundToVfio.length)
    ctx.out(
      `  on vfio-pci            ${expect.boundToVfio.join(", ")} and every other endpoint of their IOMMU group${plan.selection.groups.length === 1 ? "" : "s"}`,
    );
  if (expect.boundToHost?.length)
    ctx.out(`  on a host driver       ${expect.boundToHost.join(", ")} (not vfio-pci)`);
  if (plan.phase === "enable-iommu") {
    ctx.out(
      "",
      style.bold("This was phase 1 of 2:") +
        " it only turns the IOMMU on. After the reboot, run the same `passthrough apply` again to bind the device.",
    );
  }
  ctx.out(`To undo: ${restore}`);
  return EXIT.ok;
}
