// The one rule every command applies to a `--device` selection once the host is known (check,
// plan, apply, verify, vm ..., vm mapping create): a function address of a multi-function device
// whose other functions share its IOMMU group selects the whole slot. VFIO hands a group to one
// owner only, so the other functions have to go along anyway; Proxmox's "All Functions" (a
// hostpci id without the function, docs/proxmox-api.md §1.2) passes them as one multifunction
// device. Pure: addresses and groups in, the selection and one note per widened slot out.

import type { DeviceRef } from "../formats/device-selection.js";
import { isFunctionAddress, slotOf } from "../formats/pci-address.js";
import type { PciDevice } from "./types.js";

/** What the rule needs of a PCI function (a HostState's, or a node's as the REST API lists it). */
export type SlotFunction = Pick<PciDevice, "address" | "iommuGroup" | "isBridge" | "physfn">;

export interface WholeSlotSelection {
  refs: DeviceRef[];
  /** One line per slot that a function address was widened to. */
  notes: string[];
}

/** The selection with functions widened to their slot where the rule applies; order kept, once each. */
export function widenToSlots(
  pci: readonly SlotFunction[],
  refs: readonly DeviceRef[],
): WholeSlotSelection {
  const out = new Map<string, DeviceRef>();
  const widened = new Map<string, { named: string[]; group: number; count: number }>();
  for (const ref of refs) {
    const slot = ref.isFunction ? wholeSlotOf(pci, ref.address) : null;
    if (slot === null) {
      if (!out.has(ref.address)) out.set(ref.address, ref);
      continue;
    }
    const w = widened.get(slot.address) ?? { named: [], group: slot.group, count: slot.count };
    w.named.push(ref.address);
    widened.set(slot.address, w);
    if (!out.has(slot.address)) out.set(slot.address, { address: slot.address, isFunction: false });
  }
  // A function named beside its own slot adds nothing.
  const slots = new Set([...out.values()].filter((r) => !r.isFunction).map((r) => r.address));
  const result = [...out.values()].filter((r) => !r.isFunction || !slots.has(slotOf(r.address)));
  const notes = [...widened].map(
    ([slot, w]) =>
      `${w.named.join(", ")}: ${slot} has ${w.count} functions in IOMMU group ${w.group}, which a VM can only get together, so the whole slot ${slot} is selected (Proxmox's "All Functions")`,
  );
  return { refs: result, notes };
}

/**
 * The slot of `address` when it is one function of several (bridges aside) that all sit in its
 * IOMMU group; null otherwise. SR-IOV virtual functions are passed one at a time: never widened.
 */
function wholeSlotOf(
  pci: readonly SlotFunction[],
  address: string,
): { address: string; group: number; count: number } | null {
  if (!isFunctionAddress(address)) return null;
  const self = pci.find((d) => d.address === address);
  if (!self || self.iommuGroup === null || self.physfn !== null || self.isBridge) return null;
  const slot = slotOf(address);
  const functions = pci.filter((d) => !d.isBridge && slotOf(d.address) === slot);
  if (functions.length < 2) return null;
  if (functions.some((d) => d.iommuGroup !== self.iommuGroup || d.physfn !== null)) return null;
  return { address: slot, group: self.iommuGroup, count: functions.length };
}
