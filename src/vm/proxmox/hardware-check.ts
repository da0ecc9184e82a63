// The host model (this machine, or --snapshot) and the node the REST API configures can be two
// different machines. Before a VM gets "0000:01:00", the node's own hardware list
// (GET /nodes/{node}/hardware/pci) must show the same device there. Pure.

import type { VmSpec } from "../spec.js";
import type { PveHardwarePci } from "../types.js";

/** Classes pci_scan leaves out unless asked (pve-manager PCI.pm default blacklist "05;06;0b"). */
const DEFAULT_BLACKLIST = /^(05|06|0b)/;

export function hardwareMismatches(
  spec: VmSpec,
  hw: PveHardwarePci[],
  node: string,
  hostLabel: string,
): string[] {
  const out: string[] = [];
  const hex = (v: string | undefined) => (v ?? "").replace(/^0x/, "").toLowerCase();
  for (const d of spec.pci) {
    for (const f of d.functions) {
      const item = hw.find((h) => h.id === f.address);
      if (!item) {
        if (DEFAULT_BLACKLIST.test(f.classCode)) continue;
        out.push(
          `node ${node} has no PCI device ${f.address}, but ${hostLabel} has one there: the host read here is not ${node}; run on ${node}, or give --snapshot of it`,
        );
        continue;
      }
      const there = `${hex(item.vendor)}:${hex(item.device)}`;
      if (there !== `${f.vendorId}:${f.deviceId}`) {
        out.push(
          `${f.address} is ${f.vendorId}:${f.deviceId} in ${hostLabel} but ${there} on node ${node}: the host read here is not ${node}; run on ${node}, or give --snapshot of it`,
        );
      }
    }
  }
  return out;
}
