import { planAutoMappings } from "../../src/vm/proxmox/auto-mapping.js";
import type { VmSpec } from "../../src/vm/spec.js";
import { describe, expect, it } from "vitest";
import { InputError } from "../../src/errors.js";
import {
  buildMapEntry,
  compareMapEntry,
  findMovedDevice,
  mapEntrySyntaxProblems,
  mergeMapEntries,
  normalizePciPath,
  parseMapEntry,
  printMapEntry,
} from "../../src/vm/proxmox/mappings.js";
import type { PveHardwarePci } from "../../src/vm/types.js";

const hw: PveHardwarePci[] = [
  {
    id: "0000:01:00.0",
    class: "0x030000",
    vendor: "0x10de",
    device: "0x2204",
    subsystem_vendor: "0x1462",
    subsystem_device: "0x3880",
    iommugroup: 14,
  },
  {
    id: "0000:01:00.1",
    class: "0x040300",
    vendor: "0x10de",
    device: "0x1aef",
    subsystem_vendor: "0x1462",
    subsystem_device: "0x3880",
    iommugroup: 14,
  },
  { id: "0000:03:00.0", class: "0x020000", vendor: "0x8086", device: "0x125c", iommugroup: -1 },
  {
    id: "0000:04:00.0",
    class: "0x030000",
    vendor: "0x10de",
    device: "0x1eb8",
    subsystem_vendor: "0x10de",
    subsystem_device: "0x12a2",
    iommugroup: 20,
    mdev: 1,
  },
];

describe("PCI mapping entries", () => {
  it("builds an entry from the node's hardware, as the web UI does", () => {
    const e = buildMapEntry("pve1", "01:00", hw);
    expect(e).toEqual({
      node: "pve1",
      path: "0000:01:00",
      id: "10de:2204",
      iommugroup: 14,
      subsystemId: "1462:3880",
    });
    expect(printMapEntry(e)).toBe(
      "node=pve1,path=0000:01:00,id=10de:2204,iommugroup=14,subsystem-id=1462:3880",
    );
    expect(printMapEntry(buildMapEntry("pve1", "0000:01:00.1", hw))).toBe(
      "node=pve1,path=0000:01:00.1,id=10de:1aef,iommugroup=14,subsystem-id=1462:3880",
    );
  });

  it("writes lower case (Proxmox compares ids case-sensitively)", () => {
    expect(
      buildMapEntry("pve1", "0000:01:00", [{ ...hw[0]!, vendor: "0x10DE", device: "0x2204" }]).id,
    ).toBe("10de:2204");
    expect(normalizePciPath("0000:0A:00.0")).toBe("0000:0a:00.0");
  });

  it("leaves out what the node does not report (an entry with it would be 'unexpected')", () => {
    expect(buildMapEntry("pve1", "0000:03:00.0", hw)).toEqual({
      node: "pve1",
      path: "0000:03:00.0",
      id: "8086:125c",
    });
  });

  it("refuses unknown devices and bad addresses with the way out", () => {
    expect(() => buildMapEntry("pve1", "0000:09:00", hw)).toThrow(
      /node pve1 has no PCI device 0000:09:00\.0.*pvesh get \/nodes\/pve1\/hardware\/pci/,
    );
    expect(() => normalizePciPath("1:0.0")).toThrow(InputError);
    expect(() => normalizePciPath("0000:01:00.8")).toThrow(InputError);
  });

  it("parses and prints entries, keeping Proxmox's order", () => {
    const text = "node=pve2,path=0000:41:00.0,id=10de:2204,iommugroup=30,subsystem-id=1462:3880";
    expect(printMapEntry(parseMapEntry(text))).toBe(text);
    expect(() => parseMapEntry("node=pve2,path=0000:41:00")).toThrow("property 'id' is missing");
    expect(() => parseMapEntry("node=pve2,path=0000:41:00,id=10de:2204,color=red")).toThrow(
      "invalid key in comma-separated list property: color",
    );
    expect(() => parseMapEntry("node=pve2,path=0000:41:00,id=10de:2204,iommugroup=x")).toThrow(
      "not an integer",
    );
  });

  it("finds syntax the server would reject", () => {
    expect(mapEntrySyntaxProblems({ node: "pve1", path: "01:00", id: "10de:2204" })).toEqual([
      expect.stringContaining("path '01:00'"),
    ]);
    expect(
      mapEntrySyntaxProblems({ node: "pve1", path: "0000:01:00", id: "0x10de:0x2204" }),
    ).toEqual([expect.stringContaining("id '0x10de:0x2204'")]);
    expect(mapEntrySyntaxProblems(buildMapEntry("pve1", "01:00", hw))).toEqual([]);
  });
});

describe("comparing an entry with a node's hardware (assert_valid's rules)", () => {
  const good = buildMapEntry("pve1", "0000:01:00", hw);

  it("finds nothing wrong with a fresh entry", () => {
    expect(compareMapEntry(good, hw, false)).toEqual([]);
  });

  it("reports a swapped card, a renumbered group and a changed subsystem together", () => {
    const problems = compareMapEntry(
      { ...good, id: "10de:2206", iommugroup: 15, subsystemId: "1462:3897" },
      hw,
    );
    expect(problems.map((p) => [p.field, p.configured, p.actual])).toEqual([
      ["id", "10de:2206", "10de:2204"],
      ["subsystem-id", "1462:3897", "1462:3880"],
      ["iommugroup", "15", "14"],
    ]);
  });

  it("reports a missing property the node has, and one it does not have", () => {
    const { iommugroup: _g, ...noGroup } = good;
    expect(compareMapEntry(noGroup, hw)[0]!.message).toBe(
      "missing expected property 'iommugroup' for device '0000:01:00.0' (the node reports 14)",
    );
    expect(
      compareMapEntry(
        { node: "pve1", path: "0000:03:00.0", id: "8086:125c", iommugroup: 3 },
        hw,
      )[0]!.message,
    ).toBe("unexpected property 'iommugroup' configured for device '0000:03:00.0'");
  });

  it("says when only the case differs", () => {
    expect(compareMapEntry({ ...good, id: "10DE:2204" }, hw)[0]!.message).toMatch(
      /case-sensitively/,
    );
  });

  it("reports a device that is gone", () => {
    expect(compareMapEntry({ ...good, path: "0000:02:00" }, hw)).toEqual([
      expect.objectContaining({ field: "device", message: "pci device '0000:02:00.0' not found" }),
    ]);
  });

  it("checks the group of the first path only, and mdev when asked", () => {
    const e = {
      node: "pve1",
      path: "0000:01:00.0;0000:04:00.0",
      id: "10de:2204",
      iommugroup: 14,
      subsystemId: "1462:3880",
    };
    const fields = compareMapEntry(e, hw).map((p) => `${p.path}:${p.field}`);
    expect(fields).toEqual(["0000:04:00.0:id", "0000:04:00.0:subsystem-id"]);
    expect(
      compareMapEntry(buildMapEntry("pve1", "0000:04:00", hw), hw, false).map((p) => p.field),
    ).toEqual(["mdev"]);
    expect(compareMapEntry(buildMapEntry("pve1", "0000:04:00", hw), hw, true)).toEqual([]);
  });
});

describe("finding a device that moved", () => {
  const moved: PveHardwarePci[] = [
    { ...hw[0]!, id: "0000:02:00.0", iommugroup: 15 },
    { ...hw[1]!, id: "0000:02:00.1", iommugroup: 15 },
    {
      id: "0000:01:00.0",
      class: "0x030000",
      vendor: "0x10de",
      device: "0x2206",
      subsystem_vendor: "0x1462",
      subsystem_device: "0x3897",
      iommugroup: 13,
    },
  ];
  it("finds the card by vendor:device and subsystem id, spelled like the entry's path", () => {
    expect(findMovedDevice(buildMapEntry("pve1", "0000:01:00", hw), moved)).toEqual(["0000:02:00"]);
    expect(findMovedDevice(buildMapEntry("pve1", "0000:01:00.1", hw), moved)).toEqual([
      "0000:02:00.1",
    ]);
    expect(
      findMovedDevice(
        { ...buildMapEntry("pve1", "0000:01:00", hw), subsystemId: "1043:87b3" },
        moved,
      ),
    ).toEqual([]);
    expect(findMovedDevice(buildMapEntry("pve1", "0000:01:00", hw), hw)).toEqual([]);
  });
});

describe("merging entries into an existing mapping", () => {
  const pve1 = "node=pve1,path=0000:01:00,id=10de:2204,iommugroup=14,subsystem-id=1462:3880";
  const pve2 = "node=pve2,path=0000:41:00,id=10de:2204,iommugroup=30,subsystem-id=1462:3880";

  it("adds a new node's entry and keeps the others", () => {
    const r = mergeMapEntries([pve2], [parseMapEntry(pve1)]);
    expect(r.map).toEqual([pve2, pve1]);
    expect(r.changes).toEqual([{ node: "pve1", action: "added", entry: pve1 }]);
  });

  it("leaves an identical entry alone and refreshes a stale one at the same path", () => {
    expect(mergeMapEntries([pve1], [parseMapEntry(pve1)]).changes[0]!.action).toBe("unchanged");
    const stale = pve1.replace("iommugroup=14", "iommugroup=13");
    const r = mergeMapEntries([stale, pve2], [parseMapEntry(pve1)]);
    expect(r.map).toEqual([pve1, pve2]);
    expect(r.changes[0]).toEqual({
      node: "pve1",
      action: "updated",
      entry: pve1,
      previous: [stale],
    });
  });

  it("does not silently point a node at another device", () => {
    const other = "node=pve1,path=0000:02:00,id=10de:2204,iommugroup=15,subsystem-id=1462:3880";
    const r = mergeMapEntries([other, pve2], [parseMapEntry(pve1)]);
    expect(r.conflicts).toEqual([{ node: "pve1", wanted: pve1, existing: [other] }]);
    expect(r.map).toEqual([other, pve2]);
    const replaced = mergeMapEntries([other, pve2], [parseMapEntry(pve1)], { replace: true });
    expect(replaced.map).toEqual([pve2, pve1]);
    expect(replaced.changes[0]!.action).toBe("replaced");
  });
});

describe("mappings planned by vm configure|create for a token (auto-mapping.ts)", () => {
  const fn = (address: string, classCode: string) => ({
    address,
    vendorId: "10de",
    deviceId: classCode.startsWith("03") ? "2204" : "1aef",
    classCode,
    subsystemVendorId: "1462",
    subsystemDeviceId: "3880",
  });
  const spec = {
    pci: [
      {
        host: "0000:01:00",
        functions: [fn("0000:01:00.0", "030000"), fn("0000:01:00.1", "040300")],
        title: "NVIDIA GA102",
        gpu: true,
        iommuGroup: 12,
        pcie: true,
        primaryGpu: false,
      },
    ],
  } as unknown as VmSpec;
  const hardware = ["0000:01:00.0", "0000:01:00.1"].map((id, i) => ({
    id,
    class: i === 0 ? "0x030000" : "0x040300",
    vendor: "0x10de",
    device: i === 0 ? "0x2204" : "0x1aef",
    subsystem_vendor: "0x1462",
    subsystem_device: "0x3880",
    iommugroup: 12,
  }));
  const entry = "node=pve,path=0000:01:00,id=10de:2204,iommugroup=12,subsystem-id=1462:3880";

  it("creates gpu-VENDOR-DEVICE when no mapping names the device on the node", () => {
    const r = planAutoMappings({ spec, node: "pve", hardware, existing: [], name: null });
    expect(r.refusals).toEqual([]);
    expect(r.planned).toEqual([
      {
        id: "gpu-10de-2204",
        action: "create",
        entry,
        addresses: ["0000:01:00.0", "0000:01:00.1"],
        description: "NVIDIA GA102 (passthrough)",
      },
    ]);
  });

  it("reuses a mapping naming exactly these functions, adds the node to one of that name elsewhere", () => {
    const reuse = planAutoMappings({
      spec,
      node: "pve",
      hardware,
      existing: [{ id: "mine", map: [entry] }],
      name: null,
    });
    expect(reuse.planned).toEqual([]);
    const other = "node=pve2,path=0000:41:00,id=10de:2204";
    const add = planAutoMappings({
      spec,
      node: "pve",
      hardware,
      existing: [{ id: "gpu", map: [other] }],
      name: "gpu",
    });
    expect(add.planned.map((p) => [p.id, p.action])).toEqual([["gpu", "add"]]);
  });

  it("refuses a name whose mapping already points this node at another device", () => {
    const r = planAutoMappings({
      spec,
      node: "pve",
      hardware,
      existing: [{ id: "gpu", map: ["node=pve,path=0000:02:00,id=8086:1533"] }],
      name: "gpu",
    });
    expect(r.planned).toEqual([]);
    expect(r.refusals).toEqual([
      "mapping gpu already maps node pve to another device; give this one its own name with --mapping NAME (`passthrough vm mapping list` shows the names in use)",
    ]);
  });
});
