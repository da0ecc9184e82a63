// The machine running the tests, read live (read-only use of /sys and /proc; writes only to a
// temporary folder). On CI this is a VM without a virtual IOMMU: discovery must see no groups
// and say so. Facts are checked against the kernel's files read here directly, so the test
// holds on any machine, with or without an IOMMU.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { snapshotToFile } from "../../src/cli/commands/snapshot.js";
import { cli, cliJson } from "../helpers/cli.js";

const hasSysfs = fs.existsSync("/sys/bus/pci/devices") && fs.existsSync("/proc/cpuinfo");
if (!hasSysfs)
  console.warn("live tests skipped: this machine has no /sys/bus/pci (a container without sysfs?)");

const pciAddresses = hasSysfs ? fs.readdirSync("/sys/bus/pci/devices").sort() : [];
const groups =
  hasSysfs && fs.existsSync("/sys/kernel/iommu_groups")
    ? fs.readdirSync("/sys/kernel/iommu_groups")
    : [];
const cpuFlags = hasSysfs
  ? (/^flags\s*:\s*(.*)$/m.exec(fs.readFileSync("/proc/cpuinfo", "utf8"))?.[1] ?? "").split(/\s+/)
  : [];

describe.skipIf(!hasSysfs)("live host: list", () => {
  it("--json sees every PCI function, the IOMMU state and whether we run in a VM", async () => {
    const { code, json } = await cliJson(["list"]);
    expect(code).toBe(0);
    expect(json.host.source).toMatchObject({ kind: "live", path: "/" });
    expect(json.devices.map((d: { address: string }) => d.address).sort()).toEqual(pciAddresses);
    expect(json.host.virtualMachine).toBe(cpuFlags.includes("hypervisor"));
    expect(json.iommu.enabled).toBe(
      groups.length > 0 || fs.readdirSync("/sys/class/iommu").length > 0,
    );
    expect(json.iommu.groupCount).toBe(groups.length);
    for (const d of json.devices) {
      const link = `/sys/bus/pci/devices/${d.address}/iommu_group`;
      expect(d.iommuGroup, d.address).toBe(
        fs.existsSync(link) ? Number(path.basename(fs.readlinkSync(link))) : null,
      );
      const vendor = fs
        .readFileSync(`/sys/bus/pci/devices/${d.address}/vendor`, "utf8")
        .trim()
        .slice(2);
      expect(d.vendorId, d.address).toBe(vendor);
    }
  });

  it("says plainly when there are no IOMMU groups", async () => {
    const { code, stdout } = await cli(["list"]);
    expect(code).toBe(0);
    if (groups.length === 0) {
      expect(stdout.split("\n")[0]).toContain("IOMMU off: no groups");
      expect(stdout).toContain(
        "No IOMMU groups: run `passthrough check` to see why and what to change.",
      );
      for (const a of pciAddresses)
        expect(stdout).toMatch(new RegExp(`^-\\s+${a.replace(/\./g, "\\.")}\\s`, "m"));
    } else {
      expect(stdout.split("\n")[0]).toContain(`${groups.length} IOMMU group`);
    }
  });

  it("--tree and --usb run on the live host", async () => {
    const tree = await cliJson(["list", "--tree"]);
    expect(tree.code).toBe(0);
    const count = (nodes: Array<{ children: unknown[] }>): number =>
      nodes.reduce((n, c) => n + 1 + count(c.children as never), 0);
    expect(
      tree.json.tree.reduce((n: number, r: { devices: never }) => n + count(r.devices), 0),
    ).toBe(pciAddresses.length);
    const usb = await cliJson(["list", "--usb"]);
    expect(usb.code).toBe(0);
    const usbNames = fs.existsSync("/sys/bus/usb/devices")
      ? fs.readdirSync("/sys/bus/usb/devices").filter((n) => !n.includes(":"))
      : [];
    expect(usb.json.usb.map((u: { name: string }) => u.name).sort()).toEqual(usbNames.sort());
    const text = await cli(["list", "--usb"]);
    if (usbNames.length === 0)
      expect(text.stdout).toContain(
        "No USB devices: this host shows no USB bus (sys/bus/usb/devices).",
      );
  });
});

describe.skipIf(!hasSysfs)("live host: snapshot", () => {
  let tmp: string;
  let file: string;
  beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "passthrough-live-"));
    file = (await snapshotToFile({ source: "/", output: tmp })).file;
  }, 60_000);
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it("writes one archive and nothing else", () => {
    expect(fs.readdirSync(tmp)).toEqual([path.basename(file)]);
    expect(path.basename(file)).toMatch(/^passthrough-snapshot-[\w.-]+-\d{8}-\d{6}\.tar\.gz$/);
  });

  it("list --snapshot of it gives the same devices, groups and host as the live list", async () => {
    const live = await cliJson(["list", "--tree", "--usb"]);
    const snap = await cliJson(["list", "--tree", "--usb", "--snapshot", file]);
    expect(snap.code).toBe(0);
    expect(snap.json.devices).toEqual(live.json.devices);
    expect(snap.json.groups).toEqual(live.json.groups);
    expect(snap.json.iommu).toEqual(live.json.iommu);
    expect(snap.json.tree).toEqual(live.json.tree);
    expect(snap.json.usb).toEqual(live.json.usb);
    const { source: a, ...liveHost } = live.json.host;
    const { source: b, ...snapHost } = snap.json.host;
    expect(snapHost).toEqual(liveHost);
    expect(a.kind).toBe("live");
    expect(b).toMatchObject({ kind: "snapshot", path: file, redacted: [] });
  });
});
