// What a command module hands the program (program.ts) and gets from it: kept apart so that
// commands and the program that lists them do not import each other.
import type { Command } from "commander";
import type { CommandContext } from "./context.js";

export interface CommandRegistration {
  /** `sub` runs another command of the same program on the same terminal (the guide uses it). */
  (program: Command, run: RunAction, sub: (argv: string[]) => Promise<number>): void;
}

/** Wraps a command's action: gives it a context, records its exit code. */
export type RunAction = <O>(
  fn: (ctx: CommandContext, opts: O, ...args: string[]) => Promise<number> | number,
) => (...args: unknown[]) => Promise<void>;

/**
 * A top-level command as the program knows it before building it: its name and the line
 * `passthrough --help` shows for it (the term and the summary), and how to load its module(s).
 * The program builds only the command named in argv (src/cli/program.ts commandsFor); the man
 * page, the completions and the tests load them all (loadAllCommands).
 */
export interface CommandEntry {
  name: string;
  /** As the command list of `passthrough --help` shows it: "rollback [options] [id]". */
  term: string;
  summary: string;
  /** Imports the command's module graph (a dynamic import: esbuild bundles it lazily). */
  load(): Promise<readonly CommandRegistration[]>;
}
