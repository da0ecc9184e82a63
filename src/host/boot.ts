// Which boot loader starts this host, where its kernel command line is configured, and
// which initramfs generator it uses. Getting this wrong is the most common bug of existing
// tools (docs/research/anchors.md §0.2): a Proxmox host on ZFS + UEFI boots systemd-boot from
// /etc/kernel/cmdline and ignores /etc/default/grub entirely.
//
// Evidence, strongest first: the LoaderInfo EFI variable (set by systemd-boot itself), the
// saved `proxmox-boot-tool status`, the firmware's current boot entry (`efibootmgr -v`),
// then configuration files and installed tools.

import { parseCmdline } from "../formats/kernel-cmdline.js";
import { parseInitramfsModules } from "../formats/initramfs-conf.js";
import {
  evaluateShellFiles,
  parseShellFile,
  type ParsedShellFile,
} from "../formats/shell-assignments.js";
import { LOADER_ENTRY_DIRS, readLoaderVariable } from "./boot-menu.js";
import type { HostRoot } from "./root.js";
import type {
  CmdlineParam,
  BootloaderInfo,
  BootloaderKind,
  ConfiguredCmdline,
  GrubFlavor,
  InitramfsKind,
  ModuleLoadEntry,
  SystemInfo,
  Unknown,
} from "./types.js";

export const SECURE_BOOT_VAR =
  "sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c";

/** The string systemd-boot stored in LoaderInfo ("systemd-boot 252.22"), or null. */
export function readLoaderInfo(root: HostRoot): string | null {
  return readLoaderVariable(root, "LoaderInfo");
}

export function secureBootEnabled(root: HostRoot): boolean | null {
  const r = root.readBytes(SECURE_BOOT_VAR);
  if (!r.ok || r.value.length < 5) return null;
  return r.value[4] === 1;
}

/** The path of the firmware's current boot entry, from `efibootmgr -v` output. */
export function currentEfiLoaderPath(efibootmgr: string): string | null {
  const cur = /^BootCurrent:\s*([0-9A-Fa-f]{4})/m.exec(efibootmgr);
  if (!cur) return null;
  const line = new RegExp(`^Boot${cur[1]}\\*?\\s+.*$`, "mi").exec(efibootmgr);
  if (!line) return null;
  const file = /File\(([^)]+)\)/i.exec(line[0]) ?? /(\\EFI\\[^\s)]+)/i.exec(line[0]);
  return file ? file[1]! : line[0];
}

function loaderFromPath(p: string): "systemd-boot" | "grub" | null {
  if (/systemd-boot|systemd\\|systemd\//i.test(p)) return "systemd-boot";
  if (/grub|shim/i.test(p)) return "grub";
  return null;
}

export function detectBootloader(root: HostRoot, system: SystemInfo): BootloaderInfo {
  const evidence: string[] = [];
  const uefi = system.bootMode === "uefi";
  const loaderInfo = uefi ? readLoaderInfo(root) : null;
  if (loaderInfo) evidence.push(`LoaderInfo EFI variable says "${loaderInfo}"`);
  const efiboot = uefi ? root.command("efibootmgr-v") : null;
  const efiPath = efiboot?.ok ? currentEfiLoaderPath(efiboot.value) : null;
  if (efiPath) evidence.push(`firmware booted ${efiPath} (efibootmgr -v)`);
  const booterFromFirmware: "systemd-boot" | "grub" | null =
    loaderInfo && /systemd-boot/i.test(loaderInfo)
      ? "systemd-boot"
      : efiPath
        ? loaderFromPath(efiPath)
        : null;

  const uuids = root.readText("etc/kernel/proxmox-boot-uuids");
  const managedEsps = uuids.ok
    ? uuids.value
        .split("\n")
        .map((l) => l.trim())
        .filter((l) => /^[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}$/.test(l))
    : [];

  const grubFlavor = detectGrubFlavor(root, system);
  const grubFiles = grubConfigFiles(root, grubFlavor).map((f) => f);

  let kind: BootloaderKind;
  if (managedEsps.length > 0) {
    evidence.push(
      `etc/kernel/proxmox-boot-uuids lists ${managedEsps.length} ESP(s): proxmox-boot-tool manages the boot`,
    );
    const status = root.command("proxmox-boot-tool-status");
    let fromStatus: "systemd-boot" | "grub" | null = null;
    if (status.ok) {
      if (/configured with:\s*uefi/i.test(status.value)) fromStatus = "systemd-boot";
      else if (/configured with:\s*grub/i.test(status.value)) fromStatus = "grub";
      if (fromStatus)
        evidence.push(
          `proxmox-boot-tool status: ESPs configured for ${fromStatus === "grub" ? "grub" : "uefi (systemd-boot)"}`,
        );
    }
    let loader = booterFromFirmware ?? fromStatus;
    if (!loader) {
      if (!uefi) {
        loader = "grub";
        evidence.push("booted in legacy BIOS mode: proxmox-boot-tool installs GRUB on the ESPs");
      } else if (secureBootEnabled(root)) {
        loader = "grub";
        evidence.push("Secure Boot is on: Proxmox boots GRUB through shim");
      } else {
        loader = "systemd-boot";
        evidence.push(
          "UEFI without Secure Boot on a proxmox-boot-tool host: the installer sets up systemd-boot (no stronger evidence)",
        );
      }
    }
    kind = loader === "grub" ? "proxmox-boot-tool/grub" : "proxmox-boot-tool/systemd-boot";
  } else if (
    root.exists("etc/kernelstub/configuration") &&
    (root.hasTool("kernelstub") || system.distro?.id === "pop")
  ) {
    evidence.push("etc/kernelstub/configuration exists (Pop!_OS kernelstub manages systemd-boot)");
    kind = "kernelstub";
  } else if (booterFromFirmware === "systemd-boot") {
    kind = "systemd-boot";
  } else if (booterFromFirmware === "grub" || grubFiles.length > 0 || grubFlavor !== null) {
    if (booterFromFirmware !== "grub") {
      evidence.push(grubFiles.length > 0 ? `${grubFiles[0]} exists` : "GRUB tools are installed");
    }
    kind = "grub";
  } else if (root.exists("etc/kernel/cmdline") || root.hasTool("bootctl")) {
    evidence.push("etc/kernel/cmdline exists and no GRUB configuration was found");
    kind = "systemd-boot";
  } else {
    evidence.push("no GRUB, systemd-boot, proxmox-boot-tool or kernelstub configuration found");
    kind = "unknown";
  }

  return {
    kind,
    grubFlavor:
      kind === "grub" || kind === "proxmox-boot-tool/grub"
        ? (grubFlavor ?? defaultGrubFlavor(system))
        : null,
    cmdlineFiles: cmdlineFilesOf(root, kind, grubFiles),
    evidence,
  };
}

/** Where this kind of boot loader keeps the command line on this host (read by discovery). */
function cmdlineFilesOf(root: HostRoot, kind: BootloaderKind, grubFiles: string[]): string[] {
  switch (kind) {
    case "grub":
    case "proxmox-boot-tool/grub":
      return grubFiles.length ? grubFiles : ["etc/default/grub"];
    case "proxmox-boot-tool/systemd-boot":
      return ["etc/kernel/cmdline"];
    case "systemd-boot":
      // kernel-install builds the entries from /etc/kernel/cmdline when it exists.
      return root.exists("etc/kernel/cmdline") ? ["etc/kernel/cmdline"] : loaderEntryFiles(root);
    case "kernelstub":
      return ["etc/kernelstub/configuration"];
    case "unknown":
      return [];
    default:
      return kind satisfies never;
  }
}

function detectGrubFlavor(root: HostRoot, system: SystemInfo): GrubFlavor | null {
  const family = distroFamily(system);
  if (family === "fedora" && root.hasTool("grubby")) return "grubby";
  if (root.hasTool("update-grub")) return "update-grub";
  if (root.hasTool("grubby")) return "grubby";
  if (root.hasTool("grub2-mkconfig")) return "grub2-mkconfig";
  if (root.hasTool("grub-mkconfig")) return "grub-mkconfig";
  return null;
}

function defaultGrubFlavor(system: SystemInfo): GrubFlavor {
  switch (distroFamily(system)) {
    case "debian":
      return "update-grub";
    case "fedora":
      return "grubby";
    case "suse":
      return "grub2-mkconfig";
    default:
      return "grub-mkconfig";
  }
}

export type DistroFamily = "debian" | "fedora" | "suse" | "arch" | "other";

export function distroFamily(system: Pick<SystemInfo, "distro" | "proxmox">): DistroFamily {
  if (system.proxmox) return "debian";
  const ids = [system.distro?.id ?? "", ...(system.distro?.idLike ?? [])];
  if (ids.some((i) => ["debian", "ubuntu", "pop", "linuxmint", "raspbian"].includes(i)))
    return "debian";
  if (ids.some((i) => ["fedora", "rhel", "centos", "rocky", "almalinux", "nobara"].includes(i)))
    return "fedora";
  if (ids.some((i) => i.startsWith("opensuse") || i === "suse" || i === "sles")) return "suse";
  if (ids.some((i) => ["arch", "manjaro", "endeavouros", "cachyos"].includes(i))) return "arch";
  return "other";
}

/** /etc/default/grub, then (on Debian-family, whose grub-mkconfig sources them) grub.d/*.cfg. */
export function grubConfigFiles(root: HostRoot, flavor: GrubFlavor | null): string[] {
  const files: string[] = [];
  if (root.exists("etc/default/grub")) files.push("etc/default/grub");
  if (flavor === "update-grub" || flavor === null) {
    const dropins = (root.list("etc/default/grub.d") ?? [])
      .filter((n) => n.endsWith(".cfg"))
      .sort();
    files.push(...dropins.map((n) => `etc/default/grub.d/${n}`));
  }
  return files;
}

function loaderEntryFiles(root: HostRoot): string[] {
  for (const dir of LOADER_ENTRY_DIRS) {
    const names = (root.list(dir) ?? []).filter((n) => n.endsWith(".conf"));
    if (names.length) return names.map((n) => `${dir}/${n}`);
  }
  return [];
}

export interface GrubDefaults {
  files: ParsedShellFile[];
  vars: Record<string, string>;
}

export function readGrubDefaults(
  root: HostRoot,
  files: readonly string[],
  unknowns: Unknown[],
): GrubDefaults {
  const parsed: ParsedShellFile[] = [];
  for (const f of files) {
    const r = root.readText(f);
    if (!r.ok) {
      unknowns.push({ field: f, reason: r.reason });
      continue;
    }
    const p = parseShellFile(f, r.value);
    // Only lines that may touch the kernel command line matter: Debian's and Ubuntu's own
    // GRUB_DISTRIBUTOR=`lsb_release ...` is a command substitution on every such host.
    for (const u of p.unsupported) {
      if (!/GRUB_CMDLINE_LINUX/.test(u.text)) continue;
      unknowns.push({
        field: `${f}:${u.line}`,
        reason: `not a plain assignment, not taken into account: ${u.text.trim()}`,
      });
    }
    parsed.push(p);
  }
  return { files: parsed, vars: evaluateShellFiles(parsed).vars };
}

/** The configured command line of one boot loader config source. */
export function readConfiguredCmdline(
  root: HostRoot,
  source: ConfiguredCmdline["source"],
  files: readonly string[],
  unknowns: Unknown[],
  runningRelease: string | null,
): ConfiguredCmdline | null {
  switch (source) {
    case "grub": {
      const g = readGrubDefaults(root, files, unknowns);
      if (g.files.length === 0) return null;
      const linux = withGrubOrigins(
        parseCmdline(g.vars.GRUB_CMDLINE_LINUX ?? ""),
        g.files,
        "GRUB_CMDLINE_LINUX",
      );
      const linuxDefault = withGrubOrigins(
        parseCmdline(g.vars.GRUB_CMDLINE_LINUX_DEFAULT ?? ""),
        g.files,
        "GRUB_CMDLINE_LINUX_DEFAULT",
      );
      return {
        source,
        files: g.files.map((f) => f.file),
        params: [...linux, ...linuxDefault],
        detail: { linux, linuxDefault },
      };
    }
    case "kernel-cmdline": {
      const f = files[0] ?? "etc/kernel/cmdline";
      const r = root.readText(f);
      if (!r.ok) {
        unknowns.push({ field: f, reason: r.reason });
        return null;
      }
      const lines = r.value.split("\n");
      const idx = lines.findIndex((l) => l.trim() !== "");
      const params = parseCmdline(idx === -1 ? "" : lines[idx]!).map((p) => ({
        ...p,
        origin: { file: f, line: idx + 1 },
      }));
      return { source, files: [f], params };
    }
    case "kernelstub": {
      const f = "etc/kernelstub/configuration";
      const r = root.readText(f);
      if (!r.ok) return null;
      try {
        const cfg = JSON.parse(r.value) as { user?: { kernel_options?: string[] } };
        return {
          source,
          files: [f],
          params: parseCmdline((cfg.user?.kernel_options ?? []).join(" ")).map((p) => ({
            ...p,
            origin: { file: f, line: null },
          })),
        };
      } catch {
        unknowns.push({ field: f, reason: "not valid JSON" });
        return null;
      }
    }
    case "loader-entries": {
      // Pick the entry for the running kernel when there is one, else the first.
      let chosen: { file: string; options: string; line: number } | null = null;
      for (const f of files) {
        const r = root.readText(f);
        if (!r.ok) continue;
        const lines = r.value.split("\n");
        const idx = lines.findIndex((l) => /^options\s/.test(l));
        const options = idx === -1 ? "" : lines[idx]!.replace(/^options\s+/, "");
        const isRunning = runningRelease !== null && r.value.includes(runningRelease);
        if (!chosen || isRunning) chosen = { file: f, options, line: idx + 1 };
        if (isRunning) break;
      }
      if (!chosen) return null;
      const origin = { file: chosen.file, line: chosen.line || null };
      return {
        source,
        files: [chosen.file],
        params: parseCmdline(chosen.options).map((p) => ({ ...p, origin })),
      };
    }
  }
}

/** The assignment (file:line) whose literal text holds each parameter: the last one wins. */
function withGrubOrigins(
  params: CmdlineParam[],
  files: readonly ParsedShellFile[],
  variable: string,
): CmdlineParam[] {
  const assignments = files.flatMap((f) => f.assignments.filter((a) => a.name === variable));
  return params.map((p) => {
    for (let i = assignments.length - 1; i >= 0; i--) {
      const a = assignments[i]!;
      const literal = a.pieces
        .filter((x) => x.kind === "literal")
        .map((x) => x.text)
        .join(" ");
      if (literal.split(/\s+/).includes(p.raw))
        return { ...p, origin: { file: a.file, line: a.line } };
    }
    return p;
  });
}

export function configuredSourceFor(
  kind: BootloaderKind,
  cmdlineFiles: readonly string[],
): ConfiguredCmdline["source"] | null {
  switch (kind) {
    case "grub":
    case "proxmox-boot-tool/grub":
      return "grub";
    case "proxmox-boot-tool/systemd-boot":
      return "kernel-cmdline";
    case "systemd-boot":
      return cmdlineFiles[0] === "etc/kernel/cmdline" ? "kernel-cmdline" : "loader-entries";
    case "kernelstub":
      return "kernelstub";
    case "unknown":
      return null;
    default:
      return kind satisfies never;
  }
}

export function detectInitramfs(
  root: HostRoot,
  system: SystemInfo,
): { kind: InitramfsKind; evidence: string[] } {
  const found: Array<{ kind: InitramfsKind; why: string }> = [];
  if (root.isDir("etc/initramfs-tools") || root.hasTool("update-initramfs"))
    found.push({ kind: "initramfs-tools", why: "etc/initramfs-tools / update-initramfs present" });
  if (root.exists("etc/dracut.conf") || root.isDir("etc/dracut.conf.d") || root.hasTool("dracut"))
    found.push({ kind: "dracut", why: "dracut configuration present" });
  if (root.exists("etc/mkinitcpio.conf") || root.hasTool("mkinitcpio"))
    found.push({ kind: "mkinitcpio", why: "etc/mkinitcpio.conf present" });
  if (root.exists("etc/booster.yaml") || root.hasTool("booster"))
    found.push({ kind: "booster", why: "etc/booster.yaml present" });
  if (found.length === 0)
    return {
      kind: "unknown",
      evidence: ["no initramfs-tools, dracut, mkinitcpio or booster configuration found"],
    };
  if (found.length === 1) return { kind: found[0]!.kind, evidence: [found[0]!.why] };
  // Several installed: the distribution's own generator is the one its kernel packages run.
  const preferred: Record<DistroFamily, InitramfsKind[]> = {
    debian: ["initramfs-tools", "dracut"],
    fedora: ["dracut"],
    suse: ["dracut"],
    arch: ["mkinitcpio", "booster", "dracut"],
    other: ["dracut", "initramfs-tools", "mkinitcpio", "booster"],
  };
  for (const k of preferred[distroFamily(system)]) {
    const hit = found.find((f) => f.kind === k);
    if (hit)
      return {
        kind: k,
        evidence: [hit.why, `distribution default among ${found.map((f) => f.kind).join(", ")}`],
      };
  }
  return { kind: found[0]!.kind, evidence: found.map((f) => f.why) };
}

export function readInitramfsModules(root: HostRoot, kind: InitramfsKind): ModuleLoadEntry[] {
  return parseInitramfsModules(
    kind,
    (p) => {
      const r = root.readText(p);
      return r.ok ? r.value : null;
    },
    (dir) => root.list(dir),
  );
}
