// The command-line program: builds the commander tree, runs one command, and turns every
// outcome into an exit code (README "Exit codes"). Runs in-process so tests can drive it.

import { Command, CommanderError } from "commander";
import { EXIT, UserError, errorMessage } from "../errors.js";
import { COMMANDS } from "./commands/index.js";
import { makeContext, type GlobalOptions } from "./context.js";
import type { CommandRegistration, RunAction } from "./registration.js";
import { VERSION } from "../version.js";
import { isInteractive, type CliIo } from "./io.js";
import { terminalSafe } from "./render/style.js";

/** Exit code for a bug in passthrough itself (EX_SOFTWARE): never one of the contract codes. */
export const EXIT_INTERNAL = 70;

/**
 * The commander tree, built but not run: runCli parses argv with it, and tools/package walks it
 * for the man page and the shell completions, so those say exactly what `--help` says.
 * `onExit` receives the exit code of the command that ran.
 */
export function buildProgram(
  io: CliIo,
  commands: readonly CommandRegistration[] = COMMANDS,
  onExit: (code: number) => void = () => undefined,
): Command {
  const program = new Command("passthrough");
  program
    .description(
      'Take a KVM host from "a GPU is installed" to "a VM runs with it passed through", safely, proving each step.',
    )
    .version(VERSION, "-V, --version")
    .option("--no-color", "never colour the output (also: NO_COLOR=1)")
    .configureOutput({
      writeOut: (s) => io.stdout.write(terminalSafe(s, false)),
      writeErr: (s) => io.stderr.write(terminalSafe(s, false)),
      // One line, the way to the usage on it (scripts read the first line of stderr).
      outputError: (s, write) =>
        write(
          `${s.startsWith("error:") ? "" : "error: "}${s.trimEnd()} (run with --help for usage)\n`,
        ),
    })
    .exitOverride();
  program.addHelpText(
    "after",
    `
The flow: check / list  ->  plan  ->  apply  ->  reboot  ->  verify  ->  vm configure  ->  guest setup
Every read-only command also works on a snapshot: --snapshot FILE.tar.gz

Exit codes: 0 ready / nothing to do, 1 problems found, 2 usage or input error,
            3 refused for safety, 4 apply failed.`,
  );

  const run: RunAction =
    (fn) =>
    async (...args: unknown[]) => {
      // commander passes positional args, then the options object, then the command.
      const cmd = args[args.length - 1] as Command;
      const opts = cmd.opts();
      const positional = args.slice(0, -2) as string[];
      const ctx = makeContext(io, program.opts<GlobalOptions>());
      onExit(await fn(ctx, opts as never, ...positional));
    };
  const sub = (sa: string[]) => runCli(sa, io, commands);
  for (const register of commands) register(program, run, sub);
  for (const c of program.commands) c.exitOverride().configureOutput(program.configureOutput());
  return program;
}

/** `commands`: the registrations to build (tests pass their own, e.g. apply with a hand-built planner). */
export async function runCli(
  argv: readonly string[],
  io: CliIo,
  commands: readonly CommandRegistration[] = COMMANDS,
): Promise<number> {
  let exitCode: number = EXIT.ok;
  const program = buildProgram(io, commands, (code) => {
    exitCode = code;
  });

  try {
    // `passthrough` alone on a terminal walks the flow (docs/design.md); elsewhere it prints help.
    const guided =
      argv.length === 0 && isInteractive(io) && program.commands.some((c) => c.name() === "guide");
    const args = guided ? ["guide"] : argv.length === 0 ? ["--help"] : [...argv];
    await program.parseAsync(args, { from: "user" });
    return exitCode;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (
        err.code === "commander.helpDisplayed" ||
        err.code === "commander.version" ||
        err.code === "commander.help"
      )
        return EXIT.ok;
      return EXIT.usage; // commander already printed the message
    }
    if (err instanceof UserError) {
      io.stderr.write(`error: ${terminalSafe(err.message, false)}\n`);
      return err.exitCode;
    }
    io.stderr.write(
      `error: internal error: ${terminalSafe(errorMessage(err), false)} (a bug in passthrough; rerun with DEBUG=passthrough for the stack)\n`,
    );
    if (io.env.DEBUG?.includes("passthrough") && err instanceof Error && err.stack)
      io.stderr.write(`${err.stack}\n`);
    return EXIT_INTERNAL;
  }
}
