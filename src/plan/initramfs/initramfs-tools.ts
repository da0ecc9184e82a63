// Debian, Ubuntu, Proxmox: /etc/initramfs-tools/modules lists modules to include and load early
// ("module_name [args]" per line, initramfs-tools(7)); mkinitramfs also copies /etc/modprobe.d,
// so the softdeps and options apply inside the initramfs. The rebuild command is in
// src/boot/initramfs.ts.

import { appendModules } from "../../formats/module-lists.js";
import type { PlanFiles } from "../files.js";

export const FILE = "etc/initramfs-tools/modules";

export function write(files: PlanFiles, modules: readonly string[]): void {
  const before = files.read(FILE);
  const after = appendModules(before ?? "", modules);
  if (before === null && after === "") return;
  files.write(
    FILE,
    after,
    `include ${modules.join(", ")} in the initramfs so vfio-pci is loaded before any GPU driver the initramfs carries`,
  );
}
