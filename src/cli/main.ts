// Entry point of the bundled CLI (dist/passthrough.cjs).
import { processIo } from "./io.js";
import { VERSION } from "../version.js";

/**
 * `passthrough --version` alone is answered before the program (commander and the command
 * table) is loaded: scripts and package managers call it often, and it is most of its cost.
 * The output is what commander's own `--version` prints.
 */
function isVersionOnly(argv: readonly string[]): boolean {
  return argv.length === 1 && (argv[0] === "--version" || argv[0] === "-V");
}

async function main(argv: string[]): Promise<number> {
  const io = processIo();
  if (isVersionOnly(argv)) {
    io.stdout.write(`${VERSION}\n`);
    return 0;
  }
  const { runCli } = await import("./program.js");
  return runCli(argv, io);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    processIo().stderr.write(`error: internal error: ${String(err)}\n`);
    process.exitCode = 70;
  },
);
