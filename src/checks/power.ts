// Power states of the target's functions (sysfs power_state, d3cold_allowed). vfio-pci puts an
// idle device into a low-power state; with d3cold_allowed the platform may cut its power
// entirely (D3cold). Some devices do not come back from it: the kernel then logs "Unable to
// change power state from D3cold to D0, device inaccessible" and the VM cannot start with
// them. vfio-pci's disable_idle_d3=1 keeps idle devices in D0; writing 0 to d3cold_allowed
// forbids D3cold for one device (Documentation/ABI/testing/sysfs-bus-pci).

import type { CheckContext } from "./context.js";
import { joinList, targetFunctions } from "./context.js";
import { finding } from "../findings/finding.js";
import type { Finding } from "../findings/finding.js";
import type { PciDevice } from "../host/types.js";

const DISABLE_IDLE_D3 = "options vfio-pci disable_idle_d3=1";

export function checkPower(ctx: CheckContext): Finding[] {
  const out: Finding[] = [];
  const failed = new Set(ctx.state.kernelLog.d3coldFailures);
  for (const c of ctx.targets) {
    const devs = targetFunctions(ctx, c);
    const stuck = devs.filter((d) => failed.has(d.address));
    const cold = devs.filter((d) => d.powerState === "D3cold" && !failed.has(d.address));
    if (stuck.length > 0) {
      out.push(
        finding(
          "power.d3cold",
          "fail",
          `${joinList(stuck.map((d) => d.address))} did not come back from D3cold (kernel log: "Unable to change power state from D3cold to D0, device inaccessible"): the VM cannot use ${stuck.length === 1 ? "it" : "them"} until the host reboots`,
          { subject: c.address, fix: fixFor(stuck) },
        ),
      );
    } else if (cold.length > 0) {
      out.push(
        finding(
          "power.d3cold",
          "warn",
          `${joinList(cold.map((d) => d.address))} ${cold.length === 1 ? "is" : "are"} powered off (power_state D3cold): a device that does not wake from it fails the VM start`,
          { subject: c.address, fix: fixFor(cold) },
        ),
      );
    }
  }
  return out;
}

function fixFor(devs: readonly PciDevice[]): string {
  const allowed = devs.filter((d) => d.d3coldAllowed === true);
  const now = allowed.map((d) => `echo 0 > /sys/bus/pci/devices/${d.address}/d3cold_allowed`);
  return [
    ...(now.length ? [`now: ${now.join("; ")}`] : []),
    `for good: \`passthrough plan --device ${devs[0]!.address} --disable-idle-d3\` (it writes \`${DISABLE_IDLE_D3}\` to /etc/modprobe.d/passthrough.conf and rebuilds the initramfs), then apply and reboot`,
  ].join("; ");
}
