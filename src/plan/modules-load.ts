// VFIO modules loaded at boot. vfio-pci has no modalias for arbitrary devices, so nothing
// loads it unless a softdep fires or it is listed here: systemd-modules-load reads
// /etc/modules-load.d/*.conf (and, on Debian, /etc/modules through modules-load.d/modules.conf).
// Modules already listed anywhere are not listed again.

import { MODULES_LOAD_DIRS } from "../host/modules.js";
import { normalizeModuleName } from "../formats/modprobe-conf.js";
import { parseModuleList } from "../formats/module-lists.js";
import type { HostState } from "../host/types.js";
import type { PlanFiles } from "./files.js";

export const OWN_MODULES_LOAD = "etc/modules-load.d/passthrough.conf";

/** Modules listed to load at boot, as planned, leaving out our own file. */
export function modulesLoadedAtBoot(state: HostState, files: PlanFiles): Set<string> {
  const out = new Set<string>();
  const etcModules = files.read("etc/modules");
  if (etcModules !== null)
    for (const e of parseModuleList("etc/modules", etcModules)) out.add(e.module);
  const seen = new Set<string>();
  for (const dir of MODULES_LOAD_DIRS) {
    const names = dir.startsWith("etc/")
      ? files.list(dir)
      : [
          ...new Set(
            state.modules.loadAtBoot
              .filter((e) => e.file.startsWith(`${dir}/`))
              .map((e) => e.file.slice(dir.length + 1)),
          ),
        ];
    for (const n of names.filter((x) => x.endsWith(".conf")).sort()) {
      if (seen.has(n)) continue;
      seen.add(n);
      const file = `${dir}/${n}`;
      if (file === OWN_MODULES_LOAD) continue;
      if (dir.startsWith("etc/"))
        for (const e of parseModuleList(file, files.read(file) ?? "")) out.add(e.module);
      else for (const e of state.modules.loadAtBoot) if (e.file === file) out.add(e.module);
    }
  }
  return out;
}

export function writeModulesLoad(
  state: HostState,
  files: PlanFiles,
  modules: readonly string[],
): void {
  const have = modulesLoadedAtBoot(state, files);
  const missing = modules.filter((m) => !have.has(normalizeModuleName(m)));
  const content = missing.length
    ? [
        "# Written by passthrough: VFIO modules to load at boot, so vfio-pci is there to claim the",
        "# functions bound to it (see /etc/modprobe.d/passthrough.conf).",
        ...missing,
      ].join("\n") + "\n"
    : null;
  files.write(
    OWN_MODULES_LOAD,
    content,
    content
      ? `load ${missing.join(", ")} at boot (systemd-modules-load)`
      : "the VFIO modules are already listed to load at boot elsewhere",
  );
}
