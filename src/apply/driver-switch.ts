// Making a `mode` switch now (plan/mode-switch.ts): the modprobe runs, then each sysfs write in
// order, then the driver link of every function read back. A write the kernel rejects (unbind
// of a busy device, an unknown driver name) stops the switch, and the functions already moved
// are put back (their old driver_override written, drivers_probe), so the card is not left
// without a driver. Writes go through `sysfsPort`, an object so tests can put a fake kernel
// behind it (test/helpers/fake-kernel.ts); nothing here runs on a snapshot.

import * as fs from "node:fs";
import * as path from "node:path";
import { ApplyError, describeFsError } from "../errors.js";
import { commandSucceeded, firstErrorLine, type CommandRunner } from "../process/run.js";
import type { SwitchPlan } from "../plan/mode-switch.js";

export const sysfsPort = {
  write(file: string, value: string): void {
    // One write(2), as `echo VALUE > FILE` does: sysfs takes a store in one call.
    fs.writeFileSync(file, value);
  },
};

export interface SwitchedFunction {
  address: string;
  before: string | null;
  after: string | null;
}

/** The driver bound to a function now: the basename of its `driver` link. */
export function boundDriver(rootDir: string, address: string): string | null {
  try {
    return path.basename(
      fs.readlinkSync(path.join(rootDir, `sys/bus/pci/devices/${address}/driver`)),
    );
  } catch {
    return null;
  }
}

export function executeSwitch(
  rootDir: string,
  plan: SwitchPlan,
  runner: CommandRunner,
  overridesBefore: Map<string, string | null>,
): SwitchedFunction[] {
  for (const argv of plan.modprobe) {
    const r = runner.run(argv);
    if (!commandSucceeded(r))
      throw new ApplyError(`${argv.join(" ")} failed: ${firstErrorLine(r)}; nothing was changed`);
  }
  for (const [i, w] of plan.writes.entries()) {
    try {
      sysfsPort.write(path.join(rootDir, w.file), w.value);
    } catch (err) {
      const restored = restore(rootDir, plan, overridesBefore);
      throw new ApplyError(
        `writing ${JSON.stringify(w.value.trim())} to /${w.file} failed (${describeFsError(err)}) after ${i} of ${plan.writes.length} writes; ${restored}`,
      );
    }
  }
  const result: SwitchedFunction[] = plan.targets.map((t) => ({
    address: t.address,
    before: t.before,
    after: boundDriver(rootDir, t.address),
  }));
  const wrong = result.filter((r, i) => !arrived(plan, plan.targets[i]!.want, r.after));
  if (wrong.length)
    throw new ApplyError(
      `after the switch ${wrong.map((w) => `${w.address} is on ${w.after ?? "no driver"}`).join(", ")}, not ${plan.mode === "vm" ? "vfio-pci" : "a host driver"}; \`dmesg | tail\` says why`,
    );
  return result;
}

function arrived(plan: SwitchPlan, want: string | null, after: string | null): boolean {
  if (plan.mode === "vm") return after === "vfio-pci";
  if (want === null) return after !== "vfio-pci" && after !== "pci-stub";
  return after !== null && after !== "vfio-pci" && after !== "pci-stub";
}

/**
 * Best effort after a failed write: each function not on its old driver is unbound, pinned to
 * that driver with driver_override and probed, then its old override is written back.
 */
function restore(rootDir: string, plan: SwitchPlan, overrides: Map<string, string | null>): string {
  const failed: string[] = [];
  const put = (rel: string, value: string) => {
    try {
      sysfsPort.write(path.join(rootDir, rel), value);
    } catch {
      failed.push(`/${rel}`);
    }
  };
  for (const t of plan.targets) {
    const now = boundDriver(rootDir, t.address);
    if (now === t.before) continue;
    const dev = `sys/bus/pci/devices/${t.address}`;
    if (now !== null) put(`sys/bus/pci/drivers/${now}/unbind`, t.address);
    if (t.before !== null) put(`${dev}/driver_override`, t.before);
    put("sys/bus/pci/drivers_probe", t.address);
    put(`${dev}/driver_override`, overrides.get(t.address) ?? "\n");
  }
  const state = plan.targets.map(
    (t) => `${t.address} on ${boundDriver(rootDir, t.address) ?? "no driver"}`,
  );
  return failed.length
    ? `putting it back failed too (${failed.join(", ")}): ${state.join(", ")}`
    : `put back: ${state.join(", ")}`;
}
