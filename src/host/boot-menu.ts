// The files that decide which menu entry, and so which kernel, the next boot starts: the
// generated grub.cfg and GRUB's environment block (saved_entry, next_entry), the Boot Loader
// Specification entries and systemd-boot's loader.conf, and the EFI variables of the Boot
// Loader Interface that override it (LoaderEntryOneShot, LoaderEntryDefault,
// LoaderEntryLastBooted; systemd.io/BOOT_LOADER_INTERFACE). Read as text here; which entry
// wins is worked out in src/boot/next-boot.ts.

import type { HostRoot } from "./root.js";

/** Where Boot Loader Specification entries live: $BOOT mounted at /boot, /boot/efi or /efi. */
export const LOADER_ENTRY_DIRS = [
  "boot/loader/entries",
  "boot/efi/loader/entries",
  "efi/loader/entries",
];

/** The Boot Loader Interface's vendor GUID (systemd.io/BOOT_LOADER_INTERFACE). */
const LOADER_GUID = "4a67b082-0a4c-41cf-b6c7-440b29bb8c4f";

/** A string variable of the Boot Loader Interface , or null. */
export function readLoaderVariable(root: HostRoot, name: string): string | null {
  const r = root.readBytes(`sys/firmware/efi/efivars/${name}-${LOADER_GUID}`);
  if (!r.ok || r.value.length <= 4) return null;
  // efivarfs: 4 bytes of attributes, then the UTF-16LE value.
  return r.value.subarray(4).toString("utf16le").replace(/\0+$/, "").trim() || null;
}

export interface TextFile {
  path: string;
  text: string;
}

export interface BootMenuFiles {
  /** boot/grub/grub.cfg (Debian, Ubuntu, Arch) or boot/grub2/grub.cfg (Fedora, RHEL, openSUSE). */
  grubCfg: TextFile | null;
  grubenv: TextFile | null;
  /** loader/loader.conf next to the entries ($BOOT at /boot, /boot/efi or /efi). */
  loaderConf: TextFile | null;
  /** Every loader/entries/*.conf. */
  loaderEntries: TextFile[];
  /** Boot Loader Interface variables, null where unset or not captured. */
  efi: { oneShot: string | null; default: string | null; lastBooted: string | null };
}

export const GRUB_CFG_FILES = ["boot/grub/grub.cfg", "boot/grub2/grub.cfg"];
export const GRUBENV_FILES = ["boot/grub/grubenv", "boot/grub2/grubenv"];
export const LOADER_CONF_FILES = LOADER_ENTRY_DIRS.map((d) => d.replace(/entries$/, "loader.conf"));
export const LOADER_ENTRY_VARIABLES = [
  "LoaderEntryOneShot",
  "LoaderEntryDefault",
  "LoaderEntryLastBooted",
];

function firstText(root: HostRoot, paths: string[]): TextFile | null {
  for (const path of paths) {
    const r = root.readText(path);
    if (r.ok) return { path, text: r.value };
  }
  return null;
}

export function readBootMenu(root: HostRoot): BootMenuFiles {
  const loaderEntries: TextFile[] = [];
  for (const dir of LOADER_ENTRY_DIRS)
    for (const name of (root.list(dir) ?? []).filter((n) => n.endsWith(".conf")).sort()) {
      const r = root.readText(`${dir}/${name}`);
      if (r.ok) loaderEntries.push({ path: `${dir}/${name}`, text: r.value });
    }
  return {
    grubCfg: firstText(root, GRUB_CFG_FILES),
    grubenv: firstText(root, GRUBENV_FILES),
    loaderConf: firstText(root, LOADER_CONF_FILES),
    loaderEntries,
    efi: {
      oneShot: readLoaderVariable(root, "LoaderEntryOneShot"),
      default: readLoaderVariable(root, "LoaderEntryDefault"),
      lastBooted: readLoaderVariable(root, "LoaderEntryLastBooted"),
    },
  };
}
