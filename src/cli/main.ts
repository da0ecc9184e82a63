// Entry point of the bundled CLI (dist/passthrough.cjs).
import { processIo } from "./io.js";
import { runCli } from "./program.js";

// `passthrough list | head` closes our stdout early: that is the reader's choice, not an error.
for (const stream of [process.stdout, process.stderr]) {
  stream.on("error", (err: NodeJS.ErrnoException) => {
    if (err.code === "EPIPE") process.exit(process.exitCode ?? 0);
    throw err;
  });
}

runCli(process.argv.slice(2), processIo()).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`error: internal error: ${String(err)}\n`);
    process.exitCode = 70;
  },
);
