// Is the IOMMU on, and if not, precisely why (docs/domain-facts.md §1):
// - the running command line turns it off (amd_iommu=off, intel_iommu=off, iommu=off);
// - we are a guest without a virtual IOMMU;
// - no svm/vmx flag: the firmware has virtualization off altogether;
// - AMD: the IOMMU is on by default whenever the firmware enables it, so no groups means
//   the firmware setting is off;
// - Intel: the firmware must enable VT-d (then the ACPI DMAR table exists) AND the kernel
//   must turn it on: `intel_iommu=on`, unless the kernel defaults it on (Proxmox kernels
//   >= 6.8 do; others depend on CONFIG_INTEL_IOMMU_DEFAULT_ON).
// sysfs (groups, sys/class/iommu units) decides on/off; the kernel log only adds the why.

import { findParams, lastValue } from "../formats/kernel-cmdline.js";
import { kernelAtLeast } from "../host/system.js";
import type { HostState, PciDevice } from "../host/types.js";
import { addParamFix, cmdlineApplySteps, removeParamSteps } from "../boot/advice.js";
import { unseen } from "./visibility.js";
import type { CheckContext } from "./context.js";
import { hostPath } from "./context.js";
import { boardNote, firmwareSettings } from "./cpu.js";
import { finding } from "../findings/finding.js";
import type { Finding } from "../findings/finding.js";

const VENDOR_NAME: Record<string, string> = {
  amd: "AMD-Vi",
  intel: "Intel VT-d",
  virtio: "virtio-iommu",
  "arm-smmu": "ARM SMMU",
  other: "IOMMU",
};

/** Which ACPI IOMMU table the kernel log shows: the firmware exposes the IOMMU. */
export function firmwareIommuTable(evidence: readonly string[]): "dmar" | "ivrs" | null {
  if (evidence.some((l) => /^ACPI: DMAR |^DMAR: Host address width|^DMAR: DRHD base/.test(l)))
    return "dmar";
  if (evidence.some((l) => /^ACPI: IVRS /.test(l))) return "ivrs";
  return null;
}

/** Proxmox kernels from 6.8 turn the Intel IOMMU on by default (pve-docs qm-pci-passthrough). */
export function intelIommuDefaultOn(state: Pick<HostState, "system">): boolean | null {
  const s = state.system;
  if (/-pve$/.test(s.kernelRelease ?? "")) return kernelAtLeast(s.kernelVersion, 6, 8);
  return null; // CONFIG_INTEL_IOMMU_DEFAULT_ON: distribution-specific, not visible here
}

/** A parameter that switches the IOMMU off on the running command line, e.g. "amd_iommu=off". */
function disablingParam(state: HostState): string | null {
  const running = state.cmdline.running ?? [];
  for (const key of ["iommu", "amd_iommu", "intel_iommu"]) {
    const v = lastValue(running, key);
    if (typeof v === "string" && v.split(",").includes("off")) return `${key}=${v}`;
  }
  return null;
}

function configuredAt(
  state: HostState,
  key: string,
  value: string,
): { file: string; line: number | null } | null {
  const p = findParams(state.cmdline.configured?.params ?? [], key).find((x) => x.value === value);
  return p ? (p.origin ?? { file: state.cmdline.configured!.files[0] ?? "", line: null }) : null;
}

export function checkIommu(ctx: CheckContext): Finding[] {
  // Without sys/ there is nothing to tell "off" from "not captured" (host.unreadable says why).
  if (unseen(ctx.state, "sys"))
    return [
      finding("iommu.enabled", "skip", "unknown: sys/ could not be read"),
      finding("iommu.groups", "skip", "unknown: sys/ could not be read"),
    ];
  return [iommuEnabled(ctx), iommuGroups(ctx)];
}

function iommuEnabled(ctx: CheckContext): Finding {
  const { state } = ctx;
  const i = state.iommu;
  const s = state.system;
  if (i.enabled) {
    const name = VENDOR_NAME[i.vendor ?? "other"] ?? "IOMMU";
    return finding(
      "iommu.enabled",
      "pass",
      `${name} on, ${i.groups.length} group${i.groups.length === 1 ? "" : "s"}`,
      { detail: i.logEvidence.slice(0, 8) },
    );
  }
  const evidence = i.logEvidence.slice(0, 8);
  const off = disablingParam(state);
  if (off) {
    const [key] = off.split("=");
    const at = findParams(state.cmdline.configured?.params ?? [], key!).find((p) =>
      p.value?.split(",").includes("off"),
    );
    return finding(
      "iommu.enabled",
      "fail",
      `IOMMU off: the running kernel was booted with ${off}`,
      {
        fix: at?.origin
          ? removeParamSteps(state, at.raw, hostPath(at.origin.file, at.origin.line))
          : removeParamSteps(state, off, "the kernel command line"),
        detail: evidence,
      },
    );
  }
  if (s.virtualMachine) {
    return finding(
      "iommu.enabled",
      "fail",
      "IOMMU off: this VM has no virtual IOMMU, so the kernel makes no groups",
      {
        fix: "pass devices on the hypervisor host; to pass them on from inside this VM, give it a virtual IOMMU (Proxmox: qm set VMID --machine q35,viommu=intel; QEMU: -device intel-iommu,intremap=on,caching-mode=on)",
        detail: evidence,
      },
    );
  }
  const fw = firmwareSettings(state);
  if (s.virtualizationFlag === null && s.cpuVendor !== null) {
    return finding(
      "iommu.enabled",
      "fail",
      "IOMMU off: virtualization is off in the firmware altogether (no svm/vmx flag either)",
      {
        fix: `in the firmware setup: ${fw.virtualization}, and ${fw.iommu}${boardNote(fw)}; save, reboot`,
        detail: evidence,
      },
    );
  }
  const table = firmwareIommuTable(i.logEvidence);
  const logKnown = state.kernelLog.available;
  if (s.cpuVendor === "intel") {
    const running = state.cmdline.running ?? [];
    const askedOn =
      typeof lastValue(running, "intel_iommu") === "string" &&
      lastValue(running, "intel_iommu")!.split(",").includes("on");
    const defaultOn = intelIommuDefaultOn(state);
    const firmwareFix = `in the firmware setup: ${fw.iommu}${boardNote(fw)}; save, reboot`;
    if (askedOn || defaultOn === true) {
      const why = askedOn
        ? "the kernel was booted with intel_iommu=on"
        : `kernel ${s.kernelRelease} turns the Intel IOMMU on by default`;
      return finding(
        "iommu.enabled",
        "fail",
        `IOMMU off: VT-d is off in the firmware (${why}, but the firmware offers no DMAR table)`,
        { fix: firmwareFix, detail: evidence },
      );
    }
    const pending = configuredAt(state, "intel_iommu", "on");
    const kernelFix = pending
      ? `intel_iommu=on is already in ${hostPath(pending.file, pending.line)} but the running kernel did not get it: ${cmdlineApplySteps(state, ["intel_iommu=on"])}`
      : addParamFix(state, "intel_iommu=on");
    const kernelWhy = `kernel ${s.kernelRelease ?? "?"} does not turn the Intel IOMMU on by default${/-pve$/.test(s.kernelRelease ?? "") ? " (Proxmox kernels do from 6.8)" : ""}`;
    if (table === "dmar") {
      return finding(
        "iommu.enabled",
        "fail",
        `IOMMU off: VT-d is on in the firmware (DMAR table present), but ${kernelWhy}`,
        { fix: kernelFix, detail: evidence },
      );
    }
    if (logKnown) {
      return finding(
        "iommu.enabled",
        "fail",
        `IOMMU off: no DMAR table in the kernel log, so VT-d is off in the firmware; also ${kernelWhy}`,
        {
          fix: `${firmwareFix}; and ${kernelFix}`,
          detail: evidence,
        },
      );
    }
    return finding(
      "iommu.enabled",
      "fail",
      `IOMMU off: VT-d is off in the firmware, or ${kernelWhy} (no kernel log to tell which)`,
      {
        fix: `${firmwareFix}; and ${kernelFix}`,
        detail: evidence,
      },
    );
  }
  if (s.cpuVendor === "amd") {
    if (table === "ivrs") {
      return finding(
        "iommu.enabled",
        "fail",
        "IOMMU off: the firmware offers an IVRS table but AMD-Vi did not start",
        {
          fix: "read the AMD-Vi lines of `journalctl -k -b`; update the firmware (a broken IVRS table is a firmware bug)",
          detail: evidence,
        },
      );
    }
    return finding(
      "iommu.enabled",
      "fail",
      `IOMMU off: the IOMMU is disabled in the firmware (AMD's IOMMU is on by default once the firmware enables it)${logKnown ? "" : "; no kernel log to confirm"}`,
      {
        fix: `in the firmware setup: ${fw.iommu}${boardNote(fw)}; save, reboot (nothing to add to the kernel command line: amd_iommu=on is not even a valid value)`,
        detail: evidence,
      },
    );
  }
  return finding("iommu.enabled", "fail", "IOMMU off: no IOMMU groups and no IOMMU units", {
    fix: `in the firmware setup: ${fw.iommu}; save, reboot`,
    detail: evidence,
  });
}

function iommuGroups(ctx: CheckContext): Finding {
  const i = ctx.state.iommu;
  if (!i.enabled)
    return finding(
      "iommu.groups",
      "skip",
      "no IOMMU groups while the IOMMU is off (see iommu.enabled)",
    );
  if (i.groups.length === 0) {
    return finding(
      "iommu.groups",
      "fail",
      `IOMMU units registered (${i.units.join(", ")}) but no IOMMU groups: no device is behind the IOMMU`,
      {
        fix: "check the running command line for iommu=off-like options and the kernel log (journalctl -k -b | grep -i -e DMAR -e AMD-Vi -e iommu); update the firmware",
      },
    );
  }
  const n = `${i.groups.length} IOMMU group${i.groups.length === 1 ? "" : "s"}`;
  // Ports without ACS are why devices share groups (chipset slots); only visible to root.
  const ports = ctx.state.pci.filter(isAcsPort);
  if (ports.length === 0 || ports.some((d) => portHasAcs(d) === null))
    return finding("iommu.groups", "pass", `${n} (PCIe ACS not visible: config space needs root)`);
  const noAcs = ports.filter((d) => portHasAcs(d) === false);
  if (noAcs.length === 0) return finding("iommu.groups", "pass", `${n}; every PCIe port has ACS`);
  return finding(
    "iommu.groups",
    "pass",
    `${n}; ${noAcs.length} PCIe port${noAcs.length === 1 ? " lacks" : "s lack"} ACS, so devices below ${noAcs.length === 1 ? "it" : "them"} share a group`,
    {
      detail: noAcs.map((d) => `${d.address} ${d.deviceName ?? d.className}: no ACS capability`),
    },
  );
}

/** A PCIe root or downstream port: whether it has ACS decides if the devices below share a group. */
export function isAcsPort(d: PciDevice): boolean {
  const t = d.capabilities?.pcie?.type;
  return t === "root-port" || t === "downstream-port";
}

/** The port's ACS capability; null when its extended config space was not readable (not root). */
export function portHasAcs(d: PciDevice): boolean | null {
  if ((d.capabilities?.configSize ?? 0) < 4096) return null;
  return d.capabilities!.list.includes("acs");
}
