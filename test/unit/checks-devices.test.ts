// Candidate checks (isolation, drivers, GPU hazards, reset, SR-IOV) and target selection, on
// fixture hosts changed in the one fact each case is about.
import { describe, expect, it } from "vitest";
import { findCandidates } from "../../src/checks/candidates.js";
import { parseDeviceArgs } from "../../src/formats/device-selection.js";
import { defaultTargets, makeCheckContext, selectDevice } from "../../src/checks/context.js";
import { bootTimeVfioBinding, checkDrivers, idsMatch } from "../../src/checks/drivers.js";
import { checkGpu } from "../../src/checks/gpu.js";
import { checkIsolation } from "../../src/checks/isolation.js";
import { checkReset, vendorResetFamily } from "../../src/checks/reset.js";
import { runChecks } from "../../src/checks/run-checks.js";
import { parseModprobeConf } from "../../src/formats/modprobe-conf.js";
import type { HostState } from "../../src/host/types.js";
import { fixtureState } from "../helpers/fixtures.js";

function ctxFor(s: HostState, device?: string) {
  if (!device) return makeCheckContext(s);
  const sel = selectDevice(s, findCandidates(s), parseDeviceArgs(device)[0]!);
  if (!sel.ok) throw new Error(sel.reason);
  return makeCheckContext(s, [sel]);
}
const dev = (s: HostState, a: string) => s.pci.find((d) => d.address === a)!;

describe("which devices check judges", () => {
  it("the GPUs a VM would get: not the boot GPU when there is another, never a BMC's display", () => {
    const targets = (n: string) =>
      defaultTargets(fixtureState(n), findCandidates(fixtureState(n))).map((c) => c.address);
    expect(targets("seed-after")).toEqual(["0000:01:00"]);
    expect(targets("two-identical-gpus")).toEqual(["0000:0a:00"]);
    expect(targets("single-gpu-bootvga")).toEqual(["0000:03:00"]);
    expect(targets("no-irq-remapping")).toEqual(["0000:03:00"]); // not the iDRAC's Matrox
    expect(targets("sriov-nic")).toEqual([]); // only the ASPEED
    expect(targets("guest-nvidia")).toEqual([]); // a guest without vIOMMU passes nothing on
  });

  it("resolves --device for slots, functions and VFs", () => {
    const s = fixtureState("sriov-nic");
    const c = findCandidates(s);
    expect(selectDevice(s, c, parseDeviceArgs("18:00")[0]!)).toMatchObject({
      ok: true,
      candidate: { address: "0000:18:00" },
      fn: null,
    });
    expect(selectDevice(s, c, parseDeviceArgs("0000:18:00.1")[0]!)).toMatchObject({
      ok: true,
      candidate: { address: "0000:18:00" },
      fn: "0000:18:00.1",
    });
    expect(selectDevice(s, c, parseDeviceArgs("18:02.3")[0]!)).toMatchObject({
      ok: true,
      candidate: { address: "0000:18:02.3" },
      fn: null,
    });
    expect(selectDevice(s, c, parseDeviceArgs("17:00.0")[0]!)).toMatchObject({
      ok: false,
      reason: expect.stringContaining("is a PCI bridge"),
    });
  });

  it("makes each SR-IOV VF a candidate of its own", () => {
    const vfs = findCandidates(fixtureState("sriov-nic")).filter((c) =>
      c.address.startsWith("0000:18:02"),
    );
    expect(vfs.map((c) => [c.address, c.functions.length, c.isolated, c.assignedTo])).toEqual([
      ["0000:18:02.0", 1, true, []],
      ["0000:18:02.1", 1, true, []],
      ["0000:18:02.2", 1, true, [101]],
      ["0000:18:02.3", 1, true, [102]],
    ]);
  });
});

describe("candidate.isolation", () => {
  it("lists group-mates and the bridges without ACS that cause them", () => {
    const f = checkIsolation(ctxFor(fixtureState("intel-shared-group")))[0]!;
    expect(f.status).toBe("fail");
    expect(f.detail).toEqual([
      "0000:02:00.0 Intel Ethernet Controller I225-V [8086:15f3] on igc",
      "0000:03:00.0 ASMedia ASM1166 Serial ATA Controller [1b21:1166] on ahci",
      "bridge 0000:00:1c.4 Intel Alder Lake-S PCH PCI Express Root Port #5 has no ACS capability, so the kernel cannot keep the devices below it apart",
    ]);
  });

  it("passes a card whose group holds only its functions and bridges", () => {
    expect(checkIsolation(ctxFor(fixtureState("seed-after")))[0]).toMatchObject({
      status: "pass",
      summary: "group 12 holds only this device's 2 functions",
    });
  });
});

describe("drivers", () => {
  it("matches vfio-pci ids with and without subsystem ids", () => {
    const gpu = dev(fixtureState("seed-after"), "0000:01:00.0");
    expect(idsMatch("10de:2206,10de:1aef", gpu)).toBe(true);
    expect(idsMatch("10DE:2206:19DA:1612", gpu)).toBe(true);
    expect(idsMatch("10de:2206:1043:0000", gpu)).toBe(false);
    expect(idsMatch("10de:2204", gpu)).toBe(false);
  });

  it("finds boot-time binding by ids, by the kernel command line, by udev rule and by driverctl", () => {
    const s = fixtureState("seed-after");
    const gpu = dev(s, "0000:01:00.0");
    expect(bootTimeVfioBinding(s, gpu)).toBeNull();
    const ids = structuredClone(s);
    ids.modules.modprobe.push(
      ...parseModprobeConf(
        "etc/modprobe.d/vfio.conf",
        "options vfio-pci ids=10de:2206,10de:1aef\n",
      ),
    );
    expect(bootTimeVfioBinding(ids, gpu)).toEqual({
      how: "ids",
      where: "/etc/modprobe.d/vfio.conf:1 (options vfio-pci ids=10de:2206,10de:1aef)",
    });
    const cmd = structuredClone(s);
    cmd.cmdline.configured!.params.push({
      key: "vfio-pci.ids",
      value: "10de:2206",
      raw: "vfio-pci.ids=10de:2206",
      origin: { file: "etc/default/grub", line: 9 },
    });
    expect(bootTimeVfioBinding(cmd, gpu)?.where).toBe(
      "/etc/default/grub:9 (vfio-pci.ids=10de:2206)",
    );
    const udev = structuredClone(s);
    udev.configFiles["etc/udev/rules.d/90-vfio-gpu.rules"] =
      'ACTION=="add", SUBSYSTEM=="pci", KERNEL=="0000:01:00.0", ATTR{driver_override}="vfio-pci"\n';
    expect(bootTimeVfioBinding(udev, gpu)).toMatchObject({
      how: "address",
      where: "/etc/udev/rules.d/90-vfio-gpu.rules (driver_override by address)",
    });
    const driverctl = structuredClone(s);
    driverctl.configFiles["etc/driverctl.d/pci-0000:01:00.0"] = "vfio-pci\n";
    expect(bootTimeVfioBinding(driverctl, gpu)?.how).toBe("address");
  });

  it("says when the native driver won although ids= binds vfio-pci", () => {
    const s = fixtureState("seed-before");
    s.modules.modprobe.push(
      ...parseModprobeConf(
        "etc/modprobe.d/vfio.conf",
        "options vfio-pci ids=10de:2206,10de:1aef\n",
      ),
    );
    const fs = checkDrivers(ctxFor(s));
    expect(fs.map((f) => `${f.status} ${f.id} ${f.subject}`)).toEqual([
      "warn driver.native 0000:01:00.0",
      "warn driver.native 0000:01:00.1",
    ]);
    expect(fs[0]!.fix).toContain('"softdep nouveau pre: vfio-pci"');
  });

  it("passes a function bound at boot and notes a driverless one that will be", () => {
    const s = fixtureState("seed-after");
    s.modules.modprobe.push(
      ...parseModprobeConf(
        "etc/modprobe.d/vfio.conf",
        "options vfio-pci ids=10de:2206,10de:1aef\n",
      ),
    );
    expect(checkDrivers(ctxFor(s)).map((f) => `${f.status} ${f.id}`)).toEqual([
      "pass driver.vfio",
      "pass driver.vfio",
    ]);
    dev(s, "0000:01:00.1").driver = null;
    expect(checkDrivers(ctxFor(s))[1]).toMatchObject({
      id: "driver.none",
      summary:
        ".1 no driver bound; /etc/modprobe.d/vfio.conf:1 (options vfio-pci ids=10de:2206,10de:1aef) binds vfio-pci from the next boot",
    });
  });
});

describe("GPU hazards", () => {
  it("fails identical cards when ids= already takes the host's copy", () => {
    const s = fixtureState("two-identical-gpus");
    s.modules.modprobe.push(
      ...parseModprobeConf(
        "etc/modprobe.d/vfio.conf",
        "options vfio-pci ids=10de:2503,10de:228e\n",
      ),
    );
    const f = checkGpu(ctxFor(s)).find((x) => x.id === "gpu.identical-ids")!;
    expect(f).toMatchObject({
      status: "fail",
      summary: expect.stringContaining("also takes 0000:09:00.0 and 0000:09:00.1"),
    });
  });

  it("warns about large BARs only from 8 GiB", () => {
    const s = fixtureState("two-identical-gpus");
    expect(checkGpu(ctxFor(s)).map((f) => f.id)).toContain("gpu.large-bar");
    for (const d of s.pci) {
      d.bars = d.bars.map((b) => ({ ...b, sizeBytes: Math.min(b.sizeBytes, 4 * 1024 ** 3) }));
      if (d.capabilities?.resizableBars)
        d.capabilities.resizableBars = d.capabilities.resizableBars.map((r) => ({
          ...r,
          currentMiB: 4096,
        }));
    }
    expect(checkGpu(ctxFor(s)).map((f) => f.id)).not.toContain("gpu.large-bar");
  });

  it("warns about the boot GPU chosen with --device on a host that has another", () => {
    const fs = checkGpu(ctxFor(fixtureState("two-identical-gpus"), "09:00"));
    expect(fs.find((f) => f.id === "gpu.boot-vga")?.fix).toContain(
      "make another GPU the primary display",
    );
    expect(fs.map((f) => f.id)).not.toContain("gpu.only-gpu");
  });
});

describe("reset", () => {
  it("knows the vendor-reset families and accepts a device_specific reset", () => {
    expect(vendorResetFamily({ vendorId: "1002", deviceId: "731f" })).toBe("Navi 1x");
    expect(vendorResetFamily({ vendorId: "1002", deviceId: "67df" })).toBe("Polaris");
    expect(vendorResetFamily({ vendorId: "1002", deviceId: "687f" })).toBe("Vega");
    expect(vendorResetFamily({ vendorId: "1002", deviceId: "73bf" })).toBeNull();
    const s = fixtureState("single-gpu-bootvga");
    dev(s, "0000:03:00.0").resetMethods = ["device_specific"];
    expect(checkReset(ctxFor(s)).map((f) => `${f.status} ${f.id}`)).toEqual([
      "pass reset.vendor-reset",
      "pass reset.method",
    ]);
  });

  it("warns when a function has no reset and shares its bus with other devices", () => {
    const s = fixtureState("intel-shared-group");
    dev(s, "0000:00:17.0").resetMethods = [];
    expect(checkReset(ctxFor(s, "00:17"))[0]).toMatchObject({
      status: "warn",
      summary: expect.stringContaining("0000:00:17.0 has no reset method"),
    });
  });

  it("skips on kernels before 5.15, which do not report reset_method, noting FLR", () => {
    const s = fixtureState("intel-shared-group");
    s.system.kernelVersion = [5, 10];
    dev(s, "0000:02:00.0").resetMethods = null;
    expect(checkReset(ctxFor(s, "02:00"))[0]).toMatchObject({
      status: "skip",
      summary: expect.stringContaining("0000:02:00.0 advertises Function Level Reset"),
    });
  });
});

describe("the whole report", () => {
  it("is ready exactly when nothing fails", () => {
    expect(runChecks(fixtureState("two-identical-gpus")).ready).toBe(true);
    const r = runChecks(fixtureState("seed-after"));
    expect(r.ready).toBe(false);
    expect(r.counts.fail).toBe(1);
  });
});
