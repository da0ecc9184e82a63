// Giving a plain LXC container (no Proxmox) a host GPU's device nodes: the change to its
// config file, and to /etc/subgid when a group map needs it. Pure: the caller reads the files
// (lxc-read.ts). The lines are lxc.container.conf(5)'s, per node:
//   lxc.cgroup2.devices.allow = c MAJOR:MINOR rwm      (the device cgroup lets it open the node)
//   lxc.mount.entry = /dev/dri/renderD128 dev/dri/renderD128 none bind,optional,create=file
// A bind-mounted node keeps its host owner (root:render, mode 0660 by udev). In an
// unprivileged container (lxc.idmap lines) a host gid shows inside only when a map covers it,
// so the container's own render (video for card*) group is mapped onto the host group that
// owns the node: the group's range is split around it ("g 0 100000 104", "g 104 993 1",
// "g 105 100105 65431"; user_namespaces(7)). When the host has newgidmap, LXC sets the maps
// through it, which allows only what /etc/subgid gives root (subgid(5)): the host gid is added
// there too.

import { InputError } from "../../errors.js";
import type { DeviceNode } from "../../host/device-nodes.js";
import type { PciDevice } from "../../host/types.js";
import type { FileStep } from "../../plan/types.js";
import { ownerGroups } from "./check.js";
import { refuseUnusable, type GroupSource } from "./device-plan.js";
import {
  appendLines,
  containerIdOf,
  groupMaps,
  hostIdOf,
  mapOne,
  parseIdMap,
  parseLxcConfig,
  printIdMap,
  replaceEntries,
  valuesOf,
  type IdMap,
  type LxcEntry,
} from "./lxc-config.js";

export interface LxcPlanInput {
  name: string;
  /** Host path of the config: "/var/lib/lxc/media/config". */
  file: string;
  text: string;
  card: PciDevice;
  nodes: DeviceNode[];
  /** The container's /etc/group (its render/video gids). */
  groups: GroupSource;
  /** The host's /etc/group: udev gives renderD* and kfd to "render", card* to "video". */
  hostGroups: Map<string, number>;
  /** --gid: the container gid for the DRM and kfd nodes instead of its render/video group. */
  gid?: number;
  vmsUsing: string[];
  /** /etc/subgid (null: absent) when the host has newgidmap; undefined when it has not. */
  subgid?: string | null;
}

export interface LxcPlan {
  /** Lines added to the config, as written. */
  added: string[];
  /** Nodes the config gives already. */
  present: string[];
  /** The group maps before and after, when they change. */
  idmap: { before: string[]; after: string[] } | null;
  /** The file steps, in the order apply's executor runs them. */
  steps: FileStep[];
  notes: string[];
}

/** A container gid mapped onto the host gid that owns a node. */
interface GroupMapping {
  nsid: number;
  hostid: number;
  why: string;
}

export function planLxcDevices(input: LxcPlanInput): LxcPlan {
  refuseUnusable(input);
  const entries = parseLxcConfig(input.text);
  const notes: string[] = [];
  const { lines, added, present } = deviceLines(input, entries);
  const maps = groupMaps(entries);
  const mappings = maps.length ? wantedMappings(input, maps, notes) : [];
  if (!maps.length) privilegedNotes(input, notes);
  let after = appendLines(input.text, lines);
  let idmap: LxcPlan["idmap"] = null;
  if (mappings.length) {
    const next = mappings.reduce((m, w) => mapOne(m, w.nsid, w.hostid), maps).map(printIdMap);
    idmap = { before: maps.map(printIdMap), after: next };
    after = replaceEntries(after, parseLxcConfig(after), isGroupMap, next.map(idmapLine));
    added.push(...next.filter((l) => !idmap!.before.includes(l)).map(idmapLine));
  }
  const steps: FileStep[] = [];
  if (after !== input.text)
    steps.push({
      kind: "file",
      path: input.file,
      before: input.text,
      after,
      why: `give container ${input.name} the device nodes of ${input.card.address}`,
    });
  const subgid = subgidStep(input, mappings);
  if (subgid) steps.push(subgid);
  return { added, present, idmap, steps, notes };
}

const idmapLine = (m: string) => `lxc.idmap = ${m}`;

function isGroupMap(e: LxcEntry): boolean {
  return e.key === "lxc.idmap" && parseIdMap(e.value)?.kind === "g";
}

/** A cgroup rule and a bind mount per node the config does not give yet, under one comment. */
function deviceLines(
  input: LxcPlanInput,
  entries: LxcEntry[],
): { lines: string[]; added: string[]; present: string[] } {
  const given = new Set(valuesOf(entries, "lxc.mount.entry").map((v) => v.split(/\s+/)[0]));
  const rules = new Set(valuesOf(entries, "lxc.cgroup2.devices.allow"));
  const added: string[] = [];
  const present: string[] = [];
  for (const node of input.nodes) {
    if (given.has(node.path)) {
      present.push(node.path);
      continue;
    }
    if (node.major === null || node.minor === null)
      throw new InputError(
        `${node.path}: the kernel does not say its device numbers (no dev file in sysfs), so no cgroup rule can be written for it`,
      );
    const rule = `c ${node.major}:${node.minor} rwm`;
    if (!rules.has(rule)) added.push(`lxc.cgroup2.devices.allow = ${rule}`);
    rules.add(rule);
    added.push(
      `lxc.mount.entry = ${node.path} ${node.path.slice(1)} none bind,optional,create=file`,
    );
  }
  const head = `# passthrough: device nodes of ${input.card.address} (${input.card.driver ?? "no driver"}); lxc.container.conf(5)`;
  return { lines: added.length ? [head, ...added] : [], added: [...added], present };
}

/** The host group udev gives a node (50-udev-default.rules): render for renderD* and kfd, video for card*. */
function hostGroupName(nodePath: string): string {
  return /\/(renderD\d+|kfd)$/.test(nodePath) ? "render" : "video";
}

/** NVIDIA's nodes are 0666 (NVreg_DeviceFileMode): any group opens them. */
const groupOwned = (p: string) => /^\/dev\/(dri\/|kfd$)/.test(p);

/** The container group (name, gid) that should open a node. */
function containerGroup(input: LxcPlanInput, nodePath: string): { name: string; gid: number } {
  if (input.gid !== undefined) return { name: `--gid ${input.gid}`, gid: input.gid };
  if (!input.groups.ok)
    throw new InputError(
      `container ${input.name}: cannot read its /etc/group (${input.groups.reason}), so the gid of its render/video group is unknown; give --gid N`,
    );
  const names = ownerGroups(nodePath);
  for (const name of names) {
    const gid = input.groups.groups.get(name);
    if (gid !== undefined) return { name, gid };
  }
  throw new InputError(
    `container ${input.name}: no ${names.map((n) => `"${n}"`).join(" or ")} group in ${input.groups.source}; create it in the container (groupadd -r render) or give --gid N`,
  );
}

/** Container gid -> host gid for each group-owned node the maps do not already give its group. */
function wantedMappings(input: LxcPlanInput, maps: IdMap[], notes: string[]): GroupMapping[] {
  const out: GroupMapping[] = [];
  for (const node of input.nodes.filter((n) => groupOwned(n.path))) {
    const hostName = hostGroupName(node.path);
    const hostid = input.hostGroups.get(hostName);
    if (hostid === undefined) {
      notes.push(
        `the host has no "${hostName}" group: ${node.path}'s owner is not known, its group is not mapped`,
      );
      continue;
    }
    const ct = containerGroup(input, node.path);
    const why = `gid ${ct.gid} (the container's ${ct.name.startsWith("--") ? ct.name : `"${ct.name}" group`}) is the host's "${hostName}" group (gid ${hostid}), which owns ${node.path}`;
    if (hostIdOf(maps, ct.gid) === hostid) {
      addNote(notes, `${why}: lxc.idmap maps it already`);
      continue;
    }
    const clash = out.find((m) => m.nsid === ct.gid && m.hostid !== hostid);
    if (clash)
      throw new InputError(
        `container ${input.name}: gid ${ct.gid} would have to be two host groups (${clash.hostid} and ${hostid}); give the container a "render" and a "video" group of its own (groupadd -r render)`,
      );
    const taken = containerIdOf(maps, hostid);
    if (taken !== null)
      throw new InputError(
        `container ${input.name}: host gid ${hostid} ("${hostName}") is mapped to container gid ${taken} by lxc.idmap already; give --gid ${taken}, or change that map`,
      );
    if (!out.some((m) => m.nsid === ct.gid)) {
      out.push({ nsid: ct.gid, hostid, why });
      addNote(notes, `${why}: lxc.idmap maps it (user_namespaces(7))`);
    }
  }
  return out;
}

function addNote(notes: string[], note: string): void {
  if (!notes.includes(note)) notes.push(note);
}

/** A privileged container sees the host's gids: say when its own group has another number. */
function privilegedNotes(input: LxcPlanInput, notes: string[]): void {
  if (!input.groups.ok || input.gid !== undefined) return;
  for (const node of input.nodes.filter((n) => groupOwned(n.path))) {
    const hostName = hostGroupName(node.path);
    const hostid = input.hostGroups.get(hostName);
    const inside = ownerGroups(node.path)
      .map((n) => [n, input.groups.ok ? input.groups.groups.get(n) : undefined] as const)
      .find(([, g]) => g !== undefined);
    if (hostid === undefined || !inside || inside[1] === hostid) continue;
    addNote(
      notes,
      `a privileged container sees host gids: ${node.path} is gid ${hostid} inside, its "${inside[0]}" group is ${inside[1]}; give that group gid ${hostid} inside (groupmod -g ${hostid} ${inside[0]}) or add its users to group ${hostid}`,
    );
  }
}

/** "root:993:1" added to /etc/subgid for each mapped host gid that root's ranges lack. */
function subgidStep(input: LxcPlanInput, mappings: GroupMapping[]): FileStep | null {
  if (input.subgid === undefined || mappings.length === 0) return null;
  const ranges = (input.subgid ?? "")
    .split("\n")
    .map((l) => /^(root|0):(\d+):(\d+)\s*$/.exec(l.trim()))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ start: Number(m[2]), count: Number(m[3]) }));
  const missing = mappings.filter(
    (m) => !ranges.some((r) => m.hostid >= r.start && m.hostid < r.start + r.count),
  );
  if (missing.length === 0) return null;
  const before = input.subgid ?? null;
  return {
    kind: "file",
    path: "/etc/subgid",
    before,
    after: appendLines(
      before ?? "",
      missing.map((m) => `root:${m.hostid}:1`),
    ),
    mode: 0o644,
    why: `LXC maps ids through newgidmap, which allows root only the host gids /etc/subgid gives it (subgid(5))`,
  };
}
