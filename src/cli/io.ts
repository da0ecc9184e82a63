// Where a command writes, and what it knows about its terminal. The real process writes to
// file descriptors 1 and 2; tests pass string buffers and run the CLI in-process.
import { fstatSync, writeSync } from "node:fs";
import type * as Tty from "node:tty";

export interface CliIo {
  stdout: { write(s: string): unknown; isTTY?: boolean };
  stderr: { write(s: string): unknown; isTTY?: boolean };
  stdin?: NodeJS.ReadableStream & { isTTY?: boolean };
  env: NodeJS.ProcessEnv;
}

export function processIo(): CliIo {
  return {
    stdout: fdWriter(1, () => process.stdout),
    stderr: fdWriter(2, () => process.stderr),
    // On first use: only prompts read it, and creating the stream costs start-up time (a Bun
    // executable builds a ReadStream for it).
    get stdin() {
      return process.stdin;
    },
    env: process.env,
  };
}

/**
 * Writes straight to a file descriptor, as Node.js itself writes to files and (on Linux) pipes:
 * synchronously. Creating process.stdout costs a start-up in the Bun executable (it builds its
 * stream classes from JavaScript on first use), so the stream is made only for a descriptor
 * left non-blocking by whoever gave it to us (EAGAIN): from then on it writes the rest. A closed
 * reader (`passthrough list | head`, EPIPE) is the reader's choice, not an error: exit quietly.
 */
function fdWriter(fd: 1 | 2, stream: () => NodeJS.WriteStream): CliIo["stdout"] {
  let fallback: NodeJS.WriteStream | null = null;
  const fallBack = () => {
    fallback = stream();
    fallback.on("error", (err: NodeJS.ErrnoException) => {
      if (err.code === "EPIPE") process.exit(process.exitCode ?? 0);
      throw err;
    });
    return fallback;
  };
  return {
    write(s: string) {
      if (fallback) return fallback.write(s);
      let rest = Buffer.from(s);
      while (rest.length > 0) {
        try {
          rest = rest.subarray(writeSync(fd, rest));
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          if (code === "EAGAIN") return fallBack().write(rest);
          if (code === "EPIPE") process.exit(process.exitCode ?? 0);
          throw err;
        }
      }
      return true;
    },
    get isTTY() {
      if (fallback) return fallback.isTTY === true;
      // A terminal is a character device: a pipe or a file is answered by fstat alone, without
      // node:tty (whose module loads the stream classes in the Bun executable).
      return isCharacterDevice(fd) && (require("node:tty") as typeof Tty).isatty(fd);
    },
  };
}

function isCharacterDevice(fd: number): boolean {
  try {
    return fstatSync(fd).isCharacterDevice();
  } catch {
    return false; // closed
  }
}

/** Colour only on a terminal, never with NO_COLOR (https://no-color.org) or --no-color. */
export function wantsColor(io: CliIo, flag: boolean | undefined): boolean {
  if (flag === false) return false;
  const noColor = io.env.NO_COLOR;
  if (noColor !== undefined && noColor !== "") return false;
  if (io.env.TERM === "dumb") return false;
  return io.stdout.isTTY === true;
}

/** A confirmation prompt is only possible with a terminal on both ends. */
export function isInteractive(io: CliIo): boolean {
  return io.stdin?.isTTY === true && io.stdout.isTTY === true;
}
