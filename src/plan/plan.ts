// The planner: HostState + what the user asked -> Plan. Pure (no I/O); throws InputError for a
// bad selection and RefusedError when carrying the plan out would be unsafe.
//
//   selection -> refusals -> repairs of existing files -> command line -> binding (modprobe.d)
//   -> modules at boot -> initramfs -> commands (initramfs rebuild, boot loader refresh) -> reboot
//
// Idempotent: every file step is computed against what the host's files already say, so a
// host already in the desired state gets no file step. Commands appear without file changes
// only when something is pending: a parameter configured but not in /proc/cmdline (the file
// cannot tell whether the refresh ran, and running it again is harmless), or a selected
// function not yet on vfio-pci (the initramfs may predate the config). Then the reboot follows.

import { affectsInitramfs } from "../boot/initramfs.js";
import {
  NOTHING_SELECTED,
  formatDeviceArgs,
  parseDeviceArgs,
} from "../formats/device-selection.js";
import { lintConfiguration } from "../checks/config-lint.js";
import type { PlanFinding } from "../findings/plan-catalog.js";
import { InputError, RefusedError } from "../errors.js";
import type { HostState } from "../host/types.js";
import { IDLE_D0_PARAM, planBinding, writeModprobe, type BindingPlan } from "./binding.js";
import { planBootloader, type CmdlineEdit } from "./bootloaders/index.js";
import { wantedCmdline } from "./cmdline.js";
import { PlanFiles } from "./files.js";
import { rebuildCommand, writeInitramfsModules } from "./initramfs/index.js";
import { writeModulesLoad } from "./modules-load.js";
import { checkRefusals, iommuReadiness } from "./refusals.js";
import { planRepairs } from "./repairs.js";
import { planResetRule, resetMethodExpectation } from "./reset-rule.js";
import { resolveSelection } from "./selection.js";
import type { CommandStep, Plan, Planner, PlanOptions, Step } from "./types.js";

export const DEFAULT_PLAN_OPTIONS: Omit<PlanOptions, "devices" | "groups"> = {
  iommuPt: true,
  allowPartialGroup: false,
  headlessOk: false,
  allowUnsafeInterrupts: false,
  acsOverride: null,
  blacklist: false,
  disableIdleD3: false,
  resetMethod: null,
};

/** The plan command line for the same choice (selection and flags), for "run it again" hints. */
export function rerunCommand(opts: PlanOptions): string {
  return [
    "passthrough plan",
    ...(opts.devices.length ? [`--device ${formatDeviceArgs(parseDeviceArgs(opts.devices))}`] : []),
    ...opts.groups.map((g) => `--group ${g}`),
    ...(opts.iommuPt ? [] : ["--no-iommu-pt"]),
    ...(opts.allowPartialGroup ? ["--allow-partial-group"] : []),
    ...(opts.headlessOk ? ["--headless-ok"] : []),
    ...(opts.allowUnsafeInterrupts ? ["--allow-unsafe-interrupts"] : []),
    ...(opts.acsOverride !== null ? [`--acs-override ${opts.acsOverride}`] : []),
    ...(opts.blacklist ? ["--blacklist"] : []),
    ...(opts.disableIdleD3 ? ["--disable-idle-d3"] : []),
    ...(opts.resetMethod !== null ? [`--reset-method ${opts.resetMethod}`] : []),
  ].join(" ");
}

export const planHost: Planner = (state: HostState, opts: PlanOptions): Plan => {
  const sel = resolveSelection(state, opts);
  // Every change is made for a device: with none selected, nothing is planned, not even the
  // repairs (an empty --device once wrote `options vfio-pci ids=` with a blank header).
  if (sel.selection.functions.length === 0) throw new InputError(NOTHING_SELECTED);
  const readiness = iommuReadiness(state);
  const gate = checkRefusals(state, sel, opts, readiness);
  if (gate.reasons.length > 0) {
    throw new RefusedError(
      gate.reasons.length === 1
        ? `refused, nothing written: ${gate.reasons[0]}`
        : `refused for ${gate.reasons.length} reasons, nothing written: ${gate.reasons.join(" | ")}`,
      gate.reasons,
    );
  }
  const findings: PlanFinding[] = [...gate.findings];
  const files = new PlanFiles(state.configFiles);
  const phase: Plan["phase"] = readiness.kind === "enable" ? "enable-iommu" : "complete";

  // 1. Repairs of existing files.
  const problems = lintConfiguration(state);
  const edit: CmdlineEdit = { add: [], remove: [], repaired: [] };
  planRepairs(state, files, problems, edit, findings);

  // 2. What the kernel command line needs.
  const binding: BindingPlan | null = phase === "complete" ? planBinding(state, sel, opts) : null;
  if (binding) findings.push(...binding.findings);
  const wants = wantedCmdline(state, sel, opts, readiness, binding, problems);
  findings.push(...wants.findings);
  edit.add.push(...wants.add);
  edit.remove.push(...wants.remove);
  if (readiness.kind === "enable") {
    findings.push({
      id: "iommu.off",
      status: "warn",
      subject: null,
      summary: `the IOMMU is off (no IOMMU groups): this plan only turns it on; device binding is planned after the reboot, once the groups are known`,
      fix: `during the reboot, enter the firmware setup and set ${readiness.firmware}; then run \`${rerunCommand(opts)}\` again`,
    });
  }

  // 3. Put them where this host's boot loader reads them.
  const boot = planBootloader(state, files, edit, findings);

  // 4. Binding, modules, initramfs.
  const running = new Set(state.modules.loaded ?? []);
  let bindingPending: string[] = [];
  if (binding) {
    writeModprobe(state, files, sel, opts, binding, findings);
    writeModulesLoad(state, files, binding.vfioModules);
    writeInitramfsModules(state.initramfs.kind, files, binding.vfioModules, findings);
    planResetRule(state, sel, opts, files, findings);
    bindingPending = sel.devices.filter((d) => d.driver !== "vfio-pci").map((d) => d.address);
  }
  const modulesPending = binding ? binding.vfioModules.filter((m) => !running.has(m)) : [];

  // 5. Commands and the reboot.
  const commands: CommandStep[] = [];
  const initramfsFiles = [...files.changed().keys()].filter(affectsInitramfs);
  if (initramfsFiles.length || (bindingPending.length && binding)) {
    const why = initramfsFiles.length
      ? `the initramfs carries its own copy of ${initramfsFiles.map((f) => `/${f}`).join(", ")}: rebuild it so early boot binds the same way`
      : `${bindingPending.join(", ")} ${bindingPending.length === 1 ? "is" : "are"} not on vfio-pci yet although the files are in place: rebuild the initramfs in case it predates them`;
    const cmd = rebuildCommand(state.initramfs.kind, why);
    if (cmd) commands.push(cmd);
  }
  commands.push(...boot.commands);

  const rebootReasons: string[] = [];
  if (boot.rebootFor.length)
    rebootReasons.push(
      `the kernel reads its command line only at boot (${boot.rebootFor.join(" ")})`,
    );
  if (binding && (bindingPending.length || initramfsFiles.length)) {
    rebootReasons.push(
      `vfio-pci claims ${sel.selection.functions.join(", ")} at boot, before their drivers`,
    );
  } else if (modulesPending.length) {
    rebootReasons.push(`${modulesPending.join(", ")} load at boot`);
  }
  if (phase === "enable-iommu" && readiness.kind === "enable") {
    rebootReasons.push(
      `enter the firmware setup during it and make sure ${readiness.firmware}: no kernel parameter turns on an IOMMU the firmware leaves off`,
    );
  }

  const steps: Step[] = [...files.steps, ...commands];
  if (rebootReasons.length) steps.push({ kind: "reboot", why: rebootReasons.join("; ") });

  return {
    selection: sel.selection,
    steps,
    findings,
    expect: {
      cmdline: edit.add.map((w) => w.param.raw),
      modulesLoaded: binding ? binding.vfioModules : [],
      boundToVfio: binding ? sel.selection.functions : [],
      ...(binding?.idleD0 ? { moduleParams: [IDLE_D0_PARAM] } : {}),
      ...resetMethodExpectation(sel, opts),
    },
    phase,
    cmdline: edit.add.map((w) => ({ param: w.param.raw, why: w.why })),
  };
};
