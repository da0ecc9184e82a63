// vfio-pci disable_idle_d3=1 (issue 15): planned when asked (--disable-idle-d3) or when the
// kernel log shows a selected device stuck in D3cold; on the command line when vfio-pci is
// built in; idempotent; and `verify` expects the parameter from /sys/module.
import { describe, expect, it } from "vitest";
import { verifyHost } from "../../src/apply/verify.js";
import { parseModprobeConf } from "../../src/formats/modprobe-conf.js";
import { planHost, rerunCommand } from "../../src/plan/plan.js";
import type { Plan } from "../../src/plan/types.js";
import { fixtureState } from "../helpers/fixtures.js";
import { planOpts } from "../helpers/plan.js";

const OWN = "/etc/modprobe.d/passthrough.conf";
const LINE = "options vfio-pci disable_idle_d3=1";

function ownAfter(p: Plan): string | null {
  const s = p.steps.find((x) => x.kind === "file" && x.path === OWN);
  return s && s.kind === "file" ? s.after : null;
}

describe("plan --disable-idle-d3", () => {
  it("is off by default on a host whose card wakes from D3cold", () => {
    const p = planHost(fixtureState("seed-after"), planOpts({ devices: ["0000:01:00"] }));
    expect(ownAfter(p) ?? "").not.toContain("disable_idle_d3");
    expect(p.expect.moduleParams).toBeUndefined();
    expect(p.findings.map((f) => f.id)).not.toContain("binding.disable-idle-d3");
  });

  it("writes the option into passthrough.conf when asked, and verify expects it", () => {
    const opts = planOpts({ devices: ["0000:01:00"], disableIdleD3: true });
    const p = planHost(fixtureState("seed-after"), opts);
    expect(ownAfter(p)).toContain(`\n${LINE}\n`);
    expect(p.expect.moduleParams).toEqual([
      { module: "vfio_pci", param: "disable_idle_d3", value: "Y" },
    ]);
    expect(p.findings.find((f) => f.id === "binding.disable-idle-d3")?.summary).toContain(
      "--disable-idle-d3",
    );
    expect(rerunCommand(opts)).toContain("--disable-idle-d3");
  });

  it("is chosen by itself for a device the kernel log shows stuck in D3cold", () => {
    const s = fixtureState("gpu-quirks");
    expect(s.kernelLog.d3coldFailures).toContain("0000:03:00.0");
    const p = planHost(s, planOpts({ devices: ["0000:03:00"] }));
    const f = p.findings.find((x) => x.id === "binding.disable-idle-d3");
    expect(f?.summary).toContain("0000:03:00.0 did not come back from D3cold");
    expect(ownAfter(p) ?? s.configFiles["etc/modprobe.d/passthrough.conf"]).toContain(LINE);
  });

  it("adds nothing when a modprobe.d line already sets it", () => {
    const s = fixtureState("seed-after");
    s.configFiles["etc/modprobe.d/power.conf"] = "options vfio_pci disable_idle_d3=Y\n";
    s.modules.modprobe.push(
      ...parseModprobeConf("etc/modprobe.d/power.conf", "options vfio_pci disable_idle_d3=Y\n"),
    );
    const p = planHost(s, planOpts({ devices: ["0000:01:00"], disableIdleD3: true }));
    expect(ownAfter(p) ?? "").not.toContain("disable_idle_d3");
    expect(p.expect.moduleParams).toHaveLength(1);
  });

  it("goes on the kernel command line when vfio-pci is built in", () => {
    const s = fixtureState("seed-after");
    s.modules.builtin = [...(s.modules.builtin ?? []), "vfio_pci"];
    const p = planHost(s, planOpts({ devices: ["0000:01:00"], disableIdleD3: true }));
    expect(p.expect.cmdline).toContain("vfio_pci.disable_idle_d3=1");
    expect(ownAfter(p) ?? "").not.toContain("disable_idle_d3");
  });
});

describe("verify of disable_idle_d3", () => {
  const input = (params: Record<string, string>) => {
    const state = fixtureState("verify-ok");
    state.modules.parameters = { ...state.modules.parameters, vfio_pci: params };
    return verifyHost({
      state,
      expect: {
        cmdline: ["iommu=pt"],
        modulesLoaded: ["vfio", "vfio_iommu_type1", "vfio_pci"],
        boundToVfio: ["0000:01:00.0", "0000:01:00.1"],
        moduleParams: [{ module: "vfio_pci", param: "disable_idle_d3", value: "Y" }],
      },
      allowUnsafeInterrupts: false,
      grubCfg: null,
      bootedAt: null,
      appliedAt: null,
    });
  };

  it("passes when the running module shows Y", () => {
    const r = input({ disable_idle_d3: "Y" });
    expect(r.ok).toBe(true);
    expect(r.findings.some((f) => f.summary === "vfio_pci disable_idle_d3=Y")).toBe(true);
  });

  it("fails naming the sysfs file when the module loaded without it", () => {
    const r = input({ disable_idle_d3: "N" });
    expect(r.ok).toBe(false);
    const f = r.findings.find((x) => x.status === "fail")!;
    expect(f.id).toBe("verify.modules");
    expect(f.subject).toBe("/sys/module/vfio_pci/parameters/disable_idle_d3");
    expect(f.summary).toContain("reads N, the plan set Y");
  });
});
