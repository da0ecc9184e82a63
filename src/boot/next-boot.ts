// Which kernel the next boot starts, from the files the boot loader itself reads, so `check`
// can warn before a reboot lands on a kernel without the modules the setup needs.
//
// - Proxmox VE: a pin of `proxmox-boot-tool kernel pin [--next-boot]` wins on every Proxmox
//   host, GRUB or not (pve-docs sysboot "Kernel Management"); on proxmox-boot-tool hosts the
//   newest kernel boots otherwise.
// - GRUB (grub.cfg from grub-mkconfig): next_entry from grubenv (grub-reboot, one boot only),
//   else the header's `set default=` (GRUB_DEFAULT; "saved" reads saved_entry, which
//   grub-set-default writes). A value is an index, a title or an id, or a "submenu>entry" path
//   of those; one that matches nothing falls back to the first entry (GRUB manual "default",
//   "GRUB_DEFAULT"). With `blscfg` (Fedora, RHEL) the entries are /boot/loader/entries/*.conf,
//   newest version first, their ids the file names (what `grubby --default-kernel` reports).
// - systemd-boot: LoaderEntryOneShot, then LoaderEntryDefault (bootctl set-oneshot /
//   set-default), then loader.conf's `default` glob ("@saved": LoaderEntryLastBooted), else the
//   first entry in its sort order: newest version first (loader.conf(5), Boot Loader
//   Specification "Sorting").

import { parseGrubCfg, type GrubMenuItem } from "../formats/grub-cfg.js";
import { parseGrubenv } from "../formats/grubenv.js";
import { parseLoaderKeys, releaseOfKernelPath } from "../formats/loader-entry.js";
import type { BootMenuFiles } from "../host/boot-menu.js";
import { quoteArgv } from "../process/quote.js";
import { GRUB_MKCONFIG } from "./loaders.js";
import { compareReleases } from "../host/kernels.js";
import type { HostState } from "../host/types.js";

/** The next boot's kernel and why; release null when it cannot be told (why says what is missing). */
export interface NextBoot {
  release: string | null;
  why: string;
  /** The boot loader mechanism, for the fix: "grub", "bls", "systemd-boot", "proxmox". */
  via: "grub" | "bls" | "systemd-boot" | "proxmox" | null;
}

const unknown = (why: string): NextBoot => ({ release: null, why, via: null });

export function nextBoot(state: HostState): NextBoot {
  const k = state.kernels;
  if (k.proxmox?.nextBoot)
    return { release: k.proxmox.nextBoot, why: "pinned for the next boot", via: "proxmox" };
  if (k.proxmox?.pinned) return { release: k.proxmox.pinned, why: "pinned", via: "proxmox" };
  const kind = state.bootloader.kind;
  if (kind.startsWith("proxmox-boot-tool/")) {
    const newest = [...k.installed].sort(compareReleases).pop();
    return newest
      ? { release: newest, why: "the newest installed", via: "proxmox" }
      : unknown("no kernel under /lib/modules");
  }
  if (kind === "grub") return grubNextBoot(k.bootMenu);
  if (kind === "systemd-boot") return systemdBootNextBoot(k.bootMenu);
  return unknown(
    kind === "kernelstub"
      ? "kernelstub boots the copy of the kernel the /vmlinuz link named at the last kernel update, which is not read here"
      : "the boot loader is unknown",
  );
}

// --- GRUB ---------------------------------------------------------------------------------

type MenuNode = GrubMenuItem;

function grubNextBoot(files: BootMenuFiles): NextBoot {
  const cfgFile = files.grubCfg;
  if (!cfgFile)
    return unknown("no grub.cfg was readable (boot/grub/grub.cfg, boot/grub2/grub.cfg)");
  const cfg = parseGrubCfg(cfgFile.text);
  const envFile = files.grubenv;
  const env = envFile ? parseGrubenv(envFile.text) : {};
  const via = cfg.blscfg ? "bls" : "grub";
  const menu: MenuNode[] = cfg.blscfg ? blsMenu(files) : cfg.menu;
  const pick = (spec: string, source: string) => describe(resolveMenuPath(menu, spec), source, via);
  if (cfg.nextEntry && env.next_entry)
    return pick(
      env.next_entry,
      `next_entry "${env.next_entry}" in ${envFile!.path} (grub-reboot, one boot)`,
    );
  const value = cfg.defaultValue ?? "0";
  if (/^\$\{?saved_entry\}?$/.test(value)) {
    if (!envFile) return unknown(`${cfgFile.path} boots saved_entry but no grubenv was readable`);
    const saved = env.saved_entry;
    return saved
      ? pick(saved, `saved_entry "${saved}" in ${envFile.path}`)
      : pick("0", `GRUB default saved_entry, unset in ${envFile.path}`);
  }
  if (value.includes("$"))
    return unknown(`${cfgFile.path} sets default="${value}", which GRUB expands only at boot`);
  return pick(value, `GRUB default "${value}" in ${cfgFile.path}`);
}

/** Fedora's blscfg: newest version first, then file name, ids the file names without .conf. */
function blsMenu(files: BootMenuFiles): MenuNode[] {
  return files.loaderEntries
    .filter((e) => e.path.startsWith("boot/loader/entries/"))
    .map((e) => {
      const keys = parseLoaderKeys(e.text);
      const id = baseName(e.path).replace(/\.conf$/, "");
      return {
        id,
        version: keys.version ?? "",
        title: keys.title ?? id,
        linux: keys.linux ?? null,
      };
    })
    .sort((a, b) => compareReleases(b.version, a.version) || compareReleases(b.id, a.id))
    .map((e) => ({ kind: "entry", title: e.title, id: e.id, linux: e.linux, children: [] }));
}

const baseName = (path: string) => path.slice(path.lastIndexOf("/") + 1);

export interface Resolved {
  item: MenuNode | null;
  /** False when the value named no entry and GRUB fell back to the first. */
  matched: boolean;
}

/** GRUB's choice for a default value: "2", "Title", "id", "1>2", "gnulinux-advanced-X>gnulinux-Y". */
export function resolveMenuPath(menu: MenuNode[], spec: string): Resolved {
  let level = menu;
  const parts = spec.split(">");
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!;
    const item = /^\d+$/.test(part)
      ? level[Number(part)]
      : (level.find((e) => e.id === part) ?? level.find((e) => e.title === part));
    // GRUB starts the first entry when the default names none (normal/menu.c).
    if (!item) return { item: menu[0] ?? null, matched: false };
    if (item.kind === "entry" || i === parts.length - 1) return { item, matched: true };
    level = item.children;
  }
  return { item: null, matched: false };
}

function describe(r: Resolved, source: string, via: NextBoot["via"]): NextBoot {
  const why = r.matched ? source : `${source} names no menu entry, so GRUB starts the first`;
  const item = r.item;
  if (!item) return unknown(`${why}, and the menu is empty`);
  if (item.kind === "submenu") return unknown(`${why}: the submenu "${item.title}", not an entry`);
  const release = item.linux ? releaseOfKernelPath(item.linux) : null;
  if (!release) return unknown(`${why}: "${item.title}", ${noRelease(item.linux)}`);
  return { release, why: `${why}: "${item.title}"`, via };
}

/** Why an entry names no release: no Linux kernel at all, or an unversioned file (Arch's /vmlinuz-linux). */
function noRelease(linux: string | null): string {
  return linux
    ? `which boots ${linux.split(/\s+/)[0]}, a file name without a kernel release`
    : "which starts no Linux kernel";
}

// --- systemd-boot -------------------------------------------------------------------------

interface LoaderEntry {
  id: string;
  title: string;
  sortKey: string | null;
  machineId: string;
  version: string;
  linux: string | null;
}

function loaderEntry(path: string, text: string): LoaderEntry {
  const keys = parseLoaderKeys(text);
  const id = baseName(path).toLowerCase();
  return {
    id,
    title: keys.title ?? id,
    sortKey: keys["sort-key"] ?? null,
    machineId: keys["machine-id"] ?? "",
    version: keys.version ?? "",
    linux: keys.linux ?? null,
  };
}

/** Boot Loader Specification "Sorting": sort-key entries first (then machine-id, newest version), the rest by id, newest first. */
function compareEntries(a: LoaderEntry, b: LoaderEntry): number {
  if (a.sortKey !== null && b.sortKey !== null)
    return (
      a.sortKey.localeCompare(b.sortKey) ||
      a.machineId.localeCompare(b.machineId) ||
      compareReleases(b.version, a.version) ||
      compareReleases(b.id, a.id)
    );
  if (a.sortKey !== null || b.sortKey !== null) return a.sortKey !== null ? -1 : 1;
  return compareReleases(b.id, a.id);
}

/** systemd-boot's efi_fnmatch on case-folded ids; also tried without ".conf". */
function globMatch(pattern: string, id: string): boolean {
  const re = pattern
    .toLowerCase()
    .replace(/[.+^${}()|\\]/g, "\\$&")
    .replace(/\*/g, ".*")
    .replace(/\?/g, ".");
  const r = new RegExp(`^${re}$`);
  return r.test(id) || r.test(id.replace(/\.conf$/, ""));
}

function systemdBootNextBoot(files: BootMenuFiles): NextBoot {
  const seen = new Set<string>();
  const entries = files.loaderEntries
    .map((e) => loaderEntry(e.path, e.text))
    .filter((e) => !seen.has(e.id) && seen.add(e.id))
    .sort(compareEntries);
  if (entries.length === 0)
    return unknown("no loader/entries/*.conf was readable under /boot, /boot/efi or /efi");
  const conf = files.loaderConf ? parseLoaderKeys(files.loaderConf.text) : {};
  const confDefault = conf.default ?? null;
  const efi = files.efi;
  const choices: [string | null, string][] = [
    [efi.oneShot, `LoaderEntryOneShot "${efi.oneShot}" (bootctl set-oneshot, one boot)`],
    [efi.default, `LoaderEntryDefault "${efi.default}" (bootctl set-default)`],
    confDefault === "@saved"
      ? [efi.lastBooted, `loader.conf default @saved: the last booted "${efi.lastBooted}"`]
      : [confDefault, `default "${confDefault}" in ${files.loaderConf?.path}`],
  ];
  for (const [pattern, why] of choices) {
    const hit = pattern ? entries.find((e) => globMatch(pattern, e.id)) : undefined;
    if (hit) return entryNextBoot(hit, why);
  }
  return entryNextBoot(entries[0]!, "the first entry in systemd-boot's order (newest first)");
}

function entryRelease(e: LoaderEntry): string | null {
  return (
    (e.linux ? releaseOfKernelPath(e.linux) : null) ?? (/^\d/.test(e.version) ? e.version : null)
  );
}

function entryNextBoot(e: LoaderEntry, why: string): NextBoot {
  const release = entryRelease(e);
  if (!release) return unknown(`${why}: "${e.title}", ${noRelease(e.linux)}`);
  return { release, why: `${why}: "${e.title}"`, via: "systemd-boot" };
}

// --- choosing another kernel --------------------------------------------------------------

/** The menu path (ids where GRUB has them) of the first non-recovery entry that boots `release`. */
export function grubPathTo(menu: MenuNode[], release: string): string | null {
  for (const recovery of [false, true])
    for (const [i, item] of menu.entries()) {
      const key = item.id ?? item.title ?? String(i);
      if (item.kind === "submenu") {
        const inner = grubPathTo(item.children, release);
        if (inner !== null) return `${key}>${inner}`;
      } else if (
        item.linux &&
        releaseOfKernelPath(item.linux) === release &&
        /recovery|rescue/i.test(item.title) === recovery
      )
        return key;
    }
  return null;
}

/**
 * The commands that make the boot loader start `release` from now on, or null where this
 * host's loader cannot be told (grub-set-default needs GRUB_DEFAULT=saved, GRUB manual
 * "Simple configuration"; grubby(8) --set-default; bootctl(1) set-default).
 */
export function keepBootingCommand(state: HostState, release: string): string | null {
  const files = state.kernels.bootMenu;
  if (state.bootloader.kind === "systemd-boot") {
    const e = files.loaderEntries
      .map((f) => loaderEntry(f.path, f.text))
      .find((x) => entryRelease(x) === release);
    return e ? `\`${quoteArgv(["bootctl", "set-default", e.id])}\`` : null;
  }
  if (state.bootloader.kind !== "grub" || !files.grubCfg) return null;
  const cfg = parseGrubCfg(files.grubCfg.text);
  if (cfg.blscfg)
    return `\`${quoteArgv(["grubby", "--set-default", `/boot/vmlinuz-${release}`])}\``;
  const path = grubPathTo(cfg.menu, release);
  if (path === null) return null;
  const grub2 = state.bootloader.grubFlavor === "grub2-mkconfig";
  const setDefault = `\`${quoteArgv([grub2 ? "grub2-set-default" : "grub-set-default", path])}\``;
  if (cfg.defaultValue !== null && /saved_entry/.test(cfg.defaultValue)) return setDefault;
  const flavor = state.bootloader.grubFlavor;
  const regenerate = quoteArgv(
    GRUB_MKCONFIG[flavor === null || flavor === "grubby" ? "update-grub" : flavor],
  );
  return `set GRUB_DEFAULT=saved in /etc/default/grub, run \`${regenerate}\`, then ${setDefault}`;
}
