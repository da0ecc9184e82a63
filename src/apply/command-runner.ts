// Running the plan's commands (update-grub, proxmox-boot-tool refresh, update-initramfs ...):
// always an argv array handed to execve via spawnSync, never a shell, so no argument is ever
// re-split or expanded. Output is captured for the journal.
//
//   SpawnRunner      this host
//   ChrootRunner     --root DIR --run-commands: `chroot DIR argv...`
//   ListingRunner    --root DIR alone: records the commands, runs nothing
//   RecordingRunner  tests: records the commands, answers with scripted results

import type * as ChildProcess from "node:child_process";

export interface CommandResult {
  argv: string[];
  /** false when the command was only listed (--root without --run-commands). */
  ran: boolean;
  exitCode: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  durationMs: number;
  /** Could not be started, or timed out: one line. */
  error: string | null;
}

export interface CommandRunner {
  /** How commands are run, for the journal and messages ("this host", "chroot /mnt/image", "listed, not run"). */
  readonly description: string;
  run(argv: readonly string[]): CommandResult;
}

export function commandSucceeded(r: CommandResult): boolean {
  return !r.ran || (r.exitCode === 0 && r.error === null);
}

/** "exited 1", "killed by SIGTERM", "timed out after 1200 s", "not found". */
export function describeOutcome(r: CommandResult): string {
  if (!r.ran) return "listed, not run";
  if (r.error) return r.error;
  if (r.signal) return `killed by ${r.signal}`;
  return r.exitCode === 0 ? "ok" : `exited ${r.exitCode}`;
}

/** Shown to people and in the journal; quoting only where needed to read it back unambiguously. */
export function formatArgv(argv: readonly string[]): string {
  return argv
    .map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`))
    .join(" ");
}

/** Output kept per stream: enough for any refresh tool's error, bounded so a log stays small. */
export const OUTPUT_LIMIT = 256 * 1024;

/**
 * Regenerating an initramfs for every installed kernel takes minutes on slow disks (and ~9
 * minutes under emulation with MODULES=most, docs/e2e-lab.md); a hung tool must not hold the
 * lock forever.
 */
export const DEFAULT_TIMEOUT_MS = 30 * 60 * 1000;

/** sbin folders first: root's refresh tools live there, and a sudo PATH may lack them. */
const SAFE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

function clip(s: string): string {
  if (s.length <= OUTPUT_LIMIT) return s;
  return `[... ${s.length - OUTPUT_LIMIT} bytes cut ...]\n${s.slice(-OUTPUT_LIMIT)}`;
}

export interface SpawnRunnerOptions {
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
}

export class SpawnRunner implements CommandRunner {
  readonly description: string = "this host";
  protected readonly timeoutMs: number;
  protected readonly env: NodeJS.ProcessEnv;

  constructor(opts: SpawnRunnerOptions = {}) {
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    // LC_ALL=C: tool messages in the journal read the same everywhere; no prompt may wait for a terminal.
    this.env = {
      ...(opts.env ?? process.env),
      PATH: SAFE_PATH,
      LC_ALL: "C",
      DEBIAN_FRONTEND: "noninteractive",
    };
  }

  run(argv: readonly string[]): CommandResult {
    return this.spawn([...argv], [...argv]);
  }

  protected spawn(shown: string[], actual: string[]): CommandResult {
    const started = Date.now();
    const [file, ...args] = actual;
    if (!file) throw new Error("empty argv");
    const r = (require("node:child_process") as typeof ChildProcess).spawnSync(file, args, {
      env: this.env,
      stdio: ["ignore", "pipe", "pipe"],
      timeout: this.timeoutMs,
      killSignal: "SIGTERM",
      maxBuffer: 64 * 1024 * 1024,
      shell: false,
      windowsHide: true,
    });
    const durationMs = Date.now() - started;
    let error: string | null = null;
    if (r.error) {
      const code = (r.error as NodeJS.ErrnoException).code;
      if (code === "ENOENT") error = `${file}: command not found`;
      else if (code === "ETIMEDOUT")
        error = `timed out after ${Math.round(this.timeoutMs / 1000)} s`;
      else if (code === "EACCES") error = `${file}: permission denied`;
      else error = `${file}: ${r.error.message}`;
    }
    return {
      argv: shown,
      ran: true,
      exitCode: r.status,
      signal: r.signal,
      stdout: clip(r.stdout?.toString("utf8") ?? ""),
      stderr: clip(r.stderr?.toString("utf8") ?? ""),
      durationMs,
      error,
    };
  }
}

/** --root DIR --run-commands: the command runs with DIR as its root, so it sees the image's own tools and config. */
export class ChrootRunner extends SpawnRunner {
  override readonly description: string;

  constructor(
    readonly rootDir: string,
    opts: SpawnRunnerOptions = {},
  ) {
    super(opts);
    this.description = `chroot ${rootDir}`;
  }

  override run(argv: readonly string[]): CommandResult {
    return this.spawn([...argv], ["chroot", this.rootDir, ...argv]);
  }
}

/** --root DIR without --run-commands: nothing runs; the journal and output list what would. */
export class ListingRunner implements CommandRunner {
  readonly description = "listed, not run (--root without --run-commands)";
  readonly listed: string[][] = [];

  run(argv: readonly string[]): CommandResult {
    this.listed.push([...argv]);
    return {
      argv: [...argv],
      ran: false,
      exitCode: null,
      signal: null,
      stdout: "",
      stderr: "",
      durationMs: 0,
      error: null,
    };
  }
}

export interface ScriptedResult {
  exitCode?: number;
  stdout?: string;
  stderr?: string;
  error?: string;
}

/** Tests: records every argv and answers from `respond` (default: exit 0, no output). */
export class RecordingRunner implements CommandRunner {
  readonly description = "recording runner";
  readonly calls: string[][] = [];

  constructor(
    private readonly respond: (argv: readonly string[]) => ScriptedResult | undefined = () =>
      undefined,
  ) {}

  run(argv: readonly string[]): CommandResult {
    this.calls.push([...argv]);
    const r = this.respond(argv) ?? {};
    return {
      argv: [...argv],
      ran: true,
      exitCode: r.error ? null : (r.exitCode ?? 0),
      signal: null,
      stdout: r.stdout ?? "",
      stderr: r.stderr ?? "",
      durationMs: 0,
      error: r.error ?? null,
    };
  }
}
