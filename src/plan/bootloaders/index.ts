// One entry point: plan the command line change for the boot loader this host boots with.
// One case per BootloaderKind (the default only proves none is left), so a new kind does not
// compile until it has its planner here and its entry in src/boot/loaders.ts.

import type { PlanFinding } from "../../findings/plan-catalog.js";
import type { HostState } from "../../host/types.js";
import type { PlanFiles } from "../files.js";
import { notRunning, type BootResult, type CmdlineEdit } from "./common.js";
import { planGrub } from "./grub.js";
import { planKernelstub } from "./kernelstub.js";
import { planProxmoxBootTool } from "./proxmox-boot-tool.js";
import { planSystemdBoot } from "./systemd-boot.js";

export type { BootResult, CmdlineEdit } from "./common.js";

export function planBootloader(
  state: HostState,
  files: PlanFiles,
  edit: CmdlineEdit,
  findings: PlanFinding[],
): BootResult {
  switch (state.bootloader.kind) {
    case "grub":
      return planGrub(state, files, edit, findings);
    case "proxmox-boot-tool/grub":
    case "proxmox-boot-tool/systemd-boot":
      return planProxmoxBootTool(state, files, edit, findings);
    case "systemd-boot":
      return planSystemdBoot(state, files, edit, findings);
    case "kernelstub":
      return planKernelstub(state, edit, findings);
    case "unknown":
      return planUnknown(state, edit, findings);
    default:
      return state.bootloader.kind satisfies never;
  }
}

/** No boot loader recognised: nothing is written; the finding says what to add by hand. */
function planUnknown(state: HostState, edit: CmdlineEdit, findings: PlanFinding[]): BootResult {
  const missing = notRunning(state.cmdline.running, edit.add);
  if (missing.length || edit.remove.length) {
    findings.push({
      id: "bootloader.unknown",
      status: "fail",
      subject: null,
      summary:
        "the boot loader of this host was not recognised (GRUB, systemd-boot, proxmox-boot-tool, kernelstub): the kernel command line is not changed by this plan",
      fix: `add ${missing.map((w) => w.param.raw).join(" ") || "the parameters"} to your boot loader's kernel command line by hand${edit.remove.length ? ` and remove ${edit.remove.map((r) => r.raw).join(" ")}` : ""}`,
    });
  }
  return { commands: [], configuredAfter: null, rebootFor: missing.map((w) => w.param.raw) };
}
