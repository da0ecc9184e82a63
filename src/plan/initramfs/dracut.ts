// Fedora, RHEL, openSUSE (and some Debian installs): a drop-in in /etc/dracut.conf.d (dracut
// reads only names ending in ".conf", dracut.conf(5)) with force_drivers+=" ... ": the modules
// go into the image and are loaded with modprobe before udev starts (the rd.driver.pre
// mechanism). dracut's kernel-modules module copies /etc/modprobe.d into the image.

import { parseDracutDrivers } from "../../formats/initramfs-conf.js";
import type { PlanFiles } from "../files.js";

export const FILE = "etc/dracut.conf.d/passthrough.conf";

function present(files: PlanFiles): Set<string> {
  const out = new Set<string>();
  const list = [
    "etc/dracut.conf",
    ...files
      .list("etc/dracut.conf.d")
      .filter((n) => n.endsWith(".conf"))
      .map((n) => `etc/dracut.conf.d/${n}`),
  ];
  for (const f of list) {
    if (f === FILE) continue;
    for (const e of parseDracutDrivers(f, files.read(f) ?? ""))
      if (e.args[0] === "force_drivers") out.add(e.module);
  }
  return out;
}

export function write(files: PlanFiles, modules: readonly string[]): void {
  const have = present(files);
  const missing = modules.filter((m) => !have.has(m));
  const content = missing.length
    ? [
        "# Written by passthrough: load the VFIO modules first thing in the initramfs, so vfio-pci",
        "# claims the passed-through functions before any GPU driver (see /etc/modprobe.d/passthrough.conf).",
        `force_drivers+=" ${missing.join(" ")} "`,
      ].join("\n") + "\n"
    : null;
  files.write(
    FILE,
    content,
    content
      ? `load ${missing.join(", ")} in the initramfs before udev starts (dracut force_drivers)`
      : "the VFIO modules are already forced into the initramfs elsewhere",
  );
}
