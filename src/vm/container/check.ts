// `ct check`, pure: what a running container sees of the device nodes its config gives it,
// judged against the host's nodes (host/device-nodes.ts). The caller runs the probes inside
// the container (inside.ts) and hands over their output:
//   - `stat -L -c '%n|%F|%t|%T|%g|%a'` per node (stat(1): type, major and minor in hex, gid,
//     octal mode);
//   - the container's /etc/group, for its render and video gids;
//   - for NVIDIA, the libnvidia-ml.so.VERSION files in its library folders: NVML and CUDA's
//     user-mode driver are one release with the kernel module and must carry its version
//     (/sys/module/nvidia/version on the host).

import type { Finding } from "../../findings/finding.js";
import type { CtId } from "../../findings/ct-catalog.js";
import type { DeviceNode } from "../../host/device-nodes.js";

export type CtFinding = Finding<CtId>;

/** One node as stat saw it inside the container. */
export interface NodeStat {
  charDevice: boolean;
  type: string;
  major: number;
  minor: number;
  gid: number;
  mode: number;
}

/** The format handed to stat -c; parseStatOutput reads it back. */
export const STAT_FORMAT = "%n|%F|%t|%T|%g|%a";

/** stat's lines by path; a path stat could not read is absent. */
export function parseStatOutput(text: string): Map<string, NodeStat> {
  const out = new Map<string, NodeStat>();
  for (const line of text.split("\n")) {
    const m = /^(\/[^|]*)\|([^|]+)\|([0-9a-f]+)\|([0-9a-f]+)\|(\d+)\|([0-7]{1,4})$/.exec(line);
    if (!m) continue;
    out.set(m[1]!, {
      charDevice: m[2] === "character special file",
      type: m[2]!,
      major: parseInt(m[3]!, 16),
      minor: parseInt(m[4]!, 16),
      gid: Number(m[5]),
      mode: parseInt(m[6]!, 8),
    });
  }
  return out;
}

/** "/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.550.54.14" -> "550.54.14" (the .so.1 link carries none). */
export function nvmlVersions(paths: string[]): string[] {
  const versions = paths
    .map((p) => /\/libnvidia-ml\.so\.(\d+\.\d+(?:\.\d+)?)$/.exec(p.trim())?.[1])
    .filter((v): v is string => v !== undefined);
  return [...new Set(versions)].sort();
}

/** How messages name the container and its commands: Proxmox (pct) or plain LXC. */
export interface ContainerRef {
  /** "container 101", "container media" */
  label: string;
  /** The flag that names it: "--ctid 101", "--name media". */
  flag: string;
  /** How it restarts: "pct reboot 101", "lxc-stop -n media -r". */
  restart: string;
  /** Plain LXC: the config maps groups with lxc.idmap, it has no devN entries. */
  lxc: boolean;
}

export function pveRef(ctid: number): ContainerRef {
  return {
    label: `container ${ctid}`,
    flag: `--ctid ${ctid}`,
    restart: `pct reboot ${ctid}`,
    lxc: false,
  };
}

export interface CtCheckInput {
  ctid: number;
  /** Default: the Proxmox container ctid. */
  ref?: ContainerRef;
  /** The host's nodes of the card that the container's config gives it. */
  nodes: DeviceNode[];
  stats: Map<string, NodeStat>;
  /** The container's groups (its /etc/group). */
  groups: Map<string, number>;
  /** NVIDIA only: the host module's version (null when unreadable) and the container's NVML files. */
  nvidia: { hostVersion: string | null; libraries: string[] } | null;
}

/** The overflow gid an unmapped host group shows as inside a user namespace (user_namespaces(7)). */
const OVERFLOW_GID = 65534;

export function checkContainer(input: CtCheckInput): CtFinding[] {
  const findings: CtFinding[] = [];
  const ref = input.ref ?? pveRef(input.ctid);
  for (const node of input.nodes) {
    const seen = input.stats.get(node.path);
    const kind = nodeFinding(ref, node, seen);
    findings.push(kind);
    if (seen && kind.status === "pass") findings.push(accessFinding(input, ref, node, seen));
  }
  if (input.nvidia) findings.push(nvidiaFinding(ref, input.nvidia));
  return findings;
}

function f(
  id: CtId,
  status: CtFinding["status"],
  subject: string | null,
  summary: string,
  fix: string | null = null,
  detail: string[] = [],
): CtFinding {
  return { id, status, subject, summary, fix, ...(detail.length ? { detail } : {}) };
}

function nodeFinding(ref: ContainerRef, node: DeviceNode, seen: NodeStat | undefined): CtFinding {
  const restart = `\`passthrough ct plan ${ref.flag} --device ADDR\` shows the entries for the card's current nodes; then \`${ref.restart}\``;
  if (!seen)
    return f("ct.node", "fail", node.path, `${node.path} is missing inside ${ref.label}`, restart);
  if (!seen.charDevice)
    return f(
      "ct.node",
      "fail",
      node.path,
      `${node.path} inside ${ref.label} is a ${seen.type}, not a character device`,
      restart,
    );
  const want = node.major === null ? null : `${node.major}:${node.minor}`;
  const got = `${seen.major}:${seen.minor}`;
  if (want !== null && want !== got)
    return f(
      "ct.node",
      "fail",
      node.path,
      `${node.path} inside ${ref.label} is device ${got}, the host's is ${want}: another device`,
      restart,
    );
  return f("ct.node", "pass", node.path, `${node.path} is there, character device ${got}`);
}

/** The groups that should own a node: render for renderD* and kfd, video for card* (udev's 50-udev-default.rules). */
export function ownerGroups(nodePath: string): string[] {
  return /\/(renderD\d+|kfd)$/.test(nodePath) ? ["render", "video"] : ["video"];
}

function accessFinding(
  input: CtCheckInput,
  ref: ContainerRef,
  node: DeviceNode,
  seen: NodeStat,
): CtFinding {
  const mode = seen.mode.toString(8).padStart(4, "0");
  if ((seen.mode & 0o006) === 0o006)
    return f(
      "ct.node-access",
      "pass",
      node.path,
      `${node.path} is open to everyone (mode ${mode})`,
    );
  const names = ownerGroups(node.path);
  const owner = names.find((n) => input.groups.get(n) === seen.gid);
  if (owner && (seen.mode & 0o060) === 0o060)
    return f(
      "ct.node-access",
      "pass",
      node.path,
      `${node.path} is group ${owner} (gid ${seen.gid}), mode ${mode}`,
    );
  const ownerName =
    [...input.groups].find(([, gid]) => gid === seen.gid)?.[0] ??
    (seen.gid === OVERFLOW_GID
      ? "nogroup: a host group the container's id map does not include"
      : "no group of the container");
  const wanted = names
    .map((n) => (input.groups.has(n) ? `${n} (gid ${input.groups.get(n)})` : null))
    .filter(Boolean);
  return f(
    "ct.node-access",
    "fail",
    node.path,
    `${node.path} inside ${ref.label} is gid ${seen.gid} (${ownerName}), mode ${mode}: its ${names.join("/")} group cannot open it`,
    !wanted.length
      ? `create the group inside (groupadd -r render), then \`passthrough ct configure ${ref.flag} --device ADDR\``
      : ref.lxc
        ? `map its group onto the node's host group with lxc.idmap (\`passthrough ct configure ${ref.flag} --device ADDR\` after removing the node's lines), then \`${ref.restart}\``
        : `give it as a devN entry with gid=${input.groups.get(names.find((n) => input.groups.has(n))!)} (\`passthrough ct configure ${ref.flag} --device ADDR\` after removing the old entry), then \`${ref.restart}\``,
    wanted.length ? [`the container's groups: ${wanted.join(", ")}`] : [],
  );
}

function nvidiaFinding(
  ref: ContainerRef,
  nv: { hostVersion: string | null; libraries: string[] },
): CtFinding {
  const inside = nvmlVersions(nv.libraries);
  if (nv.hostVersion === null)
    return f(
      "ct.nvidia-driver",
      "warn",
      null,
      "the host's nvidia module version is unknown (no /sys/module/nvidia/version): the container's driver cannot be compared",
      "check that the nvidia module is loaded on the host (lsmod | grep nvidia)",
    );
  if (inside.length === 0)
    return f(
      "ct.nvidia-driver",
      "fail",
      null,
      `${ref.label} has no NVIDIA user-space driver (no libnvidia-ml.so.VERSION in its library folders); the host runs ${nv.hostVersion}`,
      `install NVIDIA's ${nv.hostVersion} user-space driver inside: sh NVIDIA-Linux-x86_64-${nv.hostVersion}.run --no-kernel-module`,
    );
  if (inside.length === 1 && inside[0] === nv.hostVersion)
    return f(
      "ct.nvidia-driver",
      "pass",
      null,
      `user-space driver ${inside[0]} matches the host module ${nv.hostVersion}`,
    );
  return f(
    "ct.nvidia-driver",
    "fail",
    null,
    `${ref.label} has user-space driver ${inside.join(", ")}, the host module is ${nv.hostVersion}: nvidia-smi fails with "Driver/library version mismatch"`,
    `install NVIDIA's ${nv.hostVersion} user-space driver inside (sh NVIDIA-Linux-x86_64-${nv.hostVersion}.run --no-kernel-module) and remove the others`,
    nv.libraries.map((l) => l.trim()).filter(Boolean),
  );
}
