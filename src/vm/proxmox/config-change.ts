// VmSpec -> a Proxmox VM config change (keys to set and delete), against the VM's config as it
// is now. Pure. Keys the spec does not own are never touched; a key that already has the
// wanted meaning keeps its exact text (so a correct config gives an empty change, and
// applying twice changes nothing). Semantics from qemu-server (docs/proxmox-api.md §1).

import { hostpciAddresses } from "../../checks/candidates.js";
import {
  getProperty,
  parsePropertyString,
  printPropertyString,
  propertyBoolean,
  setProperty,
  type PropertyString,
} from "../../formats/proxmox-property-string.js";
import type { VmConfig, VmConfigChange } from "../types.js";
import type { CreateOptions, VmSpec } from "../spec.js";

/** qemu-server: $MAX_HOSTPCI_DEVICES = 16, $MAX_USB_DEVICES = 14. */
export const MAX_HOSTPCI = 16;
export const MAX_USB = 14;
/** qemu-server's memory default (Memory.pm $memory_fmt current default). */
export const DEFAULT_MEMORY_MIB = 512;

export interface OtherVm {
  vmid: number;
  node: string | null;
  config: VmConfig;
}

export interface ProxmoxPlanInput {
  spec: VmSpec;
  /** The VM's config now (main section, pending values applied); null for `vm create`. */
  current: VmConfig | null;
  /** Every other VM's config the backend can see, for "already assigned". */
  others: OtherVm[];
  /** PCI addresses present on the host: qemu-server resolves hostpci ids by prefix against them. */
  present: string[];
  /**
   * false when the backend may not write raw `hostpciN: <address>` (API tokens: root@pam only,
   * docs/proxmox-api.md §1.9); devices then go in as `mapping=ID` from `mappings`. Default true.
   */
  rawHostpci?: boolean;
  /** Cluster PCI mappings usable on this node, each resolved to the host functions it names. */
  mappings?: Array<{ id: string; addresses: string[] }>;
}

export interface ProxmoxPlan {
  change: VmConfigChange;
  before: VmConfig;
  after: VmConfig;
  /** Why each key in the change is set or deleted, for people. */
  why: Record<string, string>;
  refusals: string[];
  warnings: string[];
}

/** Memory (MiB) of a config: `memory: [current=]N`, qemu-server's default when absent. */
export function configMemoryMiB(config: VmConfig): number {
  const v = config.memory;
  if (v === undefined) return DEFAULT_MEMORY_MIB;
  const n = Number(getProperty(parsePropertyString(v, "current"), "current"));
  return Number.isInteger(n) && n > 0 ? n : DEFAULT_MEMORY_MIB;
}

/** The machine type is q35 (qemu-server Machine.pm: a type matching /q35/; none = i440fx). */
export function isQ35(config: VmConfig): boolean {
  const v = config.machine;
  if (v === undefined) return false;
  return /q35/.test(getProperty(parsePropertyString(v, "type"), "type") ?? "");
}

function ps(value: string | undefined, defaultKey: string): PropertyString {
  try {
    return parsePropertyString(value ?? "", defaultKey);
  } catch {
    return { entries: [] };
  }
}

/** Set a boolean property to 1 unless it already says yes (keeps "on"/"true" as written). */
function setTrue(p: PropertyString, key: string): PropertyString {
  return propertyBoolean(getProperty(p, key)) === true ? p : setProperty(p, key, "1");
}

const DISK_KEY = /^(scsi|virtio|sata|ide)\d+$/;

/** Storage of the VM's boot disk ("local-lvm" of "local-lvm:vm-100-disk-1,size=32G"), for a new efidisk0. */
export function bootDiskStorage(config: VmConfig): string | null {
  const order = /(?:^|,)order=([^,]+)/.exec(config.boot ?? "")?.[1]?.split(";") ?? [];
  const keys = [
    ...order,
    ...Object.keys(config)
      .filter((k) => DISK_KEY.test(k))
      .sort(),
  ];
  for (const k of keys) {
    const v = config[k];
    if (!v || !DISK_KEY.test(k)) continue;
    const p = ps(v, "file");
    if (getProperty(p, "media") === "cdrom") continue;
    const m = /^([a-zA-Z][a-zA-Z0-9._-]*):/.exec(getProperty(p, "file") ?? "");
    if (m) return m[1]!;
  }
  return null;
}

/** A change being planned: the config it starts from, what it sets and deletes, and why. */
interface Draft {
  input: ProxmoxPlanInput;
  spec: VmSpec;
  vmid: number;
  /** `vm create`: there is no config yet. */
  creating: boolean;
  before: VmConfig;
  set: VmConfig;
  del: string[];
  why: Record<string, string>;
  refusals: string[];
  warnings: string[];
  /** Set `key` unless it already says `value`. */
  put(key: string, value: string, reason: string): void;
  /** Functions a hostpci value takes: raw ids by prefix, or what its mapping names on this node. */
  resolve(value: string): string[];
}

export function planProxmoxChange(input: ProxmoxPlanInput): ProxmoxPlan {
  const d = draft(input);
  if (d.creating && d.spec.create) planNewVm(d, d.spec.create);
  planMachine(d);
  planFirmware(d);
  planEfiDisk(d);
  planCpu(d);
  planWindows(d);
  planMemoryAndDisplay(d);
  planHostpci(d);
  refuseAssignedElsewhere(d);
  planUsb(d);
  const change: VmConfigChange = { set: sortKeys(d.set), delete: d.del.sort() };
  return {
    change,
    before: d.before,
    after: applyChange(d.before, change),
    why: d.why,
    refusals: d.refusals,
    warnings: d.warnings,
  };
}

function draft(input: ProxmoxPlanInput): Draft {
  const mappings = input.mappings ?? [];
  const before: VmConfig = { ...(input.current ?? {}) };
  const d: Draft = {
    input,
    spec: input.spec,
    vmid: input.spec.vmid ?? 0,
    creating: input.current === null,
    before,
    set: {},
    del: [],
    why: {},
    refusals: [],
    warnings: [],
    put: (key, value, reason) => {
      if (before[key] === value) return;
      d.set[key] = value;
      d.why[key] = reason;
    },
    resolve: (value) => {
      const id = getProperty(ps(value, "host"), "mapping");
      if (id !== undefined) return mappings.find((m) => m.id === id)?.addresses ?? [];
      return hostpciAddresses(value, input.present);
    },
  };
  return d;
}

/** `vm create`: what the guest gets besides the passthrough settings. */
function planNewVm(d: Draft, c: CreateOptions): void {
  const { put } = d;
  put("name", c.name, "the VM's name");
  put(
    "memory",
    String(c.memoryMiB),
    "guest RAM in MiB (all of it is pinned while a device is passed through)",
  );
  put("cores", String(c.cores), "vCPU cores");
  put("sockets", String(c.sockets), "one virtual socket");
  put("ostype", c.ostype, "guest OS type: Proxmox picks timers and Hyper-V enlightenments from it");
  put("scsihw", "virtio-scsi-single", "VirtIO SCSI, one controller per disk (allows iothread)");
  put(
    "scsi0",
    `${c.disk.storage}:${c.disk.sizeGiB},iothread=1`,
    `a new ${c.disk.sizeGiB} GiB disk on ${c.disk.storage}`,
  );
  if (c.iso) put("ide2", `${c.iso},media=cdrom`, "the installer ISO as a CD-ROM");
  put("net0", `virtio,bridge=${c.bridge ?? "vmbr0"}`, "a VirtIO NIC on the host bridge");
  put(
    "boot",
    `order=${["scsi0", ...(c.iso ? ["ide2"] : []), "net0"].join(";")}`,
    c.iso ? "boot the disk; while it is empty, the installer" : "boot the disk, then the network",
  );
  put("agent", "1", "QEMU guest agent channel (clean shutdown, IP addresses in the UI)");
}

// --os windows (and `vm create --ostype win11`): what Proxmox's "Windows 11 guest best
// practices" add — ostype win11 (qemu-server turns on the Hyper-V enlightenments and pins the
// machine version of a new Windows VM from it), a TPM 2.0 state disk beside the EFI disk, and
// the virtio-win drivers as a second CD-ROM (Windows setup has no VirtIO SCSI driver).
function planWindows(d: Draft): void {
  const win = d.spec.windows;
  const created = d.creating ? d.spec.create?.ostype : undefined;
  if (!win && !(created && /^win1[1-9]$/.test(created))) return;
  if (
    win &&
    !/^win1[1-9]$/.test(d.before.ostype ?? "") &&
    !(created && /^win1[1-9]$/.test(created))
  )
    d.put(
      "ostype",
      "win11",
      "win11: Windows 11/2022/2025; Proxmox picks the Hyper-V enlightenments and timers for it (--os windows)",
    );
  planTpm(d);
  if (win?.virtioIso) planVirtioIso(d, win.virtioIso);
}

function planTpm(d: Draft): void {
  const { before } = d;
  if (before.tpmstate0 !== undefined) {
    if (getProperty(ps(before.tpmstate0, "file"), "version") !== "v2.0")
      d.warnings.push(
        `VM ${d.vmid} has a TPM 1.2 state disk (tpmstate0: ${before.tpmstate0}); Windows 11 needs 2.0, and Proxmox cannot change the version in place: remove it (\`qm set ${d.vmid} --delete tpmstate0\`, BitLocker keys in it are lost) and run again`,
      );
    return;
  }
  const storage =
    d.spec.firmware.efiDisk.storage ??
    /^([a-zA-Z][a-zA-Z0-9._-]*):/.exec(d.set.efidisk0 ?? before.efidisk0 ?? "")?.[1] ??
    (d.creating ? (d.spec.create?.disk.storage ?? null) : bootDiskStorage(before));
  if (storage === null) {
    d.warnings.push(
      `VM ${d.vmid} has no disk to take a storage from for the TPM state: give --efidisk STORAGE`,
    );
    return;
  }
  d.put(
    "tpmstate0",
    `${storage}:1,version=v2.0`,
    `TPM 2.0 state on ${storage} (beside the EFI disk): Windows 11 requires a TPM 2.0`,
  );
}

/** The virtio-win ISO on a free IDE/SATA CD-ROM slot, unless one has it already. */
function planVirtioIso(d: Draft, iso: string): void {
  const all = { ...d.before, ...d.set };
  const has = Object.keys(all).some(
    (k) => /^(ide|sata)\d+$/.test(k) && getProperty(ps(all[k], "file"), "file") === iso,
  );
  if (has) return;
  const free = ["ide0", "ide1", "ide3", ...Array.from({ length: 6 }, (_, i) => `sata${i}`)].find(
    (k) => all[k] === undefined,
  );
  if (!free) {
    d.refusals.push(
      `VM ${d.vmid} has no free IDE or SATA slot for the virtio-win CD-ROM; remove one (\`qm set ${d.vmid} --delete ideN\`)`,
    );
    return;
  }
  d.put(
    free,
    `${iso},media=cdrom`,
    "the virtio-win drivers (storage, network, balloon, guest agent) as a second CD-ROM",
  );
}

// Machine: q35 gives PCIe root ports; pcie=1 needs it (qemu-server dies "q35 machine model is
// not enabled" at start otherwise). Switching an installed guest changes its whole device
// layout, so an existing i440fx VM is only converted when asked.
function planMachine(d: Draft): void {
  const { spec, before } = d;
  if (spec.machine !== "q35" || isQ35(before)) return;
  if (d.creating)
    d.put("machine", "q35", "q35: PCIe root ports for passed-through devices (pcie=1 needs it)");
  else if (spec.convertQ35) {
    const p = setProperty(ps(before.machine, "type"), "type", "q35");
    d.put(
      "machine",
      printPropertyString(p, "type"),
      "q35: PCIe root ports, needed for pcie=1 (--convert-q35)",
    );
  } else {
    const now = before.machine === undefined ? "i440fx (no machine: line)" : before.machine;
    d.refusals.push(
      `VM ${d.vmid} uses machine ${now}, and pcie=1 needs q35: pass --convert-q35 to switch it (the guest sees a new chipset; Windows re-detects devices, Linux may rename its NIC), or --no-pcie to pass the device as conventional PCI`,
    );
  }
}

// Firmware: OVMF (UEFI). A guest installed in BIOS mode does not boot under OVMF.
function planFirmware(d: Draft): void {
  if (d.before.bios === "ovmf") return;
  d.put(
    "bios",
    "ovmf",
    "OVMF (UEFI) firmware: GPUs initialise through their UEFI option ROM (GOP)",
  );
  if (!d.creating)
    d.warnings.push(
      `VM ${d.vmid} boots with SeaBIOS now; an OS installed in BIOS mode does not boot under OVMF (reinstall in UEFI mode, or convert the disk to GPT/UEFI first)`,
    );
}

/** efidisk0 keeps OVMF's settings; a new one goes where asked, else beside the boot disk. */
function planEfiDisk(d: Draft): void {
  const { before, vmid } = d;
  const ed = d.spec.firmware.efiDisk;
  if (before.efidisk0 !== undefined) {
    const cur = ps(before.efidisk0, "file");
    if (ed.storage !== null && !(getProperty(cur, "file") ?? "").startsWith(`${ed.storage}:`))
      d.warnings.push(
        `efidisk0 exists already (${before.efidisk0}); --efidisk ${ed.storage} is ignored`,
      );
    if (ed.preEnrolledKeys && getProperty(cur, "efitype") !== "4m")
      d.warnings.push(
        `efidisk0 uses efitype=2m, which cannot hold Secure Boot keys; to enable them, remove it (\`qm set ${vmid} --delete efidisk0\`) and run again (the EFI settings start over)`,
      );
    return;
  }
  const storage =
    ed.storage ?? (d.creating ? (d.spec.create?.disk.storage ?? null) : bootDiskStorage(before));
  if (storage === null) {
    d.warnings.push(
      `VM ${vmid} has no efidisk0 and no disk to take the storage from: give --efidisk STORAGE (e.g. local-lvm), or OVMF forgets its settings (boot order, Secure Boot keys) at every start`,
    );
    return;
  }
  const value = `${storage}:1,efitype=4m${ed.preEnrolledKeys ? ",pre-enrolled-keys=1" : ""}`;
  const from =
    ed.storage !== null
      ? ""
      : d.creating
        ? " (the disk's storage; --efidisk to choose)"
        : " (the boot disk's storage; --efidisk to choose)";
  d.put(
    "efidisk0",
    value,
    `EFI variables disk on ${storage}${from}: keeps OVMF's settings; 4m is required for Secure Boot${ed.preEnrolledKeys ? "; pre-enrolled keys turn Secure Boot on" : ""}`,
  );
}

// CPU: host model; hiding the hypervisor only on request.
function planCpu(d: Draft): void {
  const want = d.spec.cpu;
  let cpu = ps(d.before.cpu, "cputype");
  if (getProperty(cpu, "cputype") !== "host") cpu = setProperty(cpu, "cputype", "host");
  if (want.hidden) cpu = setTrue(cpu, "hidden");
  if (want.hvVendorId !== null) cpu = setProperty(cpu, "hv-vendor-id", want.hvVendorId);
  d.put(
    "cpu",
    printPropertyString(cpu, "cputype"),
    `host: the guest sees the real CPU (features drivers and games check for)${want.hidden ? "; hidden=1 hides KVM from NVIDIA drivers older than R465" : ""}${want.hvVendorId ? "; hv-vendor-id replaces Hyper-V's vendor id for the same old drivers" : ""}`,
  );
}

/** No ballooning, onboot as asked, and no emulated display when the GPU is the display. */
function planMemoryAndDisplay(d: Draft): void {
  const { before, spec } = d;
  // The balloon target would be ignored: vfio pins every page.
  if (before.balloon !== "0")
    d.put(
      "balloon",
      "0",
      "0: guest RAM is pinned for DMA while a device is passed through; a balloon cannot reclaim any",
    );
  const onboot = spec.onboot ? "1" : "0";
  if ((before.onboot ?? "0") !== onboot || d.creating) {
    d.put(
      "onboot",
      onboot,
      spec.onboot
        ? "start with the host (--onboot)"
        : "0: not at host boot until you have seen it start cleanly (a VM that hangs the host would do so at every boot); --onboot to keep it on",
    );
  }
  // serial0..3 is no emulated display either (the console is a serial terminal): kept.
  if (
    spec.headless &&
    !/^(none|serial[0-3])$/.test(getProperty(ps(before.vga, "type"), "type") ?? "")
  )
    d.put(
      "vga",
      "none",
      "none: no emulated display, the passed GPU is the display (the Proxmox console shows nothing); --keep-display to keep it",
    );
}

interface HostpciEntry {
  key: string;
  value: string;
  addresses: string[];
}

// PCI devices: reuse the hostpciN that has the device already, else the first free one.
function planHostpci(d: Draft): void {
  const existing: HostpciEntry[] = Object.keys(d.before)
    .filter((k) => /^hostpci\d+$/.test(k))
    .sort((a, b) => Number(a.slice(7)) - Number(b.slice(7)))
    .map((key) => ({ key, value: d.before[key]!, addresses: d.resolve(d.before[key]!) }));
  const claimed = new Set<string>();
  const usedIndex = new Set(existing.map((e) => e.key));
  for (const dev of d.spec.pci) {
    const fns = new Set(dev.functions.map((f) => f.address));
    const mapping = d.input.rawHostpci === false ? mappingFor(d, dev.host, fns) : null;
    if (mapping === undefined) continue;
    const slot = hostpciSlot(d, existing, claimed, usedIndex, fns, mapping, dev.host);
    if (slot === null) continue;
    claimed.add(slot.key);
    usedIndex.add(slot.key);
    let p = dev.pcie ? setTrue(slot.value, "pcie") : setProperty(slot.value, "pcie", null);
    p = dev.primaryGpu ? setTrue(p, "x-vga") : setProperty(p, "x-vga", null);
    if (dev.romfile) p = setProperty(p, "romfile", dev.romfile.name);
    const all = !/\.[0-7]$/.test(dev.host);
    d.put(
      slot.key,
      printPropertyString(p, "host"),
      `${dev.title}: ${mapping ? `mapping ${mapping} (${[...fns].join(", ")}); ` : ""}${!all ? `function ${dev.host} only` : dev.functions.length === 1 ? `${dev.host}, the whole device` : `${dev.host} without a function passes all ${dev.functions.length} functions as one multifunction device`}${dev.pcie ? "; pcie=1 puts it behind a PCIe root port" : ""}${dev.primaryGpu ? "; x-vga=1 makes it the primary display (--primary-gpu)" : ""}${dev.romfile ? `; romfile=${dev.romfile.name}: the guest sees /usr/share/kvm/${dev.romfile.name} as its ROM (--romfile)` : ""}`,
    );
  }
}

const sameSet = (addrs: string[], fns: Set<string>) =>
  addrs.length === fns.size && addrs.every((a) => fns.has(a));

/** Without root@pam, a device goes in through a cluster mapping naming exactly it; undefined: none (refused). */
function mappingFor(d: Draft, host: string, fns: Set<string>): string | undefined {
  const id = (d.input.mappings ?? []).find((m) => sameSet(m.addresses, fns))?.id;
  if (id === undefined)
    d.refusals.push(
      `${host}: API tokens may not set raw hostpci addresses (root@pam only), and no PCI resource mapping on this node names exactly ${[...fns].join(", ")}; create one with \`passthrough vm mapping create\` and run again`,
    );
  return id;
}

/**
 * The hostpciN for a device and its value so far: the first entry that already has any of its
 * functions (further such entries are deleted: Proxmox refuses a device assigned twice), else
 * the first free index. null: every index is taken (refused).
 */
function hostpciSlot(
  d: Draft,
  existing: HostpciEntry[],
  claimed: Set<string>,
  usedIndex: Set<string>,
  fns: Set<string>,
  mapping: string | null,
  host: string,
): { key: string; value: PropertyString } | null {
  const overlapping = existing.filter(
    (e) => !claimed.has(e.key) && e.addresses.some((a) => fns.has(a)),
  );
  const first = overlapping[0];
  if (first) {
    let p = ps(first.value, "host");
    const same =
      sameSet(first.addresses, fns) &&
      (mapping === null
        ? getProperty(p, "mapping") === undefined
        : getProperty(p, "mapping") === mapping);
    if (!same) p = hostOrMapping(p, host, mapping);
    for (const extra of overlapping.slice(1)) {
      claimed.add(extra.key);
      d.del.push(extra.key);
      d.why[extra.key] =
        `its functions are part of ${first.key} now (Proxmox refuses a device assigned twice)`;
    }
    return { key: first.key, value: p };
  }
  const free = Array.from({ length: MAX_HOSTPCI }, (_, i) => `hostpci${i}`).find(
    (k) => !usedIndex.has(k),
  );
  if (!free) {
    d.refusals.push(
      `VM ${d.vmid} has all ${MAX_HOSTPCI} hostpci slots in use; remove one (\`qm set ${d.vmid} --delete hostpciN\`) to add ${host}`,
    );
    return null;
  }
  return { key: free, value: hostOrMapping({ entries: [] }, host, mapping) };
}

// Devices already in another VM's config: Proxmox only notices at start.
function refuseAssignedElsewhere(d: Draft): void {
  for (const dev of d.spec.pci) {
    const fns = new Set(dev.functions.map((f) => f.address));
    for (const vm of d.input.others) {
      if (vm.vmid === d.spec.vmid) continue;
      for (const [k, v] of Object.entries(vm.config)) {
        if (!/^hostpci\d+$/.test(k)) continue;
        const hit = d.resolve(v).filter((a) => fns.has(a));
        if (hit.length === 0) continue;
        const name = vm.config.name ? ` "${vm.config.name}"` : "";
        d.refusals.push(
          `${hit.join(", ")} already belong${hit.length === 1 ? "s" : ""} to VM ${vm.vmid}${name}${vm.node ? ` on ${vm.node}` : ""} (${k}: ${v}); only one running VM can have a device — remove it there first (\`qm set ${vm.vmid} --delete ${k}\`) or pick another device`,
        );
      }
    }
  }
}

// USB devices by id: reuse a usbN that has the id, else the first free one.
function planUsb(d: Draft): void {
  const { before, vmid } = d;
  for (const u of d.spec.usb) {
    const id = `${u.vendorId}:${u.productId}`;
    if (d.input.rawHostpci === false) {
      d.refusals.push(
        `USB ${id}: API tokens may not pass USB devices by id (\`only root can set 'usbN' config for real devices\`); run on the node (--backend qm), or add it through a Proxmox USB resource mapping in the web UI`,
      );
      continue;
    }
    const has = Object.keys(before).find((k) => /^usb\d+$/.test(k) && usbHostOf(before[k]) === id);
    if (has) continue;
    const free = Array.from({ length: MAX_USB }, (_, i) => `usb${i}`).find(
      (k) => before[k] === undefined && d.set[k] === undefined,
    );
    if (!free) {
      d.refusals.push(
        `VM ${vmid} has all ${MAX_USB} USB slots in use; remove one (\`qm set ${vmid} --delete usbN\`) to add ${id}`,
      );
      continue;
    }
    d.put(
      free,
      `host=${id}`,
      `${u.name ?? "USB device"} ${id} by vendor:product id: it follows the device to any port`,
    );
    for (const vm of d.input.others) {
      if (vm.vmid === d.spec.vmid) continue;
      const k = Object.keys(vm.config).find(
        (key) => /^usb\d+$/.test(key) && usbHostOf(vm.config[key]) === id,
      );
      if (k)
        d.warnings.push(
          `USB ${id} is also in VM ${vm.vmid}'s config (${k}); whichever VM starts first gets it`,
        );
    }
  }
}

/** The vendor:product id a usbN value passes, if it passes one by id. */
function usbHostOf(value: string | undefined): string | null {
  return normalizeUsbHost(getProperty(ps(value, "host"), "host"));
}

/** Functions a cluster mapping names on `node` (its `path`, `;`-separated, prefix-matched like hostpci ids). */
export function mappingAddresses(map: string[], node: string, present: string[]): string[] {
  for (const entry of map) {
    const p = ps(entry, "node");
    if (getProperty(p, "node") !== node) continue;
    const path = getProperty(p, "path");
    if (path) return hostpciAddresses(path, present);
  }
  return [];
}

/** The device reference of a hostpci value: `host=` (first, bare) or `mapping=` (raw ids need root@pam). */
function hostOrMapping(p: PropertyString, host: string, mapping: string | null): PropertyString {
  const rest = p.entries.filter(([k]) => k !== "host" && k !== "mapping");
  return {
    entries: mapping === null ? [["host", host], ...rest] : [["mapping", mapping], ...rest],
  };
}

/** "0x046D:0xC31C" -> "046d:c31c"; anything else (bus-port, spice, mapping) -> null. */
export function normalizeUsbHost(host: string | undefined): string | null {
  const m = /^(?:0x)?([0-9a-fA-F]{4}):(?:0x)?([0-9a-fA-F]{4})$/.exec(host ?? "");
  return m ? `${m[1]!.toLowerCase()}:${m[2]!.toLowerCase()}` : null;
}

/**
 * Whether a value read back after `qm set`/`qm create` is what was written: Proxmox replaces
 * "STORAGE:SIZE" allocations with the new volume ("local-lvm:vm-101-disk-0,...,size=4M") and
 * gives a NIC without a MAC a generated one ("virtio" -> "virtio=BC:24:11:..").
 */
export function writtenMatches(key: string, planned: string, got: string | undefined): boolean {
  if (got === undefined) return false;
  if (got === planned) return true;
  const alloc = /^([a-zA-Z][a-zA-Z0-9._-]*):\d+(,.*)?$/.exec(planned);
  if (alloc) return got.startsWith(`${alloc[1]}:`);
  // qemu-server pins a new Windows VM's machine version (API2/Qemu.pm create_vm): q35 -> pc-q35-8.1.
  if (key === "machine" && planned === "q35") return /^pc-q35-\d+\.\d+(\+pve\d+)?$/.test(got);
  if (/^net\d+$/.test(key))
    return got.replace(/^([a-z0-9-]+)=(?:[0-9A-Fa-f]{2}:){5}[0-9A-Fa-f]{2}/, "$1") === planned;
  return false;
}

export function applyChange(config: VmConfig, change: VmConfigChange): VmConfig {
  const out: VmConfig = { ...config, ...change.set };
  for (const k of change.delete) delete out[k];
  return sortKeys(out);
}

export function isEmptyChange(change: VmConfigChange): boolean {
  return Object.keys(change.set).length === 0 && change.delete.length === 0;
}

function sortKeys(c: VmConfig): VmConfig {
  return Object.fromEntries(Object.entries(c).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}
