// Safety gates: a plan is refused (exit 3, nothing written) when carrying it out would cut the
// host off (its root disk or default-route NIC), leave a group half on host drivers (the VM
// would not start, "group N is not viable"), take the only console away, let a guest inject
// interrupts, or cannot work at all (no IOMMU that any setting of ours can turn on). Each
// reason names the way out, usually a flag that states the user accepts the risk.
// Facts: docs/domain-facts.md §1 (interrupt remapping), §2 (groups, SR-IOV), §4 (boot GPU).

import { VFIO_DRIVERS, isGpu } from "../checks/candidates.js";
import { nativeModulesOf } from "../checks/candidates.js";
import type { PlanFinding } from "../findings/plan-catalog.js";
import { classShortName } from "../formats/pci-ids.js";
import type { HostState, PciDevice } from "../host/types.js";
import type { ResolvedSelection } from "./selection.js";
import type { PlanOptions } from "./types.js";

export type IommuReadiness =
  | { kind: "on" }
  /** Off, but the CPU can do it: a first phase turns it on (command line and/or firmware). */
  | { kind: "enable"; firmware: string }
  | { kind: "impossible"; reason: string };

/** Where the firmware keeps the IOMMU switch, by CPU vendor (the board in docs/seed-writeup.md: AMD CBS > NBIO > IOMMU). */
export function firmwareIommuSetting(state: HostState): string {
  if (state.system.cpuVendor === "amd")
    return `"IOMMU" = Enabled (AMD CBS > NBIO Common Options > IOMMU; some boards also list it under Advanced as "AMD-Vi" or "IOMMU")`;
  if (state.system.cpuVendor === "intel")
    return `"VT-d" (Intel Virtualization Technology for Directed I/O) = Enabled (usually under Advanced > CPU or System Agent configuration)`;
  return "the IOMMU setting";
}

export function iommuReadiness(state: HostState): IommuReadiness {
  if (state.iommu.enabled && state.iommu.groups.length > 0) return { kind: "on" };
  if (state.system.virtualMachine) {
    return {
      kind: "impossible",
      reason:
        "this host is itself a virtual machine without a virtual IOMMU (no IOMMU groups): give the VM one (QEMU: q35 with -device intel-iommu,intremap=on; Proxmox: machine viommu=intel), or run passthrough on the physical host",
    };
  }
  if (state.system.virtualizationFlag === null) {
    return {
      kind: "impossible",
      reason: `the CPU reports neither svm (AMD-V) nor vmx (VT-x) and there are no IOMMU groups: virtualization is off in the firmware; enable ${state.system.cpuVendor === "intel" ? "VT-x and VT-d" : state.system.cpuVendor === "amd" ? "SVM Mode and the IOMMU" : "CPU virtualization and the IOMMU"} in the firmware setup, then run plan again`,
    };
  }
  return { kind: "enable", firmware: firmwareIommuSetting(state) };
}

export interface RefusalCheck {
  reasons: string[];
  findings: PlanFinding[];
}

function describe(d: PciDevice): string {
  const name = d.deviceName ?? `${d.vendorId}:${d.deviceId}`;
  return `${d.address} (${classShortName(d.classCode)}, ${name}${d.driver ? `, driver ${d.driver}` : ""})`;
}

/** A function that would claim the device on the host after a reboot, or claims it now. */
function onHostDriver(d: PciDevice): boolean {
  if (d.driver) return !VFIO_DRIVERS.has(d.driver);
  return nativeModulesOf(d).length > 0;
}

export function checkRefusals(
  state: HostState,
  sel: ResolvedSelection,
  opts: PlanOptions,
  readiness: IommuReadiness,
): RefusalCheck {
  const reasons: string[] = [];
  const findings: PlanFinding[] = [];
  const byAddress = new Map(state.pci.map((d) => [d.address, d]));
  const selected = new Set(sel.selection.functions);

  if (readiness.kind === "impossible") reasons.push(readiness.reason);

  // The host's own disk and network.
  for (const c of state.hostCritical) {
    const dev = byAddress.get(c.controller);
    const what =
      c.role === "root-filesystem"
        ? `the controller of the root filesystem (${c.via})`
        : `the network controller carrying the default route (${c.via})`;
    if (selected.has(c.controller)) {
      reasons.push(
        `${c.controller} is ${what}: passing it cuts the host off ${c.role === "root-filesystem" ? "its own disk" : "the network"}; choose another device`,
      );
      continue;
    }
    const group = dev?.iommuGroup ?? null;
    if (group !== null && sel.selection.groups.includes(group)) {
      reasons.push(
        `IOMMU group ${group} also holds ${c.controller}, ${what}: the whole group must go to the VM, which cuts the host off ${c.role === "root-filesystem" ? "its own disk" : "the network"}; put the card in another slot (CPU lanes are usually isolated) or update the firmware`,
      );
    }
  }

  // Partial groups: every endpoint of a group must be on vfio-pci (or no driver) for VFIO.
  for (const g of sel.selection.groups) {
    const group = state.iommu.groups.find((x) => x.id === g);
    if (!group) continue;
    const left = group.devices
      .map((a) => byAddress.get(a))
      .filter((d): d is PciDevice => d !== undefined && !d.isBridge && !selected.has(d.address))
      .filter((d) => !state.hostCritical.some((c) => c.controller === d.address));
    const onHost = left.filter(onHostDriver);
    if (onHost.length === 0) continue;
    const list = onHost.map(describe).join(", ");
    if (opts.allowPartialGroup) {
      findings.push({
        id: "plan.partial-group",
        status: "warn",
        subject: `group ${g}`,
        summary: `--allow-partial-group: ${list} stays on the host in IOMMU group ${g}; VFIO will refuse the group ("group ${g} is not viable") while it is bound to a host driver`,
        fix: `bind it too: passthrough plan --group ${g}`,
      });
    } else {
      reasons.push(
        `IOMMU group ${g} also holds ${list}, which would stay on its host driver and make the group unusable for a VM ("group ${g} is not viable"); pass the whole group (--group ${g}), move the card to another slot, or accept it with --allow-partial-group`,
      );
    }
  }

  // SR-IOV: the VFs vanish when their PF is passed.
  for (const d of sel.devices) {
    if (d.sriov && (d.sriov.numVfs ?? 0) > 0) {
      reasons.push(
        `${d.address} is an SR-IOV physical function with ${d.sriov.numVfs} active virtual functions, which vanish when it is passed; pass a virtual function (${d.sriov.vfs[0] ?? "its VFs"}) instead, or set sriov_numvfs to 0 first`,
      );
    }
  }

  // The console: passing every GPU of the host leaves it without a local display.
  const selectedGpus = sel.devices.filter(isGpu);
  const keptGpus = state.pci.filter((d) => isGpu(d) && !selected.has(d.address));
  if (selectedGpus.length > 0 && keptGpus.length === 0) {
    const which = selectedGpus.map((d) => d.address).join(", ");
    if (opts.headlessOk) {
      findings.push({
        id: "plan.headless",
        status: "warn",
        subject: which,
        summary: `--headless-ok: ${which} is the only GPU of this host; after the reboot the host has no local console`,
        fix: "make sure you can log in over SSH (or a BMC/serial console) before you reboot",
      });
    } else {
      reasons.push(
        `${which} is the only GPU of this host: passing it leaves the host without a console; make sure SSH (or a BMC/serial console) works, then pass --headless-ok`,
      );
    }
  }

  // Interrupt remapping (only knowable once the IOMMU is on).
  if (readiness.kind === "on") {
    const ir = state.iommu.interruptRemapping;
    if (ir === false) {
      if (opts.allowUnsafeInterrupts) {
        findings.push({
          id: "plan.unsafe-interrupts",
          status: "warn",
          subject: null,
          summary:
            "--allow-unsafe-interrupts: interrupt remapping is off, so VFIO is told to allow unsafe interrupts (allow_unsafe_interrupts=1); a guest can then inject interrupts into the host",
          fix: "turn interrupt remapping on in the firmware (x2APIC / Interrupt Remapping) and drop the flag when you can",
        });
      } else {
        reasons.push(
          "interrupt remapping is off: without it VFIO refuses MSI interrupts unless told to allow unsafe interrupts, which lets a guest inject interrupts into the host; enable it in the firmware (x2APIC mode / Interrupt Remapping), or accept the risk with --allow-unsafe-interrupts",
        );
      }
    } else if (ir === null) {
      findings.push({
        id: "plan.interrupt-remapping-unknown",
        status: "warn",
        subject: null,
        summary:
          "could not tell whether interrupt remapping is on (the kernel log says nothing about it); `passthrough verify` checks it after the reboot",
        fix: "dmesg | grep -i -e 'remapping' -e DMAR-IR -e AMD-Vi",
      });
    } else if (opts.allowUnsafeInterrupts) {
      findings.push({
        id: "plan.unsafe-interrupts",
        status: "info",
        subject: null,
        summary:
          "interrupt remapping is on: --allow-unsafe-interrupts is not needed and nothing is written for it",
        fix: null,
      });
    }
  }

  return { reasons, findings };
}
