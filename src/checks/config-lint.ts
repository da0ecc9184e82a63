// Mistakes in existing configuration that silently do nothing (or harm). `check` reports each
// problem; `plan` repairs each as its own step. Pure: HostState in, problems out.
// The facts behind every rule: docs/domain-facts.md §1, §3, §4; docs/research/anchors.md §4.

import { hasParam, normalizeParamName } from "../formats/kernel-cmdline.js";
import { hasWildcard, normalizeModuleName, optionsOf } from "../formats/modprobe-conf.js";
import { kernelAtLeast } from "../host/system.js";
import type { CmdlineParam, ConfiguredCmdline, HostState } from "../host/types.js";
import type { ConfigProblem } from "./types.js";

/** Module names people blacklist for GPUs: used to spot typos when the kernel's module list is not visible. */
export const WELL_KNOWN_MODULES = [
  "nouveau",
  "nvidia",
  "nvidia_drm",
  "nvidia_modeset",
  "nvidia_uvm",
  "nvidiafb",
  "amdgpu",
  "radeon",
  "i915",
  "xe",
  "snd_hda_intel",
  "snd_hda_codec_hdmi",
  "xhci_pci",
  "i2c_nvidia_gpu",
  "vfio",
  "vfio_pci",
  "vfio_iommu_type1",
  "bochs",
  "efifb",
  "simplefb",
  "simpledrm",
];

/** Levenshtein distance, small strings only. */
export function editDistance(a: string, b: string): number {
  // Two rows of the Levenshtein table: memory in the shorter string's length.
  if (a.length < b.length) [a, b] = [b, a];
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++)
      row[j] = Math.min(
        prev[j]! + 1,
        row[j - 1]! + 1,
        prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    prev = row;
  }
  return prev[b.length]!;
}

export function closestKnownModule(name: string, known: readonly string[]): string | null {
  let best: string | null = null;
  let bestD = 3;
  for (const k of known) {
    const d = editDistance(name, k);
    if (d > 0 && d < bestD) {
      best = k;
      bestD = d;
    }
  }
  return best;
}

function configuredSources(state: HostState): Array<{ cfg: ConfiguredCmdline; active: boolean }> {
  return [
    ...(state.cmdline.configured ? [{ cfg: state.cmdline.configured, active: true }] : []),
    ...state.cmdline.inactive.map((cfg) => ({ cfg, active: false })),
  ];
}

function problemAt(p: CmdlineParam, cfg: ConfiguredCmdline): { file: string; line: number | null } {
  return p.origin ?? { file: cfg.files[cfg.files.length - 1] ?? "", line: null };
}

export function lintConfiguration(state: HostState): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const m = state.modules;

  // blacklist lines: wildcards, unknown names.
  const available = m.available ? new Set([...m.available, ...(m.builtin ?? [])]) : null;
  for (const d of m.modprobe) {
    if (d.command !== "blacklist") continue;
    if (hasWildcard(d.module)) {
      problems.push({
        kind: "blacklist-wildcard",
        file: d.file,
        line: d.line,
        text: d.raw,
        message: `"${d.raw}" matches no module: modprobe compares blacklist names exactly (wildcards work only in alias)`,
      });
      continue;
    }
    const known = available ? available.has(d.module) : WELL_KNOWN_MODULES.includes(d.module);
    if (known) continue;
    const suggestion = closestKnownModule(
      d.module,
      available ? [...available] : WELL_KNOWN_MODULES,
    );
    if (available || suggestion) {
      problems.push({
        kind: "blacklist-unknown-module",
        file: d.file,
        line: d.line,
        text: d.raw,
        message: `"${d.raw}": no module named ${d.module}${suggestion ? ` (did you mean ${suggestion}?)` : ` in kernel ${state.system.kernelRelease ?? ""}`.trimEnd()}`,
      });
    }
  }

  // modprobe.d files that modprobe never reads.
  for (const f of m.ignoredModprobeFiles) {
    if (!f.startsWith("etc/")) continue;
    problems.push({
      kind: "modprobe-not-conf",
      file: f,
      line: null,
      text: f.split("/").pop()!,
      message: `${f} is ignored: modprobe reads only files ending in .conf`,
    });
  }

  // vfio_virqfd on kernels where it no longer exists (merged into vfio in 6.2).
  if (kernelAtLeast(state.system.kernelVersion, 6, 2) === true) {
    for (const e of [...m.loadAtBoot, ...m.initramfs]) {
      if (e.module !== "vfio_virqfd") continue;
      problems.push({
        kind: "vfio-virqfd-merged",
        file: e.file,
        line: e.line,
        text: "vfio_virqfd",
        message: `vfio_virqfd was merged into vfio in kernel 6.2; on ${state.system.kernelRelease} loading it fails at boot`,
      });
    }
  }

  // vfio-pci ids= naming devices that are not present.
  const presentIds = new Set(state.pci.map((d) => `${d.vendorId}:${d.deviceId}`));
  const checkIds = (ids: string, file: string, line: number | null, text: string) => {
    const missing = ids
      .split(",")
      .map((x) => x.trim().toLowerCase())
      .filter((x) => x && !presentIds.has(x.split(":").slice(0, 2).join(":")));
    if (missing.length) {
      problems.push({
        kind: "vfio-ids-absent",
        file,
        line,
        text,
        message: `vfio-pci ids= names ${missing.join(", ")}, which no PCI device on this host has`,
      });
    }
  };
  for (const d of m.modprobe) {
    if (d.command === "options" && d.module === "vfio_pci") {
      const ids = optionsOf(d).ids;
      if (ids !== undefined) checkIds(ids, d.file, d.line, d.raw);
    }
  }

  // Kernel command line: amd_iommu=on, pending parameters, parameters in an unused boot loader.
  const running = state.cmdline.running;
  for (const { cfg, active } of configuredSources(state)) {
    for (const p of cfg.params) {
      const at = problemAt(p, cfg);
      if (normalizeParamName(p.key) === "amd_iommu" && p.value === "on") {
        problems.push({
          kind: "amd-iommu-on",
          ...at,
          text: p.raw,
          message: `amd_iommu=on is not a valid value (the kernel logs "AMD-Vi: Unknown option - 'on'"); the AMD IOMMU is on by default`,
        });
      }
      if (vfioIdsParam(p)) checkIds(p.value!, at.file, at.line, p.raw);
      if (running === null) continue;
      if (hasParam(running, p)) continue;
      if (active) {
        problems.push({
          kind: "cmdline-pending",
          ...at,
          text: p.raw,
          message: `${p.raw} is configured in ${at.file} but the running kernel did not get it`,
        });
      } else if (!state.cmdline.configured || !hasParam(state.cmdline.configured.params, p)) {
        problems.push({
          kind: "cmdline-wrong-bootloader",
          ...at,
          text: p.raw,
          message: `${p.raw} is set in ${at.file}, which this host's boot loader (${state.bootloader.kind}) does not read`,
        });
      }
    }
  }
  return problems;
}

function vfioIdsParam(p: CmdlineParam): boolean {
  return normalizeParamName(p.key) === "vfio_pci.ids" && p.value !== null;
}

/** Module names in a list, normalised (for comparisons with blacklist entries etc.). */
export function moduleSet(names: readonly string[]): Set<string> {
  return new Set(names.map(normalizeModuleName));
}
