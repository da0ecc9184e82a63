// Is the host prepared for the devices a VM is about to get? A function is prepared when it
// is bound to vfio-pci now, or when a host plan that binds it was applied (the journal
// `apply` keeps under /var/lib/passthrough/journal/<id>/, docs/design.md) and only the reboot is
// pending. Read at the edge; the spec (src/vm/spec.ts) gets plain data.

import type { HostRoot } from "../host/root.js";

export const JOURNAL_DIR = "var/lib/passthrough/journal";

export interface HostPrep {
  /** Function address -> id of the applied journal whose plan binds it to vfio-pci. */
  journaled: Record<string, string>;
}

/**
 * Journals of `apply` (format 1, src/apply/journal.ts on the apply layer): a folder per run with
 * plan.json (the Plan), steps.log (JSON lines, `{"event":"end","status":"ok"}` once every step
 * ran) and, after `rollback`, rollback.log (the same `end` line once restored). A plan prepares
 * its functions when its apply ended ok and no rollback of it ended ok. Folders still being
 * assembled (".<id>.partial") and unreadable entries are skipped.
 */
export function readHostPrep(root: HostRoot): HostPrep {
  const journaled: Record<string, string> = {};
  for (const id of root.list(JOURNAL_DIR) ?? []) {
    const dir = `${JOURNAL_DIR}/${id}`;
    if (id.startsWith(".") || !root.isDir(dir)) continue;
    const steps = root.readText(`${dir}/steps.log`);
    if (!steps.ok || !endedOk(steps.value)) continue;
    const rollback = root.readText(`${dir}/rollback.log`);
    if (rollback.ok && endedOk(rollback.value)) continue;
    const plan = root.readText(`${dir}/plan.json`);
    if (!plan.ok) continue;
    for (const f of selectedFunctions(plan.value)) journaled[f] = id;
  }
  return { journaled };
}

/** A journal log (JSON lines) whose run ended ok; a torn last line is ignored. */
export function endedOk(log: string): boolean {
  let ok = false;
  for (const line of log.split("\n")) {
    if (line.trim() === "") continue;
    try {
      const e = JSON.parse(line) as { event?: unknown; status?: unknown };
      if (e.event === "end") ok = e.status === "ok";
    } catch {
      // a line cut short by a kill while appending
    }
  }
  return ok;
}

/** selection.functions of a plan.json (the Plan shape of src/plan/types.ts), [] when absent or malformed. */
export function selectedFunctions(planJson: string): string[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(planJson);
  } catch {
    return [];
  }
  const p = parsed as {
    selection?: { functions?: unknown };
    plan?: { selection?: { functions?: unknown } };
  } | null;
  const fns = p?.selection?.functions ?? p?.plan?.selection?.functions;
  return Array.isArray(fns) ? fns.filter((f): f is string => typeof f === "string") : [];
}
