import { describe, expect, it } from "vitest";
import { parseConfigSpace } from "../../src/host/pci/config-space.js";
import { parseUevent } from "../../src/host/pci/read-pci.js";
import { buildConfigSpace } from "../../tools/fakehost/config-space.js";

describe("PCI uevent", () => {
  it("reads what pci_uevent() prints: driver, class (%04X), ids, subsystem, modalias", () => {
    const u = parseUevent(
      "DRIVER=vfio-pci\nPCI_CLASS=30000\nPCI_ID=10DE:2206\nPCI_SUBSYS_ID=19DA:1612\nPCI_SLOT_NAME=0000:01:00.0\nMODALIAS=pci:v000010DEd00002206sv000019DAsd00001612bc03sc00i00\n",
    );
    expect(u).toEqual({
      driver: "vfio-pci",
      classCode: "030000",
      vendorId: "10de",
      deviceId: "2206",
      subVendorId: "19da",
      subDeviceId: "1612",
      modalias: "pci:v000010DEd00002206sv000019DAsd00001612bc03sc00i00",
    });
    expect(
      parseUevent("PCI_CLASS=C0330\nPCI_ID=1022:43F7\nPCI_SUBSYS_ID=1458:1000\n"),
    ).toMatchObject({ driver: null, classCode: "0c0330", modalias: null });
  });
  it("is null for a uevent without PCI ids, so the single attributes are read instead", () => {
    expect(parseUevent("DRIVER=x\n")).toBeNull();
    expect(parseUevent(null)).toBeNull();
  });
});

describe("link speed and width from config space", () => {
  it("reads Link Capabilities and Link Status like current_link_speed/max_link_width", () => {
    const c = parseConfigSpace(
      buildConfigSpace(
        {
          address: "0000:01:00.0",
          vendor: "10de",
          device: "2206",
          class: "030000",
          pcie: { type: "legacy-endpoint", maxSpeed: 4, maxWidth: 16, curSpeed: 1, curWidth: 8 },
        },
        { multifunction: false, size: 256 },
      ),
    )!;
    expect(c.pcie!.link).toEqual({
      maxSpeed: "16.0 GT/s PCIe",
      maxWidth: 16,
      currentSpeed: "2.5 GT/s PCIe",
      currentWidth: 8,
    });
  });
});
