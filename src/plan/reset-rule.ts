// --reset-method METHOD: make the kernel use one reset method for the selected functions, with
// a udev rule that writes it to sysfs `reset_method` when each device appears
// (Documentation/ABI/testing/sysfs-bus-pci "reset_method": reading lists the supported methods
// in the order the kernel tries them; writing a subset, e.g. "bus", makes the kernel use only
// those; udev(7) ATTR{file}="value" writes a sysfs attribute). After switch_root,
// systemd-udev-trigger replays the "add" events, so the rule applies at every boot.
//
// The method must be one the kernel lists for the device now: the kernel rejects a method it
// cannot use (the write fails with EINVAL), and the rule would then leave the default order.

import { InputError } from "../errors.js";
import type { PlanFinding } from "../findings/plan-catalog.js";
import type { HostState } from "../host/types.js";
import type { PlanFiles } from "./files.js";
import type { ResolvedSelection } from "./selection.js";
import type { PlanOptions, ResetMethodExpectation } from "./types.js";

/** Ours: written from the selection when the flag is given; a plan without the flag leaves it. */
export const RESET_RULE_FILE = "etc/udev/rules.d/99-passthrough-reset.rules";

/** The names the kernel accepts (drivers/pci/pci.c pci_reset_fn_methods). */
export const RESET_METHODS = ["device_specific", "acpi", "flr", "af_flr", "pm", "bus", "cxl_bus"];

export function resetRuleLine(address: string, method: string): string {
  return `ACTION=="add", SUBSYSTEM=="pci", KERNEL=="${address}", ATTR{reset_method}="${method}"`;
}

export function planResetRule(
  state: HostState,
  sel: ResolvedSelection,
  opts: PlanOptions,
  files: PlanFiles,
  findings: PlanFinding[],
): void {
  const method = opts.resetMethod;
  if (method === null) return;
  if (!RESET_METHODS.includes(method))
    throw new InputError(
      `--reset-method ${method}: not a kernel reset method; use one of ${RESET_METHODS.join(", ")}`,
    );
  for (const d of sel.devices) {
    if (d.resetMethods === null)
      throw new InputError(
        `--reset-method ${method}: ${d.address} has no reset_method file (kernel before 5.15, or the device has no method); nothing to choose from`,
      );
    if (!d.resetMethods.includes(method))
      throw new InputError(
        `--reset-method ${method}: ${d.address} supports ${d.resetMethods.join(", ") || "no method"}; choose one of those`,
      );
  }
  const lines = sel.devices.map((d) => resetRuleLine(d.address, method));
  files.write(
    RESET_RULE_FILE,
    [
      "# Written by passthrough (--reset-method): the reset method the kernel uses for these",
      "# functions (sysfs reset_method). Undo with `passthrough rollback` or delete this file.",
      ...lines,
      "",
    ].join("\n"),
    `--reset-method ${method}: udev sets reset_method to ${method} for ${sel.selection.functions.join(", ")} whenever they appear`,
  );
  const now = sel.devices.filter((d) => d.resetMethods!.join(" ") !== method);
  findings.push({
    id: "reset.udev-rule",
    status: "info",
    subject: sel.selection.functions.join(", "),
    summary: `reset_method ${method} for ${sel.selection.functions.join(", ")} (now: ${now.map((d) => `${d.address} ${d.resetMethods!.join(" ")}`).join("; ") || method}); the rule applies from the next boot`,
    fix: now.length
      ? `to use it before the reboot: ${now.map((d) => `echo ${method} > /sys/bus/pci/devices/${d.address}/reset_method`).join("; ")}`
      : null,
  });
}

/** What verify reads back after the reboot: each selected function's reset_method. */
export function resetMethodExpectation(
  sel: ResolvedSelection,
  opts: PlanOptions,
): { resetMethods?: ResetMethodExpectation[] } {
  const method = opts.resetMethod;
  if (method === null) return {};
  return { resetMethods: sel.devices.map((d) => ({ address: d.address, method })) };
}
