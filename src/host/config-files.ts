// The configuration files passthrough reads and may change, captured as raw text into
// HostState.configFiles so the planner can be a pure function (a plan step's "before" is this
// text; apply re-checks the bytes before writing). Only files under etc/ (and boot loader
// entries) are candidates: passthrough never edits /usr or /lib.

import { LOADER_ENTRY_DIRS } from "./boot-menu.js";
import { MODULES_LOAD_DIRS } from "./modules.js";
import type { HostRoot } from "./root.js";

const SINGLE_FILES = [
  "etc/default/grub",
  "etc/kernel/cmdline",
  "etc/kernel/proxmox-boot-uuids",
  "etc/kernelstub/configuration",
  "etc/modules",
  "etc/initramfs-tools/modules",
  "etc/initramfs-tools/initramfs.conf",
  "etc/dracut.conf",
  "etc/mkinitcpio.conf",
  "etc/booster.yaml",
];

const FOLDERS = [
  "etc/default/grub.d",
  "etc/modprobe.d",
  "etc/dracut.conf.d",
  "etc/mkinitcpio.conf.d",
  "etc/udev/rules.d",
  "etc/initramfs-tools/scripts/init-top",
  // Boot Loader Specification entries (systemd-boot): their `options` line is the command line.
  ...LOADER_ENTRY_DIRS,
  // driverctl's persistent per-address overrides: one file per device ("pci-0000:01:00.0"),
  // holding the driver name.
  "etc/driverctl.d",
  ...MODULES_LOAD_DIRS.filter((d) => d.startsWith("etc/")),
];

/** Whether discovery carries this host-relative file (or a folder's files) in HostState.configFiles. */
export function isConfigFileRead(rel: string): boolean {
  return SINGLE_FILES.includes(rel) || FOLDERS.some((d) => rel === d || rel.startsWith(`${d}/`));
}

/** Only udev rules we might own, that bind drivers or set a reset method (vendor-reset's) are worth carrying. */
export function isPassthroughUdevRule(name: string): boolean {
  return /vfio|passthrough|driver_override|driverctl|reset/i.test(name);
}

function wanted(folder: string, name: string): boolean {
  if (folder === "etc/udev/rules.d") return isPassthroughUdevRule(name);
  return true;
}

export function readConfigFiles(root: HostRoot): Record<string, string> {
  const out: Record<string, string> = {};
  const add = (rel: string) => {
    const r = root.readText(rel);
    if (r.ok) out[rel] = r.value;
  };
  for (const f of SINGLE_FILES) add(f);
  for (const dir of FOLDERS) {
    for (const name of root.list(dir) ?? []) {
      if (!wanted(dir, name) || root.isDir(`${dir}/${name}`)) continue;
      add(`${dir}/${name}`);
    }
  }
  return out;
}
