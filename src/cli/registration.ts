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
