// A CommandRunner for tests: records every argv (and what it got on stdin) and answers from a
// script instead of running anything.

import type { CommandResult, CommandRunner, RunOptions } from "./run.js";

export interface ScriptedResult {
  exitCode?: number;
  stdout?: string;
  stderr?: string;
  error?: string;
}

export class RecordingRunner implements CommandRunner {
  readonly description = "recording runner";
  readonly calls: string[][] = [];
  /** What each call got on stdin (undefined: nothing). */
  readonly inputs: Array<string | undefined> = [];

  constructor(
    /** The scripted answer; undefined: exit 0 without output. */
    private readonly respond: (argv: readonly string[]) => ScriptedResult | undefined = () =>
      undefined,
  ) {}

  run(argv: readonly string[], options: RunOptions = {}): CommandResult {
    this.calls.push([...argv]);
    this.inputs.push(options.input);
    const r = this.respond(argv);
    return {
      argv: [...argv],
      ran: true,
      exitCode: r?.error ? null : (r?.exitCode ?? 0),
      signal: null,
      stdout: r?.stdout ?? "",
      stderr: r?.stderr ?? "",
      durationMs: 0,
      error: r?.error ?? null,
      timedOut: false,
    };
  }
}
