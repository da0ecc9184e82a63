// The host model: everything passthrough knows about one host, as plain JSON.
// Read by discovery (src/host/read-host.ts) from a live root or a snapshot; consumed by
// checks, planning, the vm and guest commands, and printed by `--json`.
//
// Unknown facts are `null`, and `HostState.unknowns` says why (which file was missing or
// malformed), so a check can say "could not see X because Y" instead of guessing.

import type { InitramfsKind } from "../formats/initramfs-conf.js";
import type { CmdlineParam } from "../formats/kernel-cmdline.js";
import type { ModprobeDirective } from "../formats/modprobe-conf.js";
import type { ModuleLoadEntry } from "../formats/module-lists.js";
import type { KernelsState } from "./kernels.js";

// Parsed-format types live with their parsers in src/formats; the host model re-exports them.
export type { CmdlineParam, InitramfsKind, ModprobeDirective, ModuleLoadEntry };
export type { ModprobeCommand } from "../formats/modprobe-conf.js";

/** Full PCI address, always with domain: "0000:01:00.0". */
export type PciAddress = string;

export type PcieType =
  | "endpoint"
  | "legacy-endpoint"
  | "root-port"
  | "upstream-port"
  | "downstream-port"
  | "pcie-to-pci-bridge"
  | "pci-to-pcie-bridge"
  | "rc-integrated-endpoint"
  | "rc-event-collector"
  | "unknown";

export interface AcsInfo {
  /** ACS capability bits the device implements. */
  capable: AcsFlags;
  /** ACS controls currently enabled. */
  enabled: AcsFlags;
}

export interface AcsFlags {
  sourceValidation: boolean;
  translationBlocking: boolean;
  requestRedirect: boolean;
  completionRedirect: boolean;
  upstreamForwarding: boolean;
  egressControl: boolean;
  directTranslatedP2p: boolean;
}

export interface ResizableBar {
  bar: number;
  /** Sizes the BAR supports, in MiB. */
  supportedMiB: number[];
  /** Size currently programmed, in MiB. */
  currentMiB: number;
}

/** What the configuration space says, when it could be read. */
export interface PciCapabilities {
  /** Bytes of config space that were readable (64 unprivileged, 256 or 4096 as root). */
  configSize: number;
  headerType: number;
  multifunction: boolean;
  pcie: {
    type: PcieType;
    version: number;
    /** Link Capabilities / Link Status: speed as the kernel prints it ("16.0 GT/s PCIe"), width in lanes. */
    link: { maxSpeed: string; maxWidth: number; currentSpeed: string; currentWidth: number } | null;
  } | null;
  /** Function Level Reset (PCIe Device Capabilities bit 28, or the PCI AF capability). */
  flr: boolean | null;
  /** null when the extended config space (>= 256 bytes) was not readable. */
  acs: AcsInfo | null;
  resizableBars: ResizableBar[] | null;
  /** Capability ids present, e.g. ["pm", "msi", "pcie", "msix"] and extended ["aer", "acs"]. */
  list: string[];
}

export interface PciLink {
  currentSpeed: string | null; // "16.0 GT/s PCIe"
  currentWidth: number | null;
  maxSpeed: string | null;
  maxWidth: number | null;
}

export interface SriovInfo {
  /** Physical function: VFs it can create and has created. */
  totalVfs: number | null;
  numVfs: number | null;
  vfs: PciAddress[];
}

export interface PciBar {
  index: number;
  start: string; // hex, "0x000000f000000000"
  sizeBytes: number;
  flags: string;
  prefetchable: boolean;
  is64bit: boolean;
}

export interface PciDevice {
  address: PciAddress;
  /** Root-relative sysfs folder, e.g. "sys/devices/pci0000:00/0000:00:01.1/0000:01:00.0". */
  sysfsPath: string;
  vendorId: string; // "10de"
  deviceId: string; // "2206"
  subsystem: { vendorId: string; deviceId: string } | null;
  /** Six hex digits: base class, subclass, programming interface ("030000"). */
  classCode: string;
  className: string;
  revision: string | null; // "a1"
  vendorName: string | null;
  deviceName: string | null;
  subsystemName: string | null;
  /** Driver bound now, as sysfs names it ("nvidia", "vfio-pci", "bochs-drm"), null when none. */
  driver: string | null;
  /** Kernel module behind that driver ("bochs" for "bochs-drm"), null when built in or unknown. */
  driverModule: string | null;
  /** Modules that can drive this device (modules.alias matched against its modalias), like `lspci -k`. */
  kernelModules: string[];
  driverOverride: string | null;
  iommuGroup: number | null;
  bootVga: boolean | null;
  /** Reset methods the kernel can use ("flr", "pm", "bus", "device_specific"); [] = none; null = not reported. */
  resetMethods: string[] | null;
  numaNode: number | null;
  powerState: string | null;
  /** `d3cold_allowed`: whether runtime PM may put the function into D3cold; null when absent. */
  d3coldAllowed: boolean | null;
  link: PciLink | null;
  /** SR-IOV physical function data (sriov_totalvfs present), else null. */
  sriov: SriovInfo | null;
  /** The PF when this is a virtual function. */
  physfn: PciAddress | null;
  /** Bridge directly above this function, null for functions on a root bus. */
  parent: PciAddress | null;
  /** Every bridge from the root bus down to the parent, outermost first. */
  bridgeChain: PciAddress[];
  isBridge: boolean;
  capabilities: PciCapabilities | null;
  bars: PciBar[];
  /** Size of the expansion ROM resource (`resource` line 6), 0 when none; null when unread. */
  romBarBytes: number | null;
}

export interface IommuGroup {
  id: number;
  /** Default domain type ("DMA", "DMA-FQ", "identity", "unmanaged", "blocked"), null when not reported. */
  type: string | null;
  devices: PciAddress[];
}

export type IommuVendor = "intel" | "amd" | "virtio" | "arm-smmu" | "other";

export interface IommuState {
  /** Groups exist or IOMMU units are registered. */
  enabled: boolean;
  vendor: IommuVendor | null;
  /** Entries of sys/class/iommu ("dmar0", "ivhd0"). */
  units: string[];
  /** From the kernel log; null when the log says nothing either way (or is unavailable). */
  interruptRemapping: boolean | null;
  /** "x2apic" / "xapic" on Intel when reported. */
  interruptRemappingMode: string | null;
  /** "passthrough" / "translated" / "lazy" from "iommu: Default domain type: ..." in the kernel log. */
  defaultDomain: string | null;
  /** vfio_iommu_type1 allow_unsafe_interrupts: the live module parameter, else the modprobe option. */
  allowUnsafeInterrupts: boolean | null;
  groups: IommuGroup[];
  /** Kernel log lines that were used as evidence. */
  logEvidence: string[];
}

export type CpuVendor = "amd" | "intel" | "other";

export interface SystemInfo {
  hostname: string | null;
  cpuVendor: CpuVendor | null;
  cpuModel: string | null;
  /** "svm" (AMD-V) or "vmx" (VT-x) when the flag is present; null when neither. */
  virtualizationFlag: "svm" | "vmx" | null;
  /** The cpu "hypervisor" flag: we are a guest. */
  virtualMachine: boolean;
  /** DMI identity ("QEMU Standard PC", "Gigabyte B650 AORUS ELITE AX"), when readable. */
  dmi: {
    sysVendor: string | null;
    productName: string | null;
    boardVendor: string | null;
    boardName: string | null;
    biosVendor: string | null;
    biosVersion: string | null;
  };
  kernelRelease: string | null;
  /** [major, minor] parsed from the release, e.g. [6, 8]. */
  kernelVersion: [number, number] | null;
  distro: {
    id: string;
    idLike: string[];
    versionId: string | null;
    prettyName: string | null;
  } | null;
  /** Proxmox VE version ("8.2.4") when this is a Proxmox node, "unknown" when it is one but the version is not visible. */
  proxmox: string | null;
  bootMode: "uefi" | "bios";
}

export type BootloaderKind =
  | "grub"
  | "proxmox-boot-tool/grub"
  | "proxmox-boot-tool/systemd-boot"
  | "systemd-boot"
  | "kernelstub"
  | "unknown";

export type GrubFlavor = "update-grub" | "grub-mkconfig" | "grub2-mkconfig" | "grubby";

export interface BootloaderInfo {
  kind: BootloaderKind;
  /** How GRUB's config is regenerated on this distribution (GRUB kinds only). */
  grubFlavor: GrubFlavor | null;
  /** Where the kernel command line is configured for this boot loader. */
  cmdlineFiles: string[];
  /** Why we believe this: "LoaderInfo EFI variable names systemd-boot", ... */
  evidence: string[];
}

export interface ConfiguredCmdline {
  /** Boot loader config this comes from. */
  source: "grub" | "kernel-cmdline" | "kernelstub" | "loader-entries";
  /** Files read, in order. */
  files: string[];
  params: CmdlineParam[];
  /** Only params from GRUB_CMDLINE_LINUX_DEFAULT vs GRUB_CMDLINE_LINUX, for GRUB. */
  detail?: { linux: CmdlineParam[]; linuxDefault: CmdlineParam[] };
}

export interface CmdlineState {
  /** /proc/cmdline: what the running kernel got. */
  running: CmdlineParam[] | null;
  /** The boot loader this host uses, as configured now (takes effect at the next boot once refreshed). */
  configured: ConfiguredCmdline | null;
  /** Other boot loaders' configs found on disk that this host does not boot with. */
  inactive: ConfiguredCmdline[];
}

export interface ModulesState {
  /** /proc/modules; null when unreadable. */
  loaded: string[] | null;
  /** modules.builtin of the running kernel; null when not readable. */
  builtin: string[] | null;
  /** Parsed *.conf directives, in kmod's effective order (files that are shadowed by /etc are left out). */
  modprobe: ModprobeDirective[];
  /** Files in modprobe.d that modprobe ignores (not ending in .conf). */
  ignoredModprobeFiles: string[];
  /** /etc/modules and modules-load.d entries. */
  loadAtBoot: ModuleLoadEntry[];
  /** Live module parameters (sys/module/NAME/parameters) for vfio modules. */
  parameters: Record<string, Record<string, string>>;
  /** Modules listed in the initramfs config (initramfs-tools modules, dracut force_drivers, mkinitcpio MODULES). */
  initramfs: ModuleLoadEntry[];
  /** Loadable modules of the running kernel (modules.order / modules.dep); null when not visible. */
  available: string[] | null;
}

export interface UsbDevice {
  /** sysfs name, "1-2.3". */
  name: string;
  busnum: number | null;
  devnum: number | null;
  /** Port path on the bus ("2.3"); Proxmox's "host=BUS-PORT" form is `${busnum}-${devpath}`. */
  devpath: string | null;
  vendorId: string;
  productId: string;
  manufacturer: string | null;
  product: string | null;
  serial: string | null;
  speedMbps: number | null;
  deviceClass: string | null;
  /** Interface kinds derived from bInterfaceClass/Protocol: "keyboard", "mouse", "hid", "hub", "audio", "storage", ... */
  kinds: string[];
  isHub: boolean;
  /** USB host controller's PCI function, when the device sits under one. */
  controller: PciAddress | null;
}

export interface HostCriticalDevice {
  /** What the host needs it for. */
  role: "root-filesystem" | "default-route";
  /** The thing itself: "/dev/mapper/pve-root", "vmbr0 -> enp8s0". */
  via: string;
  controller: PciAddress;
}

export interface VmConfigRef {
  vmid: number;
  node: string | null;
  file: string;
  /** Raw "key: value" lines of the main section. */
  config: Record<string, string>;
  /** The `hookscript:` volume and whether its snippet file is there (absent: no hookscript). */
  hookscript?: HookscriptRef;
}

export interface HookscriptRef {
  /** "local:snippets/passthrough-0000-01-00.sh" */
  volume: string;
  /** Root-relative file the volume names; null when its storage's path is unknown. */
  file: string | null;
  /** Whether the file exists; null when its folder could not be read (a snapshot without it). */
  present: boolean | null;
}

export interface Unknown {
  /** Dotted path of the fact ("iommu.interruptRemapping") or the file ("etc/default/grub"). */
  field: string;
  reason: string;
}

export interface HostState {
  /** Where this came from: "live" or the snapshot path. */
  source: {
    kind: "live" | "snapshot";
    path: string;
    capturedAt: string | null;
    redacted: string[];
  };
  system: SystemInfo;
  iommu: IommuState;
  pci: PciDevice[];
  usb: UsbDevice[];
  bootloader: BootloaderInfo;
  initramfs: { kind: InitramfsKind; evidence: string[] };
  cmdline: CmdlineState;
  modules: ModulesState;
  /** Controllers the host lives on (root filesystem, default route); passing them would cut the host off. */
  hostCritical: HostCriticalDevice[];
  /** Proxmox VM configs found on the host (/etc/pve), for "already assigned" checks. */
  vms: VmConfigRef[];
  /** Kernel log availability: null when no log could be read. */
  kernelLog: {
    available: boolean;
    lines: number;
    /** PCI functions the log says did not come back from D3cold ("Unable to change power state from D3cold to D0"). */
    d3coldFailures: PciAddress[];
  };
  /**
   * Raw text of the configuration files passthrough may read or change (host-relative paths,
   * "etc/default/grub"), so planning is a pure function: a file's presence here with its
   * exact contents is the "before" of a plan step; absence means the file does not exist.
   */
  configFiles: Record<string, string>;
  /** Installed kernels and their out-of-tree modules (host/kernels.ts). */
  kernels: KernelsState;
  unknowns: Unknown[];
}
