// `list` reads each PCI function's summary (read-pci.ts, detail "summary"); every other
// command reads it whole. The summary must agree with the whole read on every field `list`
// shows, on every fixture host, and leave the rest empty rather than guess it.
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { openSnapshot } from "../../src/host/open-root.js";
import { readHostState } from "../../src/host/read-host.js";
import type { PciDevice } from "../../src/host/types.js";
import { seedAfter } from "../fixtures/specs/seed.js";
import { REPO, writeSpec } from "../helpers/fixtures.js";

const LISTED = [
  "address",
  "sysfsPath",
  "vendorId",
  "deviceId",
  "subsystem",
  "classCode",
  "className",
  "vendorName",
  "deviceName",
  "subsystemName",
  "driver",
  "driverModule",
  "kernelModules",
  "iommuGroup",
  "bootVga",
  "resetMethods",
  "parent",
  "bridgeChain",
] as const;
const pick = (d: PciDevice) => Object.fromEntries(LISTED.map((k) => [k, d[k]]));

function both(snapshot: string) {
  const { root, manifest } = openSnapshot(snapshot);
  const full = readHostState(root, { manifest, systemPciIds: false });
  const summary = readHostState(root, { manifest, systemPciIds: false, pciDetail: "summary" });
  return { full, summary };
}

const hosts = fs
  .readdirSync(path.join(REPO, "test/fixtures/hosts"))
  .filter((f) => f.endsWith(".tar.gz"));

describe("PCI summary read (list)", () => {
  it.each(hosts)("%s: the same functions, groups and listed fields as the full read", (file) => {
    const { full, summary } = both(path.join(REPO, "test/fixtures/hosts", file));
    expect(summary.pci.map(pick)).toEqual(full.pci.map(pick));
    expect(summary.iommu.groups).toEqual(full.iommu.groups);
    // Bridges are told by class in the summary; the full read may also know it by header type.
    for (const [i, d] of summary.pci.entries())
      if (d.isBridge) expect(full.pci[i]!.isBridge).toBe(true);
  });

  it("leaves what it does not read empty, and does not report it as unknown", () => {
    const { full, summary } = both(path.join(REPO, "test/fixtures/hosts/seed-before.tar.gz"));
    const gpuFull = full.pci.find((d) => d.address === "0000:01:00.0")!;
    const gpu = summary.pci.find((d) => d.address === "0000:01:00.0")!;
    expect(gpuFull.revision).toBe("a1");
    expect(gpuFull.capabilities).not.toBeNull();
    expect(gpuFull.bars.length).toBeGreaterThan(0);
    expect(gpu).toMatchObject({
      revision: null,
      capabilities: null,
      bars: [],
      link: null,
      numaNode: null,
      powerState: null,
      d3coldAllowed: null,
      romBarBytes: null,
      driverOverride: null,
    });
    expect(summary.unknowns.filter((u) => u.field.endsWith(".capabilities"))).toEqual([]);
  });

  it("on a folder tree too, where groups come from the groups' listings", () => {
    const { dir, cleanup } = writeSpec(seedAfter);
    try {
      const { full, summary } = both(dir);
      expect(summary.pci.map(pick)).toEqual(full.pci.map(pick));
      expect(summary.pci.find((d) => d.address === "0000:01:00.1")).toMatchObject({
        iommuGroup: 12,
        driver: "vfio-pci",
        resetMethods: ["flr", "bus"],
      });
      // A function missing from every group listing still gets its group from its own link.
      fs.rmSync(path.join(dir, "sys/kernel/iommu_groups/12/devices/0000:01:00.1"));
      expect(both(dir).summary.pci.find((d) => d.address === "0000:01:00.1")?.iommuGroup).toBe(12);
    } finally {
      cleanup();
    }
  });
});
