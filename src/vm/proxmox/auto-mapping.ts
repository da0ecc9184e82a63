// `vm configure|create` with credentials that may not write a raw PCI address into hostpciN
// (anything but root@pam: qemu-server's "only root can set 'hostpciN' config for non-mapped
// devices", docs/proxmox-api.md §1.9): each device goes in through a cluster PCI mapping. One
// that names exactly its functions on the node is reused; otherwise one is planned here, created
// (or given this node's entry) in the same run, before the VM config is written. Pure.

import type { SpecPciDevice, VmSpec } from "../spec.js";
import type { PciMapping, PveHardwarePci } from "../types.js";
import { mappingAddresses } from "./config-change.js";
import { buildMapEntry, MAPPING_ID_RE, mergeMapEntries, printMapEntry } from "./mappings.js";

export interface PlannedMapping {
  id: string;
  /** "create": a new mapping; "add": this node's entry joins an existing one. */
  action: "create" | "add";
  /** This node's entry, as written. */
  entry: string;
  /** The host functions the entry names on the node (what hostpciN: mapping=ID passes). */
  addresses: string[];
  description: string;
}

export interface AutoMappingInput {
  spec: VmSpec;
  node: string;
  hardware: readonly PveHardwarePci[];
  /** Every mapping of the cluster, as listed. */
  existing: readonly PciMapping[];
  /** --mapping NAME, or null for a name from the device. */
  name: string | null;
}

/** The mappings to create or extend so that every device of `spec` has one; refusals otherwise. */
export function planAutoMappings(input: AutoMappingInput): {
  planned: PlannedMapping[];
  refusals: string[];
} {
  const { spec, node, hardware, existing } = input;
  const planned: PlannedMapping[] = [];
  const refusals: string[] = [];
  const present = hardware.map((h) => h.id.toLowerCase());
  const usable = existing.map((m) => ({ m, addresses: mappingAddresses(m.map, node, present) }));
  const needing = spec.pci.filter(
    (d) => !usable.some((u) => sameFunctions(u.addresses, d)) && d.functions.length > 0,
  );
  needing.forEach((d, i) => {
    const id = mappingName(input.name, d, i);
    let entry;
    try {
      entry = buildMapEntry(node, d.host, hardware);
    } catch (err) {
      refusals.push((err as Error).message);
      return;
    }
    const text = printMapEntry(entry);
    const addresses = mappingAddresses([text], node, present);
    const same = existing.find((m) => m.id === id);
    const description = `${d.title} (passthrough)`;
    if (!same) {
      planned.push({ id, action: "create", entry: text, addresses, description });
      return;
    }
    const merged = mergeMapEntries(same.map, [entry]);
    if (merged.conflicts.length > 0) {
      refusals.push(
        `mapping ${id} already maps node ${node} to another device; give this one its own name with --mapping NAME (\`passthrough vm mapping list\` shows the names in use)`,
      );
      return;
    }
    planned.push({ id, action: "add", entry: text, addresses, description });
  });
  return { planned, refusals };
}

/** --mapping NAME (NAME-2, ... for further devices), or "gpu-10de-2204" / "pci-8086-1533". */
function mappingName(name: string | null, d: SpecPciDevice, index: number): string {
  if (name !== null) return index === 0 ? name : `${name}-${index + 1}`;
  const f = d.functions[0]!;
  return `${d.gpu ? "gpu" : "pci"}-${f.vendorId}-${f.deviceId}`;
}

function sameFunctions(addresses: readonly string[], d: SpecPciDevice): boolean {
  const fns = new Set(d.functions.map((f) => f.address));
  return addresses.length === fns.size && addresses.every((a) => fns.has(a));
}

/** A --mapping value Proxmox accepts as a mapping id (its configid format). */
export function isMappingName(name: string): boolean {
  return MAPPING_ID_RE.test(name);
}

/** The lines the diff shows for the mappings written before the VM config. */
export function plannedMappingLines(planned: readonly PlannedMapping[], node: string): string[] {
  return planned.map(
    (p) =>
      `# cluster PCI mapping ${p.id} (/cluster/mapping/pci): ${p.action === "create" ? "created" : `entry for ${node} added`}: ${p.entry}`,
  );
}
