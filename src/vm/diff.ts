// Showing a VM change before it is made: Proxmox configs as their `key: value` lines (keys
// sorted, as qemu-server writes them), libvirt domains as their XML, both as a unified diff
// (the `diff` library's structuredPatch) that reads like `git diff` and pastes into a forum post.

import { structuredPatch } from "diff";
import type { VmConfig } from "./types.js";

export interface DiffStyle {
  red(s: string): string;
  green(s: string): string;
  cyan(s: string): string;
  bold(s: string): string;
}

const PLAIN: DiffStyle = { red: (s) => s, green: (s) => s, cyan: (s) => s, bold: (s) => s };

/** A config as the `key: value` lines of its file (and of `qm config`). */
export function configText(config: VmConfig): string {
  return Object.keys(config)
    .sort()
    .map((k) => `${k}: ${config[k]}\n`)
    .join("");
}

/** Unified diff lines; [] when there is no difference. */
export function unifiedDiff(
  oldName: string,
  newName: string,
  before: string,
  after: string,
  style: DiffStyle = PLAIN,
  context = 3,
): string[] {
  if (before === after) return [];
  const patch = structuredPatch(oldName, newName, before, after, undefined, undefined, { context });
  const out = [style.bold(`--- ${oldName}`), style.bold(`+++ ${newName}`)];
  for (const h of patch.hunks) {
    // An empty range starts at the line before it ("@@ -0,0 +1,19 @@" for a new file), as diff(1) prints it.
    const range = (start: number, lines: number) => `${lines === 0 ? start - 1 : start},${lines}`;
    out.push(
      style.cyan(`@@ -${range(h.oldStart, h.oldLines)} +${range(h.newStart, h.newLines)} @@`),
    );
    for (const line of h.lines) {
      if (line.startsWith("\\")) continue; // "\ No newline at end of file": every text here ends with one
      out.push(
        line.startsWith("+") ? style.green(line) : line.startsWith("-") ? style.red(line) : line,
      );
    }
  }
  return out;
}
