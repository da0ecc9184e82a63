// The boot-loader and initramfs steps of a fix, in words, for `check` and `verify`: always the
// command the table names for this host (src/boot/loaders.ts, src/boot/initramfs.ts), which is
// also the one `plan` runs, so the advice and the plan cannot disagree.

import type { HostState, InitramfsKind } from "../host/types.js";
import { quoteArgv } from "../process/quote.js";
import { INITRAMFS } from "./initramfs.js";
import { bootloaderOf, type Refresh } from "./loaders.js";

type BootState = Pick<HostState, "bootloader">;

function refreshOf(state: BootState, params: readonly string[]): Refresh {
  return bootloaderOf(state.bootloader).refresh(state.bootloader, params);
}

/** Where a parameter is added, in words: "GRUB_CMDLINE_LINUX_DEFAULT in /etc/default/grub". */
export function cmdlineLocation(state: BootState): string {
  return bootloaderOf(state.bootloader).location(state.bootloader);
}

/**
 * What makes the configured command line the next boot's: a command ("update-grub"), or the
 * step in words where there is no command (systemd-boot's entries). `params` are the
 * parameters in question (grubby takes them).
 */
export function cmdlineRefreshCommand(state: BootState, params: readonly string[] = []): string {
  const r = refreshOf(state, params);
  return "argv" in r ? quoteArgv(r.argv) : r.manual;
}

/** The refresh as a step of a sentence: "run update-grub", or the step in words. */
function refreshStep(state: BootState, params: readonly string[]): string {
  const r = refreshOf(state, params);
  return "argv" in r ? `run ${quoteArgv(r.argv)}` : r.manual;
}

/** "update-grub, then reboot": the steps between a configured parameter and a kernel that has it. */
export function cmdlineApplySteps(state: BootState, params: readonly string[] = []): string {
  return `${cmdlineRefreshCommand(state, params)}, then reboot`;
}

/**
 * How to put `raw` on the next boot's command line, short of the reboot: `lead` (by default
 * "add RAW to LOCATION") and the refresh, or the program that edits the entries itself.
 */
export function addParamSteps(
  state: BootState,
  raw: string,
  lead = `add ${raw} to ${cmdlineLocation(state)}`,
): string {
  const editor = bootloaderOf(state.bootloader).editor(state.bootloader);
  if (editor) return `run ${quoteArgv(editor.add([raw]))}`;
  return `${lead}, ${refreshStep(state, [raw])}`;
}

/** "add intel_iommu=on to GRUB_CMDLINE_LINUX_DEFAULT in /etc/default/grub, run update-grub, then reboot (...)". */
export function addParamFix(state: BootState, raw: string): string {
  return `${addParamSteps(state, raw)}, then reboot (\`passthrough plan\` writes it)`;
}

/** "remove intremap=off from /etc/default/grub:6, run update-grub, then reboot"; `where` says where it is set. */
export function removeParamSteps(state: BootState, raw: string, where: string): string {
  const editor = bootloaderOf(state.bootloader).editor(state.bootloader);
  if (editor) return `run ${quoteArgv(editor.remove([raw]))}, then reboot`;
  return `remove ${raw} from ${where}, ${refreshStep(state, [])}, then reboot`;
}

/** The command that rebuilds the initramfs, the one `plan` runs ("update-initramfs -u -k all"). */
export function initramfsRebuildCommand(kind: InitramfsKind): string {
  const argv = INITRAMFS[kind].rebuild;
  if (argv) return quoteArgv(argv);
  const known = Object.values(INITRAMFS).flatMap((e) => (e.rebuild ? [quoteArgv(e.rebuild)] : []));
  return `rebuild the initramfs (${known.join(" / ")})`;
}
