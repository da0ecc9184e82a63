// Giving a Proxmox container a host GPU's device nodes: the change to /etc/pve/lxc/<ctid>.conf.
// Pure: the caller reads the config, the card, its nodes (host/device-nodes.ts) and the
// container's /etc/group. Two ways to write it (pct(1), "Device Passthrough"):
//   - devN entries (Proxmox VE 8.1 and later): "dev0: /dev/dri/renderD128,gid=104,mode=0660";
//     pve-container creates the node inside with that owner, and the gid is the one inside the
//     container, so an unprivileged container gets a group that exists there;
//   - before 8.1, the raw LXC keys every forum guide copies: a cgroup2 device rule for the
//     node's major:minor and a bind mount (lxc.container.conf(5)); the node keeps its host owner.

import { RefusedError, InputError } from "../../errors.js";
import {
  freeDevIndex,
  type CtConfigFile,
  type CtConfigSection,
} from "../../formats/proxmox-ct-config.js";
import { parsePropertyString } from "../../formats/proxmox-property-string.js";
import type { DeviceNode } from "../../host/device-nodes.js";
import type { PciDevice } from "../../host/types.js";

export type GroupSource =
  { ok: true; groups: Map<string, number>; source: string } | { ok: false; reason: string };

export interface CtPlanInput {
  ctid: number;
  config: CtConfigFile;
  card: PciDevice;
  nodes: DeviceNode[];
  /** Proxmox VE version ("8.1.4"), "unknown" when it is a node of unknown version, null when not Proxmox. */
  proxmoxVersion: string | null;
  /** The container's /etc/group, needed for devN gids. */
  groups: GroupSource;
  /** --gid: one gid for every DRM and kfd node instead of the container's render/video groups. */
  gid?: number;
  /** "VM 100 hostpci0: 0000:01:00,pcie=1" for every VM config that passes this card. */
  vmsUsing: string[];
}

export interface CtPlan {
  style: "devN" | "lxc";
  /** Config lines added, as they will read in the file. */
  added: string[];
  /** Nodes the container already has (left alone). */
  present: string[];
  after: CtConfigFile;
  notes: string[];
}

/** Proxmox VE 8.1 added devN entries to containers (its release notes; pct(1) "Device Passthrough"). */
export function supportsDevEntries(version: string | null): boolean {
  const m = /^(\d+)\.(\d+)/.exec(version ?? "");
  if (!m) return false;
  const [major, minor] = [Number(m[1]), Number(m[2])];
  return major > 8 || (major === 8 && minor >= 1);
}

export function planContainerDevices(input: CtPlanInput): CtPlan {
  refuseUnusable(input);
  const style = supportsDevEntries(input.proxmoxVersion) ? "devN" : "lxc";
  const after = structuredClone(input.config);
  const notes: string[] = [];
  if (input.proxmoxVersion === "unknown")
    notes.push("the Proxmox VE version is unknown: writing lxc.* keys, which every version reads");
  const result =
    style === "devN"
      ? addDevEntries(after.main, input, notes)
      : addLxcEntries(
          after.main,
          input.nodes,
          notes,
          input.config.main.keys["unprivileged"] === "1",
        );
  return { style, ...result, after, notes };
}

/** A card on vfio-pci, or one without nodes, cannot be shared (also plain LXC's plan, lxc-plan.ts). */
export function refuseUnusable(input: Pick<CtPlanInput, "card" | "nodes" | "vmsUsing">): void {
  const { card } = input;
  if (card.driver === "vfio-pci") {
    const owners = input.vmsUsing.length ? ` (${input.vmsUsing.join("; ")})` : "";
    throw new RefusedError(
      `${card.address} is bound to vfio-pci: it is set aside for a VM${owners} and has no device nodes a container could use; give it back to its host driver first (\`passthrough mode host --device ${card.address}\` now, when no VM runs with it), then plan again`,
    );
  }
  if (input.nodes.length === 0)
    throw new RefusedError(
      card.driver === null
        ? `${card.address} has no driver bound, so it has no device nodes; load its driver (lspci -k shows the candidates) and plan again`
        : `${card.address} (driver ${card.driver}) exposes no device nodes: no drm/card* or renderD* under its sysfs folder`,
    );
}

/** The devN paths (and lxc bind-mount sources) a section already gives the container. */
export function givenPaths(section: CtConfigSection): Set<string> {
  const paths = new Set<string>();
  for (const [k, v] of Object.entries(section.keys)) {
    if (!/^dev\d+$/.test(k)) continue;
    try {
      const p = parsePropertyString(v, "path").entries.find(([key]) => key === "path")?.[1];
      if (p) paths.add(p);
    } catch {
      // An unreadable devN value is pve-container's to reject; it names no path we know.
    }
  }
  for (const [k, v] of section.lxc) if (k === "lxc.mount.entry") paths.add(v.split(/\s+/)[0] ?? "");
  return paths;
}

function addDevEntries(
  main: CtConfigSection,
  input: CtPlanInput,
  notes: string[],
): { added: string[]; present: string[] } {
  const given = givenPaths(main);
  const added: string[] = [];
  const present: string[] = [];
  for (const node of input.nodes) {
    if (given.has(node.path)) {
      present.push(node.path);
      continue;
    }
    const i = freeDevIndex(main);
    if (i < 0) throw new InputError(`container ${input.ctid} uses all 256 devN entries`);
    const value = `${node.path},${ownerOptions(node, input, notes)}`;
    main.keys[`dev${i}`] = value;
    added.push(`dev${i}: ${value}`);
  }
  return { added, present };
}

/** gid and mode for a devN entry: NVIDIA's nodes are 0666 on the host (NVreg_DeviceFileMode), the rest group-owned 0660. */
function ownerOptions(node: DeviceNode, input: CtPlanInput, notes: string[]): string {
  if (!/^\/dev\/(dri\/|kfd$)/.test(node.path)) return "mode=0666";
  return `gid=${gidFor(node.path, input, notes)},mode=0660`;
}

function gidFor(nodePath: string, input: CtPlanInput, notes: string[]): number {
  if (input.gid !== undefined) return input.gid;
  if (!input.groups.ok)
    throw new InputError(
      `container ${input.ctid}: cannot read its /etc/group (${input.groups.reason}), so the gid of its render/video group is unknown; mount it (pct mount ${input.ctid}) or give --gid N`,
    );
  // renderD* and kfd belong to "render" (udev's 50-udev-default.rules), card* to "video".
  const wanted = /\/(renderD\d+|kfd)$/.test(nodePath) ? ["render", "video"] : ["video"];
  for (const name of wanted) {
    const gid = input.groups.groups.get(name);
    if (gid === undefined) continue;
    const note = `gid ${gid} is the container's "${name}" group (${input.groups.source})`;
    if (!notes.includes(note)) notes.push(note);
    return gid;
  }
  throw new InputError(
    `container ${input.ctid}: no ${wanted.map((w) => `"${w}"`).join(" or ")} group in ${input.groups.source}; create it in the container (groupadd -r render) or give --gid N`,
  );
}

function addLxcEntries(
  main: CtConfigSection,
  nodes: DeviceNode[],
  notes: string[],
  unprivileged: boolean,
): { added: string[]; present: string[] } {
  const given = givenPaths(main);
  const rules = new Set(
    main.lxc.filter(([k]) => k === "lxc.cgroup2.devices.allow").map(([, v]) => v),
  );
  const added: string[] = [];
  const present: string[] = [];
  for (const node of nodes) {
    if (given.has(node.path)) {
      present.push(node.path);
      continue;
    }
    if (node.major === null || node.minor === null)
      throw new InputError(
        `${node.path}: the kernel does not say its device numbers, so no cgroup rule can be written for it; upgrade to Proxmox VE 8.1 or later, where devN entries need none`,
      );
    const rule = `c ${node.major}:${node.minor} rwm`;
    const entries: Array<[string, string]> = [
      ["lxc.cgroup2.devices.allow", rule],
      ["lxc.mount.entry", `${node.path} ${node.path.slice(1)} none bind,optional,create=file`],
    ];
    for (const e of entries) {
      if (e[0] === "lxc.cgroup2.devices.allow" && rules.has(rule)) continue;
      main.lxc.push(e);
      added.push(`${e[0]}: ${e[1]}`);
    }
  }
  if (unprivileged && added.length)
    notes.push(
      "an unprivileged container sees bind-mounted nodes owned by nobody:nogroup; their host mode decides access (devN entries on Proxmox VE 8.1+ set an owner inside)",
    );
  return { added, present };
}
