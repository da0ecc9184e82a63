// Running a Plan: journal first, then the change.
//
//   1. Every file step is checked against the host: its current bytes must be the plan's
//      `before` (or already its `after`). Otherwise the host changed since planning: stop
//      before anything is written.
//   2. The journal is written complete (plan, every before-image) and made visible with one
//      rename (journal.ts).
//   3. Each step: a "start" line is flushed to steps.log, the step runs (files atomically,
//      file-writer.ts; commands from argv), a "done" (or "failed") line is flushed. The first
//      failure stops the run; the rest is left undone and listed.
//
// A kill at any point leaves every file either as it was or as planned (never half-written)
// and a journal that already holds its before-image, so `rollback` can always restore.
// The caller holds the lock (lock.ts) for the whole run, planning included.

import { ApplyError, describeFsError, isStorageError, UserError } from "../errors.js";
import type { FileStep, Plan, Step } from "../plan/types.js";
import { quoteArgv } from "../process/quote.js";
import {
  commandSucceeded,
  describeOutcome,
  type CommandResult,
  type CommandRunner,
} from "../process/run.js";
import { checkHostPath, sameContent, type FileState, type FileWriter } from "./file-writer.js";
import { createJournal, type FileSnapshot, type JournalWriter } from "./journal.js";
import { ApplyLock, STATE_DIR } from "./lock.js";
import { hostTextBytes } from "../formats/host-text.js";

export type StepResult =
  "written" | "created" | "removed" | "unchanged" | "ran" | "listed" | "reboot-pending";

export interface StepOutcome {
  step: number;
  kind: Step["kind"];
  what: string;
  result: StepResult;
  command?: CommandResult;
}

export interface ExecuteResult {
  journalId: string;
  /** The journal folder on this machine. */
  journalPath: string;
  status: "ok" | "failed";
  outcomes: StepOutcome[];
  failure: { step: number; what: string; error: string; command?: CommandResult } | null;
  /** Steps not run because an earlier one failed. */
  notRun: number[];
  /** Set when the journal could not record the failure itself (the disk that holds it failed too). */
  journalProblem: string | null;
}

export type Progress =
  | { phase: "start"; step: number; total: number; kind: Step["kind"]; what: string }
  | { phase: "done"; step: number; total: number; outcome: StepOutcome }
  | { phase: "failed"; step: number; total: number; error: string; command?: CommandResult };

export interface ExecuteOptions {
  plan: Plan;
  writer: FileWriter;
  runner: CommandRunner;
  /** passthrough's version, recorded in the journal. */
  version: string;
  /** The target's boot time, recorded in the journal (it decides rollback chains). */
  bootedAt?: Date | null;
  now?: () => Date;
  onProgress?: (p: Progress) => void;
}

/** One line naming a step: "write /etc/modprobe.d/passthrough.conf", "run update-grub". */
export function describeStep(s: Step): string {
  switch (s.kind) {
    case "file":
      if (s.after === null) return `remove ${s.path}`;
      return `${s.before === null ? "create" : "edit"} ${s.path}`;
    case "command":
      return `run ${quoteArgv(s.argv)}`;
    case "reboot":
      return "reboot";
  }
}

/** Paths must be absolute and distinct; commands non-empty. A malformed plan is a bug: refuse before writing. */
export function validatePlan(plan: Plan): void {
  const seen = new Set<string>();
  for (const s of plan.steps) {
    if (s.kind === "file") {
      checkHostPath(s.path);
      if (seen.has(s.path))
        throw new ApplyError(
          `the plan changes ${s.path} twice; nothing was changed (a bug in the planner: please report it)`,
        );
      seen.add(s.path);
      if (s.before === s.after)
        throw new ApplyError(
          `the plan's step for ${s.path} changes nothing; nothing was changed (a bug in the planner: please report it)`,
        );
    } else if (
      s.kind === "command" &&
      (s.argv.length === 0 || s.argv.some((a) => typeof a !== "string" || a.includes("\0")))
    ) {
      throw new ApplyError(
        `the plan has an empty or malformed command; nothing was changed (a bug in the planner: please report it)`,
      );
    }
  }
}

/**
 * The host must still be what the plan was made from. Returns the snapshot of every file
 * step (what the journal saves); throws when a file has changed since planning.
 */
export function preflight(plan: Plan, writer: FileWriter): FileSnapshot[] {
  const snaps: FileSnapshot[] = [];
  plan.steps.forEach((s, i) => {
    if (s.kind !== "file") return;
    let state: FileState;
    try {
      state = writer.read(s.path);
    } catch (err) {
      if (err instanceof UserError) throw err;
      throw new ApplyError(`cannot read ${s.path}: ${describeFsError(err)}; nothing was changed`);
    }
    if (!sameContent(state, s.before) && !sameContent(state, s.after))
      throw changedSincePlanning(s, state);
    snaps.push({
      step: i,
      path: s.path,
      state,
      createdDirs: state.exists ? [] : writer.missingParents(s.path),
    });
  });
  return snaps;
}

function changedSincePlanning(s: FileStep, state: FileState): ApplyError {
  const now = state.exists ? `${state.bytes.length} bytes that differ from the plan` : "no file";
  const was = s.before === null ? "absent" : `${hostTextBytes(s.before)} bytes`;
  return new ApplyError(
    `${s.path} changed since the plan was made (planned from ${was}, now ${now}); nothing was changed — run \`passthrough plan\` again and review it`,
  );
}

/** Run the plan; the caller holds the lock. Failures of a step come back as `status: "failed"`. */
export function executePlan(opts: ExecuteOptions): ExecuteResult {
  const { plan, writer, runner } = opts;
  const now = opts.now ?? (() => new Date());
  validatePlan(plan);
  const snaps = preflight(plan, writer);
  let journal: JournalWriter;
  try {
    journal = createJournal(writer, {
      plan,
      snapshots: snaps,
      version: opts.version,
      root: writer.rootDir,
      commands: runner.description,
      now,
      bootedAt: opts.bootedAt ?? null,
    });
  } catch (err) {
    if (err instanceof UserError) throw err;
    const dir = writer.resolve(STATE_DIR);
    throw new ApplyError(
      `could not write the journal under ${dir}/journal: ${describeFsError(err)}; ${isStorageError(err) ? `free space in ${dir} and run again; ` : ""}nothing was changed`,
    );
  }
  const snapByStep = new Map(snaps.map((s) => [s.step, s]));
  const total = plan.steps.length;
  const result: ExecuteResult = {
    journalId: journal.id,
    journalPath: writer.resolve(journal.dir),
    status: "ok",
    outcomes: [],
    failure: null,
    notRun: [],
    journalProblem: null,
  };

  for (let i = 0; i < total; i++) {
    const step = plan.steps[i]!;
    const what = describeStep(step);
    let command: CommandResult | undefined;
    try {
      journal.step({ event: "start", step: i, kind: step.kind, what });
      opts.onProgress?.({ phase: "start", step: i, total, kind: step.kind, what });
      let res: StepResult;
      if (step.kind === "file") {
        res = applyFileStep(step, writer, snapByStep.get(i)!);
      } else if (step.kind === "command") {
        command = runner.run(step.argv);
        journal.step({ event: "command", step: i, ...commandFields(command) });
        if (!commandSucceeded(command))
          throw new StepFailed(
            `${quoteArgv(step.argv)} ${describeOutcome(command)}${lastLine(command)}`,
          );
        res = command.ran ? "ran" : "listed";
      } else {
        // passthrough never reboots on its own: the user chooses when (`verify` after it).
        res = "reboot-pending";
      }
      journal.step({ event: "done", step: i, result: res });
      const outcome: StepOutcome = {
        step: i,
        kind: step.kind,
        what,
        result: res,
        ...(command ? { command } : {}),
      };
      result.outcomes.push(outcome);
      opts.onProgress?.({ phase: "done", step: i, total, outcome });
    } catch (err) {
      const error =
        err instanceof StepFailed || err instanceof UserError
          ? err.message
          : `${what}: ${describeFsError(err)}`;
      result.status = "failed";
      result.failure = { step: i, what, error, ...(command ? { command } : {}) };
      result.notRun = plan.steps.map((_, k) => k).filter((k) => k > i);
      opts.onProgress?.({
        phase: "failed",
        step: i,
        total,
        error,
        ...(command ? { command } : {}),
      });
      try {
        journal.step({ event: "failed", step: i, error });
        journal.step({ event: "end", status: "failed" });
      } catch (jerr) {
        result.journalProblem = `the journal could not record the failure (${describeFsError(jerr)}); it still holds every before-image, and rollback works from it`;
      }
      return result;
    }
  }
  try {
    journal.step({ event: "end", status: "ok" });
  } catch (jerr) {
    result.journalProblem = `every step ran, but the journal could not record the end (${describeFsError(jerr)})`;
  }
  return result;
}

/** Lock, run, unlock: for callers that did not take the lock to plan (tests, scripts). */
export function applyPlan(opts: ExecuteOptions): ExecuteResult {
  const lock = ApplyLock.acquire(opts.writer, "apply", opts.now);
  try {
    return executePlan(opts);
  } finally {
    lock.release();
  }
}

class StepFailed extends Error {}

function applyFileStep(step: FileStep, writer: FileWriter, snap: FileSnapshot): StepResult {
  const current = writer.read(step.path);
  if (sameContent(current, step.after)) return "unchanged";
  // Compare with what the journal saved, not only with the plan: that is what rollback restores.
  const saved = snap.state.exists ? snap.state.bytes : null;
  if (!sameContent(current, saved)) {
    throw new StepFailed(
      `${step.path} was changed by something else while passthrough ran (after its journal entry was written); it was left as it is`,
    );
  }
  if (step.after === null) {
    writer.remove(step.path);
    return "removed";
  }
  writer.write(step.path, step.after, current.exists ? {} : { mode: step.mode ?? 0o644 });
  return current.exists ? "written" : "created";
}

function lastLine(r: CommandResult): string {
  const text = (r.stderr.trim() || r.stdout.trim()).split("\n").pop();
  return text ? `: ${text.slice(0, 200)}` : "";
}

export function commandFields(r: CommandResult) {
  return {
    argv: r.argv,
    ran: r.ran,
    exitCode: r.exitCode,
    signal: r.signal,
    error: r.error,
    durationMs: r.durationMs,
    stdout: r.stdout,
    stderr: r.stderr,
  };
}
