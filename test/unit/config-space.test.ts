import { describe, expect, it } from "vitest";
import { parseConfigSpace } from "../../src/host/pci/config-space.js";
import { buildConfigSpace } from "../../tools/fakehost/config-space.js";

describe("PCI config space", () => {
  const gpu = {
    address: "0000:01:00.0",
    vendor: "10de",
    device: "2206",
    class: "030000",
    pcie: {
      type: "legacy-endpoint" as const,
      flr: false,
      rebar: { supportedMiB: [256, 512, 1024], currentMiB: 512 },
    },
  };
  it("reads PCIe type, FLR and Resizable BAR from the full 4 KiB space", () => {
    const c = parseConfigSpace(buildConfigSpace(gpu, { multifunction: true, size: 4096 }))!;
    expect(c).toMatchObject({
      configSize: 4096,
      headerType: 0,
      multifunction: true,
      pcie: { type: "legacy-endpoint", version: 2 },
      flr: false,
      acs: null,
    });
    expect(c.resizableBars).toEqual([{ bar: 1, supportedMiB: [256, 512, 1024], currentMiB: 512 }]);
    expect(c.list).toEqual(["pm", "msi", "pcie", "msix", "aer", "rebar"]);
  });
  it("reads ACS on a root port", () => {
    const rp = {
      address: "0000:00:01.1",
      vendor: "1022",
      device: "14db",
      class: "060400",
      pcie: { type: "root-port" as const, acs: "full" as const },
    };
    const c = parseConfigSpace(buildConfigSpace(rp, { multifunction: false, size: 4096 }))!;
    expect(c.headerType).toBe(1);
    expect(c.acs?.capable.requestRedirect).toBe(true);
    expect(c.acs?.enabled.sourceValidation).toBe(true);
    expect(c.acs?.enabled.translationBlocking).toBe(false);
  });
  it("sees no capabilities in 64 bytes (unprivileged read) and no extended ones in 256", () => {
    expect(
      parseConfigSpace(buildConfigSpace(gpu, { multifunction: false, size: 64 })),
    ).toMatchObject({ configSize: 64, pcie: null, flr: null, list: [] });
    expect(
      parseConfigSpace(buildConfigSpace(gpu, { multifunction: false, size: 256 })),
    ).toMatchObject({ pcie: { type: "legacy-endpoint" }, resizableBars: null, acs: null });
    expect(parseConfigSpace(Buffer.alloc(10))).toBeNull();
  });
  it("stops on a looping capability list", () => {
    const b = buildConfigSpace(gpu, { multifunction: false, size: 256 });
    b.writeUInt8(0x40, 0x41); // PM's next points back to itself
    expect(parseConfigSpace(b)!.list).toEqual(["pm"]);
  });
});
