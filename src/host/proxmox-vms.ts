// VM configs on a Proxmox node, so `check` and `vm` can tell which VM already has a device.
// The cluster filesystem keeps every node's VMs under etc/pve/nodes/NODE/qemu-server;
// etc/pve/qemu-server is a link to the local node's folder.

import { parseVmConfig } from "../formats/proxmox-vm-config.js";
import { storagePaths } from "../formats/pve-storage-cfg.js";
import type { HostRoot } from "./root.js";
import type { HookscriptRef, VmConfigRef } from "./types.js";

/** Where Proxmox's "local" storage keeps its files when storage.cfg does not say (pvesm(1)). */
const LOCAL_STORAGE_PATH = "/var/lib/vz";

/**
 * The snippet a `hookscript: STORAGE:snippets/NAME` names (PATH/snippets/NAME of the storage),
 * and whether it is there: qemu-server refuses to start a VM whose hookscript is missing.
 */
function hookscriptOf(root: HostRoot, volume: string, paths: Map<string, string>): HookscriptRef {
  const m = /^([a-z][a-z0-9_.-]*):snippets\/([^/]+)$/i.exec(volume);
  const base = m ? (paths.get(m[1]!) ?? (m[1] === "local" ? LOCAL_STORAGE_PATH : null)) : null;
  if (!m || base === null) return { volume, file: null, present: null };
  const dir = `${base.replace(/^\/+|\/+$/g, "")}/snippets`;
  const names = root.list(dir);
  // No snippets folder in a storage that is there: the file is missing too.
  const present =
    names !== null ? names.includes(m[2]!) : root.isDir(base.replace(/^\/+/, "")) ? false : null;
  return { volume, file: `${dir}/${m[2]}`, present };
}

export function readProxmoxVms(root: HostRoot): VmConfigRef[] {
  const out: VmConfigRef[] = [];
  let paths: Map<string, string> | null = null;
  const seen = new Set<number>();
  const addFolder = (dir: string, node: string | null) => {
    for (const f of root.list(dir) ?? []) {
      const m = /^(\d+)\.conf$/.exec(f);
      if (!m) continue;
      const vmid = Number(m[1]);
      if (seen.has(vmid)) continue;
      const r = root.readText(`${dir}/${f}`);
      if (!r.ok) continue;
      seen.add(vmid);
      const config = parseVmConfig(r.value).main;
      const ref: VmConfigRef = { vmid, node, file: `${dir}/${f}`, config };
      if (config["hookscript"]) {
        const cfg = root.readText("etc/pve/storage.cfg");
        paths ??= storagePaths(cfg.ok ? cfg.value : "");
        ref.hookscript = hookscriptOf(root, config["hookscript"], paths);
      }
      out.push(ref);
    }
  };
  for (const node of root.list("etc/pve/nodes") ?? [])
    addFolder(`etc/pve/nodes/${node}/qemu-server`, node);
  addFolder("etc/pve/qemu-server", null);
  return out.sort((a, b) => a.vmid - b.vmid);
}
