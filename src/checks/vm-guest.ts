// Running inside a VM (the CPU's "hypervisor" flag). A guest only has IOMMU groups when its
// hypervisor gives it a virtual IOMMU (QEMU intel-iommu / virtio-iommu; Proxmox
// `machine: q35,viommu=...`), so passthrough normally belongs on the hypervisor host. Devices
// the hypervisor already passed in show up here as ordinary PCI devices with their real ids.

import { unseen } from "./visibility.js";
import type { PciDevice } from "../host/types.js";
import { isGpu } from "./candidates.js";
import type { CheckContext } from "./context.js";
import { deviceLabel } from "./context.js";
import { finding } from "../findings/finding.js";
import type { Finding } from "../findings/finding.js";

/** Vendors of emulated devices: QEMU/virtio (1af4, 1b36), VMware, VirtualBox, Hyper-V, Bochs/QEMU VGA, Xen. */
const EMULATED_VENDORS = new Set(["1af4", "1b36", "15ad", "80ee", "1414", "1234", "5853"]);

/** Devices a guest sees that look physical: GPUs and other non-emulated endpoints. */
export function passedInDevices(pci: readonly PciDevice[]): PciDevice[] {
  return pci.filter(
    (d) =>
      !d.isBridge &&
      !EMULATED_VENDORS.has(d.vendorId) &&
      !d.classCode.startsWith("06") &&
      (isGpu(d) || d.vendorId !== "8086" || !/^(0c05|0601|0106|0403|0c03)/.test(d.classCode)),
  );
}

export function checkVmGuest(ctx: CheckContext): Finding[] {
  const s = ctx.state.system;
  if (unseen(ctx.state, "proc/cpuinfo"))
    return [finding("host.virtual-machine", "skip", "unknown: no hypervisor flag to read")];
  if (!s.virtualMachine)
    return [finding("host.virtual-machine", "pass", "bare metal (no hypervisor CPU flag)")];
  const what =
    [s.dmi.sysVendor, s.dmi.productName].filter(Boolean).join(" ") || "an unknown hypervisor";
  const passed = passedInDevices(ctx.state.pci);
  const detail = passed.map(
    (d) =>
      `${d.address} ${deviceLabel(d)} [${d.vendorId}:${d.deviceId}]${d.driver ? ` on ${d.driver}` : ""}: passed in by the hypervisor`,
  );
  if (ctx.state.iommu.enabled) {
    return [
      finding(
        "host.virtual-machine",
        "info",
        `running inside a VM (${what}) with a virtual IOMMU: nested passthrough works, with the hypervisor's limits`,
        { detail },
      ),
    ];
  }
  const gpus = passed.filter(isGpu);
  return [
    finding(
      "host.virtual-machine",
      "warn",
      `running inside a VM (${what}) without a virtual IOMMU${gpus.length ? `; ${gpus.map((g) => g.address).join(", ")} is passed in from the host` : ""}`,
      {
        fix: "run passthrough on the hypervisor host (there: passthrough check); inside this guest use `passthrough guest check`",
        detail,
      },
    ),
  ];
}
