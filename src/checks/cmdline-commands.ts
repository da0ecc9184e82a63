// How a kernel command line change reaches the next boot on this host: which file holds it
// and which command regenerates what the boot loader reads (domain-facts.md §4). The
// initramfs never carries the command line, so `update-initramfs` alone applies nothing
// (the seed write-up's mistake); the only proof is /proc/cmdline after the reboot.

import type { HostState } from "../host/types.js";
import { hostPath } from "./context.js";

/** Where a parameter is added, in words: "GRUB_CMDLINE_LINUX_DEFAULT in /etc/default/grub". */
export function cmdlineLocation(state: Pick<HostState, "bootloader">): string {
  const b = state.bootloader;
  switch (b.kind) {
    case "grub":
    case "proxmox-boot-tool/grub":
      return `GRUB_CMDLINE_LINUX_DEFAULT in ${hostPath(b.cmdlineFiles[0] ?? "etc/default/grub")}`;
    case "proxmox-boot-tool/systemd-boot":
      return "the single line of /etc/kernel/cmdline";
    case "systemd-boot":
      return b.cmdlineFiles[0] === "etc/kernel/cmdline" || b.cmdlineFiles.length === 0
        ? "the single line of /etc/kernel/cmdline"
        : `the options line of ${hostPath(b.cmdlineFiles[0]!)}`;
    case "kernelstub":
      return "kernelstub's kernel options (kernelstub -a PARAM)";
    default:
      return "your boot loader's kernel command line";
  }
}

/**
 * The command that makes the configured command line the one the next boot gets, e.g.
 * "update-grub". `params` are the parameters in question (grubby and kernelstub take them).
 */
export function cmdlineRefreshCommand(
  state: Pick<HostState, "bootloader" | "system">,
  params: readonly string[] = [],
): string | null {
  const b = state.bootloader;
  switch (b.kind) {
    case "grub":
      switch (b.grubFlavor) {
        case "grub-mkconfig":
          return "grub-mkconfig -o /boot/grub/grub.cfg";
        case "grub2-mkconfig":
          return "grub2-mkconfig -o /boot/grub2/grub.cfg";
        case "grubby":
          return `grubby --update-kernel=ALL --args="${params.length ? params.join(" ") : "PARAM"}"`;
        default:
          return "update-grub";
      }
    case "proxmox-boot-tool/grub":
    case "proxmox-boot-tool/systemd-boot":
      // proxmox-boot-tool copies kernels and the command line to every ESP it manages.
      return "proxmox-boot-tool refresh";
    case "systemd-boot": {
      if (b.cmdlineFiles[0] && b.cmdlineFiles[0] !== "etc/kernel/cmdline") return null; // a loader entry is read as is at boot
      const rel = state.system.kernelRelease ?? "$(uname -r)";
      return `kernel-install add ${rel} /boot/vmlinuz-${rel}`;
    }
    case "kernelstub":
      return params.length ? params.map((p) => `kernelstub -a ${p}`).join(" && ") : "kernelstub";
    default:
      return null;
  }
}

/** "update-grub, then reboot" — the steps between an edited file and a running kernel that has it. */
export function cmdlineApplySteps(
  state: Pick<HostState, "bootloader" | "system">,
  params: readonly string[] = [],
): string {
  const cmd = cmdlineRefreshCommand(state, params);
  if (cmd) return `${cmd}, then reboot`;
  if (state.bootloader.kind === "unknown")
    return "regenerate your boot loader's configuration, then reboot";
  return "reboot";
}

/** "add intel_iommu=on to GRUB_CMDLINE_LINUX_DEFAULT in /etc/default/grub, run update-grub, then reboot". */
export function addParamFix(
  state: Pick<HostState, "bootloader" | "system">,
  param: string,
): string {
  const cmd = cmdlineRefreshCommand(state, [param]);
  return `add ${param} to ${cmdlineLocation(state)}${cmd ? `, run ${cmd}` : ""}, then reboot (\`passthrough plan\` writes it)`;
}
