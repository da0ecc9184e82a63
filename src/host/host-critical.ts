// The PCI controllers the host lives on: the one(s) holding the root filesystem and the
// NIC(s) carrying the default route. Binding either to vfio-pci cuts the host off, so plans
// refuse it. Resolution follows the kernel's own links:
//   proc/mounts "/" -> /dev/mapper/pve-root -> sys/block/dm-N (dm/name) -> slaves/ -> nvme0n1p3
//   -> sys/class/block/nvme0n1p3 -> .../0000:02:00.0/nvme/nvme0/nvme0n1/nvme0n1p3
//   proc/net/route default -> vmbr0 -> brif/ (bridge ports), lower_*, bonding/slaves -> enp8s0
//   -> sys/class/net/enp8s0 -> .../0000:08:00.0/net/enp8s0

import { PCI_ADDRESS } from "./pci/read-pci.js";
import { readAttr, type HostRoot } from "./root.js";
import type { HostCriticalDevice, Unknown } from "./types.js";

/** Decode the octal escapes proc/mounts uses for spaces and the like ("\040"). */
function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8)));
}

export interface MountEntry {
  device: string;
  mountpoint: string;
  fstype: string;
}

export function parseMounts(text: string): MountEntry[] {
  return text
    .split("\n")
    .map((l) => l.trim().split(/\s+/))
    .filter((p) => p.length >= 3)
    .map((p) => ({
      device: unescapeMount(p[0]!),
      mountpoint: unescapeMount(p[1]!),
      fstype: p[2]!,
    }));
}

function pciOfPath(sysPath: string | null): string | null {
  if (!sysPath) return null;
  const parts = sysPath.split("/").filter((c) => PCI_ADDRESS.test(c));
  return parts.length ? parts[parts.length - 1]! : null;
}

/** Block device name (e.g. "nvme0n1p3", "dm-0") -> the PCI controllers below it. */
function controllersOfBlock(root: HostRoot, name: string, depth = 0): string[] {
  if (depth > 8) return [];
  const dir = root.resolve(`sys/class/block/${name}`);
  if (dir === null) return [];
  const slaves = root.list(`${dir}/slaves`);
  if (slaves && slaves.length > 0)
    return [...new Set(slaves.flatMap((s) => controllersOfBlock(root, s, depth + 1)))];
  const pci = pciOfPath(dir);
  return pci ? [pci] : [];
}

function blockNameOfDevice(root: HostRoot, device: string): string | null {
  const m = /^\/dev\/mapper\/(.+)$/.exec(device);
  if (m) {
    for (const b of root.list("sys/block") ?? []) {
      if (!b.startsWith("dm-")) continue;
      if (readAttr(root, `sys/block/${b}/dm/name`) === m[1]) return b;
    }
    return null;
  }
  const dev = /^\/dev\/(.+)$/.exec(device);
  if (!dev) return null;
  const name = dev[1]!;
  if (root.exists(`sys/class/block/${name}`)) return name;
  // /dev/disk/by-*/... links (live host, or captured in dev/).
  const target = root.resolve(device.slice(1));
  if (target && root.exists(`sys/class/block/${target.split("/").pop()}`))
    return target.split("/").pop()!;
  return null;
}

export function readHostCritical(root: HostRoot, unknowns: Unknown[]): HostCriticalDevice[] {
  const out: HostCriticalDevice[] = [];
  const add = (role: HostCriticalDevice["role"], via: string, controller: string) => {
    if (!out.some((o) => o.role === role && o.controller === controller))
      out.push({ role, via, controller });
  };

  // Root filesystem.
  const mounts = root.readText("proc/mounts");
  if (!mounts.ok) unknowns.push({ field: "hostCritical.rootFilesystem", reason: mounts.reason });
  else {
    const rootMount = parseMounts(mounts.value)
      .filter((m) => m.mountpoint === "/")
      .pop();
    if (!rootMount)
      unknowns.push({
        field: "hostCritical.rootFilesystem",
        reason: "proc/mounts has no entry for /",
      });
    else if (rootMount.fstype === "zfs") {
      const pool = rootMount.device.split("/")[0]!;
      const disks = zfsPoolDisks(root, pool);
      if (disks === null)
        unknowns.push({
          field: "hostCritical.rootFilesystem",
          reason: `root is on ZFS pool ${pool}; its disks are unknown without \`zpool status -P\``,
        });
      for (const d of disks ?? [])
        for (const c of controllersOfBlock(root, d))
          add("root-filesystem", `${rootMount.device} (zfs) on ${d}`, c);
    } else {
      const block = blockNameOfDevice(root, rootMount.device);
      const ctrls = block ? controllersOfBlock(root, block) : [];
      if (ctrls.length === 0)
        unknowns.push({
          field: "hostCritical.rootFilesystem",
          reason: `could not map ${rootMount.device} (${rootMount.fstype}) to a PCI controller`,
        });
      for (const c of ctrls) add("root-filesystem", rootMount.device, c);
    }
  }

  // Default route.
  const route = root.readText("proc/net/route");
  if (!route.ok) unknowns.push({ field: "hostCritical.defaultRoute", reason: route.reason });
  else {
    const ifaces = new Set<string>();
    for (const line of route.value.split("\n").slice(1)) {
      const p = line.trim().split(/\s+/);
      if (p.length >= 8 && p[1] === "00000000" && p[7] === "00000000") ifaces.add(p[0]!);
    }
    for (const iface of ifaces) {
      const leaves = netLeaves(root, iface, 0);
      for (const leaf of leaves)
        add("default-route", leaf.iface === iface ? iface : `${iface} -> ${leaf.iface}`, leaf.pci);
      if (leaves.length === 0)
        unknowns.push({
          field: "hostCritical.defaultRoute",
          reason: `could not map interface ${iface} to a PCI NIC`,
        });
    }
  }
  return out;
}

/** Follow bridges, bonds and VLANs down to the physical NICs. */
function netLeaves(
  root: HostRoot,
  iface: string,
  depth: number,
): Array<{ iface: string; pci: string }> {
  if (depth > 6) return [];
  const dir = root.resolve(`sys/class/net/${iface}`);
  if (dir === null) return [];
  const pci = pciOfPath(dir);
  if (pci) return [{ iface, pci }];
  const lowers = new Set<string>();
  for (const e of root.list(`${dir}/brif`) ?? []) lowers.add(e);
  for (const e of root.list(dir) ?? []) if (e.startsWith("lower_")) lowers.add(e.slice(6));
  const slaves = readAttr(root, `${dir}/bonding/slaves`);
  for (const s of slaves?.split(/\s+/).filter(Boolean) ?? []) lowers.add(s);
  return [...lowers].flatMap((l) => netLeaves(root, l, depth + 1));
}

/** Leaf devices of a ZFS pool from saved `zpool status -P` output. */
function zfsPoolDisks(root: HostRoot, pool: string): string[] | null {
  const st = root.command("zpool-status");
  if (!st.ok) return null;
  const out: string[] = [];
  let inPool = false;
  for (const line of st.value.split("\n")) {
    const pm = /^\s*pool:\s*(\S+)/.exec(line);
    if (pm) inPool = pm[1] === pool;
    if (!inPool) continue;
    const dm = /^\s+(\/dev\/\S+)\s+ONLINE|^\s+(\/dev\/\S+)\s+\w+/.exec(line);
    const dev = dm?.[1] ?? dm?.[2];
    if (!dev) continue;
    const name = blockNameOfDevice(root, dev);
    if (name) out.push(name);
  }
  return out;
}
