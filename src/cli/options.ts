// Options several commands share, defined once so their names, forms and help agree.
import type { Command } from "commander";
import { parseDeviceArgs, type DeviceRef } from "../formats/device-selection.js";
import { widenToSlots, type SlotFunction } from "../host/whole-slot.js";
import type { CommandContext } from "./context.js";

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

/**
 * `--device` values read against the host they select on: the one parser, then the whole-slot
 * rule (host/whole-slot.ts), whose notes go to stderr (one line each) so `--json` stays clean.
 */
export function selectDevices(
  ctx: Pick<CommandContext, "err">,
  pci: readonly SlotFunction[],
  values: string | readonly string[] | undefined,
): DeviceRef[] {
  const { refs, notes } = widenToSlots(pci, parseDeviceArgs(values));
  for (const n of notes) ctx.err(`note: ${n}`);
  return refs;
}
