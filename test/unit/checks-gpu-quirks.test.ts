// check's ROM BAR and D3cold verdicts on the gpu-quirks fixture (test/fixtures/specs/gpu-quirks.ts)
// and on edited states of it: each status, and silence when there is nothing to say.
import { describe, expect, it } from "vitest";
import { runChecks } from "../../src/checks/run-checks.js";
import { findCandidates } from "../../src/checks/candidates.js";
import { selectDevice } from "../../src/checks/context.js";
import { d3coldFailures } from "../../src/host/kernel-log.js";
import { parseRomResource } from "../../src/host/pci/read-pci.js";
import type { HostState } from "../../src/host/types.js";
import { fixtureState } from "../helpers/fixtures.js";

function findingsFor(state: HostState, address: string, id: string) {
  const sel = selectDevice(state, findCandidates(state), {
    address,
    isFunction: /\.[0-7]$/.test(address),
  });
  if (!sel.ok) throw new Error(sel.reason);
  return runChecks(state, [{ candidate: sel.candidate, fn: sel.fn }]).findings.filter(
    (f) => f.id === id,
  );
}

describe("rom.bar", () => {
  it("reads the ROM BAR from resource line 6", () => {
    const zero = "0x0000000000000000 0x0000000000000000 0x0000000000000000";
    const lines = Array.from({ length: 13 }, () => zero);
    expect(parseRomResource(lines.join("\n"))).toBe(0);
    lines[6] = "0x00000000fc000000 0x00000000fc01ffff 0x0000000000046200";
    expect(parseRomResource(lines.join("\n"))).toBe(128 * 1024);
  });

  it("an APU's iGPU without one: warn, dump from VFCT; a discrete card with one: silent", () => {
    const s = fixtureState("gpu-quirks");
    expect(s.pci.find((d) => d.address === "0000:0a:00.0")!.romBarBytes).toBe(0);
    const [igpu] = findingsFor(s, "0000:0a:00", "rom.bar");
    expect(igpu).toMatchObject({ status: "warn" });
    expect(igpu!.summary).toContain("ACPI VFCT table");
    expect(igpu!.fix).toContain("passthrough rom dump --device 0000:0a:00.0");
    expect(s.pci.find((d) => d.address === "0000:03:00.0")!.romBarBytes).toBe(128 * 1024);
    expect(findingsFor(s, "0000:03:00", "rom.bar")).toEqual([]);
  });

  it("another vendor's card without one: the maker's file, checked with rom inspect", () => {
    const s = fixtureState("gpu-quirks");
    const gpu = s.pci.find((d) => d.address === "0000:0a:00.0")!;
    gpu.vendorId = "10de";
    const [f] = findingsFor(s, "0000:0a:00", "rom.bar");
    expect(f!.fix).toContain("passthrough rom inspect FILE --device 0000:0a:00.0");
  });
});

describe("power.d3cold", () => {
  it("finds the functions the kernel could not wake", () => {
    expect(
      d3coldFailures(
        "[ 9.1] vfio-pci 0000:03:00.0: Unable to change power state from D3cold to D0, device inaccessible\n" +
          "[ 9.2] vfio-pci 0000:03:00.0: Unable to change power state from D3cold to D0, device inaccessible\n" +
          "[ 9.3] pci 0000:04:00.0: Unable to change power state from D3hot to D0, device inaccessible\n",
      ),
    ).toEqual(["0000:03:00.0"]);
  });

  it("fail for a function stuck in D3cold, warn for one asleep in it, nothing when awake", () => {
    const s = fixtureState("gpu-quirks");
    const [stuck] = findingsFor(s, "0000:03:00", "power.d3cold");
    expect(stuck).toMatchObject({ status: "fail" });
    expect(stuck!.fix).toContain("echo 0 > /sys/bus/pci/devices/0000:03:00.0/d3cold_allowed");
    expect(stuck!.fix).toContain("options vfio-pci disable_idle_d3=1");
    const [asleep] = findingsFor(s, "0000:03:00.1", "power.d3cold");
    expect(asleep).toMatchObject({ status: "warn" });
    s.kernelLog.d3coldFailures = [];
    s.pci.find((d) => d.address === "0000:03:00.1")!.powerState = "D0";
    expect(findingsFor(s, "0000:03:00", "power.d3cold")).toEqual([]);
  });

  it("without d3cold_allowed there is nothing to write now, only the module option", () => {
    const s = fixtureState("gpu-quirks");
    s.kernelLog.d3coldFailures = [];
    s.pci.find((d) => d.address === "0000:03:00.1")!.d3coldAllowed = null;
    const [f] = findingsFor(s, "0000:03:00", "power.d3cold");
    expect(f!.fix).not.toContain("echo 0");
    expect(f!.fix).toContain("disable_idle_d3=1");
  });
});

describe("reset.vendor-reset: what to do next", () => {
  const navi = (s: HostState) => s.pci.find((d) => d.address === "0000:03:00.0")!;
  const vendorReset = (s: HostState) => findingsFor(s, "0000:03:00", "reset.vendor-reset")[0]!;

  it("module not loaded: install it, load it at boot, add the rule for this card", () => {
    const s = fixtureState("gpu-quirks");
    expect(Object.keys(s.configFiles)).toContain("etc/udev/rules.d/99-vendor-reset.rules");
    const f = vendorReset(s);
    expect(f.status).toBe("warn");
    expect(f.summary).toContain("the vendor-reset module is not loaded");
    expect(f.fix).toContain("vendor-reset in /etc/modules");
    expect(f.fix).toContain("its udev rule is already there");
    delete s.configFiles["etc/udev/rules.d/99-vendor-reset.rules"];
    expect(vendorReset(s).fix).toContain('ATTR{vendor}=="0x1002", ATTR{device}=="0x731f"');
  });

  it("loaded without the udev rule: add the rule", () => {
    const s = fixtureState("gpu-quirks");
    delete s.configFiles["etc/udev/rules.d/99-vendor-reset.rules"];
    s.modules.loaded = [...(s.modules.loaded ?? []), "vendor_reset"];
    const f = vendorReset(s);
    expect(f.summary).toContain("no udev rule sets reset_method to device_specific");
    expect(f.fix).toMatch(/^add the udev rule \/etc\/udev\/rules.d\/99-vendor-reset.rules: /);
  });

  it("loaded with the rule but not in effect: set it now; in effect: pass", () => {
    const s = fixtureState("gpu-quirks");
    s.modules.loaded = [...(s.modules.loaded ?? []), "vendor_reset"];
    s.configFiles["etc/udev/rules.d/99-vendor-reset.rules"] =
      'ACTION=="add", SUBSYSTEM=="pci", ATTR{vendor}=="0x1002", ATTR{device}=="0x731F", RUN+="/bin/sh -c \'echo device_specific > /sys/bus/pci/devices/$kernel/reset_method\'"\n';
    const f = vendorReset(s);
    expect(f.summary).toContain("the rule has not run since the module loaded");
    expect(f.fix).toContain(
      "echo device_specific > /sys/bus/pci/devices/0000:03:00.0/reset_method",
    );
    navi(s).resetMethods = ["device_specific"];
    expect(vendorReset(s).status).toBe("pass");
  });
});
