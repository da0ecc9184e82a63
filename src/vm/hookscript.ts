// A Proxmox VE hookscript that gives a VM its GPU only while it runs: qemu-server calls the
// script named by the VM's `hookscript: STORAGE:snippets/NAME` as `SCRIPT VMID PHASE` for the
// phases pre-start, post-start, pre-stop and post-stop (qm(1), "Hookscripts"; the example
// /usr/share/pve-docs/examples/guest-example-hookscript.pl). A non-zero exit in pre-start
// stops the start. Here pre-start runs `passthrough mode vm` and post-stop `passthrough mode
// host`; both change nothing when the card is where it should be, so a repeated call (a
// reboot from inside, a failed start) is harmless. Every call is logged to the journal
// (logger -t passthrough-hook) and to the task log (stdout).

import { ApplyError } from "../errors.js";
import { slotOf } from "../formats/pci-address.js";
import { quoteArgv } from "../process/quote.js";
import { commandSucceeded, firstErrorLine, type CommandRunner } from "../process/run.js";
import { writeLocalSnippet } from "./snippets.js";

/** The installed program (the .deb's /usr/bin/passthrough). */
export const PASSTHROUGH_BIN = "/usr/bin/passthrough";

/** "0000:01:00.0" -> "passthrough-0000-01-00.sh": snippet names take no ":". */
export function hookscriptName(address: string): string {
  return `passthrough-${slotOf(address).replace(/:/g, "-")}.sh`;
}

/** `address` is the GPU function: mode moves it with the functions of its slot in its IOMMU group. */
export function hookscriptText(address: string): string {
  const run = (mode: string) =>
    quoteArgv([PASSTHROUGH_BIN, "mode", mode, "--device", address, "--yes"]);
  return `#!/bin/sh
# Proxmox VE hookscript written by passthrough: ${address} goes to vfio-pci before the VM
# starts (pre-start) and back to its host driver after it stops (post-stop).
# Called as: SCRIPT VMID PHASE (qm(1), "Hookscripts").
vmid="$1"
phase="$2"
log() {
  logger -t passthrough-hook "VM $vmid $phase: $*" 2>/dev/null || true
  echo "passthrough-hook: VM $vmid $phase: $*"
}
case "$phase" in
  pre-start)
    log "${run("vm")}"
    if ! ${run("vm")}; then
      log "could not move ${address} to vfio-pci: the VM does not start"
      exit 1
    fi
    ;;
  post-stop)
    log "${run("host")}"
    ${run("host")} || log "could not give ${address} back to its host driver; it stays on vfio-pci"
    ;;
esac
exit 0
`;
}

export interface HookscriptInstall {
  /** The snippet file on this node. */
  file: string;
  /** "local:snippets/passthrough-0000-01-00.sh" */
  volume: string;
  argv: string[];
  undo: string[];
}

/** The qm set that points the VM at the snippet (qemu-server checks it exists and is executable). */
export function hookscriptArgv(vmid: number, volume: string): string[] {
  return ["qm", "set", String(vmid), "--hookscript", volume];
}

/** The snippet for a card on a snippets storage: its file name, text and volume id. */
export function hookscriptSnippet(
  address: string,
  storage: string,
): { name: string; text: string; volume: string } {
  const name = hookscriptName(address);
  return { name, text: hookscriptText(address), volume: `${storage}:snippets/${name}` };
}

/**
 * Writes the snippet (0700, atomically, in the storage's snippets folder as pvesm names it),
 * sets it on the VM, and reads the VM config back (`qm config`).
 */
export async function installHookscript(
  runner: CommandRunner,
  vmid: number,
  address: string,
  storage: string,
): Promise<HookscriptInstall> {
  const { name, text, volume } = hookscriptSnippet(address, storage);
  const file = await writeLocalSnippet(runner, storage, name, text, 0o700);
  const argv = hookscriptArgv(vmid, volume);
  const set = runner.run(argv);
  if (!commandSucceeded(set))
    throw new ApplyError(
      `${quoteArgv(argv)} failed: ${firstErrorLine(set)}; the snippet ${file} is written, the VM config is as it was`,
    );
  const back = runner.run(["qm", "config", String(vmid)]);
  const line = /^hookscript: (.*)$/m.exec(back.stdout)?.[1];
  if (!commandSucceeded(back) || line !== volume)
    throw new ApplyError(
      `read back VM ${vmid}: hookscript is ${line ?? "absent"}, not ${volume}; qm set did not make the change`,
    );
  return { file, volume, argv, undo: ["qm", "set", String(vmid), "--delete", "hookscript"] };
}
