// Pop!_OS: kernelstub copies the kernel to the ESP and writes its systemd-boot entry; the
// options live in /etc/kernelstub/configuration (user.kernel_options) and are changed with
// `kernelstub --add-options "..."` / `--delete-options "..."`, which also rewrites the entry.

import { BOOTLOADERS, KERNELSTUB } from "../../boot/loaders.js";
import type { PlanFinding } from "../../findings/plan-catalog.js";
import type { HostState } from "../../host/types.js";
import { satisfied } from "../cmdline.js";
import type { CommandStep } from "../types.js";
import { notRunning, raws, type BootResult, type CmdlineEdit } from "./common.js";

export function planKernelstub(
  state: HostState,
  edit: CmdlineEdit,
  _findings: PlanFinding[],
): BootResult {
  const configured = state.cmdline.configured?.params ?? [];
  const running = state.cmdline.running ?? [];
  const commands: CommandStep[] = [];
  const removeNow = edit.remove.filter((r) => configured.some((p) => p.raw === r.raw));
  if (removeNow.length) {
    const list = removeNow.map((r) => r.raw);
    commands.push({
      kind: "command",
      argv: [...KERNELSTUB.remove(list)],
      why: removeNow.map((r) => r.why).join("; "),
      undo: [...KERNELSTUB.add(list)],
    });
  }
  const notConfigured = edit.add.filter((w) => !satisfied(configured, w.param));
  const pending = edit.add.filter(
    (w) => satisfied(configured, w.param) && !satisfied(running, w.param),
  );
  if (notConfigured.length) {
    const list = notConfigured.map((w) => w.param.raw);
    commands.push({
      kind: "command",
      argv: [...KERNELSTUB.add(list)],
      why: `add ${raws(notConfigured)} to kernelstub's options and the boot entry it writes`,
      undo: [...KERNELSTUB.remove(list)],
    });
  } else if (pending.length) {
    commands.push({
      kind: "command",
      argv: [...BOOTLOADERS.kernelstub.refresh().argv],
      why: `${raws(pending)} is in /etc/kernelstub/configuration but the running kernel did not get it: kernelstub rewrites the boot entry from its configuration`,
    });
  }
  return {
    commands,
    configuredAfter: [
      ...configured.filter((p) => !removeNow.some((r) => r.raw === p.raw)),
      ...notConfigured.map((w) => w.param),
    ],
    rebootFor: [
      ...notRunning(running, edit.add).map((w) => w.param.raw),
      ...removeNow
        .filter((r) => running.some((p) => p.raw === r.raw))
        .map((r) => `without ${r.raw}`),
    ],
  };
}
