// The planner's view of the host's configuration files: HostState.configFiles (the exact text
// discovery read) plus every edit planned so far. Each file gets one FileStep: its `before` is
// the text on disk, its `after` the text once every planned edit is made, and its `why` lists
// each edit's reason in order. Pure: nothing here touches a disk.

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

  /**
   * Plan a new content (null = remove). No step when nothing changes. A second edit of a file
   * joins the step already planned for it (its `before` stays the text on disk, the reasons are
   * kept in order): apply journals and checks one `before` per path and refuses a plan that
   * names a path twice. Seen on a real guest (test/e2e scenario 5): two `blacklist ...*` lines
   * in one blacklist.conf made two steps and apply refused the plan.
   */
  write(rel: string, after: string | null, why: string, mode?: number): FileStep | null {
    const before = this.read(rel);
    if (before === after) return null;
    this.current.set(rel, after);
    const path = hostPath(rel);
    const earlier = this.steps.find((s) => s.path === path);
    if (earlier) {
      earlier.after = after;
      earlier.why = `${earlier.why}; ${why}`;
      if (earlier.before === null && after !== null) earlier.mode = earlier.mode ?? mode ?? 0o644;
      else delete earlier.mode;
      if (earlier.before === earlier.after) {
        this.steps.splice(this.steps.indexOf(earlier), 1);
        return null;
      }
      return earlier;
    }
    const step: FileStep = { kind: "file", path, before, after, why };
    if (before === null && after !== null) step.mode = mode ?? 0o644;
    this.steps.push(step);
    return step;
  }

  /** Every file that was changed, with its final text (null = removed). */
  changed(): Map<string, string | null> {
    return new Map(this.current);
  }
}
