// Proxmox hosts whose ESPs proxmox-boot-tool keeps in sync (/etc/kernel/proxmox-boot-uuids):
// ZFS on UEFI boots systemd-boot, whose entries get the first line of /etc/kernel/cmdline;
// legacy BIOS (or Secure Boot) boots GRUB from the ESPs, configured from /etc/default/grub.
// Either way `proxmox-boot-tool refresh` copies kernels and initrds to every ESP and writes the
// boot loader config there; /etc/default/grub is ignored on the systemd-boot ones
// (docs/proxmox-api.md §4.1).

import { BOOTLOADERS } from "../../boot/loaders.js";
import type { PlanFinding } from "../../findings/plan-catalog.js";
import type { HostState } from "../../host/types.js";
import type { PlanFiles } from "../files.js";
import type { CommandStep } from "../types.js";
import { notRunning, raws, type BootResult, type CmdlineEdit } from "./common.js";
import { planGrub } from "./grub.js";
import { FILE, editKernelCmdline, kernelCmdlineParams } from "./kernel-cmdline.js";

export function refresh(why: string): CommandStep {
  const { argv } = BOOTLOADERS["proxmox-boot-tool/systemd-boot"].refresh();
  return { kind: "command", argv: [...argv], why };
}

export function planProxmoxBootTool(
  state: HostState,
  files: PlanFiles,
  edit: CmdlineEdit,
  findings: PlanFinding[],
): BootResult {
  if (state.bootloader.kind === "proxmox-boot-tool/grub")
    return planGrub(state, files, edit, findings);
  const changed = editKernelCmdline(state, files, edit, true) || edit.repaired.length > 0;
  const pending = notRunning(state.cmdline.running, edit.add);
  const removedRunning = edit.remove.filter((r) =>
    (state.cmdline.running ?? []).some((p) => p.raw === r.raw),
  );
  const commands: CommandStep[] = [];
  if (changed || pending.length) {
    commands.push(
      refresh(
        changed
          ? `write /${FILE} into the systemd-boot entries on every ESP (the kernel does not read /${FILE} itself)`
          : `${raws(pending)} ${pending.length === 1 ? "is" : "are"} in /${FILE} but the running kernel did not get ${pending.length === 1 ? "it" : "them"}: the ESPs' entries are only rewritten by this command`,
      ),
    );
  }
  return {
    commands,
    configuredAfter: kernelCmdlineParams(files),
    rebootFor: [
      ...pending.map((w) => w.param.raw),
      ...removedRunning.map((r) => `without ${r.raw}`),
    ],
  };
}
