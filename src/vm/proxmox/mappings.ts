// Cluster PCI resource mappings (/cluster/mapping/pci), pure.
//
// A mapping is a cluster-wide name ("gpu0") with one `map` entry per node (or several: each is an
// alternative the node may use): `node=pve1,path=0000:01:00,id=10de:2204,iommugroup=14,
// subsystem-id=1462:3880`. VMs then say `hostpciN: mapping=gpu0`, which an API token may set
// (raw `hostpciN: 0000:01:00` is root@pam only; docs/proxmox-api.md §1.9).
//
// At VM start (and for `GET /cluster/mapping/pci?check-node=N`) Proxmox compares each entry with
// the node's sysfs (pve-guest-common:src/PVE/Mapping/PCI.pm assert_valid): the device must exist;
// `id`, `subsystem-id` and (for the first path only) `iommugroup` must equal what sysfs reports, and
// a property sysfs has but the entry lacks is an error ("missing expected property"), so although
// the schema marks subsystem-id and iommugroup optional, they must be filled whenever the node
// reports them. The comparison is a plain string compare after removing "0x", so "10DE:2204"
// does not match "10de:2204": we always write lower case.

import { InputError } from "../../errors.js";
import { PveApiError } from "./api-errors.js";
import { parsePropertyString, printPropertyString } from "../../formats/proxmox-property-string.js";
import type { PciMapping, PveHardwarePci } from "../types.js";

export interface PciMapEntry {
  node: string;
  /** "0000:01:00" (whole device, all functions) or "0000:01:00.0"; several joined by ";". */
  path: string;
  /** vendor:device without 0x, "10de:2204". */
  id: string;
  iommugroup?: number;
  /** subsystem vendor:device without 0x. */
  subsystemId?: string;
  description?: string;
}

// The map-entry format's own patterns (pve-guest-common $map_fmt): the domain is mandatory in
// `path`, ids are 4+4 hex digits.
const PCI_PATH_RE = "[a-f0-9]{4,}:[a-f0-9]{2}:[a-f0-9]{2}(?:\\.[a-f0-9])?";
const PATH_RE = new RegExp(`^(?:${PCI_PATH_RE};)*${PCI_PATH_RE}$`);
const ID_RE = /^[0-9A-Fa-f]{4}:[0-9A-Fa-f]{4}$/;
const NODE_RE = /^[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?$/;
/** pve-configid: what a mapping name may look like (JSONSchema.pm $CONFIGID_RE). */
export const MAPPING_ID_RE = /^[a-z][a-z0-9_-]+$/i;

/** A map entry Proxmox would not accept, in Proxmox's words where it has them. */
export class MapEntryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "MapEntryError";
  }
}

const MAP_KEYS = ["node", "path", "id", "iommugroup", "subsystem-id", "description"];

export function parseMapEntry(text: string): PciMapEntry {
  const fail = (why: string) => new MapEntryError(`map entry '${text}': ${why}`);
  let entries: Array<[string, string]>;
  try {
    // The map format has no default key: a part without "=" is an error.
    entries = parsePropertyString(text, null).entries;
  } catch {
    throw fail("value without key, but schema does not define a default key");
  }
  const rec: Record<string, string> = {};
  for (const [key, value] of entries) {
    // parse_property_string's rules (pve-common JSONSchema.pm), which the shared parser leaves to
    // its callers: no key twice, no empty value, only the format's keys.
    if (rec[key] !== undefined)
      throw fail(`duplicate key in comma-separated list property: ${key}`);
    if (key === "" || value === "") throw fail("missing key in comma-separated list property");
    if (!MAP_KEYS.includes(key)) throw fail(`invalid key in comma-separated list property: ${key}`);
    rec[key] = value;
  }
  for (const k of ["node", "path", "id"])
    if (rec[k] === undefined) throw fail(`property '${k}' is missing`);
  const entry: PciMapEntry = { node: rec.node!, path: rec.path!, id: rec.id! };
  if (rec.iommugroup !== undefined) {
    if (!/^[+-]?\d+$/.test(rec.iommugroup))
      throw fail(`iommugroup '${rec.iommugroup}' is not an integer`);
    entry.iommugroup = Number(rec.iommugroup);
  }
  if (rec["subsystem-id"] !== undefined) entry.subsystemId = rec["subsystem-id"];
  if (rec.description !== undefined) entry.description = rec.description;
  return entry;
}

/** The order the Proxmox web UI writes and the docs show: node, path, id, iommugroup, subsystem-id. */
export function printMapEntry(e: PciMapEntry): string {
  const entries: Array<[string, string]> = [
    ["node", e.node],
    ["path", e.path],
    ["id", e.id],
  ];
  if (e.iommugroup !== undefined) entries.push(["iommugroup", String(e.iommugroup)]);
  if (e.subsystemId !== undefined) entries.push(["subsystem-id", e.subsystemId]);
  if (e.description !== undefined) entries.push(["description", e.description]);
  for (const [k, v] of entries) {
    // Property strings have no quoting: Proxmox's own printer refuses these too.
    if (v === "" || /[,\n\r]/.test(v))
      throw new MapEntryError(
        `illegal value for ${k} in a map entry: '${v}' (no commas, newlines or empty values)`,
      );
  }
  return printPropertyString({ entries }, null);
}

/** Problems with an entry's syntax that the server would answer with HTTP 400. */
export function mapEntrySyntaxProblems(e: PciMapEntry): string[] {
  const p: string[] = [];
  if (!NODE_RE.test(e.node)) p.push(`node '${e.node}' is not a node name`);
  if (!PATH_RE.test(e.path))
    p.push(
      `path '${e.path}' must be a full lower-case PCI address with domain, like 0000:01:00 or 0000:01:00.0`,
    );
  if (!ID_RE.test(e.id)) p.push(`id '${e.id}' must be vendor:device, like 10de:2204`);
  if (e.subsystemId !== undefined && !ID_RE.test(e.subsystemId))
    p.push(`subsystem-id '${e.subsystemId}' must be vendor:device, like 1462:3880`);
  return p;
}

/**
 * "01:00" → "0000:01:00", "0000:01:00.0" stays; lower case. The map entry's `path` needs the
 * domain, unlike hostpciN's `host`.
 */
export function normalizePciPath(address: string): string {
  const a = address.trim().toLowerCase();
  const m = /^(?:([0-9a-f]{4,}):)?([0-9a-f]{2}):([0-9a-f]{2})(?:\.([0-7]))?$/.exec(a);
  if (!m)
    throw new InputError(
      `'${address}' is not a PCI address: give it as 0000:01:00 (whole device) or 0000:01:00.0 (one function), as \`passthrough list\` shows`,
    );
  return `${m[1] ?? "0000"}:${m[2]}:${m[3]}${m[4] !== undefined ? `.${m[4]}` : ""}`;
}

function hex(v: string | undefined): string | undefined {
  return v === undefined ? undefined : v.replace(/^0x/i, "");
}

/** The function whose attributes describe `path`: the function itself, or .0 for a whole device. */
function deviceFor(path: string, hardware: readonly PveHardwarePci[]): PveHardwarePci | undefined {
  const fn = /\.[0-9a-f]$/i.test(path) ? path : `${path}.0`;
  return hardware.find((d) => d.id.toLowerCase() === fn.toLowerCase());
}

/**
 * One map entry for `address` on `node`, every checked attribute taken from that node's
 * GET /nodes/{node}/hardware/pci answer (as Proxmox's own UI does).
 */
export function buildMapEntry(
  node: string,
  address: string,
  hardware: readonly PveHardwarePci[],
): PciMapEntry {
  const path = normalizePciPath(address);
  const dev = deviceFor(path, hardware);
  if (!dev) {
    throw new InputError(
      `node ${node} has no PCI device ${path}${/\.[0-7]$/.test(path) ? "" : ".0"}: check the address with \`pvesh get /nodes/${node}/hardware/pci --pci-class-blacklist ""\``,
    );
  }
  const entry: PciMapEntry = {
    node,
    path,
    id: `${hex(dev.vendor)}:${hex(dev.device)}`.toLowerCase(),
  };
  if (dev.iommugroup >= 0) entry.iommugroup = dev.iommugroup;
  const sv = hex(dev.subsystem_vendor);
  const sd = hex(dev.subsystem_device);
  if (sv !== undefined && sd !== undefined) entry.subsystemId = `${sv}:${sd}`.toLowerCase();
  return entry;
}

export interface MapEntryProblem {
  path: string;
  field: "device" | "id" | "subsystem-id" | "iommugroup" | "mdev";
  /** What the node's hardware says (null: the node reports nothing). */
  actual: string | null;
  /** What the entry says (null: not configured). */
  configured: string | null;
  message: string;
}

/**
 * Every difference between an entry and its node's hardware, by assert_valid's rules (Proxmox
 * stops at the first; we list all so one fix covers them). `mappingMdev` is the mapping's mdev
 * flag when it should be compared too (check-node does).
 */
export function compareMapEntry(
  entry: PciMapEntry,
  hardware: readonly PveHardwarePci[],
  mappingMdev?: boolean,
): MapEntryProblem[] {
  const problems: MapEntryProblem[] = [];
  entry.path.split(";").forEach((path, idx) => {
    const fn = /\.[0-9a-f]$/i.test(path) ? path : `${path}.0`;
    const dev = deviceFor(path, hardware);
    if (!dev) {
      problems.push({
        path,
        field: "device",
        actual: null,
        configured: fn,
        message: `pci device '${fn}' not found`,
      });
      return;
    }
    const sv = hex(dev.subsystem_vendor);
    const sd = hex(dev.subsystem_device);
    const expected: Array<[MapEntryProblem["field"], string | null, string | null]> = [
      ["id", `${hex(dev.vendor)}:${hex(dev.device)}`, entry.id.replace(/0x/g, "")],
      [
        "subsystem-id",
        sv !== undefined && sd !== undefined ? `${sv}:${sd}` : null,
        entry.subsystemId?.replace(/0x/g, "") ?? null,
      ],
    ];
    // Only the first device's group is checked (the others share it or are not compared).
    if (idx === 0)
      expected.push([
        "iommugroup",
        dev.iommugroup >= 0 ? String(dev.iommugroup) : null,
        entry.iommugroup === undefined ? null : String(entry.iommugroup),
      ]);
    if (mappingMdev !== undefined)
      expected.push(["mdev", dev.mdev ? "1" : "0", mappingMdev ? "1" : "0"]);
    for (const [field, actual, configured] of expected) {
      if (actual === configured) continue;
      let message: string;
      if (configured === null)
        message = `missing expected property '${field}' for device '${fn}' (the node reports ${actual})`;
      else if (actual === null)
        message = `unexpected property '${field}' configured for device '${fn}'`;
      else if (actual.toLowerCase() === configured.toLowerCase())
        message = `'${field}' of '${fn}' is ${configured}, the node reports ${actual} (Proxmox compares case-sensitively: write it in lower case)`;
      else message = `'${field}' of '${fn}' is ${configured}, the node reports ${actual}`;
      problems.push({ path, field, actual, configured, message });
    }
  });
  return problems;
}

/**
 * Where the device an entry describes is now, when it is no longer at its path: the node's
 * functions with the entry's vendor:device (and subsystem id, when the entry has one), as the
 * entry would spell the path (whole device or that function). Several matches: all of them.
 */
export function findMovedDevice(entry: PciMapEntry, hardware: readonly PveHardwarePci[]): string[] {
  const first = entry.path.split(";")[0]!;
  const fn = /\.([0-9a-f])$/i.exec(first)?.[1] ?? "0";
  const whole = !/\.[0-9a-f]$/i.test(first);
  const wantId = entry.id.replace(/0x/g, "").toLowerCase();
  const wantSub = entry.subsystemId?.replace(/0x/g, "").toLowerCase();
  return hardware
    .filter((d) => d.id.toLowerCase().endsWith(`.${fn}`))
    .filter((d) => `${hex(d.vendor)}:${hex(d.device)}`.toLowerCase() === wantId)
    .filter(
      (d) =>
        wantSub === undefined ||
        `${hex(d.subsystem_vendor)}:${hex(d.subsystem_device)}`.toLowerCase() === wantSub,
    )
    .map((d) => (whole ? d.id.replace(/\.[0-9a-f]$/i, "") : d.id).toLowerCase())
    .filter((p) => p !== first.toLowerCase());
}

function normalizedPaths(path: string): string {
  return path
    .split(";")
    .map((p) => p.toLowerCase())
    .join(";");
}

export function sameMapEntry(a: PciMapEntry, b: PciMapEntry): boolean {
  return (
    printMapEntry({ ...a, path: normalizedPaths(a.path) }) ===
    printMapEntry({ ...b, path: normalizedPaths(b.path) })
  );
}

export interface MapChange {
  node: string;
  action: "added" | "updated" | "replaced" | "unchanged";
  entry: string;
  /** The entry (or entries) it replaced. */
  previous?: string[];
}

export interface MapConflict {
  node: string;
  wanted: string;
  existing: string[];
}

export interface MergedMap {
  map: string[];
  changes: MapChange[];
  conflicts: MapConflict[];
}

/**
 * Put `wanted` entries into an existing `map`, keeping every other node's entries as they are.
 * Same node and same path: the entry is refreshed (hardware attributes may have changed). Same
 * node, other path: that would change what other VMs using the mapping get on that node, so it is
 * a conflict unless `replace` is set (then the node's old entries go).
 */
export function mergeMapEntries(
  existing: readonly string[],
  wanted: readonly PciMapEntry[],
  opts: { replace?: boolean } = {},
): MergedMap {
  const map = [...existing];
  const changes: MapChange[] = [];
  const conflicts: MapConflict[] = [];
  const parsed = (s: string): PciMapEntry | null => {
    try {
      return parseMapEntry(s);
    } catch {
      return null;
    }
  };
  for (const w of wanted) {
    const text = printMapEntry(w);
    const onNode = map.map((s, i) => ({ s, i, e: parsed(s) })).filter((x) => x.e?.node === w.node);
    const samePath = onNode.find((x) => normalizedPaths(x.e!.path) === normalizedPaths(w.path));
    if (samePath) {
      if (sameMapEntry(samePath.e!, w))
        changes.push({ node: w.node, action: "unchanged", entry: samePath.s });
      else {
        map[samePath.i] = text;
        changes.push({ node: w.node, action: "updated", entry: text, previous: [samePath.s] });
      }
    } else if (onNode.length === 0) {
      map.push(text);
      changes.push({ node: w.node, action: "added", entry: text });
    } else if (opts.replace) {
      const drop = new Set(onNode.map((x) => x.i));
      const kept = map.filter((_, i) => !drop.has(i));
      map.length = 0;
      map.push(...kept, text);
      changes.push({
        node: w.node,
        action: "replaced",
        entry: text,
        previous: onNode.map((x) => x.s),
      });
    } else {
      conflicts.push({ node: w.node, wanted: text, existing: onNode.map((x) => x.s) });
    }
  }
  return { map, changes, conflicts };
}

export function mapEntries(
  mapping: PciMapping,
): Array<{ text: string; entry: PciMapEntry | null; error?: string }> {
  return mapping.map.map((text) => {
    try {
      return { text, entry: parseMapEntry(text) };
    } catch (err) {
      return { text, entry: null, error: (err as Error).message };
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Planning `vm mapping create` and `vm mapping check` against a cluster (the API backend).

export interface ClusterNode {
  node: string;
  online: boolean;
}

export interface EnsureMappingResult {
  action: "created" | "updated" | "unchanged";
  id: string;
  map: string[];
  changes: MapChange[];
}

/** What planning and checking mappings read from the cluster (ApiBackend). */
export interface MappingApi {
  /** The node --node names ("" when none). */
  readonly node: string;
  clusterNodes(): Promise<ClusterNode[]>;
  hardwarePci(node: string): Promise<PveHardwarePci[]>;
  getPciMapping(id: string): Promise<PciMapping | null>;
  listPciMappings(): Promise<PciMapping[]>;
  /** Mappings with Proxmox's own check against `node`'s hardware (?check-node=). */
  checkPciMappings(node: string): Promise<PciMapping[]>;
}

/** `vm mapping create`, its values checked (names, addresses): plain values from the CLI. */
export interface MappingRequest {
  name: string;
  /** The device on the connected node (--device on --node). */
  device: string | null;
  /** Devices on other nodes (--map NODE=ADDRESS). */
  maps: Array<{ node: string; address: string }>;
  /** Also map `device`'s address on every other online node with the same vendor:device. */
  allNodes: boolean;
  description: string | null;
}

export interface NodeSkip {
  node: string;
  reason: string;
}

export interface MappingPlan {
  mapping: PciMapping;
  entries: PciMapEntry[];
  /** --all-nodes: nodes read that have no such card (or another one at the address), or offline. */
  skipped: NodeSkip[];
  /** --all-nodes: nodes whose hardware could not be read; not in `entries`. */
  unreachable: NodeResult[];
  warnings: string[];
}

/** The entries a mapping gets, each read from its node's hardware as the web UI does. */
export async function planMapping(api: MappingApi, req: MappingRequest): Promise<MappingPlan> {
  const planned = [
    ...(req.device !== null ? [{ node: api.node, address: req.device }] : []),
    ...req.maps,
  ];
  const seen = new Set<string>();
  for (const p of planned) {
    if (seen.has(p.node))
      throw new InputError(
        `node ${p.node} is given twice: one device per node and call (a second would be an alternative for the same VM slot)`,
      );
    seen.add(p.node);
  }
  const nodes = await api.clusterNodes();
  const known = new Set(nodes.map((n) => n.node));
  for (const p of planned) {
    if (!known.has(p.node))
      throw new InputError(
        `node ${p.node} is not in the cluster (nodes: ${[...known].join(", ") || "none visible"})`,
      );
  }
  const hardware = new Map<string, PveHardwarePci[]>();
  const hw = async (node: string) => {
    if (!hardware.has(node)) hardware.set(node, await api.hardwarePci(node));
    return hardware.get(node)!;
  };
  const entries: PciMapEntry[] = [];
  for (const p of planned) entries.push(buildMapEntry(p.node, p.address, await hw(p.node)));
  const { skipped, unreachable } = req.allNodes
    ? await addSameDevice(entries, nodes, seen, hw)
    : { skipped: [], unreachable: [] };
  const warnings = entries
    .filter((e) => e.iommugroup === undefined)
    .map(
      (e) =>
        `warning: ${e.node} reports no IOMMU group for ${e.path}: the IOMMU is off there and a VM using ${req.name} cannot start on it (run \`passthrough check\` on ${e.node})`,
    );
  const mapping: PciMapping = {
    id: req.name,
    map: entries.map(printMapEntry),
    ...(req.description !== null ? { description: req.description } : {}),
  };
  return { mapping, entries, skipped, unreachable, warnings };
}

/**
 * --all-nodes: the first entry's address on every other online node that has the same card
 * there. The nodes' hardware is read at once; a node whose answer failed is "unreachable" with
 * the reason, never "no PCI device" (the caller decides whether to go on without it).
 */
async function addSameDevice(
  entries: PciMapEntry[],
  nodes: ClusterNode[],
  named: Set<string>,
  hw: (node: string) => Promise<PveHardwarePci[]>,
): Promise<{ skipped: NodeSkip[]; unreachable: NodeResult[] }> {
  const ref = entries[0]!;
  const skipped: NodeSkip[] = [];
  const unread: NodeResult[] = [];
  const others = nodes.filter((n) => !named.has(n.node)).sort((a, b) => byNodeName(a.node, b.node));
  const read = await Promise.all(
    others.map(async (n) => {
      if (!n.online) return { n, hardware: null, failed: null };
      try {
        return { n, hardware: await hw(n.node), failed: null };
      } catch (err) {
        return { n, hardware: null, failed: unreachable(n.node, err) };
      }
    }),
  );
  for (const { n, hardware, failed } of read) {
    if (failed) unread.push(failed);
    else if (!hardware) skipped.push({ node: n.node, reason: "offline" });
    else if (!deviceFor(ref.path, hardware))
      skipped.push({
        node: n.node,
        reason: `no PCI device ${ref.path}${/\.[0-7]$/.test(ref.path) ? "" : ".0"}`,
      });
    else {
      const entry = buildMapEntry(n.node, ref.path, hardware);
      if (entry.id === ref.id) entries.push(entry);
      else
        skipped.push({
          node: n.node,
          reason: `${ref.path} is ${entry.id} there, not ${ref.id}: map it explicitly with --map ${n.node}=ADDRESS`,
        });
    }
  }
  return { skipped, unreachable: unread };
}

export interface MappingPreviewRow {
  node: string;
  action: MapChange["action"] | "conflict";
  entry: string;
  previous?: string[];
}

/** What writing the plan would do to the mapping as it is now (--dry-run); nothing is written. */
export async function previewMapping(
  api: MappingApi,
  plan: MappingPlan,
  replace: boolean,
): Promise<{ exists: boolean; rows: MappingPreviewRow[]; conflicts: number }> {
  const existing = await api.getPciMapping(plan.mapping.id);
  const merged = mergeMapEntries(existing?.map ?? [], plan.entries, { replace });
  const rows: MappingPreviewRow[] = [
    ...merged.changes.map((c) => ({
      node: c.node,
      action: c.action,
      entry: c.entry,
      ...(c.previous ? { previous: c.previous } : {}),
    })),
    ...merged.conflicts.map((c) => ({
      node: c.node,
      action: "conflict" as const,
      entry: c.wanted,
      previous: c.existing,
    })),
  ];
  return { exists: existing !== null, rows, conflicts: merged.conflicts.length };
}

export type MappingStatus = "ok" | "warning" | "error" | "skipped";

/** How to fix an entry that no longer matches its node (rendered as a `vm mapping create` command). */
export type MappingFix =
  /** The mapped card is now at `to` (the first is suggested, replacing the entry). */
  | { kind: "moved"; node: string; id: string; to: string[] }
  /** The card is gone from the node: find it, then replace the entry. */
  | { kind: "gone"; node: string }
  /** Another card is at the path now: map that one instead, if it is the one wanted. */
  | { kind: "other-device"; node: string; path: string }
  /** Same card, attributes changed (group, subsystem): refresh the entry. */
  | { kind: "refresh"; node: string; path: string };

export interface MappingCheckRow {
  mapping: string;
  node: string;
  status: MappingStatus;
  /** Proxmox's own verdict (GET /cluster/mapping/pci?check-node=NODE). */
  checks: Array<{ severity: "warning" | "error"; message: string }>;
  entries: Array<{ text: string; problems: MapEntryProblem[]; error?: string }>;
  fixes: MappingFix[];
}

/** One node's verdict: every node gets one, whatever happened to the others. */
export type NodeVerdict = "ok" | "mismatch" | "missing device" | "offline" | "unreachable";

export interface NodeResult {
  node: string;
  verdict: NodeVerdict;
  /** Why, for every verdict but ok: the first problem, or the failed request and its error. */
  reason?: string;
}

export interface MappingCheck {
  /** Sorted naturally (pve2 before pve10). */
  nodes: ClusterNode[];
  mappings: PciMapping[];
  rows: MappingCheckRow[];
  /** Offline nodes: not checked. */
  skippedNodes: string[];
  /** One per node, in `nodes`' order. */
  verdicts: NodeResult[];
}

/** Node names in natural order: pve2 before pve10. */
export const byNodeName = (a: string, b: string): number =>
  a.localeCompare(b, "en", { numeric: true });

/**
 * Every mapping (or the one named) against every online node's hardware. The nodes are read at
 * once (the client bounds how many requests are in flight); a node whose answers fail is
 * "unreachable" with the reason, and the others are still checked.
 */
export async function checkMappings(api: MappingApi, name: string | null): Promise<MappingCheck> {
  const [listed, all] = await Promise.all([api.clusterNodes(), api.listPciMappings()]);
  const nodes = [...listed].sort((a, b) => byNodeName(a.node, b.node));
  let mappings = all;
  if (name !== null) {
    mappings = mappings.filter((m) => m.id === name);
    if (mappings.length === 0)
      throw new InputError(
        `no PCI mapping ${name} (or the token may not see it): \`passthrough vm mapping list\` shows them`,
      );
  }
  const perNode = await Promise.all(nodes.map((n) => checkNode(api, n, mappings)));
  return {
    nodes,
    mappings,
    rows: perNode.flatMap((p) => p.rows),
    skippedNodes: nodes.filter((n) => !n.online).map((n) => n.node),
    verdicts: perNode.map((p) => p.verdict),
  };
}

async function checkNode(
  api: MappingApi,
  n: ClusterNode,
  mappings: readonly PciMapping[],
): Promise<{ rows: MappingCheckRow[]; verdict: NodeResult }> {
  if (!n.online)
    return {
      rows: [],
      verdict: { node: n.node, verdict: "offline", reason: "the cluster reports it offline" },
    };
  let server: PciMapping[];
  let hardware: PveHardwarePci[];
  try {
    [server, hardware] = await Promise.all([api.checkPciMappings(n.node), api.hardwarePci(n.node)]);
  } catch (err) {
    return { rows: [], verdict: unreachable(n.node, err) };
  }
  const checks = new Map(server.map((m) => [m.id, m.checks ?? []]));
  const rows = mappings.map((m) => checkRow(m, n.node, checks.get(m.id) ?? [], hardware));
  return { rows, verdict: nodeVerdict(n.node, rows) };
}

/**
 * A node whose requests failed, or the error again when it is not the node's: a token refused or
 * a certificate that does not match fails every node alike and is said once, as itself.
 */
export function unreachable(node: string, err: unknown): NodeResult {
  if (!(err instanceof PveApiError) || err.kind === "auth" || err.kind === "tls") throw err;
  return { node, verdict: "unreachable", reason: err.message };
}

function nodeVerdict(node: string, rows: readonly MappingCheckRow[]): NodeResult {
  const problems = rows.flatMap((r) => r.entries.flatMap((e) => e.problems));
  const gone = problems.find((p) => p.field === "device");
  if (gone) return { node, verdict: "missing device", reason: gone.message };
  const bad = rows.find((r) => r.status === "error");
  if (bad) {
    const why =
      bad.checks.find((c) => c.severity === "error")?.message ??
      problems[0]?.message ??
      bad.entries.find((e) => e.error)?.error;
    return { node, verdict: "mismatch", ...(why ? { reason: `${bad.mapping}: ${why}` } : {}) };
  }
  return { node, verdict: "ok" };
}

function checkRow(
  m: PciMapping,
  node: string,
  checks: MappingCheckRow["checks"],
  hardware: PveHardwarePci[],
): MappingCheckRow {
  const mdev = m.mdev ?? false;
  const entries = mapEntries(m)
    .filter((e) => e.entry === null || e.entry.node === node)
    .map((e) =>
      e.entry
        ? { text: e.text, problems: compareMapEntry(e.entry, hardware, mdev) }
        : { text: e.text, problems: [], error: e.error! },
    );
  const broken = entries.some((e) => e.problems.length > 0 || e.error);
  const status: MappingStatus =
    checks.some((c) => c.severity === "error") || broken
      ? "error"
      : checks.some((c) => c.severity === "warning")
        ? "warning"
        : "ok";
  const fixes: MappingFix[] = [];
  for (const e of mapEntries(m)) {
    if (e.entry?.node !== node) continue;
    const problems = compareMapEntry(e.entry, hardware, mdev);
    if (problems.length > 0) fixes.push(...entryFixes(e.entry, problems, hardware));
  }
  return { mapping: m.id, node, status, checks, entries, fixes };
}

function entryFixes(
  entry: PciMapEntry,
  problems: MapEntryProblem[],
  hardware: PveHardwarePci[],
): MappingFix[] {
  const { node } = entry;
  const path = problems[0]!.path;
  const moved = findMovedDevice(entry, hardware);
  const gone = problems.some((p) => p.field === "device");
  const swapped = problems.some((p) => p.field === "id");
  const fixes: MappingFix[] = [];
  if (moved.length > 0 && (gone || swapped))
    fixes.push({ kind: "moved", node, id: entry.id, to: moved });
  if (gone && moved.length === 0) fixes.push({ kind: "gone", node });
  else if (swapped) fixes.push({ kind: "other-device", node, path });
  else if (!gone) fixes.push({ kind: "refresh", node, path });
  return fixes;
}
