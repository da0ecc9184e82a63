// Which boot loader reads the kernel command line on this host, and from where. Said out
// loud because editing the wrong file is the most common passthrough mistake (anchors.md
// §0.2): a Proxmox host on ZFS + UEFI boots systemd-boot from /etc/kernel/cmdline and never
// reads /etc/default/grub.

import { cmdlineLocation, cmdlineRefreshCommand } from "./cmdline-commands.js";
import type { CheckContext } from "./context.js";
import { finding } from "../findings/finding.js";
import type { Finding } from "../findings/finding.js";

const NAMES: Record<string, string> = {
  grub: "GRUB",
  "proxmox-boot-tool/grub": "GRUB, kept on the ESPs by proxmox-boot-tool",
  "proxmox-boot-tool/systemd-boot": "systemd-boot, kept on the ESPs by proxmox-boot-tool",
  "systemd-boot": "systemd-boot",
  kernelstub: "systemd-boot through kernelstub",
};

export function checkBootloader(ctx: CheckContext): Finding[] {
  const { state } = ctx;
  const b = state.bootloader;
  if (b.kind === "unknown") {
    return [
      finding(
        "boot.loader",
        "warn",
        "boot loader not recognised: passthrough cannot tell where the kernel command line is configured",
        {
          fix: "add kernel parameters by hand where your boot loader keeps them; `passthrough plan` lists the parameters",
          detail: b.evidence,
        },
      ),
    ];
  }
  const cmd = cmdlineRefreshCommand(state);
  const ignored = state.cmdline.inactive
    .map((c) => `/${c.files[0]}`)
    .filter((f) => f !== "/undefined");
  const summary = `${NAMES[b.kind] ?? b.kind}: command line in ${cmdlineLocation(state)}${cmd ? `, applied by ${cmd}` : ""}${ignored.length ? `; ${ignored.join(", ")} not used` : ""}`;
  return [finding("boot.loader", "info", summary, { detail: b.evidence })];
}
