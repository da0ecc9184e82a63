// Kernel modules: what is loaded, what is built in, how modprobe is configured, and what is
// loaded at boot. Paths and rules: docs/domain-facts.md §3, formats/modprobe-conf.ts.

import {
  effectiveConfFiles,
  MODPROBE_DIRS,
  normalizeModuleName,
  parseModprobeConf,
} from "../formats/modprobe-conf.js";
import { parseModuleList } from "../formats/module-lists.js";
import type { HostRoot } from "./root.js";
import type { ModuleLoadEntry, ModulesState, Unknown } from "./types.js";

export const MODULES_LOAD_DIRS = [
  "etc/modules-load.d",
  "run/modules-load.d",
  "usr/local/lib/modules-load.d",
  "usr/lib/modules-load.d",
  "lib/modules-load.d",
];

/** Module parameters worth reading live. */
const PARAM_MODULES = ["vfio_pci", "vfio_iommu_type1", "vfio", "kvm", "kvm_amd", "kvm_intel"];

/** lib/modules/RELEASE (or usr/lib/...) of the running kernel, when present. */
export function kernelModulesDir(root: HostRoot, release: string | null): string | null {
  if (!release) return null;
  for (const base of ["lib/modules", "usr/lib/modules"])
    if (root.isDir(`${base}/${release}`)) return `${base}/${release}`;
  return null;
}

export function readModules(
  root: HostRoot,
  release: string | null,
  initramfs: ModuleLoadEntry[],
  unknowns: Unknown[],
): ModulesState {
  const proc = root.readText("proc/modules");
  let loaded: string[] | null = null;
  if (proc.ok)
    loaded = proc.value
      .split("\n")
      .map((l) => l.split(" ")[0]!)
      .filter(Boolean)
      .map(normalizeModuleName);
  else unknowns.push({ field: "modules.loaded", reason: proc.reason });

  const modDir = kernelModulesDir(root, release);
  let builtin: string[] | null = null;
  if (modDir) {
    const b = root.readText(`${modDir}/modules.builtin`);
    if (b.ok)
      builtin = b.value
        .split("\n")
        .filter(Boolean)
        .map((p) =>
          normalizeModuleName(
            p
              .split("/")
              .pop()!
              .replace(/\.ko(\.\w+)?$/, ""),
          ),
        );
  }
  if (builtin === null)
    unknowns.push({
      field: "modules.builtin",
      reason: `modules.builtin of kernel ${release ?? "?"} not found`,
    });

  // Loadable modules: modules.order lists every module built for the kernel (path per line);
  // modules.dep has the same names as "path: deps". Either is enough to spot a misspelt name.
  let available: string[] | null = null;
  if (modDir) {
    for (const f of ["modules.order", "modules.dep"]) {
      const r = root.readText(`${modDir}/${f}`);
      if (!r.ok) continue;
      available = r.value
        .split("\n")
        .map((l) => l.split(":")[0]!.trim())
        .filter(Boolean)
        .map((p) =>
          normalizeModuleName(
            p
              .split("/")
              .pop()!
              .replace(/\.ko(\.\w+)?$/, ""),
          ),
        );
      break;
    }
  }

  const filesByDir = MODPROBE_DIRS.map((dir) => ({ dir, names: root.list(dir) ?? [] }));
  const ignoredModprobeFiles: string[] = [];
  for (const { dir, names } of filesByDir) {
    for (const n of names)
      if (!n.endsWith(".conf") && !root.isDir(`${dir}/${n}`))
        ignoredModprobeFiles.push(`${dir}/${n}`);
  }
  const modprobe = effectiveConfFiles(filesByDir).flatMap((f) => {
    const r = root.readText(f);
    if (!r.ok) {
      unknowns.push({ field: f, reason: r.reason });
      return [];
    }
    return parseModprobeConf(f, r.value);
  });

  const loadAtBoot: ModuleLoadEntry[] = [];
  const etcModules = root.readText("etc/modules");
  if (etcModules.ok) loadAtBoot.push(...parseModuleList("etc/modules", etcModules.value));
  const seen = new Set<string>();
  for (const dir of MODULES_LOAD_DIRS) {
    for (const n of (root.list(dir) ?? []).filter((x) => x.endsWith(".conf")).sort()) {
      if (seen.has(n)) continue; // same name in a higher-priority folder shadows it
      seen.add(n);
      const r = root.readText(`${dir}/${n}`);
      if (r.ok) loadAtBoot.push(...parseModuleList(`${dir}/${n}`, r.value));
    }
  }

  const parameters: Record<string, Record<string, string>> = {};
  for (const m of PARAM_MODULES) {
    const names = root.list(`sys/module/${m}/parameters`);
    if (!names) continue;
    parameters[m] = {};
    for (const p of names) {
      const r = root.readText(`sys/module/${m}/parameters/${p}`);
      if (r.ok) parameters[m]![p] = r.value.trim();
    }
  }
  return {
    loaded,
    builtin,
    modprobe,
    ignoredModprobeFiles,
    loadAtBoot,
    parameters,
    initramfs,
    available,
  };
}
