// `check` and `list` on the machine running the tests, read-only. CI runs in a VM without an
// IOMMU: there the report must say so (hypervisor flag, no groups, iommu.enabled fail, exit
// 1). The facts are read independently from /proc and /sys to compare with what the tool says.

import * as fs from "node:fs";
import { describe, expect, it } from "vitest";
import { cliJson } from "../helpers/cli.js";

function cpuFlags(): Set<string> {
  try {
    const text = fs.readFileSync("/proc/cpuinfo", "utf8");
    const line = /^flags\s*:\s*(.*)$/m.exec(text);
    return new Set((line?.[1] ?? "").split(/\s+/));
  } catch {
    return new Set();
  }
}

function groupCount(): number {
  try {
    return fs.readdirSync("/sys/kernel/iommu_groups").length;
  } catch {
    return 0;
  }
}

const onLinux = fs.existsSync("/proc/cpuinfo") && fs.existsSync("/sys/bus/pci/devices");
const isVm = cpuFlags().has("hypervisor");
const groups = groupCount();

describe.runIf(onLinux)("live host", () => {
  it("check --json reads this machine and agrees with /proc and /sys", async () => {
    const { code, json, stderr } = await cliJson(["check"]);
    expect(stderr).toBe("");
    expect([0, 1]).toContain(code);
    expect(json.host.source.kind).toBe("live");
    expect(json.host.virtualMachine).toBe(isVm);
    expect(json.iommu.enabled).toBe(groups > 0 || fs.readdirSync("/sys/class/iommu").length > 0);
    expect(json.iommu.groupCount).toBe(groups);
    expect(json.devices.length).toBe(fs.readdirSync("/sys/bus/pci/devices").length);
    expect(code).toBe(json.findings.some((f: { status: string }) => f.status === "fail") ? 1 : 0);
  });

  it.runIf(isVm && groups === 0)(
    "in a VM without IOMMU groups (CI): says so and exits 1",
    async () => {
      const { code, json } = await cliJson(["check"]);
      expect(json.host.virtualMachine).toBe(true);
      expect(json.iommu.enabled).toBe(false);
      const enabled = json.findings.find((f: { id: string }) => f.id === "iommu.enabled");
      expect(enabled).toMatchObject({
        status: "fail",
        summary: expect.stringContaining("this VM has no virtual IOMMU"),
      });
      expect(
        json.findings.find((f: { id: string }) => f.id === "host.virtual-machine"),
      ).toMatchObject({ status: "warn" });
      expect(
        json.candidates.every(
          (c: { isolated: boolean; target: boolean }) => !c.isolated && !c.target,
        ),
      ).toBe(true);
      expect(json.next).toMatch(/hypervisor host/);
      expect(code).toBe(1);
    },
  );

  it("list --json reads this machine", async () => {
    const { code, json } = await cliJson(["list"]);
    expect(code).toBe(0);
    expect(json.host.virtualMachine).toBe(isVm);
    expect(json.devices.map((d: { address: string }) => d.address).sort()).toEqual(
      fs.readdirSync("/sys/bus/pci/devices").sort(),
    );
  });
});
