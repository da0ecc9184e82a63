// Every command, in the order `passthrough --help` lists them, by name and summary. A command's
// module is imported only when argv names it (ARCHITECTURE.md "Command registration"): adding a
// command is one entry here. test/cli/lazy-commands.test.ts holds each term and summary to what
// the command's own registration builds.
import type { CommandEntry, CommandRegistration } from "../registration.js";

export const COMMANDS: readonly CommandEntry[] = [
  {
    name: "check",
    term: "check [options]",
    summary:
      "diagnose the host for PCI passthrough: CPU, IOMMU, interrupt remapping, groups, drivers, configuration mistakes",
    load: async () => [(await import("./check.js")).registerCheck],
  },
  {
    name: "list",
    term: "list [options]",
    summary: "list PCI devices by IOMMU group, with ids, names and the driver in use",
    load: async () => [(await import("./list.js")).registerList],
  },
  {
    name: "snapshot",
    term: "snapshot [options]",
    summary:
      "save this host's hardware and boot configuration, read-only, as one .tar.gz for --snapshot",
    load: async () => [(await import("./snapshot.js")).registerSnapshot],
  },
  {
    name: "plan",
    term: "plan [options]",
    summary:
      "show what would change to pass devices to a VM: file diffs, commands, reboot (writes nothing)",
    load: async () => [(await import("./plan.js")).registerPlan],
  },
  {
    name: "apply",
    term: "apply [options]",
    summary:
      "plan from this host as it is now, show the plan, and (after confirmation) make the changes with a journal",
    load: async () => [(await import("./apply.js")).registerApplyWith(await planner())],
  },
  {
    name: "verify",
    term: "verify [options]",
    summary:
      "after the reboot: prove the planned kernel parameters, IOMMU, vfio modules and vfio-pci binding are in effect",
    load: async () => [(await import("./verify.js")).registerVerifyWith(await planner())],
  },
  {
    name: "rollback",
    term: "rollback [options] [id]",
    summary:
      "undo an apply: restore every file of its journal byte for byte and re-run the refresh commands",
    load: async () => [(await import("./rollback.js")).registerRollback],
  },
  {
    name: "history",
    term: "history [options]",
    summary: "list the journals of past applies: when, what, and whether each was rolled back",
    load: async () => [(await import("./history.js")).registerHistory],
  },
  {
    name: "report",
    term: "report [options]",
    summary:
      "one self-contained HTML page of the host: PCI topology with IOMMU groups, findings and fixes, plan, journal, verify",
    load: async () => [(await import("./report.js")).registerReportWith(await planner())],
  },
  {
    name: "explain",
    term: "explain [options] [id]",
    summary:
      "explain a finding id from `check`, `plan`/`apply`, `verify`, `guest check` or `ct check`: what it means, why, and how to fix it",
    load: async () => [(await import("./explain.js")).registerExplain],
  },
  {
    name: "vm",
    term: "vm",
    summary:
      "configure the VM that gets the device: Proxmox (qm or REST API), libvirt, or plain QEMU",
    load: async () => [
      (await import("./vm.js")).registerVm,
      (await import("./vm-mapping.js")).registerVmMapping,
    ],
  },
  {
    name: "ct",
    term: "ct",
    summary:
      "give a Proxmox or plain LXC container a host GPU's device nodes (the card stays on the host)",
    load: async () => [(await import("./ct.js")).registerCt],
  },
  {
    name: "mode",
    term: "mode [options] <mode>",
    summary:
      "move a GPU between its host driver and vfio-pci now, without a reboot, when nothing uses it",
    load: async () => [(await import("./mode.js")).registerMode],
  },
  {
    name: "rom",
    term: "rom",
    summary:
      "read a GPU's VBIOS (option ROM) from the card and check a ROM file before a VM uses it",
    load: async () => [(await import("./rom.js")).registerRom],
  },
  {
    name: "guest",
    term: "guest",
    summary:
      "inside the VM: a bootstrap for SSH, Tailscale, the GPU driver and Sunshine; and the proof that the GPU works there",
    load: async () => [
      (await import("./guest-setup.js")).registerGuestSetup,
      (await import("./guest-check.js")).registerGuestCheck,
    ],
  },
  {
    name: "guide",
    term: "guide [options]",
    summary:
      "walk the whole flow interactively: check, pick the device, read the plan, confirm (also: `passthrough` alone on a terminal)",
    load: async () => [(await import("./guide.js")).registerGuide],
  },
];

/** The planner apply, verify and report plan with: the host's own (tests give theirs). */
const planner = async () => (await import("../../plan/plan.js")).planHost;

/** Every command's registrations, in order: the full tree, for the man page and completions. */
export async function loadAllCommands(): Promise<CommandRegistration[]> {
  return (await Promise.all(COMMANDS.map((c) => c.load()))).flat();
}
