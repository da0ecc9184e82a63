// The PCI topology as the report draws it: each root bus, the IOMMU groups as boxes around
// their members, and the tree between them (a box hangs below the bridge its top members sit
// behind). Pure data from the host model and check's candidates, so the page only draws it.
//
// A group's members are usually one sibling set with what is behind it (a slot's functions,
// or chipset ports without ACS and their devices); siblings are partitioned by group, and a
// function's children of its own group stay in its box, others open boxes of their own below.

import { isAcsPort, portHasAcs } from "../../../checks/iommu.js";
import { deviceLabel } from "../../../checks/context.js";
import type { Candidate } from "../../../checks/types.js";
import { classShortName } from "../../../formats/pci-ids.js";
import type { HostState, PciDevice, PcieType } from "../../../host/types.js";
import { buildPciTree, deviceTitle, type PciTreeNode } from "../pci-tree.js";

/**
 * passable: its group holds only its own slot's functions; shared: the group holds other
 * devices too; critical: the host needs it (root filesystem, default route, boot GPU);
 * host: bridges and platform functions, which stay with the host; none: no IOMMU group.
 */
export type Verdict = "passable" | "shared" | "critical" | "host" | "none";

export interface TopoFunction {
  address: string;
  /** Without the domain when it is 0000: "01:00.0". */
  short: string;
  /** "VGA", "audio", "PCI bridge". */
  kind: string;
  ids: string;
  /** "NVIDIA GA102 [GeForce RTX 3080]". */
  label: string;
  /** Vendor and device name in full, as pci.ids has them. */
  title: string;
  driver: string | null;
  group: number | null;
  verdict: Verdict;
  /** Why it matters: "boot GPU", "root filesystem (/dev/nvme0n1p2)", "VM 100". */
  notes: string[];
  /** check judged it (the GPUs a VM would get, or --device). */
  target: boolean;
  /** Depth below the box's first member (functions behind a bridge of the same group). */
  depth: number;
  port: { role: string; acs: boolean | null } | null;
}

export interface TopoBox {
  group: number | null;
  verdict: Verdict;
  members: TopoFunction[];
  /** Boxes behind members of this one, each with the member it hangs below. */
  children: Array<{ below: string; box: TopoBox }>;
}

export interface TopoBus {
  /** "0000:00". */
  bus: string;
  boxes: TopoBox[];
  functions: number;
}

const ROLE: Partial<Record<PcieType, string>> = {
  "root-port": "root port",
  "upstream-port": "switch upstream port",
  "downstream-port": "switch downstream port",
  "pcie-to-pci-bridge": "PCIe-to-PCI bridge",
  "pci-to-pcie-bridge": "PCI-to-PCIe bridge",
};

const RANK: Record<Verdict, number> = { critical: 4, shared: 3, passable: 2, host: 1, none: 0 };

export function buildTopology(
  state: HostState,
  candidates: readonly Candidate[],
  targets: readonly string[],
): TopoBus[] {
  const fnInfo = functionInfo(state, candidates, targets);
  const boxesOf = (nodes: readonly PciTreeNode[]): TopoBox[] => {
    const boxes = new Map<string, TopoBox>();
    for (const n of nodes) {
      const key = String(n.device.iommuGroup);
      let box = boxes.get(key);
      if (!box) {
        box = { group: n.device.iommuGroup, verdict: "none", members: [], children: [] };
        boxes.set(key, box);
      }
      fill(box, n, 0);
    }
    for (const b of boxes.values())
      b.verdict = b.members.reduce<Verdict>(
        (v, m) => (RANK[m.verdict] > RANK[v] ? m.verdict : v),
        b.group === null ? "none" : "host",
      );
    return [...boxes.values()];
  };
  const fill = (box: TopoBox, n: PciTreeNode, depth: number) => {
    box.members.push({ ...fnInfo(n.device), depth });
    const same = n.children.filter((c) => c.device.iommuGroup === box.group);
    for (const c of same) fill(box, c, depth + 1);
    const others = n.children.filter((c) => c.device.iommuGroup !== box.group);
    for (const b of boxesOf(others)) box.children.push({ below: n.device.address, box: b });
  };
  return buildPciTree(state.pci).map((r) => ({
    bus: r.bus,
    boxes: boxesOf(r.children),
    functions: count(r.children),
  }));
}

function count(nodes: readonly PciTreeNode[]): number {
  return nodes.reduce((n, c) => n + 1 + count(c.children), 0);
}

/** Per function: what the page says about it, from the candidates check found. */
export function functionInfo(
  state: HostState,
  candidates: readonly Candidate[],
  targets: readonly string[],
): (d: PciDevice) => Omit<TopoFunction, "depth"> {
  const candidateOf = new Map<string, Candidate>();
  for (const c of candidates) for (const f of c.functions) candidateOf.set(f.address, c);
  const critical = new Map<string, string[]>();
  for (const h of state.hostCritical) {
    const why =
      h.role === "root-filesystem" ? `root filesystem (${h.via})` : `default route (${h.via})`;
    critical.set(h.controller, [...(critical.get(h.controller) ?? []), why]);
  }
  return (d) => {
    const c = candidateOf.get(d.address);
    const notes = [...(critical.get(d.address) ?? [])];
    if (d.bootVga === true) notes.unshift("boot GPU");
    if (c?.assignedTo.length) notes.push(`VM ${c.assignedTo.join(", ")}`);
    let verdict: Verdict;
    if (notes.length > (c?.assignedTo.length ? 1 : 0)) verdict = "critical";
    else if (d.iommuGroup === null) verdict = "none";
    else if (!c) verdict = "host";
    else verdict = c.isolated ? "passable" : "shared";
    const pcie = d.capabilities?.pcie?.type;
    const role = d.isBridge ? ((pcie && ROLE[pcie]) ?? "PCI bridge") : null;
    return {
      address: d.address,
      short: d.address.startsWith("0000:") ? d.address.slice(5) : d.address,
      kind: classShortName(d.classCode),
      ids: `${d.vendorId}:${d.deviceId}`,
      label: deviceLabel(d),
      title: deviceTitle(d),
      driver: d.driver,
      group: d.iommuGroup,
      verdict,
      notes,
      target: c !== undefined && targets.includes(c.address),
      port: role ? { role, acs: isAcsPort(d) ? portHasAcs(d) : null } : null,
    };
  };
}
