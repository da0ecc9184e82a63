// `list --tree`: the PCI topology as the kernel sees it (root buses, bridges, the functions
// behind each bridge), like `lspci -tv`, but with full addresses, class, ids, driver and the
// IOMMU group of every function, so a user sees both where a card sits (CPU lanes or
// chipset) and what has to be passed together.

import { classShortName } from "../../formats/pci-ids.js";
import type { HostState, PciDevice } from "../../host/types.js";
import { deviceJson } from "./host-json.js";
import type { Style } from "./style.js";
import { renderTable } from "./table.js";

export interface PciTreeNode {
  device: PciDevice;
  children: PciTreeNode[];
}

export interface PciRootBus {
  /** "0000:00": domain and bus number of the root bus. */
  bus: string;
  children: PciTreeNode[];
}

/** Root bus of a function: the "pciDDDD:BB" folder its sysfs path starts from. */
export function rootBusOf(d: PciDevice): string {
  for (const c of d.sysfsPath.split("/")) {
    const m = /^pci([0-9a-f]{4,}:[0-9a-f]{2})$/.exec(c);
    if (m) return m[1]!;
  }
  const top = d.bridgeChain[0] ?? d.address;
  return top.slice(0, top.lastIndexOf(":"));
}

export function buildPciTree(devices: readonly PciDevice[]): PciRootBus[] {
  const nodes = new Map(
    devices.map((d) => [d.address, { device: d, children: [] as PciTreeNode[] }]),
  );
  const roots = new Map<string, PciRootBus>();
  const byAddress = (a: PciTreeNode, b: PciTreeNode) =>
    a.device.address < b.device.address ? -1 : a.device.address > b.device.address ? 1 : 0;
  for (const node of nodes.values()) {
    // The nearest bridge above it that is itself listed (a hidden bridge is skipped over).
    const above = [...node.device.bridgeChain].reverse().find((a) => nodes.has(a));
    if (above) nodes.get(above)!.children.push(node);
    else {
      const bus = rootBusOf(node.device);
      let root = roots.get(bus);
      if (!root) roots.set(bus, (root = { bus, children: [] }));
      root.children.push(node);
    }
  }
  for (const node of nodes.values()) node.children.sort(byAddress);
  const out = [...roots.values()].sort((a, b) => (a.bus < b.bus ? -1 : 1));
  for (const r of out) r.children.sort(byAddress);
  return out;
}

type DeviceJson = ReturnType<typeof deviceJson> & { children: DeviceJson[] };

export function pciTreeJson(
  tree: readonly PciRootBus[],
): Array<{ bus: string; devices: DeviceJson[] }> {
  const node = (n: PciTreeNode): DeviceJson => ({
    ...deviceJson(n.device),
    children: n.children.map(node),
  });
  return tree.map((r) => ({ bus: r.bus, devices: r.children.map(node) }));
}

export function deviceTitle(d: PciDevice): string {
  return `${d.vendorName ?? `Vendor ${d.vendorId}`} ${d.deviceName ?? `Device ${d.deviceId}`}`;
}

export function renderPciTree(state: HostState, style: Style): string[] {
  const tree = buildPciTree(state.pci);
  const rows: string[][] = [
    ["TOPOLOGY", "CLASS", "IDS", "DRIVER", "GROUP", "DEVICE"].map(style.dim),
  ];
  const walk = (nodes: readonly PciTreeNode[], prefix: string) => {
    nodes.forEach((n, i) => {
      const last = i === nodes.length - 1;
      const d = n.device;
      rows.push([
        `${style.dim(prefix + (last ? "└─ " : "├─ "))}${d.address}`,
        `${classShortName(d.classCode)} [${d.classCode.slice(0, 4)}]`,
        `${d.vendorId}:${d.deviceId}`,
        d.driver ?? "-",
        d.iommuGroup === null ? "-" : String(d.iommuGroup),
        deviceTitle(d),
      ]);
      walk(n.children, prefix + (last ? "   " : "│  "));
    });
  };
  for (const r of tree) {
    rows.push([style.bold(`${r.bus} root bus`)]);
    walk(r.children, "");
  }
  const lines = renderTable(rows);

  // Groups that hold more than one function: these must be passed (or left) together.
  const shared = state.iommu.groups.filter((g) => g.devices.length > 1);
  if (shared.length) {
    const isBridge = new Map(state.pci.map((d) => [d.address, d.isBridge]));
    lines.push(
      "",
      "IOMMU groups with several functions (a VM gets all of them; bridges stay with the host):",
    );
    lines.push(
      ...renderTable(
        shared.map((g) => [
          `group ${g.id}`,
          g.devices.map((a) => (isBridge.get(a) ? `${a} (bridge)` : a)).join(", "),
        ]),
        "  ",
      ),
    );
  } else if (!state.iommu.enabled) {
    lines.push("", "No IOMMU groups: run `passthrough check` to see why and what to change.");
  }
  return lines;
}
