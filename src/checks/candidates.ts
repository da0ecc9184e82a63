// Passable devices. A candidate is a slot (domain:bus:device): every function of it goes to the
// VM together (Proxmox "All Functions", docs/domain-facts.md §2), so GPU + HDMI audio (+ USB-C xHCI
// + UCSI on newer NVIDIA cards) are one candidate. Isolation is judged on IOMMU groups:
// bridges in a group stay on the host and do not count; any other endpoint does.
// SR-IOV virtual functions are the exception: each VF is passed on its own
// (docs/domain-facts.md §2), so each is its own candidate, addressed by its full function address.

import { parsePropertyString } from "../formats/proxmox-property-string.js";
import { normalizeModuleName } from "../formats/modprobe-conf.js";
import { slotOf } from "../formats/pci-address.js";
import type { HostState, PciDevice } from "../host/types.js";
import type { Candidate } from "./types.js";

/** Classes that are never passed: host/PCI bridges, system peripherals, memory, CPU, SMBus, signal processing (platform helpers), virtio "unassigned". */
export function isPassableClass(classCode: string): boolean {
  const base = classCode.slice(0, 2);
  const sub = classCode.slice(0, 4);
  if (["05", "06", "08", "11", "ff"].includes(base)) return false;
  if (base === "0b" && sub !== "0b40") return false;
  if (sub === "0c05") return false;
  return true;
}

export function isGpu(d: Pick<PciDevice, "classCode">): boolean {
  return d.classCode.startsWith("03");
}

/** Drivers that mean "reserved for a VM", not "used by the host". */
export const VFIO_DRIVERS = new Set(["vfio-pci", "pci-stub"]);

/** Modules that would claim the function on the host: the bound driver's module, and every module.alias match. */
export function nativeModulesOf(d: PciDevice): string[] {
  const out: string[] = [];
  const push = (m: string | null) => {
    if (!m) return;
    const n = normalizeModuleName(m);
    if (n === "vfio_pci" || n === "pci_stub" || out.includes(n)) return;
    out.push(n);
  };
  if (d.driver && !VFIO_DRIVERS.has(d.driver)) push(d.driverModule ?? d.driver);
  for (const m of d.kernelModules) push(m);
  return out;
}

function kindOf(functions: PciDevice[]): Candidate["kind"] {
  if (functions.some(isGpu)) return "gpu";
  const f = functions[0]!;
  if (f.classCode.startsWith("0403") || f.classCode.startsWith("0401")) return "audio";
  if (f.classCode.startsWith("0c03")) return "usb";
  if (f.classCode.startsWith("02") || f.classCode.startsWith("0d")) return "network";
  if (f.classCode.startsWith("01")) return "storage";
  return "other";
}

/** PCI ids a hostpciN value refers to, as qemu-server resolves them (prefix match, ";" lists). */
export function hostpciAddresses(value: string, present: readonly string[]): string[] {
  let host: string | undefined;
  try {
    host = parsePropertyString(value, "host").entries.find(([k]) => k === "host")?.[1];
  } catch {
    return [];
  }
  if (!host) return [];
  const out: string[] = [];
  for (const id of host.split(";")) {
    const full = /^[0-9a-f]{4,}:/.test(id) ? id : `0000:${id}`;
    for (const a of present) if (a.startsWith(full) && !out.includes(a)) out.push(a);
  }
  return out;
}

export function findCandidates(state: HostState): Candidate[] {
  const bySlot = new Map<string, PciDevice[]>();
  for (const d of state.pci) {
    if (d.isBridge) continue;
    const s = d.physfn ? d.address : slotOf(d.address);
    const list = bySlot.get(s) ?? [];
    list.push(d);
    bySlot.set(s, list);
  }
  const critical = new Set(state.hostCritical.map((h) => h.controller));
  const byAddress = new Map(state.pci.map((d) => [d.address, d]));
  const present = state.pci.map((d) => d.address);
  const candidates: Candidate[] = [];
  for (const [slot, functions] of bySlot) {
    if (!functions.some((f) => isPassableClass(f.classCode))) continue;
    // Functions of a PF's VF slot etc. all count; platform helper functions in the slot too.
    const groups = [
      ...new Set(functions.map((f) => f.iommuGroup).filter((g): g is number => g !== null)),
    ];
    const slotAddrs = new Set(functions.map((f) => f.address));
    const mates: string[] = [];
    for (const g of groups) {
      for (const a of state.iommu.groups.find((x) => x.id === g)?.devices ?? []) {
        const dev = byAddress.get(a);
        if (slotAddrs.has(a) || (dev && dev.isBridge) || mates.includes(a)) continue;
        mates.push(a);
      }
    }
    const allGrouped = functions.every((f) => f.iommuGroup !== null);
    const resets = functions.map((f) => f.resetMethods);
    const f0 = functions[0]!;
    candidates.push({
      address: slot,
      kind: kindOf(functions),
      title: `${f0.vendorName ?? `Vendor ${f0.vendorId}`} ${(functions.find(isGpu) ?? f0).deviceName ?? `Device ${(functions.find(isGpu) ?? f0).deviceId}`}`,
      functions: functions.map((f) => ({
        address: f.address,
        classCode: f.classCode,
        vendorId: f.vendorId,
        deviceId: f.deviceId,
        driver: f.driver,
        nativeModules: nativeModulesOf(f),
      })),
      iommuGroup: groups[0] ?? null,
      isolated: state.iommu.enabled && allGrouped && mates.length === 0,
      groupMates: mates.sort(),
      bootVga: functions.some((f) => f.bootVga === true),
      hostCritical: functions.some((f) => critical.has(f.address)),
      resettable: resets.some((r) => r === null) ? null : resets.every((r) => r!.length > 0),
      assignedTo: state.vms
        .filter((vm) =>
          Object.entries(vm.config).some(
            ([k, v]) =>
              /^hostpci\d+$/.test(k) && hostpciAddresses(v, present).some((a) => slotAddrs.has(a)),
          ),
        )
        .map((vm) => vm.vmid),
    });
  }
  // GPUs first, then by address.
  return candidates.sort(
    (a, b) =>
      Number(b.kind === "gpu") - Number(a.kind === "gpu") || (a.address < b.address ? -1 : 1),
  );
}

/** Display-class functions on the host (the GPUs the host could keep). */
export function hostGpus(state: HostState): PciDevice[] {
  return state.pci.filter(isGpu);
}
