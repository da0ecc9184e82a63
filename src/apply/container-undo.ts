// Undoing a `ct configure`: its journal records the keys it set in a Proxmox container's config
// (plan.container) and the config as read back after (the "read-back" event of steps.log).
// pct wrote the file, so there are no bytes to restore: the undo is another `pct set` that
// deletes the keys (or puts back a value they replaced), and `--revert`s those a running
// container still holds in [pve:pending] (pct(1); pve-container update_pct_config).
//
// The config is classified first, as rollback classifies files:
//   original  none of the keys holds what ct configure set (undone already): nothing to do
//   applied   the config is what ct configure left (same digest), or only its pending section
//             was applied by a restart since: undone
//   changed   anything else: someone edited it since — refused unless --force, which then
//             undoes only the keys that still hold what ct configure set
//   gone      the config no longer exists (the container was destroyed): nothing to do
// The undo carries `--digest` of the config as classified, so an edit in between makes pct
// refuse instead of being overwritten.

import { ctConfigDigest, parseCtConfig, type CtConfigFile } from "../formats/proxmox-ct-config.js";
import type { ContainerConfigChange } from "../plan/types.js";
import type { LoadedJournal } from "./journal.js";

export type ContainerRollbackState = "original" | "applied" | "changed" | "gone";

export interface ContainerRollbackItem {
  change: ContainerConfigChange;
  state: ContainerRollbackState;
  /** For "changed": what differs from the config ct configure left, one phrase each. */
  differences: string[];
  /** The `pct set` that undoes it; empty when there is nothing to undo. */
  undo: string[];
}

export interface ContainerReadBack {
  digest: string;
  text: string;
}

/** The config ct configure read back after its step, if the journal got that far. */
export function readBackOf(journal: LoadedJournal): ContainerReadBack | null {
  for (const e of journal.events)
    if (e.event === "read-back") return { digest: e.digest, text: e.text };
  return null;
}

type Where = "main" | "pending" | null;

/** Where a key holds the value ct configure set. */
function whereSet(config: CtConfigFile, key: string, value: string): Where {
  if (config.pending?.keys[key] === value) return "pending";
  if (config.main.keys[key] === value) return "main";
  return null;
}

export function classifyContainer(
  change: ContainerConfigChange,
  currentText: string | null,
  readBack: ContainerReadBack | null,
): ContainerRollbackItem {
  const item = (
    state: ContainerRollbackState,
    differences: string[] = [],
    undo: string[] = [],
  ) => ({
    change,
    state,
    differences,
    undo,
  });
  if (currentText === null) return item("gone");
  const current = parseCtConfig(currentText);
  const keys = Object.keys(change.set);
  const where = new Map(keys.map((k) => [k, whereSet(current, k, change.set[k]!)]));
  if (keys.every((k) => where.get(k) === null)) return item("original");
  const undo = undoArgv(change, where, ctConfigDigest(currentText));
  if (readBack && ctConfigDigest(currentText) === readBack.digest) return item("applied", [], undo);
  if (readBack && sameAfterRestart(parseCtConfig(readBack.text), current))
    return item("applied", [], undo);
  // No read-back (killed right after pct set): every key still set is all that can be known.
  if (!readBack && keys.every((k) => where.get(k) !== null)) return item("applied", [], undo);
  return item("changed", differences(change, current, where), undo);
}

/** A restart applies [pve:pending]: the config then is the pending values over the main ones. */
function sameAfterRestart(after: CtConfigFile, current: CtConfigFile): boolean {
  if (!after.pending || (current.pending && Object.keys(current.pending.keys).length > 0))
    return false;
  const merged: Record<string, string> = { ...after.main.keys };
  const { delete: deleted, ...set } = after.pending.keys;
  for (const k of (deleted ?? "").split(/[,;\s]+/).filter(Boolean))
    delete merged[k.replace(/^!/, "")];
  Object.assign(merged, set);
  return (
    JSON.stringify(sorted(merged)) === JSON.stringify(sorted(current.main.keys)) &&
    JSON.stringify(after.main.lxc) === JSON.stringify(current.main.lxc)
  );
}

function sorted(keys: Record<string, string>): Array<[string, string]> {
  return Object.entries(keys).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

function differences(
  change: ContainerConfigChange,
  current: CtConfigFile,
  where: Map<string, Where>,
): string[] {
  const out: string[] = [];
  for (const [key, value] of Object.entries(change.set))
    if (where.get(key) === null)
      out.push(
        `${key} is ${current.pending?.keys[key] ?? current.main.keys[key] ?? "gone"}, not ${value}`,
      );
  if (out.length === 0) out.push("other settings changed (the config's digest differs)");
  return out;
}

/**
 * `pct set CTID` that takes back the keys still holding what ct configure set: pending ones
 * reverted, applied ones deleted or given their previous value.
 */
function undoArgv(
  change: ContainerConfigChange,
  where: Map<string, Where>,
  digest: string,
): string[] {
  const revert: string[] = [];
  const remove: string[] = [];
  const restore: string[] = [];
  for (const [key, w] of where) {
    if (w === "pending") revert.push(key);
    else if (w === "main") {
      const prev = change.previous[key] ?? null;
      if (prev === null) remove.push(key);
      else restore.push(`--${key}`, prev);
    }
  }
  return [
    "pct",
    "set",
    String(change.ctid),
    ...restore,
    ...(remove.length ? ["--delete", remove.join(",")] : []),
    ...(revert.length ? ["--revert", revert.join(",")] : []),
    "--digest",
    digest,
  ];
}
