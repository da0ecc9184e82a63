// `list --usb`: USB devices for keyboard/mouse passthrough. Two ways to give one to a VM:
//   - one device: Proxmox `usbN: host=VID:PID` (follows the device to any port) or
//     `host=BUS-PORT` (whatever is plugged into that port), QEMU usb-host underneath;
//   - the whole controller as a PCI device: every port on it goes to the VM, and like any PCI
//     device it needs its entire IOMMU group, so the controller and group are shown per device.

import type { HostState, PciDevice, UsbDevice } from "../../host/types.js";
import { deviceTitle } from "./pci-tree.js";
import type { Style } from "./style.js";
import { renderTable } from "./table.js";

/** Root hubs ("usbN") are the controller's own ports, not devices one can pass. */
export function isRootHub(u: UsbDevice): boolean {
  return /^usb\d+$/.test(u.name);
}

/** "3-1.2": the bus-port form Proxmox accepts as `host=BUS-PORT`; null for root hubs. */
export function busPort(u: UsbDevice): string | null {
  if (isRootHub(u) || u.busnum === null || !u.devpath) return null;
  return `${u.busnum}-${u.devpath}`;
}

/** Specific kinds first: "keyboard, hid" rather than "hid, keyboard". */
function kindOrder(kinds: readonly string[]): string[] {
  const rank = (k: string) => (k === "keyboard" ? 0 : k === "mouse" ? 1 : k === "hid" ? 3 : 2);
  return [...kinds].sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0));
}

function usbName(u: UsbDevice): string {
  return [u.manufacturer, u.product].filter(Boolean).join(" ") || "-";
}

export interface UsbController {
  address: string;
  device: PciDevice | null;
  buses: number[];
  iommuGroup: number | null;
  /** Other non-bridge functions in its IOMMU group: they go to the VM with it. */
  groupMates: string[];
  /** bus-port of every (non-root-hub) device behind it. */
  devices: string[];
}

export function usbControllers(state: HostState): UsbController[] {
  const byAddress = new Map(state.pci.map((d) => [d.address, d]));
  const addrs = new Set<string>();
  for (const u of state.usb) if (u.controller) addrs.add(u.controller);
  // Controllers with nothing plugged in still matter (a free controller is the easiest to pass).
  for (const d of state.pci) if (d.classCode.startsWith("0c03")) addrs.add(d.address);
  return [...addrs].sort().map((address) => {
    const device = byAddress.get(address) ?? null;
    const group = device?.iommuGroup ?? null;
    const members =
      group === null ? [] : (state.iommu.groups.find((g) => g.id === group)?.devices ?? []);
    return {
      address,
      device,
      buses: state.usb
        .filter((u) => u.controller === address && isRootHub(u) && u.busnum !== null)
        .map((u) => u.busnum!)
        .sort((a, b) => a - b),
      iommuGroup: group,
      groupMates: members.filter((a) => a !== address && !byAddress.get(a)?.isBridge),
      devices: state.usb
        .filter((u) => u.controller === address && !isRootHub(u))
        .map((u) => busPort(u) ?? u.name),
    };
  });
}

export function usbJson(state: HostState) {
  const group = new Map(state.pci.map((d) => [d.address, d.iommuGroup]));
  return state.usb.map((u) => {
    const bp = busPort(u);
    return {
      name: u.name,
      busPort: bp,
      busnum: u.busnum,
      devnum: u.devnum,
      port: u.devpath,
      vendorId: u.vendorId,
      productId: u.productId,
      manufacturer: u.manufacturer,
      product: u.product,
      serial: u.serial,
      speedMbps: u.speedMbps,
      kinds: u.kinds,
      isHub: u.isHub,
      rootHub: isRootHub(u),
      controller: u.controller,
      iommuGroup: u.controller ? (group.get(u.controller) ?? null) : null,
      proxmox:
        bp === null ? null : { byId: `host=${u.vendorId}:${u.productId}`, byPort: `host=${bp}` },
    };
  });
}

export function usbControllersJson(state: HostState) {
  return usbControllers(state).map((c) => ({
    address: c.address,
    name: c.device ? deviceTitle(c.device) : null,
    driver: c.device?.driver ?? null,
    buses: c.buses,
    iommuGroup: c.iommuGroup,
    groupMates: c.groupMates,
    devices: c.devices,
  }));
}

export function renderUsb(state: HostState, style: Style): string[] {
  const devices = state.usb.filter((u) => !isRootHub(u));
  const group = new Map(state.pci.map((d) => [d.address, d.iommuGroup]));
  const lines: string[] = [];
  if (devices.length === 0) {
    lines.push(
      state.usb.length === 0
        ? "No USB devices: this host shows no USB bus (sys/bus/usb/devices)."
        : "No USB devices plugged in (only the controllers' root hubs).",
    );
  } else {
    const rows: string[][] = [
      ["BUS-PORT", "IDS", "KIND", "CONTROLLER", "GROUP", "NAME"].map(style.dim),
    ];
    for (const u of devices) {
      const g = u.controller ? group.get(u.controller) : null;
      rows.push([
        busPort(u) ?? u.name,
        `${u.vendorId}:${u.productId}`,
        kindOrder(u.kinds).join(", ") || "-",
        u.controller ?? "-",
        g === null || g === undefined ? "-" : String(g),
        usbName(u),
      ]);
    }
    lines.push(...renderTable(rows));
    const example =
      devices.find((u) => u.kinds.includes("keyboard") || u.kinds.includes("mouse")) ?? devices[0]!;
    const bp = busPort(example);
    lines.push(
      "",
      "Give one device to a Proxmox VM by id (follows it to any port) or by port (whatever is plugged there):",
      `  qm set VMID --usb0 host=${example.vendorId}:${example.productId}${bp ? `      qm set VMID --usb0 host=${bp}` : ""}`,
    );
  }
  const controllers = usbControllers(state);
  if (controllers.length) {
    lines.push(
      "",
      "USB controllers (passing one as a PCI device gives the VM every port on it, and needs its whole IOMMU group):",
    );
    const rows = controllers.map((c) => [
      c.address,
      c.buses.length ? `bus ${c.buses.join(",")}` : "no bus",
      c.iommuGroup === null ? "no group" : `group ${c.iommuGroup}`,
      c.iommuGroup === null
        ? state.iommu.enabled
          ? "-"
          : "IOMMU off"
        : c.groupMates.length
          ? `shares it with ${c.groupMates.join(", ")}`
          : "alone in its group",
      `${c.devices.length} device${c.devices.length === 1 ? "" : "s"}${c.devices.length ? `: ${c.devices.join(" ")}` : ""}`,
      c.device ? deviceTitle(c.device) : "-",
    ]);
    lines.push(...renderTable(rows, "  "));
  }
  return lines;
}
