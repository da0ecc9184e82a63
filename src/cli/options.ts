// Options several commands share, defined once so their names, forms and help agree.
import type { Command } from "commander";

/** Commander's accumulator for a repeatable option. */
export const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

/**
 * `--device`, the same on every command: a slot (every function) or a function, repeated or
 * comma-separated; the values are parsed by formats/device-selection.ts `parseDeviceArgs`.
 */
export function addDeviceOption(cmd: Command, what: string): Command {
  return cmd.option(
    "--device <addr>",
    `${what}: slot 0000:01:00 (every function) or function 0000:01:00.1; repeat or comma-separate`,
    collect,
  );
}
