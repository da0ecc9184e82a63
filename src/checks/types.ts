// What checks produce. A Finding is one line of `check` output; a Candidate is one passable
// device (a slot: all its functions) with its isolation verdict. Both appear in
// `check --json` under the names below (a public contract: README "JSON output").

import type { PciAddress } from "../host/types.js";

export interface CandidateFunction {
  address: PciAddress;
  classCode: string;
  vendorId: string;
  deviceId: string;
  driver: string | null;
  /** Native driver module(s) that would claim it on the host (for softdep), from driver/modules.alias. */
  nativeModules: string[];
}

export interface Candidate {
  /** The slot, "0000:01:00" (every function of the device); an SR-IOV VF is its own candidate, "0000:18:02.1". */
  address: string;
  kind: "gpu" | "audio" | "usb" | "network" | "storage" | "other";
  title: string;
  functions: CandidateFunction[];
  iommuGroup: number | null;
  /** Group holds only this slot's functions (and bridges). */
  isolated: boolean;
  /** Non-bridge devices in the group that are not functions of this slot. */
  groupMates: PciAddress[];
  bootVga: boolean;
  /** The host needs it (root filesystem, default route). */
  hostCritical: boolean;
  /** Every function has a reset method the kernel can use. */
  resettable: boolean | null;
  /** VMs (Proxmox) whose config already passes it. */
  assignedTo: number[];
}

/**
 * A mistake in existing configuration, found by the config lint (src/checks/config-lint.ts).
 * `check` reports each as a Finding; `plan` repairs each as its own step.
 */
export interface ConfigProblem {
  kind:
    | "blacklist-wildcard" // `blacklist nvidia*`: kmod takes exact names, matches nothing
    | "blacklist-unknown-module" // misspelt or nonexistent module name
    | "amd-iommu-on" // `amd_iommu=on`: not a valid value
    | "vfio-virqfd-merged" // vfio_virqfd listed to load on a kernel >= 6.2
    | "modprobe-not-conf" // file in modprobe.d not ending in .conf: ignored by modprobe
    | "vfio-ids-absent" // vfio-pci ids= names a device that is not present
    | "cmdline-pending" // configured for the boot loader in use but not in /proc/cmdline
    | "cmdline-wrong-bootloader"; // set in the config of a boot loader this host does not boot with
  /** Host-relative path without leading slash ("etc/modprobe.d/blacklist.conf"). */
  file: string;
  line: number | null;
  /** The offending text (the line, or the parameter). */
  text: string;
  /** Human explanation, one line. */
  message: string;
}
