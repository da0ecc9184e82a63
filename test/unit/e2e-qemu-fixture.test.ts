// test/fixtures/hosts/e2e-qemu-intel.tar.gz is a real capture, not a spec: `passthrough
// snapshot` run inside the e2e lab's guest (Debian 12, kernel 6.1, QEMU q35 with an Intel
// vIOMMU and interrupt remapping; `npm run test:e2e -- --only 1 --capture-fixture`) before
// apply. What a real kernel wrote into sysfs — driver names that differ from module names
// (bochs-drm / bochs), the group of a card behind a PCIe root port, the boot VGA elsewhere —
// must read the same way as it did live, where scenario 1 then bound both functions.
import { describe, expect, it } from "vitest";
import { cliJson } from "../helpers/cli.js";
import { fixturePath } from "../helpers/fixtures.js";

const SNAP = fixturePath("e2e-qemu-intel");

describe("real capture: the e2e guest with an Intel vIOMMU", () => {
  it("check sees the IOMMU, interrupt remapping and the card alone in its group", async () => {
    const { json: c } = await cliJson(["check", "--snapshot", SNAP]);
    expect(c.host).toMatchObject({
      cpuVendor: "intel",
      virtualMachine: true,
      bootMode: "bios",
      bootloader: "grub",
      initramfs: "initramfs-tools",
      kernel: "6.1.0-50-amd64",
    });
    expect(c.iommu).toMatchObject({ enabled: true, vendor: "intel", interruptRemapping: true });
    const card = c.candidates.find((x: any) => x.address === "0000:01:00");
    expect(card).toMatchObject({ isolated: true, groupMates: [] });
    expect(card.functions.map((f: any) => f.address)).toEqual(["0000:01:00.0", "0000:01:00.1"]);
    // The host's display (cirrus, the boot VGA) is another candidate, not a group mate.
    expect(
      c.candidates.find((x: any) => x.address !== "0000:01:00" && x.kind === "gpu")?.bootVga,
    ).toBe(true);
  });

  it("reads driver and module names as the kernel links them", async () => {
    const { json: l } = await cliJson(["list", "--snapshot", SNAP]);
    const dev = (a: string) => l.devices.find((d: any) => d.address === a);
    expect(dev("0000:01:00.0")).toMatchObject({
      vendorId: "1234",
      deviceId: "1111",
      driver: "bochs-drm",
      driverModule: "bochs",
    });
    expect(dev("0000:01:00.1")).toMatchObject({
      vendorId: "8086",
      deviceId: "293e",
      driver: "snd_hda_intel",
      driverModule: "snd_hda_intel",
    });
    expect(dev("0000:01:00.0").iommuGroup).toBe(dev("0000:01:00.1").iommuGroup);
  });

  it("plans what made both functions come up on vfio-pci in the lab", async () => {
    const { code, json: p } = await cliJson(["plan", "--snapshot", SNAP, "--device", "0000:01:00"]);
    expect(code).toBe(0);
    expect(p.expect.boundToVfio).toEqual(["0000:01:00.0", "0000:01:00.1"]);
    expect(p.expect.cmdline).toContain("iommu=pt");
    const conf =
      p.steps.find((s: any) => s.path === "/etc/modprobe.d/passthrough.conf")?.after ?? "";
    // softdep takes the module name: bochs, not the driver's name bochs-drm.
    expect(conf).toMatch(/^softdep bochs pre: vfio-pci$/m);
    expect(conf).toMatch(/^softdep snd_hda_intel pre: vfio-pci$/m);
    expect(conf).toMatch(/^options vfio-pci ids=1234:1111,8086:293e$/m);
    expect(
      p.steps.filter((s: any) => s.kind === "command").map((s: any) => s.argv.join(" ")),
    ).toEqual(["update-initramfs -u -k all", "update-grub"]);
  });
});
