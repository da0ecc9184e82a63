// The host model of a Proxmox node read through its REST API, for `vm plan|configure|create
// --api` run from another machine: its PCI functions, ids, subsystem ids, classes and IOMMU
// groups as GET /nodes/{node}/hardware/pci lists them (pve-manager API2/Hardware/PCI.pm, the
// same scan the web UI's "Add PCI Device" uses). Pure: a base HostState (read from an empty
// root: nothing known) and the node's answer in, the node's HostState out.
//
// What that answer does not say is left unknown, never invented: the driver bound to each
// function (no endpoint reports it), the host's boot display, reset methods, SR-IOV links, the
// controllers the host itself lives on. REMOTE_ASSUMPTIONS says so to the user, and the VM spec
// treats an unknown driver as "assumed prepared" with a warning (vm/spec.ts).

import { builtinClassName } from "../../formats/pci-ids.js";
import type { HostState, IommuGroup, PciDevice } from "../../host/types.js";
import type { PveHardwarePci } from "../types.js";

/** One line for the user: what the API cannot tell, and how it is treated. */
export function remoteAssumptions(node: string): string {
  return `note: node ${node}'s devices and IOMMU groups come from its REST API (GET /nodes/${node}/hardware/pci); the API does not show which driver holds each device, the boot display or the host's own controllers, so the devices are assumed to be prepared for VFIO (\`passthrough verify\` on ${node} checks it)`;
}

const hexId = (v: string | undefined): string | null =>
  v === undefined ? null : v.replace(/^0x/i, "").toLowerCase().padStart(4, "0");

function pciDevice(d: PveHardwarePci): PciDevice {
  const address = d.id.toLowerCase();
  const classCode = (hexId(d.class) ?? "ff0000").padStart(6, "0");
  const sv = hexId(d.subsystem_vendor);
  const sd = hexId(d.subsystem_device);
  return {
    address,
    sysfsPath: "",
    vendorId: hexId(d.vendor) ?? "ffff",
    deviceId: hexId(d.device) ?? "ffff",
    subsystem: sv !== null && sd !== null ? { vendorId: sv, deviceId: sd } : null,
    classCode,
    className: builtinClassName(classCode),
    revision: null,
    vendorName: d.vendor_name ?? null,
    deviceName: d.device_name ?? null,
    subsystemName: null,
    driver: null,
    driverModule: null,
    kernelModules: [],
    driverOverride: null,
    iommuGroup: d.iommugroup >= 0 ? d.iommugroup : null,
    bootVga: null,
    resetMethods: null,
    numaNode: null,
    powerState: null,
    d3coldAllowed: null,
    link: null,
    sriov: null,
    physfn: null,
    parent: null,
    bridgeChain: [],
    isBridge: classCode.startsWith("0604"),
    capabilities: null,
    bars: [],
    romBarBytes: null,
  };
}

/** `base` (nothing known) with the node's name, its PCI functions and their IOMMU groups. */
export function nodeHostState(
  base: HostState,
  node: string,
  hardware: readonly PveHardwarePci[],
  label: string,
): HostState {
  const pci = hardware.map(pciDevice).sort((a, b) => a.address.localeCompare(b.address));
  const groups = new Map<number, IommuGroup>();
  for (const d of pci) {
    if (d.iommuGroup === null) continue;
    const g = groups.get(d.iommuGroup) ?? { id: d.iommuGroup, type: null, devices: [] };
    g.devices.push(d.address);
    groups.set(d.iommuGroup, g);
  }
  return {
    ...base,
    source: { ...base.source, kind: "snapshot", path: label },
    system: { ...base.system, hostname: node, proxmox: base.system.proxmox ?? "unknown" },
    iommu: {
      ...base.iommu,
      enabled: groups.size > 0,
      groups: [...groups.values()].sort((a, b) => a.id - b.id),
    },
    pci,
    hostCritical: [],
    vms: [],
  };
}
