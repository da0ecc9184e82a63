// Where `apply` and `rollback` write and how they run commands: this host (root required),
// or another root given with --root DIR (an image, a chroot, a test tree) whose commands are
// listed, or run chrooted into DIR with --run-commands.

import * as fs from "node:fs";
import * as path from "node:path";
import { ChrootRunner, hostRunner, ListingRunner } from "../apply/command-runner.js";
import { FileWriter } from "../apply/file-writer.js";
import { InputError } from "../errors.js";
import type { CommandRunner } from "../process/run.js";

export interface TargetOptions {
  root?: string;
  runCommands?: boolean;
}

export interface ApplyTarget {
  live: boolean;
  rootDir: string;
  writer: FileWriter;
  runner: CommandRunner;
  /** The flags to repeat in a suggested command ("--root /mnt/img --run-commands"). */
  flags: string[];
}

/** Effective user id; a function so tests can stand in for root without being root. */
export const privileges = {
  euid: (): number => (typeof process.geteuid === "function" ? process.geteuid() : 0),
};

export function applyTarget(opts: TargetOptions, command: "apply" | "rollback"): ApplyTarget {
  if (opts.runCommands && opts.root === undefined) {
    throw new InputError(
      `--run-commands only means something with --root DIR (on this host, ${command} always runs its commands)`,
    );
  }
  if (opts.root === undefined) {
    if (privileges.euid() !== 0) {
      throw new InputError(
        `${command} changes /etc and the boot configuration and needs root: run \`sudo passthrough ${command} ...\` (or --root DIR to work on another tree)`,
      );
    }
    return {
      live: true,
      rootDir: "/",
      writer: new FileWriter("/"),
      runner: hostRunner(),
      flags: [],
    };
  }
  const dir = path.resolve(opts.root);
  let st: fs.Stats;
  try {
    st = fs.statSync(dir);
  } catch {
    throw new InputError(
      `--root ${opts.root}: no such folder; give the root of the image or tree to change`,
    );
  }
  if (!st.isDirectory())
    throw new InputError(
      `--root ${opts.root} is not a folder; give the root of the image or tree to change`,
    );
  if (dir === "/") return applyTarget({ runCommands: false }, command);
  if (opts.runCommands && privileges.euid() !== 0) {
    throw new InputError(
      `--run-commands runs the commands with chroot(8), which needs root: run it with sudo, or drop --run-commands to only list them`,
    );
  }
  const runner = opts.runCommands ? new ChrootRunner(dir) : new ListingRunner();
  return {
    live: false,
    rootDir: dir,
    writer: new FileWriter(dir),
    runner,
    flags: ["--root", dir, ...(opts.runCommands ? ["--run-commands"] : [])],
  };
}

export function addTargetOptions<T extends { option(flags: string, description: string): T }>(
  cmd: T,
): T {
  return cmd
    .option(
      "--root <dir>",
      "work on another root (an image, a chroot, a test tree): files under DIR, journal in DIR/var/lib/passthrough; commands are listed, not run",
    )
    .option(
      "--run-commands",
      "with --root: run the commands chrooted into DIR (needs root; mount proc, sys and dev inside DIR first — update-grub and update-initramfs use them)",
    );
}
