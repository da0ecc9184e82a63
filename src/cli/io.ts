// Where a command writes, and what it knows about its terminal. The real process passes
// process.stdout/stderr; tests pass string buffers and run the CLI in-process.

export interface CliIo {
  stdout: { write(s: string): unknown; isTTY?: boolean };
  stderr: { write(s: string): unknown; isTTY?: boolean };
  stdin?: NodeJS.ReadableStream & { isTTY?: boolean };
  env: NodeJS.ProcessEnv;
}

export function processIo(): CliIo {
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    // On first use: only prompts read it, and creating the stream costs start-up time (a Bun
    // executable builds a ReadStream for it).
    get stdin() {
      return process.stdin;
    },
    env: process.env,
  };
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
