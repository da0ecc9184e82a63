// A compact description of a host, turned into a snapshot tree by write-tree.ts.
// Fixture hosts (test/fixtures/specs), the bundled example host and the benchmark's
// synthetic hosts are all written from specs, so every tree has the real sysfs layout:
// device folders nested under their bridges, relative links exactly as the kernel makes
// them, binary config space with real capability chains.

export interface PcieSpec {
  /** PCIe port/device type. */
  type:
    | "endpoint"
    | "legacy-endpoint"
    | "root-port"
    | "upstream-port"
    | "downstream-port"
    | "rc-integrated-endpoint";
  /** Function Level Reset capable (Device Capabilities bit 28). */
  flr?: boolean;
  /** Link: max speed code (1=2.5, 2=5, 3=8, 4=16, 5=32 GT/s) and width. */
  maxSpeed?: number;
  maxWidth?: number;
  curSpeed?: number;
  curWidth?: number;
  /** ACS capability: "full" (SV RR CR UF + TB), "none" (no capability), or enabled-bits number. */
  acs?: "full" | "none";
  /** Resizable BAR: supported sizes (MiB) and the current one. */
  rebar?: { supportedMiB: number[]; currentMiB: number };
}

export interface PciFunctionSpec {
  /** Full address "0000:01:00.0". */
  address: string;
  /** The bridge (full address) this function sits behind; absent = on the root bus. */
  behind?: string;
  vendor: string; // "10de"
  device: string; // "2206"
  subVendor?: string;
  subDevice?: string;
  /** Six hex digits. */
  class: string;
  revision?: string; // "a1"
  driver?: string;
  /** Module behind the driver when its name differs or to be explicit; null = built in. */
  module?: string | null;
  group?: number;
  bootVga?: boolean;
  /** Contents of reset_method; absent = file missing (old kernel); "" = no method. */
  resetMethod?: string;
  numaNode?: number;
  pcie?: PcieSpec;
  /** Conventional PCI function without the PCIe capability. */
  conventional?: boolean;
  /** SR-IOV physical function: total VFs and currently enabled VFs (their addresses). */
  sriov?: { totalVfs: number; vfs: string[] };
  /** This is a VF of that PF. */
  physfn?: string;
  /** Network interface names provided by this function. */
  net?: string[];
  /** NVMe / SATA disks on this controller: disk name -> partition names. */
  disks?: Record<string, string[]>;
  /** USB host controller: the bus number it provides. */
  usbBus?: number;
  /** BARs: [sizeBytes, prefetchable, 64bit]. */
  bars?: Array<[number, boolean, boolean]>;
  driverOverride?: string;
  powerState?: string;
  /** Contents of `d3cold_allowed` ("1"/"0"); absent = file not written. */
  d3coldAllowed?: boolean;
  /** The option ROM the card carries: written as `rom` (what reading it yields once enabled), with its ROM BAR in `resource` line 6. */
  rom?: Buffer;
  /** false: no ROM BAR at all (an APU's iGPU). Display functions otherwise get one (128 KiB, or sized for `rom`). */
  romBar?: boolean;
}

export interface UsbDeviceSpec {
  /** "1-2", "1-2.3". */
  name: string;
  vendor: string;
  product: string;
  manufacturer?: string;
  productName?: string;
  serial?: string;
  speed?: number;
  /** Interfaces: [class, subclass, protocol] hex pairs. */
  interfaces: Array<[string, string, string]>;
  deviceClass?: string;
}

export interface DmDeviceSpec {
  /** dm-N */
  name: string;
  dmName: string;
  slaves: string[];
}

export interface FakeHostSpec {
  name: string;
  description: string;
  hostname: string;
  cpu: { vendor: "amd" | "intel"; model: string; flags: string[]; threads?: number };
  kernel: { release: string; builtin?: string[]; aliases?: string[] };
  osRelease: string;
  /** Proxmox VE node: pveversion output line, VM configs and container configs (etc/pve/lxc). */
  proxmox?: {
    pveversion: string;
    node: string;
    vms?: Record<number, string>;
    cts?: Record<number, string>;
    mappingPci?: string;
  };
  uefi: boolean;
  loaderInfo?: string;
  /** Other Boot Loader Interface variables by name (LoaderEntryDefault, LoaderEntryOneShot ...). */
  loaderVars?: Record<string, string>;
  secureBoot?: boolean;
  efibootmgr?: string;
  cmdline: string;
  dmesg: string[];
  iommu: null | {
    vendor: "amd" | "intel" | "virtio";
    units: number;
    defaultType?: string;
    unitParent?: string;
  };
  pci: PciFunctionSpec[];
  usb?: UsbDeviceSpec[];
  /** proc/modules names, in load order. */
  loadedModules: string[];
  /** Module parameters: module -> name -> value. */
  moduleParams?: Record<string, Record<string, string>>;
  /** Root-relative path -> contents (etc files, extra cmd output). */
  files: Record<string, string>;
  /** Programs installed (manifest "tools"; also written as empty files under usr/sbin|usr/bin). */
  tools: string[];
  /** Extra symlinks: path -> target. */
  links?: Record<string, string>;
  /** Root mount: device and fstype (proc/mounts). */
  rootMount: { device: string; fstype: string };
  dm?: DmDeviceSpec[];
  /** Virtual bridges and their ports: "vmbr0" -> ["enp8s0"]. */
  bridges?: Record<string, string[]>;
  defaultRouteIface: string;
  /** pci.ids subset written into the snapshot (names travel with it). */
  pciIds?: string;
  /** Config space bytes visible: 4096 (captured as root, default), 256, or 64 (unprivileged). */
  configSize?: 64 | 256 | 4096;
  /** DMI identity; board fields absent = no SMBIOS type 2 table (QEMU guests have none). */
  dmi?: {
    sysVendor: string;
    productName: string;
    boardVendor?: string;
    boardName?: string;
    biosVendor: string;
    biosVersion: string;
  };
  /**
   * A partial snapshot: top-level paths removed after writing (a copy made without sys/, a
   * folder a capture without root could not read), and manifest.json's "skipped" list.
   */
  partial?: { omit: string[]; skipped: Array<{ path: string; reason: string }> };
}
