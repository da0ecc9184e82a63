// The planner's view of the host's configuration files: HostState.configFiles (the exact text
// discovery read) plus every edit planned so far. Each edit becomes one FileStep whose
// `before` is the text at that moment, so several steps on one file chain (step 2's before is
// step 1's after) and each keeps its own reason. Pure: nothing here touches a disk.

import type { FileStep } from "./types.js";

/** Host-relative path ("etc/modprobe.d/passthrough.conf") -> host path ("/etc/..."). */
export function hostPath(rel: string): string {
  return `/${rel.replace(/^\/+/, "")}`;
}

export class PlanFiles {
  private readonly current = new Map<string, string | null>();
  readonly steps: FileStep[] = [];

  constructor(private readonly original: Readonly<Record<string, string>>) {}

  /** Text of a file as planned so far; null when it does not exist. */
  read(rel: string): string | null {
    if (this.current.has(rel)) return this.current.get(rel)!;
    return Object.prototype.hasOwnProperty.call(this.original, rel) ? this.original[rel]! : null;
  }

  exists(rel: string): boolean {
    return this.read(rel) !== null;
  }

  /** Text before any planned edit. */
  originalText(rel: string): string | null {
    return Object.prototype.hasOwnProperty.call(this.original, rel) ? this.original[rel]! : null;
  }

  /** File names directly inside a folder, sorted, as planned so far. */
  list(dir: string): string[] {
    const prefix = `${dir.replace(/\/+$/, "")}/`;
    const names = new Set<string>();
    for (const p of [...Object.keys(this.original), ...this.current.keys()]) {
      if (!p.startsWith(prefix)) continue;
      const rest = p.slice(prefix.length);
      if (rest.includes("/")) continue;
      if (this.read(p) !== null) names.add(rest);
    }
    return [...names].sort();
  }

  /** Plan a new content (null = remove). No step when nothing changes. */
  write(rel: string, after: string | null, why: string, mode?: number): FileStep | null {
    const before = this.read(rel);
    if (before === after) return null;
    this.current.set(rel, after);
    const step: FileStep = { kind: "file", path: hostPath(rel), before, after, why };
    if (before === null && after !== null) step.mode = mode ?? 0o644;
    this.steps.push(step);
    return step;
  }

  /** Every file that was changed, with its final text (null = removed). */
  changed(): Map<string, string | null> {
    return new Map(this.current);
  }
}
