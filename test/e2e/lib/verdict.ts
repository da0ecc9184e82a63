// A scenario's assertions: every check is logged (✓/✗ with what was seen), failures are
// collected, and the scenario fails when any check failed. `must` stops the scenario when
// going on would only produce noise (e.g. apply failed, so there is nothing to verify).
import { isDeepStrictEqual } from "node:util";

export class ScenarioAbort extends Error {}

export class Verdict {
  readonly failures: string[] = [];

  constructor(private readonly log: (line: string) => void) {}

  check(ok: boolean, what: string, seen?: unknown): boolean {
    const detail = seen === undefined ? "" : ` (seen: ${show(seen)})`;
    this.log(`${ok ? "  ok   " : "  FAIL "}${what}${ok ? "" : detail}`);
    if (!ok) this.failures.push(`${what}${detail}`);
    return ok;
  }

  eq<T>(actual: T, expected: T, what: string): boolean {
    return this.check(isDeepStrictEqual(actual, expected), `${what} = ${show(expected)}`, actual);
  }

  /** A check the rest of the scenario depends on: abort the scenario when it fails. */
  must(ok: boolean, what: string, seen?: unknown): void {
    if (!this.check(ok, what, seen)) throw new ScenarioAbort(what);
  }

  note(line: string): void {
    this.log(`  ..   ${line}`);
  }

  get passed(): boolean {
    return this.failures.length === 0;
  }
}

function show(v: unknown): string {
  const s = typeof v === "string" ? JSON.stringify(v) : (JSON.stringify(v) ?? String(v));
  return s.length > 300 ? `${s.slice(0, 300)}…` : s;
}
