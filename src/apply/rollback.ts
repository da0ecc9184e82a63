// Undoing one journal: every file back to its saved bytes, mode and owner (or removed when
// the run created it), folders the run created removed when empty, leftovers of a killed
// write removed, then the refresh commands re-run so the boot loader and the initramfs are
// rebuilt from the restored files (which commands, and how each is undone, is src/boot/undo.ts).
//
// Each file is classified against the journal before anything is written:
//   original  its bytes are the saved ones (never touched, or already restored): skipped
//   applied   its bytes are what the plan wrote: restored
//   changed   neither: someone else edited it since — refused unless --force, and then the
//             displaced bytes are kept in the journal (displaced/)
// Because of that, a rollback is idempotent: a killed rollback is finished by running it again.
// A `ct configure` journal has a container config instead of files: container-undo.ts.

import { undoOf } from "../boot/undo.js";
import { RefusedError, UserError, describeFsError } from "../errors.js";
import type { FileStep } from "../plan/types.js";
import { quoteArgv } from "../process/quote.js";
import {
  commandSucceeded,
  describeOutcome,
  type CommandResult,
  type CommandRunner,
} from "../process/run.js";
import { classifyContainer, readBackOf, type ContainerRollbackItem } from "./container-undo.js";
import { commandFields } from "./executor.js";
import { sameContent, type FileState, type FileWriter } from "./file-writer.js";
import { JournalWriter, type BeforeImage, type LoadedJournal } from "./journal.js";

export type FileRollbackState = "original" | "applied" | "changed";

export interface FileRollbackItem {
  record: BeforeImage;
  step: FileStep | null;
  state: FileRollbackState;
  current: FileState;
}

export interface RollbackPlan {
  journal: LoadedJournal;
  /** In reverse plan order: the last change is undone first. */
  files: FileRollbackItem[];
  /** Commands to run after the files are back (refreshes, and inverses of direct edits). */
  commands: string[][];
  /** Plan commands that cannot be undone by re-running anything: said, not hidden. */
  notUndone: Array<{ argv: string[]; why: string }>;
  /** Folders the run created (host paths), deepest first: removed when empty. */
  dirs: string[];
  /** A `ct configure` journal: its container config, classified (container-undo.ts). */
  container: ContainerRollbackItem | null;
  /** True when there is nothing left to do (every file original and a rollback already finished). */
  nothingToDo: boolean;
}

function stateOf(current: FileState, bytes: Buffer | null): boolean {
  return sameContent(current, bytes);
}

/** `read`: the host's files as they will be when this rollback runs (see planChainRollback). */
export function planRollback(
  journal: LoadedJournal,
  writer: FileWriter,
  read: (hostPath: string) => FileState = (p) => writer.read(p),
): RollbackPlan {
  const files: FileRollbackItem[] = [];
  for (const record of [...journal.before].sort((a, b) => b.step - a.step)) {
    const s = journal.plan.steps[record.step];
    const step = s && s.kind === "file" && s.path === record.path ? s : null;
    const current = read(record.path);
    let state: FileRollbackState;
    if (stateOf(current, record.bytes)) state = "original";
    else if (step && sameContent(current, step.after)) state = "applied";
    else state = "changed";
    files.push({ record, step, state, current });
  }

  const startedCommands = new Set(
    journal.events
      .filter((e) => e.event === "start" && e.kind === "command")
      .map((e) => (e as { step: number }).step),
  );
  const commands: string[][] = [];
  const notUndone: RollbackPlan["notUndone"] = [];
  const key = (a: readonly string[]) => JSON.stringify(a);
  const seen = new Set<string>();
  const container = journal.plan.container
    ? classifyContainer(
        journal.plan.container,
        textOf(read(journal.plan.container.file)),
        readBackOf(journal),
      )
    : null;
  // Its `pct set` is undone by the container's own undo (below), from the config as it is now.
  if (container?.undo.length) commands.push(container.undo);
  journal.plan.steps.forEach((s, i) => {
    if (s.kind !== "command" || container) return;
    let cmd: string[] | null = null;
    const undo = undoOf(s.argv); // src/boot/: the boot loader and initramfs tables
    if (undo && "rerun" in undo) cmd = [...s.argv];
    else {
      // The plan names the inverse of a direct boot-entry edit (CommandStep.undo); journals of
      // plans without it fall back to the known inverses.
      const inv = s.undo && s.undo.length ? [...s.undo] : (undo?.inverse ?? null);
      if (inv && startedCommands.has(i)) cmd = inv;
      else if (!inv && startedCommands.has(i))
        notUndone.push({
          argv: [...s.argv],
          why: "passthrough knows no inverse for it; check what it changed by hand",
        });
    }
    if (cmd && !seen.has(key(cmd))) {
      seen.add(key(cmd));
      commands.push(cmd);
    }
  });

  const dirs = [...new Set(journal.before.flatMap((r) => r.createdDirs))].sort(
    (a, b) => b.split("/").length - a.split("/").length || (a < b ? 1 : -1),
  );
  const filesToRestore = files.some((f) => f.state !== "original");
  const anyCommandRan = startedCommands.size > 0;
  const finished = journal.rollbackEvents.some((e) => e.event === "end" && e.status === "ok");
  const lastRollback = [...journal.rollbackEvents]
    .reverse()
    .find((e) => e.event === "start" || e.event === "end");
  const interrupted = lastRollback?.event === "start";
  // Refresh only when it can matter: a file comes back, or boot files may have been rebuilt
  // from the changed config (a command of the run started) and no rollback has finished since.
  const needCommands = container
    ? container.undo.length > 0
    : filesToRestore || (anyCommandRan && (!finished || interrupted));
  return {
    journal,
    files,
    commands: needCommands ? commands : [],
    notUndone,
    dirs,
    container,
    nothingToDo:
      !filesToRestore &&
      !needCommands &&
      // A config gone from this node is said (and --force marks the journal undone), not skipped.
      !(container?.state === "gone" && !finished) &&
      journal.before.every((r) => writer.leftovers(r.path).length === 0) &&
      dirs.every((d) => (writer.list(d)?.length ?? 1) > 0),
  };
}

/**
 * Rollback plans for a chain of journals (newest first), each classified against the files as
 * the rollbacks before it will leave them, so a conflict anywhere in the chain is known before
 * anything is written. A refresh command that an older journal's rollback re-runs anyway is
 * left to that one (update-initramfs once, not once per journal).
 */
export function planChainRollback(
  journals: readonly LoadedJournal[],
  writer: FileWriter,
): RollbackPlan[] {
  const overlay = new Map<string, FileState>();
  const plans = journals.map((j) => {
    const rp = planRollback(j, writer, (p) => overlay.get(p) ?? writer.read(p));
    for (const f of rp.files) overlay.set(f.record.path, savedState(f.record));
    return rp;
  });
  return plans.map((rp, i) => {
    const later = new Set(plans.slice(i + 1).flatMap((p) => p.commands.map((c) => c.join("\0"))));
    const commands = rp.commands.filter(
      (c) => !(later.has(c.join("\0")) && undoOf(c) !== null && "rerun" in undoOf(c)!),
    );
    return { ...rp, commands };
  });
}

function textOf(state: FileState): string | null {
  return state.exists ? state.bytes.toString("utf8") : null;
}

/** A file as a journal's before-image says it was. */
function savedState(record: BeforeImage): FileState {
  return record.existed
    ? {
        exists: true,
        bytes: record.bytes!,
        mode: record.mode!,
        uid: record.uid!,
        gid: record.gid!,
      }
    : { exists: false };
}

export function conflicts(rp: RollbackPlan): FileRollbackItem[] {
  return rp.files.filter((f) => f.state === "changed");
}

export function assertNoConflicts(rp: RollbackPlan, force: boolean, rollbackCommand: string): void {
  const ct = rp.container;
  if (ct?.state === "gone" && !force)
    throw new RefusedError(
      `container ${ct.change.ctid}'s config ${ct.change.file} is not on this node (the container was destroyed, or migrated: on its node run \`pct set ${ct.change.ctid} --delete ${Object.keys(ct.change.set).join(",")}\`); nothing was undone — \`${rollbackCommand} --force\` marks journal ${rp.journal.id} rolled back`,
      [ct.change.file],
    );
  if (ct?.state === "changed" && !force)
    throw new RefusedError(
      `container ${ct.change.ctid}'s config ${ct.change.file} was changed since journal ${rp.journal.id} (${ct.differences.join("; ")}); nothing was undone — review it (\`pct config ${ct.change.ctid}\`), then \`${rollbackCommand} --force\` to take back the keys that still hold what \`ct configure\` set`,
      [ct.change.file],
    );
  const changed = conflicts(rp);
  if (changed.length === 0 || force) return;
  const names = changed.map((f) => f.record.path).join(", ");
  throw new RefusedError(
    `${names} ${changed.length === 1 ? "was" : "were"} changed by someone else since journal ${rp.journal.id}; nothing was restored — review ${changed.length === 1 ? "it" : "them"}, then \`${rollbackCommand} --force\` to overwrite (the current content is kept in the journal)`,
    changed.map((f) => f.record.path),
  );
}

export type RollbackFileAction =
  "restored" | "removed" | "unchanged" | "overwritten" | "temp-removed" | "dir-removed";

export interface RollbackResult {
  status: "ok" | "failed";
  files: Array<{ path: string; action: RollbackFileAction; displaced?: string }>;
  commands: CommandResult[];
  failure: string | null;
  journalProblem: string | null;
}

export type RollbackProgress =
  | { phase: "file"; path: string; action: RollbackFileAction }
  | { phase: "command-start"; argv: string[] }
  | { phase: "command-done"; result: CommandResult };

export interface ExecuteRollbackOptions {
  writer: FileWriter;
  runner: CommandRunner;
  /**
   * Runs a container's `pct set` undo (default: runner). `ct configure` ran pct on this host
   * even with --root (the config is the cluster's, not the tree's), and so does its undo.
   */
  containerRunner?: CommandRunner;
  force: boolean;
  /** The command a person would type, for the refusal message. */
  rollbackCommand: string;
  now?: () => Date;
  onProgress?: (p: RollbackProgress) => void;
}

/** Restore; the caller holds the lock. */
export function executeRollback(rp: RollbackPlan, opts: ExecuteRollbackOptions): RollbackResult {
  assertNoConflicts(rp, opts.force, opts.rollbackCommand);
  const { writer } = opts;
  const runner = rp.container ? (opts.containerRunner ?? opts.runner) : opts.runner;
  const now = opts.now ?? (() => new Date());
  const journal = new JournalWriter(writer, rp.journal.id, now);
  const result: RollbackResult = {
    status: "ok",
    files: [],
    commands: [],
    failure: null,
    journalProblem: null,
  };
  const note = (p: string, action: RollbackFileAction, displaced?: string) => {
    journal.rollback({ event: "file", path: p, action, ...(displaced ? { displaced } : {}) });
    result.files.push({ path: p, action, ...(displaced ? { displaced } : {}) });
    opts.onProgress?.({ phase: "file", path: p, action });
  };
  try {
    journal.rollback({ event: "start", force: opts.force, commands: runner.description });
    for (const f of rp.files) {
      for (const t of writer.removeLeftovers(f.record.path)) note(t, "temp-removed");
      // Re-read: the classification may be minutes old (a confirmation prompt in between).
      const current = writer.read(f.record.path);
      if (stateOf(current, f.record.bytes)) {
        note(f.record.path, "unchanged");
        continue;
      }
      const applied = f.step !== null && sameContent(current, f.step.after);
      if (!applied && !opts.force) {
        throw new RefusedError(
          `${f.record.path} was changed by someone else just now; stopped — run \`${opts.rollbackCommand}\` again to see the state`,
        );
      }
      const displaced =
        !applied && current.exists ? journal.displace(f.record.path, current.bytes) : undefined;
      if (f.record.existed) {
        writer.write(f.record.path, f.record.bytes!, {
          mode: f.record.mode!,
          uid: f.record.uid!,
          gid: f.record.gid!,
        });
        note(f.record.path, applied ? "restored" : "overwritten", displaced);
      } else {
        writer.remove(f.record.path);
        note(f.record.path, applied ? "removed" : "overwritten", displaced);
      }
    }
    for (const d of rp.dirs) if (writer.removeEmptyDir(d)) note(d, "dir-removed");
    for (const argv of rp.commands) {
      opts.onProgress?.({ phase: "command-start", argv });
      const r = runner.run(argv);
      result.commands.push(r);
      journal.rollback({ event: "command", ...commandFields(r) });
      opts.onProgress?.({ phase: "command-done", result: r });
      if (!commandSucceeded(r))
        throw new RollbackStepFailed(`${quoteArgv(argv)} ${describeOutcome(r)}${tail(r)}`);
    }
    journal.rollback({ event: "end", status: "ok" });
  } catch (err) {
    if (err instanceof RefusedError) {
      tryLog(journal, result, "refused: " + err.message);
      throw err;
    }
    result.status = "failed";
    result.failure =
      err instanceof RollbackStepFailed || err instanceof UserError
        ? err.message
        : describeFsError(err);
    tryLog(journal, result, result.failure);
  }
  return result;
}

function tryLog(journal: JournalWriter, result: RollbackResult, error: string): void {
  try {
    journal.rollback({ event: "end", status: "failed", error });
  } catch (jerr) {
    result.journalProblem = `the journal could not record this (${describeFsError(jerr)})`;
  }
}

class RollbackStepFailed extends Error {}

function tail(r: CommandResult): string {
  const text = (r.stderr.trim() || r.stdout.trim()).split("\n").pop();
  return text ? `: ${text.slice(0, 200)}` : "";
}
