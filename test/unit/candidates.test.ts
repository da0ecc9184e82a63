import { describe, expect, it } from "vitest";
import { findCandidates, hostpciAddresses } from "../../src/checks/candidates.js";
import { fixtureState } from "../helpers/fixtures.js";

describe("candidates", () => {
  it("puts the RTX 3080 first, as one slot with both functions, isolated in group 12, assigned to VM 100", () => {
    const c = findCandidates(fixtureState("seed-after"));
    expect(c[0]).toMatchObject({
      address: "0000:01:00",
      kind: "gpu",
      title: "NVIDIA Corporation GA102 [GeForce RTX 3080]",
      iommuGroup: 12,
      isolated: true,
      groupMates: [],
      bootVga: false,
      hostCritical: false,
      resettable: true,
      assignedTo: [100],
    });
    expect(c[0]!.functions.map((f) => [f.address, f.driver, f.nativeModules])).toEqual([
      ["0000:01:00.0", "vfio-pci", ["nouveau", "nvidiafb"]],
      ["0000:01:00.1", "vfio-pci", ["snd_hda_intel"]],
    ]);
    expect(c[1]).toMatchObject({ address: "0000:10:00", kind: "gpu", bootVga: true });
    // Bridges, host bridges, the IOMMU and SMBus are never candidates.
    expect(c.map((x) => x.address)).not.toContain("0000:00:01");
    expect(c.map((x) => x.address)).not.toContain("0000:00:14");
    expect(c.find((x) => x.address === "0000:02:00")).toMatchObject({
      kind: "storage",
      hostCritical: true,
    });
    expect(c.find((x) => x.address === "0000:08:00")).toMatchObject({
      kind: "network",
      hostCritical: true,
    });
  });

  it("is never isolated without an IOMMU", () => {
    const c = findCandidates(fixtureState("seed-before"));
    expect(c.every((x) => !x.isolated && x.iommuGroup === null)).toBe(true);
  });

  it("resolves hostpci values the way qemu-server does (prefix match, ';' lists)", () => {
    const present = ["0000:01:00.0", "0000:01:00.1", "0000:02:00.0"];
    expect(hostpciAddresses("01:00,pcie=1", present)).toEqual(["0000:01:00.0", "0000:01:00.1"]);
    expect(hostpciAddresses("host=0000:01:00.1;0000:02:00.0,x-vga=1", present)).toEqual([
      "0000:01:00.1",
      "0000:02:00.0",
    ]);
    expect(hostpciAddresses("mapping=gpu0,pcie=1", present)).toEqual([]);
  });
});
