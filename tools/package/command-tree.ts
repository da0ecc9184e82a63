// The CLI's commands, options and descriptions as plain data, read from the same commander tree
// that `--help` prints (src/cli/program.ts buildProgram, every command loaded) through commander's own Help class:
// the man page and the shell completions are generated from it, so they cannot say anything
// `--help` does not.
import type { Command, Help, Option } from "commander";
import { loadAllCommands } from "../../src/cli/commands/index.js";
import { buildProgram } from "../../src/cli/program.js";

export interface OptionSpec {
  /** As --help shows it: "-o, --output <file>". */
  term: string;
  long: string | null;
  short: string | null;
  /** The value's name ("file" of "<file>"), or null for a flag. */
  value: string | null;
  choices: string[] | null;
  /** As --help shows it (defaults and choices included). */
  description: string;
}

export interface CommandSpec {
  /** ["vm", "mapping", "list"]; [] for the program itself. */
  path: string[];
  usage: string;
  description: string;
  arguments: Array<{ term: string; description: string }>;
  options: OptionSpec[];
  commands: CommandSpec[];
  /** Text the command adds after its --help (addHelpText "after"), without surrounding blank lines. */
  after: string;
}

export function describeCommand(cmd: Command, path: string[] = []): CommandSpec {
  const help: Help = cmd.createHelp();
  return {
    path,
    usage: help.commandUsage(cmd),
    description: help.commandDescription(cmd),
    arguments: help.visibleArguments(cmd).map((a) => ({
      term: help.argumentTerm(a),
      description: help.argumentDescription(a),
    })),
    options: help.visibleOptions(cmd).map((o) => describeOption(help, o)),
    commands: help
      .visibleCommands(cmd)
      .filter((c) => c.name() !== "help")
      .map((c) => describeCommand(c, [...path, c.name()])),
    after: afterHelp(cmd),
  };
}

function describeOption(help: Help, o: Option): OptionSpec {
  const value = /[<[]([^>\]]+)[>\]]/.exec(o.flags)?.[1] ?? null;
  return {
    term: help.optionTerm(o),
    long: o.long ?? null,
    short: o.short ?? null,
    value,
    choices: o.argChoices ?? null,
    description: help.optionDescription(o),
  };
}

/**
 * What addHelpText("after", ...) prints: commander registers it as a listener of the command's
 * "afterHelp" event (Command is an EventEmitter at run time; its typings do not say so).
 */
function afterHelp(cmd: Command): string {
  let text = "";
  (cmd as unknown as NodeJS.EventEmitter).emit("afterHelp", {
    error: false,
    command: cmd,
    write: (s: string) => (text += s),
  });
  return text.replace(/^\n+|\s+$/g, "");
}

/** The live program's tree, every command built (nothing runs: the tree is only built). */
export async function liveCommandTree(): Promise<CommandSpec> {
  const silent = { write: () => true };
  return describeCommand(
    buildProgram({ stdout: silent, stderr: silent, env: {} }, await loadAllCommands()),
  );
}

/** Every command below the program, depth first. */
export function allCommands(root: CommandSpec): CommandSpec[] {
  return root.commands.flatMap((c) => [c, ...allCommands(c)]);
}

/** Whether an option's value names a file or folder (completed with file names). */
export function valueIsPath(o: OptionSpec): "file" | "dir" | null {
  if (!o.value) return null;
  if (/^dir/i.test(o.value)) return "dir";
  return /file|path|key/i.test(o.value) ? "file" : null;
}
