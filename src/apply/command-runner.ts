// How apply and rollback run the plan's commands (update-grub, proxmox-boot-tool refresh,
// update-initramfs ...), all through src/process/run.ts (argv only, never a shell). Output is
// captured for the journal.
//
//   hostRunner()     this host
//   ChrootRunner     --root DIR --run-commands: `chroot DIR argv...`
//   ListingRunner    --root DIR alone: records the commands, runs nothing
//   RecordingRunner  tests (src/process/recording-runner.ts): records, answers from a script

import {
  ProcessRunner,
  type CommandResult,
  type CommandRunner,
  type RunOptions,
} from "../process/run.js";

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

function applyEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  // No prompt may wait for a terminal (debconf, ucf).
  return { ...env, PATH: SAFE_PATH, DEBIAN_FRONTEND: "noninteractive" };
}

/** Commands on this host. */
export function hostRunner(env: NodeJS.ProcessEnv = process.env): CommandRunner {
  return new ProcessRunner(applyEnv(env), {
    timeoutMs: DEFAULT_TIMEOUT_MS,
    keepOutput: OUTPUT_LIMIT,
  });
}

/** --root DIR --run-commands: the command runs with DIR as its root, so it sees the image's own tools and config. */
export class ChrootRunner implements CommandRunner {
  readonly description: string;
  private readonly inner: CommandRunner;

  constructor(
    readonly rootDir: string,
    env: NodeJS.ProcessEnv = process.env,
  ) {
    this.description = `chroot ${rootDir}`;
    this.inner = hostRunner(env);
  }

  run(argv: readonly string[], options?: RunOptions): CommandResult {
    // The journal shows the command as the image runs it, not the chroot around it.
    return { ...this.inner.run(["chroot", this.rootDir, ...argv], options), argv: [...argv] };
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
      timedOut: false,
    };
  }
}
