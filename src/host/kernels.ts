// The kernels installed next to the running one, and which out-of-tree modules each has, so
// `check` can warn before a kernel update boots without vendor-reset or a DKMS-built driver.
//
// - Installed kernels: the folders under /lib/modules (a kernel package installs its modules
//   there, named by its release, `uname -r`).
// - Out-of-tree module files: DKMS installs into /lib/modules/RELEASE/updates/dkms (Debian,
//   Ubuntu, Proxmox) or .../extra (its DEST_MODULE_LOCATION default elsewhere); hand-built
//   modules use extra or updates too (dkms(8); the kernel's Documentation/kbuild/modules.rst
//   "INSTALL_MOD_DIR").
// - DKMS builds: /var/lib/dkms/MODULE/VERSION/RELEASE/ARCH/ (dkms(8) "dkms status").
// - Proxmox: `proxmox-boot-tool kernel list` (a pinned kernel, a next-boot pin).
// - The boot menu files that choose the next boot's kernel (boot-menu.ts).

import { parseProxmoxKernelList, type ProxmoxKernelList } from "../formats/proxmox-kernel-list.js";
import { readBootMenu, type BootMenuFiles } from "./boot-menu.js";
import type { HostRoot } from "./root.js";

export interface DkmsBuild {
  module: string;
  version: string;
  kernel: string;
  arch: string;
}

export interface KernelsState {
  /** Releases with a folder under lib/modules, oldest first (version order). */
  installed: string[];
  /** Release -> module names (normalised, "vendor_reset") with a file under updates/ or extra/. */
  outOfTree: Record<string, string[]>;
  /** What DKMS built (var/lib/dkms). */
  dkms: DkmsBuild[];
  /** `proxmox-boot-tool kernel list`, where it ran or a snapshot carries it. */
  proxmox: ProxmoxKernelList | null;
  /** What the boot loader reads to choose the next boot's entry (src/boot/next-boot.ts). */
  bootMenu: BootMenuFiles;
}

const OUT_OF_TREE_DIRS = ["updates/dkms", "updates", "extra"];
const MODULE_FILE = /^(.+)\.ko(\.(xz|zst|gz))?$/;

/** Kernel releases in version order: 6.8.12-9-pve before 6.8.12-10-pve. */
export function compareReleases(a: string, b: string): number {
  const pa = a.split(/[.-]/);
  const pb = b.split(/[.-]/);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i] ?? "";
    const y = pb[i] ?? "";
    if (x === y) continue;
    const nx = /^\d+$/.test(x);
    const ny = /^\d+$/.test(y);
    if (nx && ny) return Number(x) - Number(y);
    if (nx !== ny) return nx ? 1 : -1;
    return x < y ? -1 : 1;
  }
  return 0;
}

function moduleFiles(root: HostRoot, dir: string): string[] {
  const out: string[] = [];
  for (const name of root.list(dir) ?? []) {
    const m = MODULE_FILE.exec(name);
    if (m) out.push(m[1]!.replace(/-/g, "_"));
    else if (dir.endsWith("extra") && root.isDir(`${dir}/${name}`))
      out.push(...moduleFiles(root, `${dir}/${name}`));
  }
  return out;
}

function readDkms(root: HostRoot): DkmsBuild[] {
  const out: DkmsBuild[] = [];
  for (const module of root.list("var/lib/dkms") ?? []) {
    const mdir = `var/lib/dkms/${module}`;
    for (const version of root.list(mdir) ?? []) {
      // Beside the version folders DKMS keeps "source" and kernel-RELEASE-ARCH links.
      if (version === "source" || version.startsWith("kernel-")) continue;
      for (const kernel of root.list(`${mdir}/${version}`) ?? []) {
        if (kernel === "source" || kernel === "build") continue;
        for (const arch of root.list(`${mdir}/${version}/${kernel}`) ?? [])
          if (root.isDir(`${mdir}/${version}/${kernel}/${arch}`))
            out.push({ module: module.replace(/-/g, "_"), version, kernel, arch });
      }
    }
  }
  return out;
}

export function readKernels(root: HostRoot): KernelsState {
  const installed = (root.list("lib/modules") ?? [])
    .filter((k) => /^\d/.test(k) && root.isDir(`lib/modules/${k}`))
    .sort(compareReleases);
  const outOfTree: Record<string, string[]> = {};
  for (const k of installed) {
    const mods = OUT_OF_TREE_DIRS.flatMap((d) => moduleFiles(root, `lib/modules/${k}/${d}`));
    outOfTree[k] = [...new Set(mods)].sort();
  }
  const list = root.command("proxmox-boot-tool-kernel-list");
  return {
    installed,
    outOfTree,
    dkms: readDkms(root),
    proxmox: list.ok ? parseProxmoxKernelList(list.value) : null,
    bootMenu: readBootMenu(root),
  };
}
