// Discovery: one HostRoot in, one HostState out. Read-only; never throws for a missing or
// malformed file (that becomes an entry in `unknowns`), so a partial snapshot still yields
// every fact that can be seen.

import * as fs from "node:fs";
import { parseCmdline } from "../formats/kernel-cmdline.js";
import { PciIdsDb } from "../formats/pci-ids.js";
import {
  configuredSourceFor,
  detectBootloader,
  detectInitramfs,
  grubConfigFiles,
  readConfiguredCmdline,
  readInitramfsModules,
} from "./boot.js";
import { readConfigFiles } from "./config-files.js";
import { readHostCritical } from "./host-critical.js";
import { readIommu, readIommuGroups } from "./iommu.js";
import { analyseKernelLog, d3coldFailures } from "./kernel-log.js";
import { kernelModulesDir, readModules } from "./modules.js";
import { readKernels } from "./kernels.js";
import type { SnapshotManifest } from "./open-root.js";
import { ModuleAliases } from "./pci/modules-alias.js";
import { readPciDevices } from "./pci/read-pci.js";
import { readProxmoxVms } from "./proxmox-vms.js";
import type { HostRoot } from "./root.js";
import { readSystem } from "./system.js";
import type { CmdlineState, ConfiguredCmdline, HostState, Unknown } from "./types.js";
import { readUsbDevices } from "./usb.js";

/** Where pci.ids lives on Debian (pciutils / hwdata) and on Fedora/Arch (hwdata). */
export const PCI_IDS_PATHS = [
  "usr/share/misc/pci.ids",
  "usr/share/hwdata/pci.ids",
  "usr/share/pci.ids",
];

export interface ReadHostOptions {
  manifest?: SnapshotManifest | null;
  /**
   * Also look for pci.ids on this machine when the root has none (a snapshot read
   * elsewhere). Tests turn it off so names do not depend on the machine running them.
   */
  systemPciIds?: boolean;
  /** How much of each PCI function to read: see ReadPciOptions.detail (`list` needs the summary). */
  pciDetail?: "full" | "summary";
}

export function loadPciIds(root: HostRoot, systemFallback: boolean): PciIdsDb | null {
  for (const p of PCI_IDS_PATHS) {
    const r = root.readBytes(p);
    if (r.ok)
      return PciIdsDb.fromBytes(r.value, root.kind === "live" ? `/${p}` : `${root.label}:/${p}`);
  }
  if (systemFallback && root.kind !== "live") {
    for (const p of PCI_IDS_PATHS) {
      try {
        return PciIdsDb.fromBytes(fs.readFileSync(`/${p}`), `/${p}`);
      } catch {
        // try the next location
      }
    }
  }
  return null;
}

export function readHostState(root: HostRoot, options: ReadHostOptions = {}): HostState {
  const unknowns: Unknown[] = [];
  const system = readSystem(root, unknowns);

  const log = root.command("dmesg");
  const logFacts = log.ok ? analyseKernelLog(log.value) : null;
  if (!log.ok) unknowns.push({ field: "kernelLog", reason: log.reason });

  const runningRaw = root.readText("proc/cmdline");
  const running = runningRaw.ok ? parseCmdline(runningRaw.value.trim()) : null;
  if (!runningRaw.ok) unknowns.push({ field: "proc/cmdline", reason: runningRaw.reason });

  const bootloader = detectBootloader(root, system);
  const initramfs = detectInitramfs(root, system);
  const modules = readModules(
    root,
    system.kernelRelease,
    readInitramfsModules(root, initramfs.kind),
    unknowns,
  );

  const ids = loadPciIds(root, options.systemPciIds ?? true);
  if (!ids)
    unknowns.push({
      field: "pci.names",
      reason: "no pci.ids database (install hwdata or pciutils); showing ids only",
    });
  const modDir = kernelModulesDir(root, system.kernelRelease);
  const aliasText = modDir ? root.readText(`${modDir}/modules.alias`) : null;
  const aliases = aliasText?.ok ? new ModuleAliases(aliasText.value) : null;

  // Groups first: their listings say each function's group, which spares a readlink per function.
  const groups = readIommuGroups(root);
  const groupOf = new Map(groups.flatMap((g) => g.devices.map((d) => [d, g.id] as const)));
  const pci = readPciDevices(root, {
    ids,
    aliases,
    unknowns,
    detail: options.pciDetail ?? "full",
    groupOf,
  });
  const iommu = readIommu(root, groups, logFacts, running, modules.modprobe, unknowns);
  const state: HostState = {
    source: {
      kind: root.kind,
      path: root.kind === "live" ? "/" : root.label,
      capturedAt: options.manifest?.capturedAt ?? null,
      redacted: options.manifest?.redacted ?? [],
    },
    system,
    iommu,
    pci,
    usb: readUsbDevices(root),
    bootloader,
    initramfs,
    cmdline: readCmdlineState(root, bootloader, running, system.kernelRelease, unknowns),
    modules,
    hostCritical: readHostCritical(root, unknowns),
    vms: readProxmoxVms(root),
    kernelLog: {
      available: log.ok,
      lines: log.ok ? log.value.split("\n").length : 0,
      d3coldFailures: log.ok ? d3coldFailures(log.value) : [],
    },
    configFiles: readConfigFiles(root),
    kernels: readKernels(root),
    unknowns,
  };
  // Last: every read above may have met a folder it could not list.
  unknowns.push(...dedupe(invisibleParts(root, options.manifest ?? null), unknowns));
  return state;
}

function dedupe(found: Unknown[], known: readonly Unknown[]): Unknown[] {
  const seen = new Set(known.map((u) => u.field));
  return found.filter((u) => !seen.has(u.field) && seen.add(u.field));
}

function readCmdlineState(
  root: HostRoot,
  bootloader: HostState["bootloader"],
  running: CmdlineState["running"],
  release: string | null,
  unknowns: Unknown[],
): CmdlineState {
  const source = configuredSourceFor(bootloader.kind, bootloader.cmdlineFiles);
  const configured = source
    ? readConfiguredCmdline(root, source, bootloader.cmdlineFiles, unknowns, release)
    : null;
  // Configs of boot loaders this host does not use: where stale or misplaced parameters hide.
  const inactive: ConfiguredCmdline[] = [];
  if (source !== "grub") {
    const files = grubConfigFiles(root, "update-grub");
    const g = files.length ? readConfiguredCmdline(root, "grub", files, [], release) : null;
    if (g) inactive.push(g);
  }
  if (source !== "kernel-cmdline" && root.exists("etc/kernel/cmdline")) {
    const k = readConfiguredCmdline(root, "kernel-cmdline", ["etc/kernel/cmdline"], [], release);
    if (k) inactive.push(k);
  }
  return { running, configured, inactive };
}

/**
 * What this read could not see, beyond single files: folders that exist but could not be
 * listed, what the capture skipped (a snapshot taken without root), and a snapshot without
 * sys/ at all (a partial copy), so checks say "unknown" instead of judging an empty host.
 */
function invisibleParts(root: HostRoot, manifest: SnapshotManifest | null): Unknown[] {
  const out: Unknown[] = [...root.listProblems()];
  for (const s of Array.isArray(manifest?.skipped) ? manifest.skipped : [])
    if (typeof s?.path === "string")
      out.push({ field: s.path.replace(/^\/+/, ""), reason: `not captured: ${String(s.reason)}` });
  if (root.kind === "snapshot" && !root.isDir("sys"))
    out.push({ field: "sys", reason: "the snapshot has no sys/ folder (a partial copy)" });
  return out;
}
