// Running programs: an argv array handed to execve (spawnSync, shell: false), never a shell
// string, so no argument is re-split, globbed or expanded. The one runner for apply's refresh
// commands (update-grub, update-initramfs ...), the VM backends' qm/pvesh/virsh and
// discovery's allow-listed reads (src/host/commands.ts).
//
// The snapshot reader's worker (src/host/capture/isolated-reader.ts) is deliberately not a run
// of this kind: it is a long-lived `node` child that answers framed requests one by one while a
// watchdog kills it when a single read hangs, and the parent keeps going with a fresh child.
// A run here is one program from start to exit; the parent waits for it.

import type * as ChildProcess from "node:child_process";
import { closeSync } from "node:fs";
import { anonymousFile } from "./stdin-file.js";

// Loaded on first use: the standalone executable's runtime is slow to load child_process, and
// most commands never run a program (ARCHITECTURE.md, "The standalone executable").
let cp: typeof ChildProcess | null = null;
const childProcess = (): typeof ChildProcess =>
  (cp ??= require("node:child_process") as typeof ChildProcess);

export interface RunOptions {
  /**
   * Bytes for the child's stdin, as a file of its own (see stdin-file.ts): read from fd 0 or
   * by opening /dev/stdin (`virsh define /dev/stdin`). Without it, stdin is /dev/null.
   */
  input?: string;
  /** The child gets SIGTERM after this long; the result says it timed out. */
  timeoutMs?: number;
}

export interface CommandResult {
  argv: string[];
  /** false when the command was only listed (apply --root without --run-commands). */
  ran: boolean;
  /** Exit status; null when killed by a signal or never started. */
  exitCode: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  durationMs: number;
  /** Could not be started, or timed out: one line. */
  error: string | null;
  timedOut: boolean;
}

export interface CommandRunner {
  /** How commands are run, for the journal and messages ("this host", "chroot /mnt/image", "listed, not run"). */
  readonly description: string;
  run(argv: readonly string[], options?: RunOptions): CommandResult;
}

export interface ProcessRunnerOptions {
  /** Default for runs that do not set their own (2 minutes). */
  timeoutMs?: number;
  description?: string;
  /** Keep at most this many characters per stream (the end, which holds a tool's error). */
  keepOutput?: number;
}

/** Output a program may print before it is stopped (spawnSync's maxBuffer: ENOBUFS past it). */
const MAX_BUFFER = 64 * 1024 * 1024;

/**
 * Runs programs on this machine with `env` (nothing else inherited) in the C locale, so tool
 * output parses, and reads in a journal, the same everywhere.
 */
export class ProcessRunner implements CommandRunner {
  readonly description: string;

  constructor(
    private readonly env: NodeJS.ProcessEnv = process.env,
    private readonly opts: ProcessRunnerOptions = {},
  ) {
    this.description = opts.description ?? "this host";
  }

  run(argv: readonly string[], options: RunOptions = {}): CommandResult {
    const r = runArgv(argv, {
      env: { ...this.env, LC_ALL: "C", LANG: "C" },
      timeoutMs: options.timeoutMs ?? this.opts.timeoutMs ?? 120_000,
      ...(options.input !== undefined ? { input: options.input } : {}),
    });
    const keep = this.opts.keepOutput;
    if (keep === undefined) return r;
    return { ...r, stdout: clip(r.stdout, keep), stderr: clip(r.stderr, keep) };
  }
}

function clip(s: string, keep: number): string {
  if (s.length <= keep) return s;
  return `[... ${s.length - keep} bytes cut ...]\n${s.slice(-keep)}`;
}

/** One run: argv[0] looked up on env.PATH, the rest passed as they are. */
export function runArgv(
  argv: readonly string[],
  options: RunOptions & { env: NodeJS.ProcessEnv; timeoutMs: number },
): CommandResult {
  const [file, ...args] = argv;
  if (!file) throw new Error("empty argv");
  const stdin = options.input === undefined ? null : anonymousFile(options.input);
  const started = Date.now();
  try {
    const r = childProcess().spawnSync(file, args, {
      env: options.env,
      stdio: [stdin ?? "ignore", "pipe", "pipe"],
      timeout: options.timeoutMs,
      killSignal: "SIGTERM",
      maxBuffer: MAX_BUFFER,
      shell: false,
      windowsHide: true,
    });
    const code = (r.error as NodeJS.ErrnoException | undefined)?.code;
    return {
      argv: [...argv],
      ran: true,
      exitCode: r.status,
      signal: r.signal,
      stdout: r.stdout?.toString("utf8") ?? "",
      stderr: r.stderr?.toString("utf8") ?? "",
      durationMs: Date.now() - started,
      error: r.error ? startError(file, code, r.error.message, options.timeoutMs) : null,
      timedOut: code === "ETIMEDOUT",
    };
  } finally {
    if (stdin !== null) closeSync(stdin);
  }
}

function startError(
  file: string,
  code: string | undefined,
  message: string,
  timeoutMs: number,
): string {
  if (code === "ENOENT") return `${file}: command not found`;
  if (code === "ETIMEDOUT") return `timed out after ${Math.round(timeoutMs / 1000)} s`;
  if (code === "EACCES") return `${file}: permission denied`;
  return `${file}: ${message}`;
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

/** The first line of a failed command's stderr (else stdout, else why), for a one-line error. */
export function firstErrorLine(r: CommandResult): string {
  const line = (r.stderr || r.stdout)
    .split("\n")
    .map((l) => l.trim())
    .find((l) => l !== "");
  return line ?? r.error ?? (r.signal ? `killed by ${r.signal}` : `exit status ${r.exitCode}`);
}
