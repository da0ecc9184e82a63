// The one parser of `--device` values, for every command (check, plan, apply, verify, vm ...):
// the flag may be repeated and each value may be a comma list, so `--device 01:00,02:00` and
// `--device 01:00 --device 02:00` mean the same. Each entry is a slot (every function of the
// device) or one function; both are returned in full form, in the order given, once each.

import { InputError } from "../errors.js";
import { isFunctionAddress, normalizePciAddress } from "./pci-address.js";

export interface DeviceRef {
  /** "0000:01:00" (a slot: every function) or "0000:01:00.1" (one function). */
  address: string;
  isFunction: boolean;
}

const FORMS = "a slot like 0000:01:00 (every function) or a function like 0000:01:00.1";

/** Every `--device` value, repeated flags and comma lists, as full addresses; exit 2 on any bad one. */
export function parseDeviceArgs(
  values: string | readonly string[] | undefined,
  flag = "--device",
): DeviceRef[] {
  const list = values === undefined ? [] : typeof values === "string" ? [values] : values;
  const refs = new Map<string, DeviceRef>();
  for (const value of list) {
    for (const entry of value.split(",")) {
      if (entry.trim() === "")
        throw new InputError(
          `${flag} ${quoteInput(value)}: an empty entry; give ${FORMS} (\`passthrough check\` lists the devices)`,
        );
      const address = normalizePciAddress(entry);
      if (address === null)
        throw new InputError(`${flag} ${quoteInput(entry)}: not a PCI address; write ${FORMS}`);
      refs.set(address, { address, isFunction: isFunctionAddress(address) });
    }
  }
  return [...refs.values()];
}

/** A command that takes exactly one device (`vm mapping create`, `guest setup`): the one, or null when none was given. */
export function parseSingleDevice(
  values: string | readonly string[] | undefined,
  what: string,
  flag = "--device",
): DeviceRef | null {
  const refs = parseDeviceArgs(values, flag);
  if (refs.length > 1)
    throw new InputError(
      `${flag} ${quoteInput(refs.map((r) => r.address).join(","))}: ${what} takes one device; give ${flag} once`,
    );
  return refs[0] ?? null;
}

/** The addresses as one flag value, for a suggested command: "0000:01:00,0000:02:00". */
export function formatDeviceArgs(refs: readonly Pick<DeviceRef, "address">[]): string {
  return refs.map((r) => r.address).join(",");
}

const MAX_ECHO = 60;

/** A value typed by the user, echoed safely: quoted when it has blanks or control characters, cut when long. */
export function quoteInput(value: string): string {
  const cut = value.length > MAX_ECHO ? `${value.slice(0, MAX_ECHO)}…` : value;
  return /^[\x21-\x7e]+$/.test(cut) ? cut : JSON.stringify(cut);
}

/** The error when a command that needs a selection got none. */
export const NOTHING_SELECTED = `nothing selected: give --device with ${FORMS}, or --group N; \`passthrough check\` lists the candidates`;

/** `--group` values (repeatable, comma lists) as IOMMU group numbers; exit 2 on any bad one. */
export function parseGroupArgs(values: readonly string[] | undefined): number[] {
  const groups = new Set<number>();
  for (const value of values ?? []) {
    for (const entry of value.split(",")) {
      const text = entry.trim();
      // Group ids are the kernel's int ids (iommu_group_alloc), so at most 2^31 - 1.
      if (!/^\d{1,10}$/.test(text) || Number(text) > 2 ** 31 - 1)
        throw new InputError(
          `--group ${quoteInput(entry)}: not an IOMMU group number; \`passthrough list\` shows the groups`,
        );
      groups.add(Number(text));
    }
  }
  return [...groups];
}
