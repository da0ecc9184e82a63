// Every boot loader passthrough knows, in one table: where the kernel command line lives, what
// makes a changed line the next boot's, how rollback undoes a plan's command for it, what
// `check` calls it, and which programs discovery looks for. check's fixes, plan's commands,
// verify's advice and rollback all read it, so they name the same command for the same host.
//
// A new BootloaderKind does not compile until it has an entry here; the other places it needs
// (detection in src/host/boot.ts, a plan module in src/plan/bootloaders/, a fixture) are listed
// in ARCHITECTURE.md, "Where does my change go", and test/unit/boot-tables.test.ts checks them.
//
// Why no update-initramfs here: the initramfs never carries the command line, so rebuilding it
// applies nothing; the only proof of a parameter is /proc/cmdline after the reboot.

import * as path from "node:path";
import { LOADER_ENTRY_DIRS } from "../host/boot-menu.js";
import type { BootloaderInfo, BootloaderKind, GrubFlavor } from "../host/types.js";

/** A command line to run: the program, then its arguments. */
export type Argv = readonly [string, ...string[]];

/** What makes the configured command line the one the next boot gets. */
export type Refresh =
  /** A program regenerates what the boot loader reads. */
  | { argv: Argv }
  /** Nothing to run: a person (or the plan) edits what the boot loader reads, said in words. */
  | { manual: string };

/** A program that changes the command line itself, leaving no file for us to edit or restore. */
export interface CmdlineEditor {
  add(params: readonly string[]): Argv;
  remove(params: readonly string[]): Argv;
}

/** How `rollback` undoes a command a plan ran: run it again once the files are back, or its inverse. */
export type Undo = { rerun: true } | { inverse: string[] };

export interface BootloaderEntry {
  /** What `check` calls it. */
  label: string;
  /** Files and folders (ending in "/") its command line may live in, host-relative. */
  files: readonly string[];
  /** Where a parameter is added, in words: "GRUB_CMDLINE_LINUX_DEFAULT in /etc/default/grub". */
  location(b: BootloaderInfo): string;
  /** Set when a program edits the command line itself: parameters are added by running it. */
  editor(b: BootloaderInfo): CmdlineEditor | null;
  /** What makes the configured line the next boot's; `pending`: the parameters concerned (grubby takes them). */
  refresh(b: BootloaderInfo, pending: readonly string[]): Refresh;
  /** Files the refresh writes that `verify` reads back, to tell "not refreshed" from "not rebooted". */
  generated(b: BootloaderInfo): readonly string[];
  /** How rollback undoes one of its commands; null when the argv is none of its commands. */
  undo(argv: readonly string[]): Undo | null;
  /** Programs discovery looks for to recognise it: snapshots record them (capture's TRACKED_TOOLS). */
  tools: readonly string[];
}

const RERUN = { rerun: true } as const;

/** The program's name, without its folder. */
export function programOf(argv: readonly string[]): string {
  return path.posix.basename(argv[0] ?? "");
}

/** The value of `--name=V`, `--name V` or `-n V` in argv, with its index. */
function optionValue(argv: readonly string[], names: readonly string[]): string | null {
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i]!;
    for (const n of names) {
      if (a.startsWith(`${n}=`) && n.startsWith("--")) return a.slice(n.length + 1);
      if (a === n && argv[i + 1] !== undefined) return argv[i + 1]!;
    }
  }
  return null;
}

const abs = (rel: string) => `/${rel}`;

/**
 * grubby(8) sets or removes arguments in every BootLoaderSpec entry; with --update-kernel=ALL it
 * also keeps GRUB_CMDLINE_LINUX in /etc/default/grub for kernels installed later.
 */
export const GRUBBY = {
  add: (params) => ["grubby", "--update-kernel=ALL", `--args=${params.join(" ")}`],
  remove: (params) => ["grubby", "--update-kernel=ALL", `--remove-args=${params.join(" ")}`],
} satisfies CmdlineEditor;

/**
 * kernelstub (Pop!_OS) keeps the options in /etc/kernelstub/configuration and rewrites the
 * systemd-boot entry it owns: -a/--add-options, -d/--delete-options; alone it rewrites the
 * entry from its configuration.
 */
export const KERNELSTUB = {
  add: (params) => ["kernelstub", "--add-options", params.join(" ")],
  remove: (params) => ["kernelstub", "--delete-options", params.join(" ")],
} satisfies CmdlineEditor;

/** grub-mkconfig writes grub.cfg from /etc/default/grub (+ grub.d on Debian), per distribution. */
export const GRUB_MKCONFIG: Record<Exclude<GrubFlavor, "grubby">, Argv> = {
  "update-grub": ["update-grub"], // Debian, Ubuntu, Proxmox: grub-mkconfig -o /boot/grub/grub.cfg
  "grub-mkconfig": ["grub-mkconfig", "-o", "/boot/grub/grub.cfg"], // Arch
  "grub2-mkconfig": ["grub2-mkconfig", "-o", "/boot/grub2/grub.cfg"], // openSUSE
};
const GRUB_REGENERATORS = ["update-grub", "update-grub2", "grub-mkconfig", "grub2-mkconfig"];

/** proxmox-boot-tool(8): `refresh` copies kernels, initrds and the command line to every ESP it manages. */
const PROXMOX_BOOT_TOOL_REFRESH = ["proxmox-boot-tool", "refresh"] as const;

function grubLocation(b: BootloaderInfo): string {
  if (b.grubFlavor === "grubby")
    return "GRUB_CMDLINE_LINUX in /etc/default/grub and every boot entry";
  return `GRUB_CMDLINE_LINUX_DEFAULT in ${abs(b.cmdlineFiles[0] ?? "etc/default/grub")}`;
}

function grubbyUndo(argv: readonly string[]): Undo | null {
  const kernel = argv.find((a) => a.startsWith("--update-kernel=")) ?? "--update-kernel=ALL";
  const added = optionValue(argv, ["--args"]);
  if (added !== null) return { inverse: [argv[0]!, kernel, `--remove-args=${added}`] };
  const removed = optionValue(argv, ["--remove-args"]);
  if (removed !== null) return { inverse: [argv[0]!, kernel, `--args=${removed}`] };
  return null;
}

function kernelstubUndo(argv: readonly string[]): Undo | null {
  if (argv.length === 1) return RERUN;
  const added = optionValue(argv, ["-a", "--add-options"]);
  if (added !== null) return { inverse: [argv[0]!, "--delete-options", added] };
  const removed = optionValue(argv, ["-d", "--delete-options"]);
  if (removed !== null) return { inverse: [argv[0]!, "--add-options", removed] };
  return null;
}

const proxmoxBootToolUndo = (argv: readonly string[]): Undo | null =>
  programOf(argv) === "proxmox-boot-tool" && argv[1] === "refresh" ? RERUN : null;

const SYSTEMD_BOOT_ENTRIES =
  "edit the options line of every boot entry the same way (`bootctl list` shows them)";

export const BOOTLOADERS = {
  grub: {
    label: "GRUB",
    files: ["etc/default/grub", "etc/default/grub.d/"],
    location: grubLocation,
    editor: (b) => (b.grubFlavor === "grubby" ? GRUBBY : null),
    refresh: (b, pending) => ({
      argv:
        b.grubFlavor === "grubby"
          ? GRUBBY.add(pending.length ? pending : ["PARAM"])
          : GRUB_MKCONFIG[b.grubFlavor ?? "update-grub"],
    }),
    // grubby edits the entries themselves; grub.cfg is what the others write.
    generated: (b) =>
      b.grubFlavor === "grubby" ? [] : ["boot/grub/grub.cfg", "boot/grub2/grub.cfg"],
    undo: (argv) => {
      if (GRUB_REGENERATORS.includes(programOf(argv))) return RERUN;
      return programOf(argv) === "grubby" ? grubbyUndo(argv) : null;
    },
    tools: ["update-grub", "grub-mkconfig", "grub2-mkconfig", "grubby"],
  },
  // Proxmox hosts whose ESPs proxmox-boot-tool keeps (legacy BIOS or Secure Boot): GRUB from
  // /etc/default/grub, written to each ESP by the refresh.
  "proxmox-boot-tool/grub": {
    label: "GRUB, kept on the ESPs by proxmox-boot-tool",
    files: ["etc/default/grub", "etc/default/grub.d/"],
    location: grubLocation,
    editor: () => null,
    refresh: () => ({ argv: PROXMOX_BOOT_TOOL_REFRESH }),
    generated: () => [], // grub.cfg on ESPs that are not mounted
    undo: proxmoxBootToolUndo,
    tools: ["proxmox-boot-tool"],
  },
  // ZFS on UEFI: systemd-boot entries on each ESP get the first line of /etc/kernel/cmdline.
  "proxmox-boot-tool/systemd-boot": {
    label: "systemd-boot, kept on the ESPs by proxmox-boot-tool",
    files: ["etc/kernel/cmdline"],
    location: () => "the single line of /etc/kernel/cmdline",
    editor: () => null,
    refresh: () => ({ argv: PROXMOX_BOOT_TOOL_REFRESH }),
    generated: () => [],
    undo: proxmoxBootToolUndo,
    tools: ["proxmox-boot-tool"],
  },
  // systemd-boot reads each Boot Loader Specification entry's `options` line at every boot;
  // kernel-install(8) writes new kernels' entries from /etc/kernel/cmdline (else from
  // /proc/cmdline). No command rewrites existing entries (bootctl(1) has none, and
  // `kernel-install add` redoes one kernel's only), so the entries are edited as they are.
  "systemd-boot": {
    label: "systemd-boot",
    files: ["etc/kernel/cmdline", ...LOADER_ENTRY_DIRS.map((d) => `${d}/`)],
    location: (b) =>
      b.cmdlineFiles[0] === "etc/kernel/cmdline" || b.cmdlineFiles.length === 0
        ? "the single line of /etc/kernel/cmdline"
        : `the options line of ${abs(b.cmdlineFiles[0]!)}`,
    editor: () => null,
    refresh: () => ({ manual: SYSTEMD_BOOT_ENTRIES }),
    generated: () => [],
    // kernel-install add rebuilds an entry from /etc/kernel/cmdline.
    undo: (argv) => (programOf(argv) === "kernel-install" ? RERUN : null),
    tools: ["bootctl"],
  },
  kernelstub: {
    label: "systemd-boot through kernelstub",
    files: ["etc/kernelstub/configuration"],
    location: () => "kernelstub's kernel options (/etc/kernelstub/configuration)",
    editor: () => KERNELSTUB,
    refresh: () => ({ argv: ["kernelstub"] as const }),
    generated: () => [],
    undo: (argv) => (programOf(argv) === "kernelstub" ? kernelstubUndo(argv) : null),
    tools: ["kernelstub"],
  },
  unknown: {
    label: "boot loader not recognised",
    files: [],
    location: () => "your boot loader's kernel command line",
    editor: () => null,
    refresh: () => ({ manual: "regenerate your boot loader's configuration" }),
    generated: () => [],
    undo: () => null,
    tools: [],
  },
} satisfies Record<BootloaderKind, BootloaderEntry>;

/** The entry of the boot loader this host boots with. */
export function bootloaderOf(b: Pick<BootloaderInfo, "kind">): BootloaderEntry {
  return BOOTLOADERS[b.kind];
}
