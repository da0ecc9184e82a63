// What `ct plan` reads about a container, at the edge: its config from the cluster filesystem
// (etc/pve/lxc is a link to the local node's folder, as for qemu-server) and its /etc/group,
// from the root file system `pct mount CTID` mounts at /var/lib/lxc/CTID/rootfs, or, on a live
// host whose container is running, through `pct exec CTID -- cat /etc/group`.

import { InputError } from "../../errors.js";
import { parseGroupFile } from "../../formats/etc-group.js";
import {
  ctConfigDigest,
  parseCtConfig,
  type CtConfigFile,
} from "../../formats/proxmox-ct-config.js";
import { commandSucceeded, firstErrorLine, type CommandRunner } from "../../process/run.js";
import type { HostRoot } from "../../host/root.js";
import type { GroupSource } from "./device-plan.js";

export interface ContainerConfigRead {
  /** Root-relative: "etc/pve/lxc/101.conf". */
  file: string;
  /** The file as read (through the API: as printed from the answer). */
  text: string;
  /** The digest `pct set --digest` compares: SHA-1 of the file (through the API: its answer's). */
  digest: string;
  config: CtConfigFile;
}

export function readContainerConfig(root: HostRoot, ctid: number): ContainerConfigRead {
  const file = `etc/pve/lxc/${ctid}.conf`;
  const r = root.readText(file);
  if (!r.ok)
    throw new InputError(
      `container ${ctid}: no /${file} on ${root.label} (${r.reason}); \`pct list\` shows the containers`,
    );
  return { file, text: r.value, digest: ctConfigDigest(r.value), config: parseCtConfig(r.value) };
}

export function readContainerGroups(
  root: HostRoot,
  ctid: number,
  runner: CommandRunner | null,
): GroupSource {
  const rel = `var/lib/lxc/${ctid}/rootfs/etc/group`;
  const mounted = root.readText(rel);
  if (mounted.ok) return { ok: true, groups: parseGroupFile(mounted.value), source: `/${rel}` };
  if (root.kind !== "live" || runner === null || !root.hasTool("pct"))
    return {
      ok: false,
      reason: `its root file system is not mounted at /var/lib/lxc/${ctid}/rootfs`,
    };
  const r = runner.run(["pct", "exec", String(ctid), "--", "cat", "/etc/group"]);
  if (!commandSucceeded(r))
    return {
      ok: false,
      reason: `not mounted, and pct exec failed: ${firstErrorLine(r)}`,
    };
  return { ok: true, groups: parseGroupFile(r.stdout), source: "/etc/group inside it (pct exec)" };
}
