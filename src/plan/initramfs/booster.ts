// booster (Arch and others): `modules_force_load: a,b` in /etc/booster.yaml adds the modules to
// the image and loads them at the start of boot (booster(1) "CONFIG FILE"). booster's init
// loads modules itself, so vfio-pci.ids also goes on the command line. The rebuild command
// (/usr/lib/booster/regenerate_images) is in src/boot/initramfs.ts.

import { parseBoosterModules } from "../../formats/initramfs-conf.js";
import type { PlanFiles } from "../files.js";

export const FILE = "etc/booster.yaml";

export function write(files: PlanFiles, modules: readonly string[]): void {
  const text = files.read(FILE);
  const have = new Set(parseBoosterModules(FILE, text ?? "").map((e) => e.module));
  const wanted = ["vfio_pci", "vfio", "vfio_iommu_type1", "vfio_virqfd"].filter((m) =>
    modules.includes(m),
  );
  const missing = wanted.filter((m) => !have.has(m));
  if (missing.length === 0) return;
  const why = `force-load ${missing.join(", ")} early in the booster initramfs`;
  if (text === null) {
    files.write(FILE, `modules_force_load: ${missing.join(",")}\n`, why);
    return;
  }
  const lines = text.split("\n");
  const idx = lines.findIndex((l) => /^\s*modules_force_load:/.test(l));
  if (idx === -1) {
    files.write(
      FILE,
      (text.endsWith("\n") || text === "" ? text : `${text}\n`) +
        `modules_force_load: ${missing.join(",")}\n`,
      why,
    );
    return;
  }
  const line = lines[idx]!.replace(/\s+$/, "");
  lines[idx] = /:\s*$/.test(line) ? `${line} ${missing.join(",")}` : `${line},${missing.join(",")}`;
  files.write(FILE, lines.join("\n"), why);
}
