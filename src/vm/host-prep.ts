// Is the host prepared for the devices a VM is about to get? A function is prepared when it
// is bound to vfio-pci now, or when a host plan that binds it was applied (the journal
// `apply` keeps under /var/lib/passthrough/journal/<id>/plan.json, design.md) and only the
// reboot is pending. Read at the edge; the spec (src/vm/spec.ts) gets plain data.

import type { HostRoot } from "../host/root.js";

export const JOURNAL_DIR = "var/lib/passthrough/journal";

export interface HostPrep {
  /** Function address -> id of the applied journal whose plan binds it to vfio-pci. */
  journaled: Record<string, string>;
}

/**
 * Applied plans, newest last (journal ids sort by time). A journal that was rolled back no
 * longer prepares anything: `rollback` marks it (a `rolled-back` file, or state "rolled-back"
 * in state.json); either marker is honoured. Unreadable or foreign entries are skipped.
 */
export function readHostPrep(root: HostRoot): HostPrep {
  const journaled: Record<string, string> = {};
  for (const id of root.list(JOURNAL_DIR) ?? []) {
    const dir = `${JOURNAL_DIR}/${id}`;
    if (!root.isDir(dir) || root.exists(`${dir}/rolled-back`)) continue;
    const state = root.readText(`${dir}/state.json`);
    if (state.ok && /"(state|status)"\s*:\s*"rolled-back"/.test(state.value)) continue;
    const plan = root.readText(`${dir}/plan.json`);
    if (!plan.ok) continue;
    for (const f of selectedFunctions(plan.value)) journaled[f] = id;
  }
  return { journaled };
}

/** selection.functions of a plan.json (the Plan shape of src/plan/types.ts), [] when absent or malformed. */
export function selectedFunctions(planJson: string): string[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(planJson);
  } catch {
    return [];
  }
  const p = parsed as { selection?: { functions?: unknown }; plan?: { selection?: { functions?: unknown } } } | null;
  const fns = p?.selection?.functions ?? p?.plan?.selection?.functions;
  return Array.isArray(fns) ? fns.filter((f): f is string => typeof f === "string") : [];
}
