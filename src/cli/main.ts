// Entry point of the bundled CLI (dist/passthrough.cjs).
import { processIo } from "./io.js";
import { runCli } from "./program.js";

runCli(process.argv.slice(2), processIo()).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    processIo().stderr.write(`error: internal error: ${String(err)}\n`);
    process.exitCode = 70;
  },
);
