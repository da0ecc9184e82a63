// Debian, Ubuntu, Proxmox: /etc/initramfs-tools/modules lists modules to include and load early
// ("module_name [args]" per line, initramfs-tools(7)); mkinitramfs also copies /etc/modprobe.d,
// so the softdeps and options apply inside the initramfs. `-k all` rebuilds every installed
// kernel's image, not only the running one (pinned or older kernels boot too).

import { appendModules } from "../../formats/module-lists.js";
import type { PlanFiles } from "../files.js";
import type { CommandStep } from "../types.js";

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

export function rebuild(why: string): CommandStep {
  return { kind: "command", argv: ["update-initramfs", "-u", "-k", "all"], why };
}
