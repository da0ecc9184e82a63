// The command-line program: builds the commander tree, runs one command, and turns every
// outcome into an exit code (README "Exit codes"). Runs in-process so tests can drive it.
// Only the command argv names is built in full; the others are listed by name and summary
// (ARCHITECTURE.md "Command registration"), so a run loads one command's modules.

import { Command, CommanderError, Help } from "commander";
import { EXIT, UserError, errorMessage } from "../errors.js";
import { COMMANDS } from "./commands/index.js";
import type { GlobalOptions } from "./context.js";
import type { CommandEntry, CommandRegistration, RunAction } from "./registration.js";
import { VERSION } from "../version.js";
import { isInteractive, type CliIo } from "./io.js";
import { terminalSafe } from "./render/style.js";

/** Exit code for a bug in passthrough itself (EX_SOFTWARE): never one of the contract codes. */
export const EXIT_INTERNAL = 70;

/** The `--help` term of each command listed by name only (listedOnly). */
const listedTerms = new WeakMap<Command, string>();

/**
 * A command known by name and summary only: `--help` lists it as its full build would. It never
 * runs: commandsFor builds in full every command commander can dispatch to.
 */
function listedOnly(entry: CommandEntry): CommandRegistration {
  return (program) => {
    const cmd = program
      .command(entry.name)
      .description(entry.summary)
      .action(() => {
        throw new Error(`command ${entry.name} was not loaded`);
      });
    listedTerms.set(cmd, entry.term);
  };
}

/** Whether commander reads an argument as an option (its own test, Command.parseOptions). */
const isOption = (arg: string) => arg.length > 1 && arg.startsWith("-");

/**
 * The command names argv can dispatch to: commander runs its first operand (the first argument
 * that is not an option, or the one after `--`), and `help NAME` the second.
 */
export function dispatchedNames(argv: readonly string[]): string[] {
  const dash = argv.indexOf("--");
  const operands = [
    ...(dash < 0 ? argv : argv.slice(0, dash)).filter((a) => !isOption(a)),
    ...(dash < 0 ? [] : argv.slice(dash + 1)),
  ];
  return operands.slice(0, operands[0] === "help" ? 2 : 1);
}

/** The registrations for one run: the commands argv names in full, every other one listed only. */
export async function commandsFor(
  argv: readonly string[],
  entries: readonly CommandEntry[] = COMMANDS,
): Promise<CommandRegistration[]> {
  const names = dispatchedNames(argv);
  const each = await Promise.all(
    entries.map((e) => (names.includes(e.name) ? e.load() : [listedOnly(e)])),
  );
  return each.flat();
}

/**
 * The commander tree, built but not run: runCli parses argv with it, and tools/package walks it
 * (built from every command, loadAllCommands) for the man page and the shell completions, so
 * those say exactly what `--help` says. `onExit` receives the exit code of the command that ran;
 * `sub` runs another command line (the guide's steps).
 */
export function buildProgram(
  io: CliIo,
  commands: readonly CommandRegistration[],
  onExit: (code: number) => void = () => undefined,
  sub: (argv: string[]) => Promise<number> = (sa) => runCli(sa, io, commands),
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
    .exitOverride()
    .configureHelp({
      subcommandTerm(cmd: Command): string {
        return listedTerms.get(cmd) ?? Help.prototype.subcommandTerm.call(this, cmd);
      },
    });
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
      // The host-reading context on first use: `--version` and `--help` never load it.
      const { makeContext } = await import("./context.js");
      const ctx = makeContext(io, program.opts<GlobalOptions>());
      onExit(await fn(ctx, opts as never, ...positional));
    };
  for (const register of commands) register(program, run, sub);
  for (const c of program.commands) c.exitOverride().configureOutput(program.configureOutput());
  return program;
}

/**
 * `commands`: the registrations to build, all in full (tests pass their own, e.g. apply with a
 * hand-built planner); without it, the command argv names, from COMMANDS.
 */
export async function runCli(
  argv: readonly string[],
  io: CliIo,
  commands?: readonly CommandRegistration[],
): Promise<number> {
  let exitCode: number = EXIT.ok;
  try {
    // `passthrough` alone on a terminal walks the flow (docs/design.md); elsewhere it prints help.
    const alone = argv.length === 0 && isInteractive(io);
    const program = buildProgram(
      io,
      commands ?? (await commandsFor(alone ? ["guide"] : argv)),
      (code) => {
        exitCode = code;
      },
      (sa) => runCli(sa, io, commands),
    );
    const guided = alone && program.commands.some((c) => c.name() === "guide");
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
