// Discovery on the user's own host (docs/seed-writeup.md), after its steps.
import { describe, expect, it } from "vitest";
import { fixtureState } from "../helpers/fixtures.js";

describe("discovery: seed host after the write-up", () => {
  const s = fixtureState("seed-after");

  it("reads the RTX 3080 and its audio function as the write-up's lspci -nnk shows them", () => {
    const gpu = s.pci.find((d) => d.address === "0000:01:00.0")!;
    expect(gpu).toMatchObject({
      vendorId: "10de",
      deviceId: "2206",
      subsystem: { vendorId: "19da", deviceId: "1612" },
      classCode: "030000",
      className: "VGA compatible controller",
      revision: "a1",
      vendorName: "NVIDIA Corporation",
      deviceName: "GA102 [GeForce RTX 3080]",
      subsystemName: "ZOTAC International (MCO) Ltd. GA102 [GeForce RTX 3080]",
      driver: "vfio-pci",
      driverModule: "vfio_pci",
      iommuGroup: 12,
      bootVga: false,
      parent: "0000:00:01.1",
      bridgeChain: ["0000:00:01.1"],
    });
    expect(gpu.kernelModules).toEqual(["nouveau", "nvidiafb"]);
    expect(gpu.capabilities?.pcie?.type).toBe("legacy-endpoint");
    expect(gpu.capabilities?.resizableBars?.[0]?.currentMiB).toBe(256);
    const audio = s.pci.find((d) => d.address === "0000:01:00.1")!;
    expect(audio.kernelModules).toEqual(["snd_hda_intel"]);
    expect(audio.capabilities?.flr).toBe(true);
    expect(audio.resetMethods).toEqual(["flr", "bus"]);
  });

  it("sees the IOMMU groups from the pvesh table", () => {
    const group = (n: number) => s.iommu.groups.find((g) => g.id === n)?.devices;
    expect(group(12)).toEqual(["0000:01:00.0", "0000:01:00.1"]);
    expect(group(13)).toEqual(["0000:02:00.0"]);
    expect(group(18)).toEqual(["0000:08:00.0"]);
    expect(group(25)).toEqual(["0000:0f:00.0"]);
    expect(s.iommu).toMatchObject({
      enabled: true,
      vendor: "amd",
      interruptRemapping: true,
      units: ["ivhd0"],
      allowUnsafeInterrupts: false,
    });
  });

  it("knows the system: AMD with SVM, Proxmox VE 8 on GRUB + initramfs-tools, UEFI", () => {
    expect(s.system).toMatchObject({
      cpuVendor: "amd",
      virtualizationFlag: "svm",
      virtualMachine: false,
      proxmox: "8.1.4",
      bootMode: "uefi",
      kernelVersion: [6, 5],
    });
    expect(s.bootloader).toMatchObject({
      kind: "grub",
      grubFlavor: "update-grub",
      cmdlineFiles: ["etc/default/grub"],
    });
    expect(s.initramfs.kind).toBe("initramfs-tools");
  });

  it("sees iommu=pt configured in GRUB but not in the running kernel", () => {
    expect(s.cmdline.configured?.params.map((p) => p.raw)).toEqual(["quiet", "iommu=pt"]);
    expect(s.cmdline.running?.map((p) => p.raw)).not.toContain("iommu=pt");
  });

  it("parses the modprobe blacklist, wildcard included, and /etc/modules", () => {
    const bl = s.modules.modprobe
      .filter((d) => d.command === "blacklist")
      .map((d) => `${d.file}:${d.line} ${d.module}`);
    expect(bl).toEqual([
      "etc/modprobe.d/blacklist.conf:1 nouveau",
      "etc/modprobe.d/blacklist.conf:2 nvidia*",
      "etc/modprobe.d/pve-blacklist.conf:4 nvidiafb",
    ]);
    expect(s.modules.loadAtBoot.map((e) => e.module)).toEqual([
      "vfio",
      "vfio_iommu_type1",
      "vfio_pci",
    ]);
  });

  it("maps the root filesystem (LVM on NVMe) and the default route (vmbr0 bridge) to PCI controllers", () => {
    expect(s.hostCritical).toEqual([
      { role: "root-filesystem", via: "/dev/mapper/pve-root", controller: "0000:02:00.0" },
      { role: "default-route", via: "vmbr0 -> enp8s0", controller: "0000:08:00.0" },
    ]);
  });

  it("lists the USB keyboard and mouse with their controller", () => {
    const kb = s.usb.find((u) => u.vendorId === "046d" && u.productId === "c31c")!;
    expect(kb).toMatchObject({
      busnum: 3,
      devpath: "1",
      kinds: ["hid", "keyboard"],
      controller: "0000:10:00.3",
    });
  });

  it("finds VM 100 with the GPU already assigned", () => {
    expect(s.vms.map((v) => [v.vmid, v.config.hostpci0])).toEqual([[100, "0000:01:00,pcie=1"]]);
  });

  it("has nothing unknown", () => {
    expect(s.unknowns).toEqual([]);
  });
});

describe("discovery: seed host before (IOMMU off in firmware)", () => {
  const s = fixtureState("seed-before");
  it("has no groups and the GPU on nouveau", () => {
    expect(s.iommu.enabled).toBe(false);
    expect(s.iommu.groups).toEqual([]);
    expect(s.pci.find((d) => d.address === "0000:01:00.0")?.driver).toBe("nouveau");
    expect(s.iommu.logEvidence).toContain(
      "AMD-Vi: AMD IOMMUv2 functionality not available on this system - This is not a bug.",
    );
  });
});
