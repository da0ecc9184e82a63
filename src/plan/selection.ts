// Which PCI functions a plan binds to vfio-pci. A slot address ("0000:01:00") selects every
// function of the device (Proxmox "All Functions", docs/domain-facts.md §2); a function address
// selects that function; --group N selects every endpoint of IOMMU group N. Bridges are never
// selected: they stay on the host (qemu-server skips them too, docs/proxmox-api.md §4.2).

import { InputError } from "../errors.js";
import { NOTHING_SELECTED, parseDeviceArgs } from "../formats/device-selection.js";
import { slotOf } from "../formats/pci-address.js";
import type { HostState, PciDevice } from "../host/types.js";
import type { PlanOptions, Selection } from "./types.js";

export interface ResolvedSelection {
  selection: Selection;
  /** The selected functions, in address order. */
  devices: PciDevice[];
}

export function resolveSelection(
  state: HostState,
  opts: Pick<PlanOptions, "devices" | "groups">,
): ResolvedSelection {
  const requested: string[] = [];
  const chosen = new Map<string, PciDevice>();
  const byAddress = new Map(state.pci.map((d) => [d.address, d]));
  const refs = parseDeviceArgs(opts.devices);
  if (refs.length === 0 && opts.groups.length === 0) throw new InputError(NOTHING_SELECTED);

  for (const { address: addr, isFunction } of refs) {
    requested.push(addr);
    const matches = isFunction
      ? [byAddress.get(addr)].filter((d): d is PciDevice => d !== undefined)
      : state.pci.filter((d) => slotOf(d.address) === addr);
    if (matches.length === 0)
      throw new InputError(
        `--device ${addr}: no PCI device ${addr} on this host; \`passthrough list\` shows the addresses`,
      );
    const endpoints = matches.filter((d) => !d.isBridge);
    if (endpoints.length === 0)
      throw new InputError(
        `--device ${addr}: ${addr} is a PCI bridge; bridges stay on the host, select the device behind it`,
      );
    for (const d of endpoints) chosen.set(d.address, d);
  }

  for (const g of opts.groups) {
    requested.push(`group ${g}`);
    if (!state.iommu.enabled)
      throw new InputError(
        `--group ${g}: this host has no IOMMU groups (the IOMMU is off); select by --device instead`,
      );
    const group = state.iommu.groups.find((x) => x.id === g);
    if (!group)
      throw new InputError(
        `--group ${g}: no IOMMU group ${g} on this host; \`passthrough list\` shows the groups`,
      );
    const endpoints = group.devices
      .map((a) => byAddress.get(a))
      .filter((d): d is PciDevice => d !== undefined && !d.isBridge);
    if (endpoints.length === 0)
      throw new InputError(`--group ${g}: group ${g} holds only bridges; nothing to pass`);
    for (const d of endpoints) chosen.set(d.address, d);
  }

  const devices = [...chosen.values()].sort((a, b) => (a.address < b.address ? -1 : 1));
  const groups = [
    ...new Set(devices.map((d) => d.iommuGroup).filter((g): g is number => g !== null)),
  ].sort((a, b) => a - b);
  return { selection: { requested, functions: devices.map((d) => d.address), groups }, devices };
}
