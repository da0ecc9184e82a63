// Refusals: exit 3, nothing written, each reason naming the way out; and the opt-in flags that
// turn a refusal into a warned plan.

import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { RefusedError } from "../../src/errors.js";
import { planHost } from "../../src/plan/plan.js";
import type { HostState } from "../../src/host/types.js";
import { FIXTURE_SPECS } from "../fixtures/specs/index.js";
import { cli } from "../helpers/cli.js";
import { fixturePath, fixtureState, writeSpec } from "../helpers/fixtures.js";
import { planOpts } from "../helpers/plan.js";

function refusal(state: HostState, over: Parameters<typeof planOpts>[0]): string[] {
  try {
    planHost(state, planOpts(over));
  } catch (err) {
    if (err instanceof RefusedError) return err.reasons;
    throw err;
  }
  throw new Error("not refused");
}

/** Put a device into another IOMMU group (as a board without ACS would). */
function joinGroup(s: HostState, address: string, group: number): HostState {
  const d = s.pci.find((x) => x.address === address)!;
  s.iommu.groups.find((g) => g.id === d.iommuGroup)!.devices = s.iommu.groups
    .find((g) => g.id === d.iommuGroup)!
    .devices.filter((a) => a !== address);
  d.iommuGroup = group;
  s.iommu.groups.find((g) => g.id === group)!.devices.push(address);
  return s;
}

describe("refusals", () => {
  it("refuses a group that holds the NIC carrying the default route", () => {
    const s = joinGroup(fixtureState("seed-after"), "0000:08:00.0", 12);
    const reasons = refusal(s, { devices: ["0000:01:00"] });
    expect(reasons).toHaveLength(1);
    expect(reasons[0]).toMatch(
      /IOMMU group 12 also holds 0000:08:00.0, the network controller carrying the default route \(vmbr0 -> enp8s0\)/,
    );
    // A host-critical mate is refused even with --allow-partial-group.
    expect(refusal(s, { devices: ["0000:01:00"], allowPartialGroup: true })).toHaveLength(1);
  });

  it("refuses passing the root filesystem's controller itself", () => {
    const reasons = refusal(fixtureState("seed-after"), { devices: ["0000:02:00"] });
    expect(reasons[0]).toMatch(
      /0000:02:00.0 is the controller of the root filesystem \(\/dev\/mapper\/pve-root\)/,
    );
  });

  it("refuses a partial group unless --allow-partial-group, which warns instead", () => {
    const s = joinGroup(fixtureState("seed-after"), "0000:07:00.0", 12);
    const reasons = refusal(s, { devices: ["0000:01:00"] });
    expect(reasons[0]).toMatch(
      /group 12 also holds 0000:07:00.0 \(.*driver rtw89_8852ce\).*--group 12.*--allow-partial-group/,
    );
    const plan = planHost(s, planOpts({ devices: ["0000:01:00"], allowPartialGroup: true }));
    expect(plan.findings.find((f) => f.id === "plan.partial-group")?.status).toBe("warn");
    expect(plan.expect.boundToVfio).toEqual(["0000:01:00.0", "0000:01:00.1"]);
    // --group takes the whole group instead: nothing partial left.
    const whole = planHost(s, planOpts({ groups: [12] }));
    expect(whole.expect.boundToVfio).toEqual(["0000:01:00.0", "0000:01:00.1", "0000:07:00.0"]);
  });

  it("a group-mate already on vfio-pci or without any driver does not make the group partial", () => {
    const s = joinGroup(fixtureState("seed-after"), "0000:07:00.0", 12);
    const wifi = s.pci.find((d) => d.address === "0000:07:00.0")!;
    wifi.driver = null;
    wifi.driverModule = null;
    wifi.kernelModules = [];
    expect(() => planHost(s, planOpts({ devices: ["0000:01:00"] }))).not.toThrow();
  });

  it("refuses the only GPU of the host unless --headless-ok", () => {
    expect(refusal(fixtureState("plan-pve-sdboot"), { devices: ["0000:01:00"] })[0]).toMatch(
      /only GPU of this host.*--headless-ok/,
    );
    const plan = planHost(
      fixtureState("plan-pve-sdboot"),
      planOpts({ devices: ["0000:01:00"], headlessOk: true }),
    );
    expect(plan.findings.find((f) => f.id === "plan.headless")?.status).toBe("warn");
  });

  it("refuses without interrupt remapping unless --allow-unsafe-interrupts, which writes the option", () => {
    const s = fixtureState("seed-after");
    s.iommu.interruptRemapping = false;
    expect(refusal(s, { devices: ["0000:01:00"] })[0]).toMatch(
      /interrupt remapping is off.*--allow-unsafe-interrupts/,
    );
    const plan = planHost(s, planOpts({ devices: ["0000:01:00"], allowUnsafeInterrupts: true }));
    const own = plan.steps.find(
      (x) => x.kind === "file" && x.path === "/etc/modprobe.d/passthrough.conf",
    );
    expect(own?.kind === "file" && own.after).toContain(
      "options vfio_iommu_type1 allow_unsafe_interrupts=1\n",
    );
    expect(plan.findings.find((f) => f.id === "plan.unsafe-interrupts")?.status).toBe("warn");
  });

  it("does not write allow_unsafe_interrupts when interrupt remapping is on", () => {
    const plan = planHost(
      fixtureState("seed-after"),
      planOpts({ devices: ["0000:01:00"], allowUnsafeInterrupts: true }),
    );
    expect(JSON.stringify(plan.steps)).not.toContain("allow_unsafe_interrupts");
    expect(plan.findings.find((f) => f.id === "plan.unsafe-interrupts")?.status).toBe("info");
  });

  it("refuses when no setting can turn the IOMMU on: virtualization off, or a VM without a virtual IOMMU", () => {
    const off = fixtureState("seed-before");
    off.system.virtualizationFlag = null;
    expect(refusal(off, { devices: ["0000:01:00"] })[0]).toMatch(
      /neither svm \(AMD-V\) nor vmx.*SVM Mode and the IOMMU/,
    );
    const vm = fixtureState("seed-before");
    vm.system.virtualMachine = true;
    expect(refusal(vm, { devices: ["0000:01:00"] })[0]).toMatch(
      /virtual machine without a virtual IOMMU/,
    );
  });

  it("refuses an SR-IOV physical function with active VFs", () => {
    const s = fixtureState("seed-after");
    const nic = s.pci.find((d) => d.address === "0000:07:00.0")!;
    nic.sriov = { totalVfs: 8, numVfs: 2, vfs: ["0000:07:00.1", "0000:07:00.2"] };
    expect(refusal(s, { devices: ["0000:07:00.0"] })[0]).toMatch(
      /SR-IOV physical function with 2 active virtual functions.*0000:07:00.1/,
    );
  });

  it("collects every reason at once", () => {
    const s = joinGroup(fixtureState("plan-pve-sdboot"), "0000:03:00.0", 1);
    s.iommu.interruptRemapping = false;
    expect(refusal(s, { devices: ["0000:01:00"] })).toHaveLength(3);
  });
});

describe("refusals through the CLI", () => {
  it("exits 3, says why with the way out, and writes nothing under --root", async () => {
    const spec = FIXTURE_SPECS.find((x) => x.name === "plan-pve-sdboot")!;
    const { dir, cleanup } = writeSpec(spec);
    try {
      const snapshot = (d: string): string[] => {
        const out: string[] = [];
        const walk = (p: string) => {
          for (const e of fs.readdirSync(p, { withFileTypes: true })) {
            const full = path.join(p, e.name);
            if (e.isDirectory()) walk(full);
            else if (e.isFile())
              out.push(`${full} ${fs.readFileSync(full).toString("base64").length}`);
          }
        };
        walk(path.join(d, "etc"));
        return out.sort();
      };
      const before = snapshot(dir);
      const r = await cli(["plan", "--device", "0000:01:00", "--root", dir]);
      expect(r.code).toBe(3);
      expect(r.stdout).toBe("");
      expect(r.stderr).toMatch(
        /^error: refused, nothing written: 0000:01:00.0 is the only GPU of this host.*--headless-ok\n$/,
      );
      expect(snapshot(dir)).toEqual(before);
    } finally {
      cleanup();
    }
  });

  it("--json prints the refusal as data too", async () => {
    const r = await cli([
      "plan",
      "--device",
      "0000:01:00",
      "--snapshot",
      fixturePath("plan-pve-sdboot"),
      "--json",
    ]);
    expect(r.code).toBe(3);
    expect(JSON.parse(r.stdout)).toEqual({
      refused: true,
      reasons: [expect.stringMatching(/only GPU/)],
      steps: [],
      findings: [],
    });
  });

  it("lists several reasons one per line", async () => {
    const r = await cli([
      "plan",
      "--device",
      "0000:02:00,0000:08:00",
      "--snapshot",
      fixturePath("seed-after"),
    ]);
    expect(r.code).toBe(3);
    expect(r.stderr.split("\n")[0]).toBe("error: refused for safety, nothing written:");
    expect(r.stderr).toContain("\n  - 0000:02:00.0 is the controller of the root filesystem");
    expect(r.stderr).toContain(
      "\n  - 0000:08:00.0 is the network controller carrying the default route",
    );
  });
});

describe("no selection, no plan", () => {
  it("planHost with no device and no group plans nothing, not even repairs (exit 2)", () => {
    const state = fixtureState("seed-after");
    expect(() => planHost(state, planOpts({ devices: [], groups: [] }))).toThrow(
      /nothing selected/,
    );
  });
});
