// Which GPU a guest bootstrap or a guest check is about, from the host model: the one the
// user names (--device), else the only real GPU. Shared by `guest setup` (to pick the driver)
// and `guest check` (to find the passed GPU among the VM's emulated devices).

import type { DeviceRef } from "../formats/device-selection.js";
import { slotOf } from "../formats/pci-address.js";
import { InputError } from "../errors.js";
import type { HostState, PciDevice } from "../host/types.js";

export type GpuVendor = "nvidia" | "amd" | "intel";

export const GPU_VENDOR_IDS: Record<string, GpuVendor> = {
  "10de": "nvidia",
  "1002": "amd",
  "8086": "intel",
};

/**
 * Display devices a hypervisor emulates (QEMU std VGA/bochs 1234, QXL and virtio-gpu from Red
 * Hat 1b36/1af4, Cirrus 1013, VMware SVGA 15ad, VirtualBox 80ee): never the passed GPU.
 */
export const EMULATED_DISPLAY_VENDORS = new Set(["1234", "1b36", "1af4", "1013", "15ad", "80ee"]);

/** Drivers that really drive a GPU in a guest (not vfio-pci, not a stub). */
export const REAL_GPU_DRIVERS = new Set(["nvidia", "nouveau", "amdgpu", "radeon", "i915", "xe"]);

export function isDisplay(d: PciDevice): boolean {
  return d.classCode.startsWith("03");
}

/** Display-class functions that are real hardware (not emulated by the hypervisor). */
export function realGpus(state: HostState): PciDevice[] {
  return state.pci.filter((d) => isDisplay(d) && !EMULATED_DISPLAY_VENDORS.has(d.vendorId));
}

export function gpuVendor(d: { vendorId: string }): GpuVendor | null {
  return GPU_VENDOR_IDS[d.vendorId] ?? null;
}

export function describeGpu(d: PciDevice): string {
  const name = d.deviceName ?? `device ${d.deviceId}`;
  return `${d.address} ${d.vendorName ?? d.vendorId} ${name} [${d.vendorId}:${d.deviceId}]`;
}

/** The functions a --device address names: that function, or every function of that slot. */
function matchAddress(state: HostState, ref: DeviceRef): PciDevice[] {
  return state.pci.filter((d) =>
    ref.isFunction ? d.address === ref.address : slotOf(d.address) === ref.address,
  );
}

/**
 * The GPU `guest setup --gpu-driver` installs a driver for. With --device, that function (or the
 * display function of that slot); otherwise the only real GPU, preferring those bound to
 * vfio-pci (prepared for a VM) and skipping the boot GPU when there are others.
 */
export function selectGpu(state: HostState, device: DeviceRef | null, source: string): PciDevice {
  if (device !== null) {
    const matches = matchAddress(state, device);
    if (matches.length === 0)
      throw new InputError(
        `--device ${device.address}: no such PCI device on ${source}; \`passthrough list\` shows the addresses`,
      );
    const display = matches.find(isDisplay);
    if (!display)
      throw new InputError(
        `--device ${device.address}: ${matches[0]!.address} is not a display controller (class ${matches[0]!.classCode}); give the GPU's address`,
      );
    return display;
  }
  const gpus = realGpus(state);
  if (gpus.length === 0)
    throw new InputError(
      `no GPU on ${source}; give --gpu-vendor nvidia|amd|intel, or --snapshot of the host that has it`,
    );
  if (gpus.length === 1) return gpus[0]!;
  const vfio = gpus.filter((d) => d.driver === "vfio-pci");
  if (vfio.length === 1) return vfio[0]!;
  const notBoot = gpus.filter((d) => d.bootVga !== true);
  if (notBoot.length === 1) return notBoot[0]!;
  throw new InputError(
    `${gpus.length} GPUs on ${source} (${gpus.map((d) => d.address).join(", ")}); choose one with --device ADDRESS`,
  );
}
