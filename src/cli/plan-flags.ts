// The flags that say what to plan (`plan`, `apply`, `verify --device`), turned into
// PlanOptions (src/plan/types.ts).

import type { Command } from "commander";
import { InputError } from "../errors.js";
import type { PlanOptions } from "../plan/types.js";

export interface PlanFlags {
  device?: string[];
  group?: string[];
  iommuPt?: boolean;
  allowPartialGroup?: boolean;
  headlessOk?: boolean;
  allowUnsafeInterrupts?: boolean;
  acsOverride?: string;
  blacklist?: boolean;
}

export function addDeviceFlags(cmd: Command): Command {
  return cmd
    .option("--device <address...>", "a slot (0000:01:00: all its functions) or one function (0000:01:00.1); repeat or comma-separate for several")
    .option("--group <n...>", "every endpoint of IOMMU group N");
}

export function addPlanFlags(cmd: Command): Command {
  return addDeviceFlags(cmd)
    .option("--no-iommu-pt", "do not add iommu=pt (an optional host performance setting)")
    .option("--allow-partial-group", "pass part of an IOMMU group, leaving the other endpoints on host drivers (QEMU will refuse the group until they leave)")
    .option("--headless-ok", "allow passing the only GPU of a host with a console (have SSH access first)")
    .option("--allow-unsafe-interrupts", "proceed without interrupt remapping: writes allow_unsafe_interrupts=1, letting a guest inject interrupts into the host")
    .option("--acs-override <value>", "add pcie_acs_override=VALUE (lies to the kernel about isolation: devices can DMA into each other)")
    .option("--blacklist", "also blacklist the native drivers (never one another host device uses)");
}

const ADDRESS = /^(?:([0-9a-f]{4}):)?([0-9a-f]{2}):([0-1][0-9a-f])(?:\.([0-7]))?$/i;

/** "01:00" -> "0000:01:00", "0000:01:00.1" stays; anything else is an input error. */
export function normalizeAddress(a: string): string {
  const m = ADDRESS.exec(a.trim());
  if (!m) throw new InputError(`--device ${JSON.stringify(a)} is not a PCI address; use the form 0000:01:00 (a slot) or 0000:01:00.0 (a function), as \`passthrough list\` shows`);
  const base = `${(m[1] ?? "0000").toLowerCase()}:${m[2]!.toLowerCase()}:${m[3]!.toLowerCase()}`;
  return m[4] === undefined ? base : `${base}.${m[4]}`;
}

export function deviceList(flags: Pick<PlanFlags, "device">): string[] {
  return (flags.device ?? []).flatMap((d) => d.split(",")).filter(Boolean).map(normalizeAddress);
}

export function groupList(flags: Pick<PlanFlags, "group">): number[] {
  return (flags.group ?? []).flatMap((g) => g.split(",")).filter(Boolean).map((g) => {
    if (!/^\d+$/.test(g.trim())) throw new InputError(`--group ${JSON.stringify(g)} is not an IOMMU group number; \`passthrough list\` shows them`);
    return Number(g.trim());
  });
}

export function planOptionsFrom(flags: PlanFlags): PlanOptions {
  const devices = deviceList(flags);
  const groups = groupList(flags);
  if (devices.length === 0 && groups.length === 0) {
    throw new InputError("say what to pass through: --device 0000:01:00 (`passthrough check` lists the candidates)");
  }
  return {
    devices,
    groups,
    iommuPt: flags.iommuPt !== false,
    allowPartialGroup: flags.allowPartialGroup === true,
    headlessOk: flags.headlessOk === true,
    allowUnsafeInterrupts: flags.allowUnsafeInterrupts === true,
    acsOverride: flags.acsOverride ?? null,
    blacklist: flags.blacklist === true,
  };
}
