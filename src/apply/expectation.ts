// What `verify` expects after the reboot: the newest applied journal whose plan covers the
// requested devices (what was really written), else the caller plans afresh.

import type { HostRoot } from "../host/root.js";
import type { Expectation } from "../plan/types.js";
import { listJournals } from "./history.js";
import { hostRootSource, type LoadedJournal } from "./journal.js";

/** Does this journal's plan cover every requested device (slot or function)? */
export function journalCovers(
  j: LoadedJournal,
  devices: readonly string[],
  groups: readonly number[],
): boolean {
  const fns = j.plan.selection?.functions ?? [];
  // A journal that binds nothing (the copy of a VM's ROM file) promises verify nothing.
  if (fns.length === 0) return false;
  return (
    devices.every((d) => fns.some((f) => f === d || f.startsWith(`${d}.`))) &&
    groups.every((g) => (j.plan.selection?.groups ?? []).includes(g))
  );
}

export interface ExpectationSource {
  expect: Expectation;
  source:
    { kind: "journal"; id: string; appliedAt: string | null; path: string } | { kind: "plan" };
  allowUnsafe: boolean;
}

export function fromJournal(
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
