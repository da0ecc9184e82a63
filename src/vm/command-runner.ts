// Running external programs (qm, pvesh, virsh) from argv arrays, never through a shell. The vm
// backends take a CommandRunner so tests can record the exact argv and answer from fakes.

import type * as ChildProcess from "node:child_process";

export interface CommandResult {
  /** Exit status; 127 when the program could not be started. */
  code: number;
  stdout: string;
  stderr: string;
}

export interface CommandRunner {
  run(
    argv: readonly string[],
    options?: { input?: string; timeoutMs?: number },
  ): Promise<CommandResult>;
}

/** Runs programs for real: C locale (parsable output), no stdin unless given, a timeout. */
export class ProcessRunner implements CommandRunner {
  constructor(private readonly env: NodeJS.ProcessEnv = process.env) {}

  run(
    argv: readonly string[],
    options: { input?: string; timeoutMs?: number } = {},
  ): Promise<CommandResult> {
    const [file, ...args] = argv;
    if (!file) return Promise.resolve({ code: 127, stdout: "", stderr: "empty command" });
    return new Promise((resolve) => {
      const child = (require("node:child_process") as typeof ChildProcess).execFile(
        file,
        args,
        {
          encoding: "utf8",
          timeout: options.timeoutMs ?? 120_000,
          maxBuffer: 64 * 1024 * 1024,
          env: { ...this.env, LC_ALL: "C", LANG: "C" },
        },
        (err, stdout, stderr) => {
          if (!err) return resolve({ code: 0, stdout, stderr });
          const e = err as NodeJS.ErrnoException & { code?: string | number; killed?: boolean };
          if (e.code === "ENOENT")
            return resolve({ code: 127, stdout, stderr: `${file}: command not found` });
          if (e.killed)
            return resolve({
              code: 124,
              stdout,
              stderr: `${stderr}${stderr ? "\n" : ""}${argv.join(" ")}: timed out`,
            });
          resolve({
            code: typeof e.code === "number" ? e.code : 1,
            stdout,
            stderr: stderr || e.message,
          });
        },
      );
      if (options.input !== undefined) child.stdin?.end(options.input);
      else child.stdin?.end();
    });
  }
}

/** "qm set 100 --vga none": for messages only (arguments with spaces are quoted). */
export function formatArgv(argv: readonly string[]): string {
  return argv
    .map((a) => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`))
    .join(" ");
}

/** The first line of a failed command's stderr, for a one-line error. */
export function firstErrorLine(r: CommandResult): string {
  const line = (r.stderr || r.stdout)
    .split("\n")
    .map((l) => l.trim())
    .find((l) => l !== "");
  return line ?? `exit status ${r.code}`;
}
