// Which boot loader reads the kernel command line on this host, and from where. Said out
// loud because editing the wrong file is the most common passthrough mistake
// (docs/research/anchors.md §0.2): a Proxmox host on ZFS + UEFI boots systemd-boot from
// /etc/kernel/cmdline and never reads /etc/default/grub.

import { cmdlineLocation } from "../boot/advice.js";
import { bootloaderOf } from "../boot/loaders.js";
import { quoteArgv } from "../process/quote.js";
import type { CheckContext } from "./context.js";
import { finding } from "../findings/finding.js";
import type { Finding } from "../findings/finding.js";

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
  const loader = bootloaderOf(b);
  const refresh = loader.refresh(b, []);
  const applied =
    "argv" in refresh ? `, applied by ${quoteArgv(refresh.argv)}` : `; ${refresh.manual}`;
  const ignored = state.cmdline.inactive
    .map((c) => `/${c.files[0]}`)
    .filter((f) => f !== "/undefined");
  const summary = `${loader.label}: command line in ${cmdlineLocation(state)}${applied}${ignored.length ? `; ${ignored.join(", ")} not used` : ""}`;
  return [finding("boot.loader", "info", summary, { detail: b.evidence })];
}
