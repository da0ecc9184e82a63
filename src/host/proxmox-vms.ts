// VM configs on a Proxmox node, so `check` and `vm` can tell which VM already has a device.
// The cluster filesystem keeps every node's VMs under etc/pve/nodes/NODE/qemu-server;
// etc/pve/qemu-server is a link to the local node's folder.

import { parseVmConfig } from "../formats/proxmox-vm-config.js";
import type { HostRoot } from "./root.js";
import type { VmConfigRef } from "./types.js";

export function readProxmoxVms(root: HostRoot): VmConfigRef[] {
  const out: VmConfigRef[] = [];
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
      out.push({ vmid, node, file: `${dir}/${f}`, config: parseVmConfig(r.value).main });
    }
  };
  for (const node of root.list("etc/pve/nodes") ?? [])
    addFolder(`etc/pve/nodes/${node}/qemu-server`, node);
  addFolder("etc/pve/qemu-server", null);
  return out.sort((a, b) => a.vmid - b.vmid);
}
