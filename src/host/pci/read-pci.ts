// PCI functions from sysfs: sys/bus/pci/devices/ADDR links into the sys/devices tree, whose
// folder chain is the topology (root bus, then every bridge down to the function).

import { builtinClassName, type PciIdsDb } from "../../formats/pci-ids.js";
import { linkName, readAttr, type HostRoot } from "../root.js";
import type { PciBar, PciDevice, SriovInfo, Unknown } from "../types.js";
import { parseConfigSpace } from "./config-space.js";
import type { ModuleAliases } from "./modules-alias.js";

export const PCI_ADDRESS = /^[0-9a-f]{4,}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$/;

export interface ReadPciOptions {
  ids: PciIdsDb | null;
  aliases: ModuleAliases | null;
  unknowns: Unknown[];
  /**
   * "full" (default): every attribute the checks and the planner use. "summary": only what
   * `list` shows (ids, class, names, driver, modules, group, boot VGA, reset methods,
   * topology), two or three files per function like `lspci -nnk` instead of ten; the other
   * fields are left empty (null, [] for bars) and not reported as unknown.
   */
  detail?: "full" | "summary";
  /** Function address -> IOMMU group, from the groups' own listings; others read their link. */
  groupOf?: ReadonlyMap<string, number>;
}

export function readPciDevices(root: HostRoot, opts: ReadPciOptions): PciDevice[] {
  const names = root.list("sys/bus/pci/devices");
  if (names === null) {
    opts.unknowns.push({
      field: "pci",
      reason: "sys/bus/pci/devices is missing: no PCI bus visible",
    });
    return [];
  }
  const moduleOfDriver = new Map<string, string | null>();
  const devices: PciDevice[] = [];
  for (const address of names) {
    if (!PCI_ADDRESS.test(address)) continue;
    const dev = readOne(root, address, opts, moduleOfDriver);
    if (dev) devices.push(dev);
  }
  return devices.sort((a, b) => comparePciAddress(a.address, b.address));
}

function hex(root: HostRoot, dir: string, attr: string, digits: number): string | null {
  const v = readAttr(root, `${dir}/${attr}`);
  if (v === null) return null;
  const m = /^0x([0-9a-fA-F]+)$/.exec(v);
  return m ? m[1]!.toLowerCase().padStart(digits, "0").slice(-digits) : null;
}

function intAttr(root: HostRoot, dir: string, attr: string): number | null {
  const v = readAttr(root, `${dir}/${attr}`);
  if (v === null || v === "") return null;
  const n = Number.parseInt(v, 10);
  return Number.isFinite(n) ? n : null;
}

function readOne(
  root: HostRoot,
  address: string,
  opts: ReadPciOptions,
  moduleOfDriver: Map<string, string | null>,
): PciDevice | null {
  const link = `sys/bus/pci/devices/${address}`;
  const dir = root.resolve(link);
  if (dir === null) {
    opts.unknowns.push({
      field: `pci.${address}`,
      reason: `${link} does not resolve inside the root`,
    });
    return null;
  }
  const full = opts.detail !== "summary";
  // One listing of the folder says which optional attributes exist (boot_vga only on display
  // devices, link attributes only on PCIe, ...), so absent ones cost no failed open each. The
  // summary reads too few attributes for the listing to pay off.
  const listing = full ? root.list(dir) : null;
  const present = listing ? new Set(listing) : null;
  const has = (name: string) => present === null || present.has(name);
  const opt = <T>(name: string, read: () => T | null): T | null => (has(name) ? read() : null);

  // The kernel's uevent file carries driver, class, ids, subsystem ids and modalias in one read
  // (pci_uevent() in drivers/pci/pci-driver.c: the same pci_dev fields the single attributes
  // print). Snapshots without it fall back to the single attributes.
  const uevent = opt("uevent", () => parseUevent(readAttr(root, `${dir}/uevent`)));
  const vendorId = uevent?.vendorId ?? hex(root, dir, "vendor", 4);
  const deviceId = uevent?.deviceId ?? hex(root, dir, "device", 4);
  const classRaw = uevent?.classCode ?? hex(root, dir, "class", 6);
  if (vendorId === null || deviceId === null || classRaw === null) {
    opts.unknowns.push({
      field: `pci.${address}`,
      reason: `${dir}: vendor, device or class attribute missing or malformed`,
    });
    return null;
  }
  const subVendor = uevent
    ? uevent.subVendorId
    : opt("subsystem_vendor", () => hex(root, dir, "subsystem_vendor", 4));
  const subDevice = uevent
    ? uevent.subDeviceId
    : opt("subsystem_device", () => hex(root, dir, "subsystem_device", 4));
  const subsystem =
    subVendor !== null && subDevice !== null ? { vendorId: subVendor, deviceId: subDevice } : null;

  const driver = uevent ? uevent.driver : opt("driver", () => linkName(root, `${dir}/driver`));
  let driverModule: string | null = null;
  if (driver !== null) {
    if (!moduleOfDriver.has(driver))
      moduleOfDriver.set(driver, linkName(root, `sys/bus/pci/drivers/${driver}/module`));
    driverModule = moduleOfDriver.get(driver) ?? null;
  }
  const listed = opts.groupOf?.get(address);
  const groupName =
    listed === undefined
      ? opt("iommu_group", () => linkName(root, `${dir}/iommu_group`))
      : String(listed);
  const iommuGroup = groupName !== null && /^\d+$/.test(groupName) ? Number(groupName) : null;

  // The kernel shows boot_vga on VGA devices only (pci_is_vga(): class 0300, or 0001 from
  // before class codes), so the summary does not try it elsewhere.
  const bootVgaRaw =
    full || classRaw.startsWith("0300") || classRaw.startsWith("0001")
      ? opt("boot_vga", () => readAttr(root, `${dir}/boot_vga`))
      : null;
  const resetRaw = has("reset_method") ? root.readText(`${dir}/reset_method`) : null;
  const resetMethods = resetRaw?.ok ? resetRaw.value.trim().split(/\s+/).filter(Boolean) : null;

  const chain = dir.split("/").filter((c) => PCI_ADDRESS.test(c));
  const bridgeChain = chain.slice(0, -1);
  const modalias = uevent?.modalias ?? opt("modalias", () => readAttr(root, `${dir}/modalias`));
  const kernelModules = modalias && opts.aliases ? opts.aliases.modulesFor(modalias) : [];
  const names = opts.ids;

  const summary: PciDevice = {
    address,
    sysfsPath: dir,
    vendorId,
    deviceId,
    subsystem,
    classCode: classRaw,
    className: names?.className(classRaw) ?? builtinClassName(classRaw),
    revision: null,
    vendorName: names?.vendorName(vendorId) ?? null,
    deviceName: names?.deviceName(vendorId, deviceId) ?? null,
    subsystemName:
      names && subsystem
        ? names.subsystemName(vendorId, deviceId, subsystem.vendorId, subsystem.deviceId)
        : null,
    driver,
    driverModule,
    kernelModules,
    driverOverride: null,
    iommuGroup,
    bootVga: bootVgaRaw === null ? null : bootVgaRaw === "1",
    resetMethods,
    numaNode: null,
    powerState: null,
    d3coldAllowed: null,
    link: null,
    sriov: null,
    physfn: null,
    parent: bridgeChain.length ? bridgeChain[bridgeChain.length - 1]! : null,
    bridgeChain,
    isBridge: isBridgeClass(classRaw),
    capabilities: null,
    bars: [],
    romBarBytes: null,
  };
  return full
    ? {
        ...summary,
        ...readDetails(root, dir, listing ?? [], opt, opts.unknowns, address, classRaw),
      }
    : summary;
}

const isBridgeClass = (classCode: string) =>
  classCode.startsWith("0604") || classCode.startsWith("0609");

/** The attributes beyond the summary: config space, link, SR-IOV, BARs, power, NUMA, override. */
function readDetails(
  root: HostRoot,
  dir: string,
  entries: readonly string[],
  opt: <T>(name: string, read: () => T | null) => T | null,
  unknowns: Unknown[],
  address: string,
  classRaw: string,
): Partial<PciDevice> {
  const resource = opt("resource", () => readAttr(root, `${dir}/resource`));
  const override = opt("driver_override", () => readAttr(root, `${dir}/driver_override`));

  let sriov: SriovInfo | null = null;
  if (entries.includes("sriov_totalvfs")) {
    const vfs = entries
      .filter((e) => /^virtfn\d+$/.test(e))
      .sort((a, b) => Number(a.slice(6)) - Number(b.slice(6)))
      .map((e) => linkName(root, `${dir}/${e}`))
      .filter((x): x is string => x !== null);
    sriov = {
      totalVfs: intAttr(root, dir, "sriov_totalvfs"),
      numVfs: intAttr(root, dir, "sriov_numvfs"),
      vfs,
    };
  }

  const cfg = opt("config", () => root.readBytes(`${dir}/config`, 4096)) ?? {
    ok: false as const,
    reason: `${dir}/config: does not exist`,
  };
  const capabilities = cfg.ok ? parseConfigSpace(cfg.value) : null;
  if (!cfg.ok) unknowns.push({ field: `pci.${address}.capabilities`, reason: cfg.reason });
  // Revision and link state are config-space registers; the attributes print the same values
  // and are only read when the config space was not (fully) readable.
  const revision =
    cfg.ok && cfg.value.length > 8
      ? cfg.value[8]!.toString(16).padStart(2, "0")
      : opt("revision", () => hex(root, dir, "revision", 2));
  const pcieLink = capabilities?.pcie?.link ?? null;
  const curSpeed = pcieLink
    ? pcieLink.currentSpeed
    : opt("current_link_speed", () => readAttr(root, `${dir}/current_link_speed`));
  const maxSpeed = pcieLink
    ? pcieLink.maxSpeed
    : opt("max_link_speed", () => readAttr(root, `${dir}/max_link_speed`));
  const curWidth = pcieLink
    ? pcieLink.currentWidth
    : opt("current_link_width", () => intAttr(root, dir, "current_link_width"));
  const maxWidth = pcieLink
    ? pcieLink.maxWidth
    : opt("max_link_width", () => intAttr(root, dir, "max_link_width"));

  return {
    revision,
    driverOverride: override === null || override === "(null)" || override === "" ? null : override,
    numaNode: opt("numa_node", () => intAttr(root, dir, "numa_node")),
    powerState: opt("power_state", () => readAttr(root, `${dir}/power_state`)),
    d3coldAllowed: entries.includes("d3cold_allowed")
      ? readAttr(root, `${dir}/d3cold_allowed`) === "1"
      : null,
    link:
      curSpeed !== null || maxSpeed !== null || curWidth !== null || maxWidth !== null
        ? { currentSpeed: curSpeed, currentWidth: curWidth, maxSpeed, maxWidth }
        : null,
    sriov,
    physfn: entries.includes("physfn") ? linkName(root, `${dir}/physfn`) : null,
    isBridge: isBridgeClass(classRaw) || capabilities?.headerType === 1,
    capabilities,
    bars: parseResource(resource),
    romBarBytes: resource === null ? null : parseRomResource(resource),
  };
}

export interface PciUevent {
  driver: string | null;
  classCode: string | null;
  vendorId: string | null;
  deviceId: string | null;
  subVendorId: string | null;
  subDeviceId: string | null;
  modalias: string | null;
}

/**
 * A PCI function's uevent: "DRIVER=vfio-pci", "PCI_CLASS=30000" (%04X: no leading zeros),
 * "PCI_ID=10DE:2206", "PCI_SUBSYS_ID=19DA:1612", "PCI_SLOT_NAME=...", "MODALIAS=pci:v...".
 * null when it lacks the ids (not a PCI uevent): the caller then reads the single attributes.
 */
export function parseUevent(text: string | null): PciUevent | null {
  if (text === null) return null;
  const v: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const eq = line.indexOf("=");
    if (eq > 0) v[line.slice(0, eq)] = line.slice(eq + 1).trim();
  }
  const id = /^([0-9A-Fa-f]{4}):([0-9A-Fa-f]{4})$/.exec(v.PCI_ID ?? "");
  const cls = /^[0-9A-Fa-f]{1,6}$/.test(v.PCI_CLASS ?? "")
    ? v.PCI_CLASS!.toLowerCase().padStart(6, "0")
    : null;
  if (!id || !cls) return null;
  const sub = /^([0-9A-Fa-f]{4}):([0-9A-Fa-f]{4})$/.exec(v.PCI_SUBSYS_ID ?? "");
  return {
    driver: v.DRIVER || null,
    classCode: cls,
    vendorId: id[1]!.toLowerCase(),
    deviceId: id[2]!.toLowerCase(),
    subVendorId: sub ? sub[1]!.toLowerCase() : null,
    subDeviceId: sub ? sub[2]!.toLowerCase() : null,
    modalias: v.MODALIAS || null,
  };
}

/** sysfs `resource`: one "start end flags" line per region; lines 0-5 are the BARs. */
export function parseResource(text: string | null): PciBar[] {
  if (!text) return [];
  const out: PciBar[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < Math.min(6, lines.length); i++) {
    const parts = lines[i]!.trim().split(/\s+/);
    if (parts.length < 3) continue;
    // Unused BARs are all zeros: skip them without BigInt arithmetic (most of the 13 lines).
    if (/^0x0*$/.test(parts[0]!) && /^0x0*$/.test(parts[1]!)) continue;
    const start = BigInt(parts[0]!);
    const end = BigInt(parts[1]!);
    const flags = BigInt(parts[2]!);
    if (start === 0n && end === 0n) continue;
    const IORESOURCE_PREFETCH = 0x2000n;
    const IORESOURCE_MEM_64 = 0x100000n;
    out.push({
      index: i,
      start: parts[0]!,
      sizeBytes: Number(end - start + 1n),
      flags: parts[2]!,
      prefetchable: (flags & IORESOURCE_PREFETCH) !== 0n,
      is64bit: (flags & IORESOURCE_MEM_64) !== 0n,
    });
  }
  return out;
}

/**
 * Line 6 of `resource` is the expansion ROM (PCI_ROM_RESOURCE, include/linux/pci.h): its size,
 * 0 when the function has none. A boot GPU's shadowed ROM shows as 0xc0000-0xdffff there.
 */
export function parseRomResource(text: string): number {
  const parts = text.split("\n")[6]?.trim().split(/\s+/) ?? [];
  if (parts.length < 3 || (/^0x0*$/.test(parts[0]!) && /^0x0*$/.test(parts[1]!))) return 0;
  return Number(BigInt(parts[1]!) - BigInt(parts[0]!) + 1n);
}

export function comparePciAddress(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
