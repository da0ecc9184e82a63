// What happened to each journal, read from its logs alone (so a journal a kill cut short is
// described as exactly that): `passthrough history`, the default journal of `rollback`, and
// the expectation `verify` checks.

import { InputError, UserError, describeFsError } from "../errors.js";
import { listJournalIds, readJournal, type JournalSource, type LoadedJournal } from "./journal.js";

export type JournalStatus =
  /** Every step ran. */
  | "applied"
  /** A step failed; the run stopped there. */
  | "failed"
  /** No end marker: the run was killed or the machine went down mid-run. */
  | "interrupted"
  | "rolled-back"
  | "rollback-failed"
  | "rollback-interrupted";

export interface JournalSummary {
  id: string;
  createdAt: string;
  /** "/" or the --root folder it was applied to. */
  root: string;
  status: JournalStatus;
  /** One line for people: "applied", "failed at step 4 of 6: update-grub exited 1", ... */
  statusText: string;
  /** Functions the plan binds to vfio-pci. */
  devices: string[];
  files: string[];
  commands: string[];
  stepsTotal: number;
  stepsDone: number;
  failure: { step: number; error: string } | null;
  finishedAt: string | null;
  rolledBackAt: string | null;
  /**
   * The boot the apply was made in (journal meta): an ISO time, null when the target had no
   * boot time to read (a --root tree without proc/stat), undefined in journals older than it.
   */
  bootedAt?: string | null;
}

export function summarizeJournal(j: LoadedJournal): JournalSummary {
  const total = j.plan.steps.length;
  const done = new Set(
    j.events.filter((e) => e.event === "done").map((e) => (e as { step: number }).step),
  );
  const end = [...j.events].reverse().find((e) => e.event === "end") as
    { status: "ok" | "failed"; at: string } | undefined;
  const failed = j.events.find((e) => e.event === "failed") as
    { step: number; error: string } | undefined;
  const rbStart = [...j.rollbackEvents].reverse().findIndex((e) => e.event === "start");
  const rbEnd = [...j.rollbackEvents].reverse().findIndex((e) => e.event === "end");
  const lastRbEnd = [...j.rollbackEvents].reverse().find((e) => e.event === "end") as
    { status: "ok" | "failed"; at: string; error?: string } | undefined;

  let status: JournalStatus;
  let statusText: string;
  if (rbStart !== -1 && (rbEnd === -1 || rbEnd > rbStart)) {
    status = "rollback-interrupted";
    statusText = "rollback interrupted: run `passthrough rollback` again to finish it";
  } else if (lastRbEnd?.status === "ok") {
    status = "rolled-back";
    statusText = `rolled back ${lastRbEnd.at}`;
  } else if (lastRbEnd?.status === "failed") {
    status = "rollback-failed";
    statusText = `rollback failed: ${lastRbEnd.error ?? "see rollback.log"}`;
  } else if (end?.status === "ok") {
    status = "applied";
    statusText = "applied";
  } else if (failed) {
    status = "failed";
    statusText = `failed at step ${failed.step + 1} of ${total}: ${failed.error}`;
  } else {
    status = "interrupted";
    statusText = `interrupted after ${done.size} of ${total} steps (killed or power lost)`;
  }
  return {
    id: j.id,
    createdAt: j.meta.createdAt,
    root: j.meta.root,
    status,
    statusText,
    devices: j.plan.selection?.functions ?? [],
    files: j.before.map((b) => b.path),
    commands: j.plan.steps
      .filter((s) => s.kind === "command")
      .map((s) => (s.kind === "command" ? s.argv.join(" ") : "")),
    stepsTotal: total,
    stepsDone: done.size,
    failure: failed ? { step: failed.step, error: failed.error } : null,
    finishedAt: end?.at ?? null,
    rolledBackAt: lastRbEnd?.status === "ok" ? lastRbEnd.at : null,
    ...("bootedAt" in j.meta ? { bootedAt: j.meta.bootedAt ?? null } : {}),
  };
}

export type HistoryEntry =
  | { ok: true; journal: LoadedJournal; summary: JournalSummary }
  | { ok: false; id: string; error: string };

/** Every journal, newest first; a damaged one is listed with its problem instead of failing the list. */
export function listJournals(source: JournalSource): HistoryEntry[] {
  return listJournalIds(source)
    .map((id): HistoryEntry => {
      try {
        const journal = readJournal(source, id);
        return { ok: true, journal, summary: summarizeJournal(journal) };
      } catch (err) {
        // A journal is root's (0600): reading one as another user is "permission denied", not damage.
        return {
          ok: false,
          id,
          error:
            err instanceof UserError
              ? err.message
              : `${describeFsError(err)}${(err as NodeJS.ErrnoException).code === "EACCES" ? " (journals are readable by root only)" : ""}`,
        };
      }
    })
    .sort((a, b) => (createdOf(b) < createdOf(a) ? -1 : createdOf(b) > createdOf(a) ? 1 : 0));
}

/**
 * When a journal was made, to order them: its own time to the millisecond (ids carry whole
 * seconds and a random suffix, so two applies in one second would sort by chance), else the
 * time in its id.
 */
function createdOf(e: HistoryEntry): string {
  if (e.ok) return e.summary.createdAt;
  const m = /^(\d{4})(\d{2})(\d{2})-(\d{2})(\d{2})(\d{2})/.exec(e.id);
  return m ? `${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}.999Z` : "";
}

/** Journals whose changes may still be on the host: not rolled back. */
export function isActive(s: JournalSummary): boolean {
  return s.status !== "rolled-back";
}

/**
 * What `rollback` without an id undoes, newest first: the newest journal not rolled back, and
 * every older one not rolled back that was applied in the same boot (none of them had taken
 * effect when the next was made, so undoing only the newest would leave the others' files
 * changed). Rolled-back journals in between are skipped; a journal from another boot, or one
 * without a recorded boot, ends the chain, and a `ct configure` journal (a container's config,
 * which no host apply builds on) is a chain of its own. Unreadable journals stop it with an error.
 */
export function rollbackChain(entries: readonly HistoryEntry[]): LoadedJournal[] {
  const chain: LoadedJournal[] = [];
  let head: JournalSummary | null = null;
  for (const e of entries) {
    if (!e.ok)
      throw new InputError(
        `journal ${e.id} cannot be read (${e.error}); give an id explicitly once it is dealt with`,
      );
    if (!isActive(e.summary)) continue;
    if (head && (!sameBoot(head, e.summary) || isContainer(chain[0]!) || isContainer(e.journal)))
      break;
    chain.push(e.journal);
    head ??= e.summary;
  }
  return chain;
}

/** For each journal, the newest journal of its rollback chain (its own id when alone or inactive). */
export function chainHeads(entries: readonly HistoryEntry[]): Map<string, string> {
  const heads = new Map<string, string>();
  let head: JournalSummary | null = null;
  let headAlone = false;
  for (const e of entries) {
    if (!e.ok) {
      head = null;
      continue;
    }
    const s = e.summary;
    if (!isActive(s)) {
      heads.set(s.id, s.id);
      continue;
    }
    if (head && sameBoot(head, s) && !headAlone && !isContainer(e.journal))
      heads.set(s.id, head.id);
    else {
      head = s;
      headAlone = isContainer(e.journal);
      heads.set(s.id, s.id);
    }
  }
  return heads;
}

/** A `ct configure` journal: it changed a container's config, not the host's boot. */
function isContainer(j: LoadedJournal): boolean {
  return j.plan.container !== undefined;
}

/** Both applies recorded their boot and it is the same one (a tree without a boot time counts as one boot). */
function sameBoot(a: JournalSummary, b: JournalSummary): boolean {
  return a.bootedAt !== undefined && b.bootedAt !== undefined && a.bootedAt === b.bootedAt;
}
