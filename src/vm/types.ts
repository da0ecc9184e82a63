// The VM side: what a passthrough VM should look like (VmSpec), and the narrow interface every
// Proxmox backend implements (local `qm`/`pvesh`, or the REST API), so `vm plan|configure|create`
// and `guest setup --cloud-init` are written once.

import type { PciAddress } from "../host/types.js";

/** A Proxmox VM config's main section: "hostpci0" -> "0000:01:00,pcie=1". */
export type VmConfig = Record<string, string>;

/** A change to a VM config: keys to set, keys to delete. */
export interface VmConfigChange {
  set: VmConfig;
  delete: string[];
}

export interface VmRef {
  vmid: number;
  node: string;
  config: VmConfig;
}

/** A PCI device as Proxmox's GET /nodes/{node}/hardware/pci reports it. */
export interface PveHardwarePci {
  id: string; // "0000:01:00.0"
  class: string; // "0x030000"
  vendor: string; // "0x10de"
  device: string; // "0x2206"
  subsystem_vendor?: string;
  subsystem_device?: string;
  iommugroup: number; // -1 when none
  vendor_name?: string;
  device_name?: string;
  mdev?: number;
}

/** A cluster PCI resource mapping (/cluster/mapping/pci). */
export interface PciMapping {
  id: string;
  description?: string;
  /** Property strings "node=pve1,path=0000:01:00,id=10de:2206,iommugroup=12,subsystem-id=19da:1612". */
  map: string[];
  mdev?: boolean;
  digest?: string;
  checks?: Array<{ severity: "warning" | "error"; message: string }>;
}

export interface ProxmoxBackend {
  readonly kind: "qm" | "api";
  /** The node VMs are created on / read from. */
  readonly node: string;
  getConfig(vmid: number): Promise<{ config: VmConfig; digest: string | null } | null>;
  /** Every VM in the cluster (or on this node for qm), for "device already assigned" checks. */
  listVms(): Promise<VmRef[]>;
  /** Apply a change; `digest` makes a concurrent edit fail instead of being overwritten. */
  updateConfig(vmid: number, change: VmConfigChange, digest: string | null): Promise<void>;
  createVm(vmid: number, config: VmConfig): Promise<void>;
  /** Raw `hostpciN: <address>` needs root@pam; token-authenticated API clients must use mappings. */
  readonly canSetRawHostpci: boolean;
  listPciMappings?(): Promise<PciMapping[]>;
  ensurePciMapping?(mapping: PciMapping): Promise<void>;
  hardwarePci?(node: string): Promise<PveHardwarePci[]>;
  listNodes?(): Promise<string[]>;
  /**
   * Store a snippet (cloud-init user-data for `cicustom`) on a storage whose content types
   * include "snippets"; returns where it landed on the node. Only a backend running on the node
   * can: Proxmox's upload API takes iso, vztmpl and import only (guest setup --cloud-init).
   */
  writeSnippet?(storage: string, filename: string, content: string, mode?: number): Promise<string>;
}

export interface VmSelection {
  vmid: number;
  /** Slots ("0000:01:00") or functions to pass. */
  devices: PciAddress[];
  /** USB devices "VVVV:PPPP" (or bus-port "3-1"). */
  usb: string[];
}
