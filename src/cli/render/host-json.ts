// The public JSON view of a host (docs/design.md "Public interfaces"): the fields `list --json`
// and `check --json` share. Field names are a contract documented in the README; add
// fields freely, rename none.

import type { HostState, PciDevice } from "../../host/types.js";

export function hostJson(state: HostState) {
  const s = state.system;
  return {
    hostname: s.hostname,
    cpuVendor: s.cpuVendor,
    cpuModel: s.cpuModel,
    virtualization: s.virtualizationFlag,
    virtualMachine: s.virtualMachine,
    proxmox: s.proxmox !== null,
    proxmoxVersion: s.proxmox,
    kernel: s.kernelRelease,
    distro: s.distro?.prettyName ?? s.distro?.id ?? null,
    bootMode: s.bootMode,
    bootloader: state.bootloader.kind,
    initramfs: state.initramfs.kind,
    source: state.source,
  };
}

export function iommuJson(state: HostState) {
  const i = state.iommu;
  return {
    enabled: i.enabled,
    vendor: i.vendor,
    interruptRemapping: i.interruptRemapping,
    defaultDomain: i.defaultDomain,
    allowUnsafeInterrupts: i.allowUnsafeInterrupts,
    groupCount: i.groups.length,
  };
}

export function deviceJson(d: PciDevice) {
  return {
    address: d.address,
    vendorId: d.vendorId,
    deviceId: d.deviceId,
    subsystemVendorId: d.subsystem?.vendorId ?? null,
    subsystemDeviceId: d.subsystem?.deviceId ?? null,
    classCode: d.classCode,
    className: d.className,
    vendorName: d.vendorName,
    deviceName: d.deviceName,
    driver: d.driver,
    driverModule: d.driverModule,
    kernelModules: d.kernelModules,
    iommuGroup: d.iommuGroup,
    bootVga: d.bootVga,
    resetMethods: d.resetMethods,
    parent: d.parent,
    isBridge: d.isBridge,
  };
}

export function groupsJson(state: HostState) {
  return state.iommu.groups.map((g) => ({ id: g.id, type: g.type, devices: g.devices }));
}

export function unknownsJson(state: HostState) {
  return state.unknowns;
}
