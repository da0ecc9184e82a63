// `passthrough plan`: what would change on this host to pass the selected devices to a VM.
// Reads the host (or --root DIR / --snapshot PATH), computes the plan (src/plan, pure) and
// prints it as diffs + commands, or as JSON. Writes nothing; `apply` carries a plan out.

import type { Command } from "commander";
import { EXIT, InputError, RefusedError } from "../../errors.js";
import { parseDeviceArgs, parseGroupArgs } from "../../formats/device-selection.js";
import { openHostRoot, openRootTree, type OpenedRoot } from "../../host/open-root.js";
import { readHostState } from "../../host/read-host.js";
import type { HostState } from "../../host/types.js";
import { DEFAULT_PLAN_OPTIONS, planHost } from "../../plan/plan.js";
import type { Plan, PlanOptions } from "../../plan/types.js";
import { printJson, type CommandContext } from "../context.js";
import { addDeviceOption, collect, selectDevices } from "../options.js";
import type { RunAction } from "../registration.js";
import { renderPlanText } from "../render/plan-text.js";

export interface PlanFlags {
  device?: string[];
  group?: string[];
  iommuPt?: boolean;
  allowPartialGroup?: boolean;
  headlessOk?: boolean;
  allowUnsafeInterrupts?: boolean;
  acsOverride?: string;
  blacklist?: boolean;
  disableIdleD3?: boolean;
  resetMethod?: string;
  root?: string;
  snapshot?: string;
  json?: boolean;
}

/** The flags `plan` and `apply` share (selection, choices, where the host is). */
export function addPlanFlags(cmd: Command): Command {
  return addPlanChoiceFlags(cmd)
    .option(
      "--root <dir>",
      "read the host from DIR instead of / (a mounted system or a fixture tree); paths in the plan stay host paths",
    )
    .option(
      "--snapshot <path>",
      "read a snapshot (folder or .tar.gz made by `passthrough snapshot`) instead of this host",
    );
}

/** What to pass and how (no "where"): `apply` and `verify` add their own --root/--snapshot. */
export function addPlanChoiceFlags(cmd: Command): Command {
  return addDeviceOption(cmd, "the device(s) to pass")
    .option("--group <n>", "every endpoint of IOMMU group N; repeatable", collect)
    .option(
      "--no-iommu-pt",
      "leave iommu=pt out (by default it is added: the host's own devices skip IOMMU translation)",
    )
    .option(
      "--allow-partial-group",
      "pass part of an IOMMU group, leaving its other devices on host drivers",
    )
    .option("--headless-ok", "allow passing the only GPU (the host loses its local console)")
    .option(
      "--allow-unsafe-interrupts",
      "proceed without interrupt remapping (writes allow_unsafe_interrupts=1; a guest can inject interrupts)",
    )
    .option(
      "--acs-override <value>",
      "add pcie_acs_override=VALUE (downstream, multifunction, id:VVVV:DDDD): splits groups the hardware does not isolate (security risk)",
    )
    .option("--blacklist", "also blacklist the native drivers (never one another host device uses)")
    .option(
      "--disable-idle-d3",
      "keep idle devices on vfio-pci powered (vfio-pci disable_idle_d3=1), for cards that do not wake from D3cold",
    )
    .option(
      "--reset-method <method>",
      "make the kernel reset the selected functions only with METHOD (one their reset_method lists, e.g. bus), through a udev rule",
    );
}

export function planOptionsFrom(flags: PlanFlags): PlanOptions {
  return {
    ...DEFAULT_PLAN_OPTIONS,
    devices: parseDeviceArgs(flags.device).map((d) => d.address),
    groups: parseGroupArgs(flags.group),
    iommuPt: flags.iommuPt !== false,
    allowPartialGroup: flags.allowPartialGroup === true,
    headlessOk: flags.headlessOk === true,
    allowUnsafeInterrupts: flags.allowUnsafeInterrupts === true,
    acsOverride: flags.acsOverride ?? null,
    blacklist: flags.blacklist === true,
    disableIdleD3: flags.disableIdleD3 === true,
    resetMethod: flags.resetMethod ?? null,
  };
}

/**
 * The options with `--device` read against the host the plan is for (the whole-slot rule,
 * cli/options.ts selectDevices): plan, apply and verify select exactly as check and vm do.
 */
export function onHost(
  ctx: Pick<CommandContext, "err">,
  state: HostState,
  opts: PlanOptions,
  flags: Pick<PlanFlags, "device">,
): PlanOptions {
  return { ...opts, devices: selectDevices(ctx, state.pci, flags.device).map((d) => d.address) };
}

/** --root DIR: a directory read like a snapshot (never the live command runner). */
export function openPlanRoot(flags: Pick<PlanFlags, "root" | "snapshot">): OpenedRoot {
  if (flags.root !== undefined && flags.snapshot !== undefined)
    throw new InputError("give --root or --snapshot, not both");
  if (flags.root === undefined) return openHostRoot(flags.snapshot);
  return openRootTree(flags.root);
}

export function loadPlanHost(flags: PlanFlags): HostState {
  const { root, manifest } = openPlanRoot(flags);
  return readHostState(root, { manifest });
}

export function registerPlan(program: Command, run: RunAction): void {
  const cmd = program
    .command("plan")
    .description(
      "show what would change to pass devices to a VM: file diffs, commands, reboot (writes nothing)",
    )
    .addHelpText(
      "after",
      `
The plan is computed for the boot loader and initramfs generator this host really uses
(GRUB, proxmox-boot-tool, systemd-boot, kernelstub; initramfs-tools, dracut, mkinitcpio,
booster). It binds every function of the selected devices to vfio-pci early at boot
(ids= + softdep, or per-address driver_override when the host keeps an identical device),
repairs mistakes in existing files, and refuses (exit 3, nothing written) when passing the
devices would cut the host off its disk or network, split an IOMMU group, take the only
console, or run without interrupt remapping.

Examples:
  passthrough plan --device 0000:01:00                 the GPU and its audio function
  passthrough plan --device 01:00 --no-iommu-pt        without iommu=pt
  passthrough plan --group 14 --json | jq '.steps[] | select(.kind == "command") | .argv'
  passthrough plan --device 0000:01:00 --snapshot host.tar.gz

Exit codes: 0 planned (or nothing to do), 1 the plan cannot do everything (see FAIL notes),
            2 bad input, 3 refused for safety.`,
    );
  addPlanFlags(cmd)
    .option("--json", 'print the plan as one JSON object (README, "plan --json")')
    .action(run<PlanFlags>(planCommand));
}

function planCommand(ctx: CommandContext, flags: PlanFlags): number {
  const state = loadPlanHost(flags);
  const opts = onHost(ctx, state, planOptionsFrom(flags), flags);
  let plan: Plan;
  try {
    plan = planHost(state, opts);
  } catch (err) {
    if (err instanceof RefusedError && flags.json) {
      printJson(ctx, { refused: true, reasons: err.reasons, steps: [], findings: [] });
    }
    if (err instanceof RefusedError && err.reasons.length > 1) {
      ctx.err(`error: refused for safety, nothing written:`, ...err.reasons.map((r) => `  - ${r}`));
      return EXIT.refused;
    }
    throw err;
  }
  if (flags.json) printJson(ctx, plan);
  else ctx.out(renderPlanText(state, plan, opts, ctx.style));
  return plan.findings.some((f) => f.status === "fail") ? EXIT.problems : EXIT.ok;
}
