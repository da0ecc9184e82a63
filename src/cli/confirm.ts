// Asking before changing something: on a terminal the user answers y/N; without one, --yes
// must say so up front (a script that pipes into passthrough never gets a silent yes).

import type * as Readline from "node:readline";
import { InputError } from "../errors.js";
import { isInteractive, type CliIo } from "./io.js";

export interface ConfirmOptions {
  yes?: boolean;
}

/** true to go ahead; false when the user said no. Throws when there is nobody to ask. */
export async function confirm(
  io: CliIo,
  question: string,
  opts: ConfirmOptions,
  what: string,
): Promise<boolean> {
  if (opts.yes) return true;
  if (!isInteractive(io) || !io.stdin) {
    throw new InputError(
      `not ${what} without confirmation: there is no terminal to ask on; pass --yes to go ahead, or --dry-run to only show the change`,
    );
  }
  const rl = (require("node:readline") as typeof Readline).createInterface({
    input: io.stdin,
    terminal: false,
  });
  try {
    const answer = await new Promise<string>((resolve) => {
      io.stdout.write(`${question} [y/N] `);
      rl.once("line", resolve);
      rl.once("close", () => resolve(""));
    });
    return /^(y|yes)$/i.test(answer.trim());
  } finally {
    rl.close();
  }
}

/**
 * apply / rollback: fail early (exit 2), before anything is read or locked, when no answer is
 * possible — a script must pass --yes explicitly, never hang on a prompt nobody sees.
 */
export function requireAnswerable(io: CliIo, yes: boolean | undefined, what: string): void {
  if (yes || isInteractive(io)) return;
  throw new InputError(
    `${what} needs a confirmation and there is no terminal to ask on; pass --yes to ${what} without a terminal`,
  );
}

/** Ask (or take --yes) after requireAnswerable has ruled out the no-terminal case. */
export async function confirmed(
  io: CliIo,
  yes: boolean | undefined,
  question: string,
  what: string,
): Promise<boolean> {
  return confirm(io, question, { yes }, what);
}
