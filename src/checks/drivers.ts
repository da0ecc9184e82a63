// The driver bound to each function of a target, and whether anything binds vfio-pci at boot
// (docs/domain-facts.md §3, §6). Proxmox (and libvirt managed='yes') rebind a device to vfio-pci
// when a VM starts, so "vfio-pci now" can be a leftover of the last VM start: after a reboot
// the native driver takes the device back, and QEMU then has to unbind a live GPU driver,
// which GPUs handle badly. Binding at boot (vfio-pci ids= with softdeps, or driver_override
// by address for identical cards) is what `apply` sets up.

import { findParams } from "../formats/kernel-cmdline.js";
import { optionsOf } from "../formats/modprobe-conf.js";
import type { HostState, PciDevice } from "../host/types.js";
import { VFIO_DRIVERS, nativeModulesOf } from "./candidates.js";
import type { CheckContext } from "./context.js";
import { hostPath, joinList, shortFunction, targetFunctions } from "./context.js";
import { finding } from "../findings/finding.js";
import type { Candidate } from "./types.js";
import type { Finding } from "../findings/finding.js";

export interface BootBinding {
  how: "ids" | "address";
  /** "/etc/modprobe.d/vfio.conf:1 (options vfio-pci ids=10de:2206,10de:1aef)". */
  where: string;
}

/** Does a vfio-pci `ids=` list (vendor:device[:subvendor[:subdevice]], comma separated) match the device? */
export function idsMatch(
  list: string,
  d: Pick<PciDevice, "vendorId" | "deviceId" | "subsystem">,
): boolean {
  return list
    .toLowerCase()
    .split(",")
    .map((x) => x.trim().split(":"))
    .some(([v, dev, sv, sd]) => {
      if (v !== d.vendorId || dev !== d.deviceId) return false;
      if (
        sv &&
        sv !== "ffffffff" &&
        d.subsystem &&
        sv.padStart(4, "0").slice(-4) !== d.subsystem.vendorId
      )
        return false;
      if (
        sd &&
        sd !== "ffffffff" &&
        d.subsystem &&
        sd.padStart(4, "0").slice(-4) !== d.subsystem.deviceId
      )
        return false;
      return true;
    });
}

/** Folders whose files bind a driver by address at boot: udev rules, initramfs scripts, driverctl. */
const ADDRESS_BINDING_DIRS = [
  "etc/udev/rules.d/",
  "etc/initramfs-tools/scripts/init-top/",
  "etc/driverctl.d/",
];

/** What binds vfio-pci to this function at boot, if anything. */
export function bootTimeVfioBinding(state: HostState, d: PciDevice): BootBinding | null {
  for (const m of state.modules.modprobe) {
    if (m.command !== "options" || m.module !== "vfio_pci") continue;
    const ids = optionsOf(m).ids;
    if (ids !== undefined && idsMatch(ids, d))
      return { how: "ids", where: `${hostPath(m.file, m.line)} (${m.raw})` };
  }
  const params = state.cmdline.configured?.params ?? state.cmdline.running ?? [];
  for (const p of findParams(params, "vfio_pci.ids")) {
    if (p.value !== null && idsMatch(p.value, d))
      return {
        how: "ids",
        where: `${p.origin ? hostPath(p.origin.file, p.origin.line) : "the kernel command line"} (${p.raw})`,
      };
  }
  for (const [file, text] of Object.entries(state.configFiles)) {
    if (!ADDRESS_BINDING_DIRS.some((dir) => file.startsWith(dir))) continue;
    const named = file.endsWith(`pci-${d.address}`) || text.includes(d.address);
    if (named && /vfio-pci|vfio_pci/.test(text))
      return { how: "address", where: `${hostPath(file)} (driver_override by address)` };
  }
  return null;
}

/** Modules blacklisted with an exact name (wildcards match nothing: config.ts reports them). */
function blacklisted(state: HostState): Set<string> {
  return new Set(
    state.modules.modprobe.filter((m) => m.command === "blacklist").map((m) => m.module),
  );
}

/** The driver a function gets after a reboot when nothing binds vfio-pci: its first non-blacklisted native module. */
export function driverAfterReboot(
  state: HostState,
  d: PciDevice,
): { module: string | null; blocked: string[] } {
  const black = blacklisted(state);
  const native = nativeModulesOf(d);
  const module = native.find((m) => !black.has(m)) ?? null;
  return { module, blocked: native.filter((m) => black.has(m)) };
}

export function checkDrivers(ctx: CheckContext): Finding[] {
  const out: Finding[] = [];
  for (const c of ctx.targets)
    for (const d of targetFunctions(ctx, c)) out.push(driverFinding(ctx, c, d));
  return out;
}

function driverFinding(ctx: CheckContext, c: Candidate, d: PciDevice): Finding {
  const { state } = ctx;
  const subject = d.address;
  const fn = c.functions.length > 1 ? `${shortFunction(d.address)} ` : "";
  const binding = bootTimeVfioBinding(state, d);
  const planFix = `\`passthrough plan --device ${c.address}\` binds it to vfio-pci at boot (then \`apply\`, reboot)`;
  if (d.driver !== null && VFIO_DRIVERS.has(d.driver)) {
    if (binding)
      return finding(
        "driver.vfio",
        "pass",
        `${fn}on ${d.driver}, bound at boot by ${binding.where}`,
        { subject },
      );
    const after = driverAfterReboot(state, d);
    const next = after.module
      ? `returns to ${after.module}`
      : `has no driver${after.blocked.length ? ` (${joinList(after.blocked)} blacklisted)` : ""}`;
    return finding(
      "driver.vfio-runtime",
      "warn",
      `${fn}on ${d.driver} only since a VM started: nothing binds it at boot, so after a reboot it ${next}`,
      { subject, fix: planFix },
    );
  }
  if (d.driver === null) {
    return finding(
      "driver.none",
      "info",
      `${fn}no driver bound${binding ? `; ${binding.where} binds vfio-pci from the next boot` : " (a VM start binds vfio-pci)"}`,
      { subject, fix: binding ? null : planFix },
    );
  }
  if (binding) {
    return finding(
      "driver.native",
      "warn",
      `${fn}on ${d.driver} although ${binding.where} binds vfio-pci at boot: the reboot is pending, or ${d.driverModule ?? d.driver} loads before vfio-pci`,
      {
        subject,
        fix: `reboot if you have not since the change; otherwise add "softdep ${d.driverModule ?? d.driver} pre: vfio-pci" to a file in /etc/modprobe.d and rebuild the initramfs (\`passthrough plan --device ${c.address}\` writes both)`,
      },
    );
  }
  // The other functions of the card are bound at boot but this one is not: the card is only
  // partly reserved, and the VM start has to unbind a live host driver from this function.
  const siblings = targetFunctions({ ...ctx, functionFilter: null }, c).filter(
    (x) => x.address !== d.address && bootTimeVfioBinding(state, x) !== null,
  );
  if (siblings.length > 0) {
    return finding(
      "driver.native",
      "warn",
      `${fn}on ${d.driver} while ${joinList(siblings.map((x) => shortFunction(x.address)))} ${siblings.length === 1 ? "is" : "are"} bound to vfio-pci at boot: the card is only partly reserved`,
      {
        subject,
        fix: `add ${d.vendorId}:${d.deviceId} to the vfio-pci ids= list and "softdep ${d.driverModule ?? d.driver} pre: vfio-pci" to /etc/modprobe.d, then rebuild the initramfs (\`passthrough plan --device ${c.address}\` writes both)`,
      },
    );
  }
  return finding("driver.native", "info", `${fn}on ${d.driver} (host driver)`, {
    subject,
    fix: planFix,
  });
}
