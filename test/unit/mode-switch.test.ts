// `passthrough mode host|vm`: the plan (src/plan/mode-switch.ts), the sysfs writes against a fake
// kernel (test/helpers/fake-kernel.ts) and the command on a fake host tree.
import * as fs from "node:fs";
import * as path from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { executeSwitch, sysfsPort } from "../../src/apply/driver-switch.js";
import { ApplyError } from "../../src/errors.js";
import { planModeSwitch, type SwitchInput } from "../../src/plan/mode-switch.js";
import type { CommandRunner } from "../../src/process/run.js";
import { ctAmdKfd } from "../fixtures/specs/containers.js";
import { cli } from "../helpers/cli.js";
import { fakeKernel, fakeModprobe } from "../helpers/fake-kernel.js";
import { fixtureState, writeSpec } from "../helpers/fixtures.js";

// The seed host after its steps: the RTX 3080 (01:00.0, audio 01:00.1) on vfio-pci for VM 100,
// the Raphael iGPU on amdgpu; here the RTX is shown on the host's drivers for mode vm.
const STATE = fixtureState("ct-amd-kfd");
const ON_VFIO = STATE.pci.filter((d) => d.address.startsWith("0000:01:00."));
const SLOT = ON_VFIO.map((f) => ({
  ...f,
  driver: f.address.endsWith(".0") ? "nouveau" : "snd_hda_intel",
  driverOverride: null,
}));
const NATIVES = { "0000:01:00.0": ["nouveau"], "0000:01:00.1": ["snd_hda_intel"] };

function input(over: Partial<SwitchInput> = {}): SwitchInput {
  return {
    mode: "vm",
    functions: SLOT,
    holders: [],
    unreadable: [],
    runningVms: [],
    fb: "",
    modules: new Set(["nouveau", "snd_hda_intel"]),
    drivers: new Set(["nouveau", "snd_hda_intel"]),
    ...over,
  };
}

afterEach(() => vi.restoreAllMocks());

describe("planModeSwitch", () => {
  it("mode vm: loads vfio-pci, then override, unbind and probe for every function of the slot", () => {
    const plan = planModeSwitch(input());
    expect(plan.refusals).toEqual([]);
    expect(plan.modprobe).toEqual([["modprobe", "vfio-pci"]]);
    expect(plan.writes).toEqual([
      { file: "sys/bus/pci/devices/0000:01:00.0/driver_override", value: "vfio-pci" },
      { file: "sys/bus/pci/devices/0000:01:00.1/driver_override", value: "vfio-pci" },
      { file: "sys/bus/pci/drivers/nouveau/unbind", value: "0000:01:00.0" },
      { file: "sys/bus/pci/drivers/snd_hda_intel/unbind", value: "0000:01:00.1" },
      { file: "sys/bus/pci/drivers_probe", value: "0000:01:00.0" },
      { file: "sys/bus/pci/drivers_probe", value: "0000:01:00.1" },
    ]);
  });

  it("mode host: clears the override and unbinds from vfio-pci; the host driver is modprobed when not loaded", () => {
    const plan = planModeSwitch(
      input({ mode: "host", functions: ON_VFIO, modules: new Set(["snd_hda_intel"]) }),
    );
    expect(plan.targets.map((t) => t.want)).toEqual(["nouveau", "snd_hda_intel"]);
    expect(plan.modprobe).toEqual([["modprobe", "nouveau"]]);
    expect(plan.writes[0]).toEqual({
      file: "sys/bus/pci/devices/0000:01:00.0/driver_override",
      value: "\n",
    });
    expect(plan.writes[2]).toEqual({
      file: "sys/bus/pci/drivers/vfio-pci/unbind",
      value: "0000:01:00.0",
    });
  });

  it("refuses with every reason: a holder, a running VM, unreadable processes, the console GPU", () => {
    const boot = SLOT.map((f, i) => (i === 0 ? { ...f, bootVga: true } : f));
    const plan = planModeSwitch(
      input({
        functions: boot,
        holders: [{ pid: 4242, command: "jellyfin", path: "/dev/dri/renderD128" }],
        runningVms: ["VM 100 hostpci0: 0000:01:00,pcie=1"],
        unreadable: [17],
        fb: "0 EFI VGA\n",
      }),
    );
    expect(plan.writes).toEqual([]);
    expect(plan.refusals).toEqual([
      "process 4242 (jellyfin) has /dev/dri/renderD128 open",
      "VM 100 hostpci0: 0000:01:00,pcie=1 is running",
      expect.stringMatching(/1 process\(es\) \(17\).*run as root/),
      expect.stringMatching(/0000:01:00\.0 is the boot GPU.*\/proc\/fb: 0 EFI VGA/),
    ]);
  });

  it("does nothing when every function is there already", () => {
    expect(planModeSwitch(input({ mode: "host" })).already).toBe(true);
    expect(planModeSwitch(input({ functions: ON_VFIO })).already).toBe(true);
  });

  it("refuses mode vm without an IOMMU group", () => {
    const noGroup = SLOT.map((f) => ({ ...f, iommuGroup: null }));
    expect(planModeSwitch(input({ functions: noGroup })).refusals).toEqual([
      expect.stringMatching(/0000:01:00\.0 has no IOMMU group/),
    ]);
  });
});

describe("executeSwitch", () => {
  const runner: CommandRunner = {
    description: "test",
    run: (argv) => ({
      argv: [...argv],
      ran: true,
      exitCode: 0,
      signal: null,
      stdout: "",
      stderr: "",
      durationMs: 0,
      error: null,
      timedOut: false,
    }),
  };

  it("puts the functions back when the kernel rejects a write, and says so (ApplyError)", () => {
    const tree = writeSpec(ctAmdKfd);
    try {
      const kernel = fakeKernel(tree.dir, NATIVES);
      const plan = planModeSwitch(
        input({ mode: "host", functions: ON_VFIO, drivers: new Set(["vfio-pci", "nouveau"]) }),
      );
      // The audio function's unbind names a driver that does not hold it: ENODEV.
      plan.writes[3] = { file: "sys/bus/pci/drivers/nouveau/unbind", value: "0000:01:00.1" };
      vi.spyOn(sysfsPort, "write").mockImplementation(kernel.write);
      const overrides = new Map(ON_VFIO.map((f) => [f.address, null]));
      expect(() => executeSwitch(tree.dir, plan, runner, overrides)).toThrow(ApplyError);
      expect(kernel.bound("0000:01:00.0")).toBe("vfio-pci");
      expect(() => executeSwitch(tree.dir, plan, runner, overrides)).toThrow(
        /\/sys\/bus\/pci\/drivers\/nouveau\/unbind failed .*after 3 of 6 writes; put back: 0000:01:00\.0 on vfio-pci, 0000:01:00\.1 on vfio-pci/,
      );
    } finally {
      tree.cleanup();
    }
  });
});

describe("passthrough mode (fake kernel, fake modprobe)", () => {
  function setup() {
    const tree = writeSpec(ctAmdKfd);
    const kernel = fakeKernel(tree.dir, NATIVES);
    const modprobe = fakeModprobe(tree.dir);
    vi.spyOn(sysfsPort, "write").mockImplementation(kernel.write);
    const run = (mode: string, device: string, ...more: string[]) =>
      cli(["mode", mode, "--device", device, "--root", tree.dir, ...more], {
        PATH: `${modprobe.bin}:${process.env.PATH}`,
      });
    const hold = (pid: number, comm: string, node: string) => {
      fs.mkdirSync(path.join(tree.dir, `proc/${pid}/fd`), { recursive: true });
      fs.symlinkSync(node, path.join(tree.dir, `proc/${pid}/fd/7`));
      fs.writeFileSync(path.join(tree.dir, `proc/${pid}/comm`), `${comm}\n`);
    };
    return {
      tree,
      kernel,
      modprobe,
      run,
      hold,
      cleanup: () => (tree.cleanup(), modprobe.cleanup()),
    };
  }

  it("moves the slot from vfio-pci to its host drivers and back, reading each back, then has nothing to do", async () => {
    const h = setup();
    try {
      const host = await h.run("host", "01:00.0", "--yes");
      expect(host.stderr).toBe("");
      expect(host.code).toBe(0);
      expect(h.modprobe.calls()).toContain("nouveau");
      expect(host.stdout).toContain("0000:01:00.0: vfio-pci -> nouveau (read back)");
      expect(host.stdout).toContain("0000:01:00.1: vfio-pci -> snd_hda_intel (read back)");
      const vm = await h.run("vm", "01:00", "--yes", "--json");
      expect(vm.code).toBe(0);
      expect(JSON.parse(vm.stdout).result).toEqual([
        { address: "0000:01:00.0", before: "nouveau", after: "vfio-pci" },
        { address: "0000:01:00.1", before: "snd_hda_intel", after: "vfio-pci" },
      ]);
      const again = await h.run("vm", "01:00.0", "--yes");
      expect(again.code).toBe(0);
      expect(again.stdout).toMatch(/0000:01:00 is in mode vm already/);
    } finally {
      h.cleanup();
    }
  });

  it("refuses (exit 3) while a process holds a node, naming it, and writes nothing", async () => {
    const h = setup();
    try {
      h.hold(4242, "jellyfin", "/dev/dri/renderD128");
      const igpu = await h.run("vm", "10:00.0", "--yes");
      expect(igpu.code).toBe(3);
      expect(igpu.stderr).toMatch(
        /^error: 0000:10:00 stays as it is: process 4242 \(jellyfin\) has \/dev\/dri\/renderD128 open; /,
      );
      expect(igpu.stderr.trim().split("\n")).toHaveLength(1);
      h.hold(5151, "qemu-system-x86", "/dev/vfio/12");
      const rtx = await h.run("host", "01:00.0", "--yes");
      expect(rtx.code).toBe(3);
      expect(rtx.stderr).toMatch(/process 5151 \(qemu-system-x86\) has \/dev\/vfio\/12 open/);
      expect(h.kernel.writes).toEqual([]);
      expect(h.kernel.bound("0000:10:00.0")).toBe("amdgpu");
    } finally {
      h.cleanup();
    }
  });

  it("refuses mode host while the Proxmox VM passing the card runs (its pid file names a live process)", async () => {
    const h = setup();
    try {
      fs.mkdirSync(path.join(h.tree.dir, "run/qemu-server"), { recursive: true });
      fs.writeFileSync(path.join(h.tree.dir, "run/qemu-server/100.pid"), "777\n");
      fs.mkdirSync(path.join(h.tree.dir, "proc/777/fd"), { recursive: true });
      const r = await h.run("host", "01:00.0", "--yes");
      expect(r.code).toBe(3);
      expect(r.stderr).toMatch(/VM 100 hostpci0: 0000:01:00,pcie=1 is running/);
      expect(h.kernel.bound("0000:01:00.0")).toBe("vfio-pci");
    } finally {
      h.cleanup();
    }
  });

  it("--persist --now: the live checks first (a refusal writes no journal), then the config, then the switch", async () => {
    const h = setup();
    try {
      const journal = path.join(h.tree.dir, "var/lib/passthrough/journal");
      h.hold(5151, "qemu-system-x86", "/dev/vfio/12");
      const refused = await h.run("host", "01:00.0", "--persist", "--now", "--yes");
      expect(refused.code).toBe(3);
      expect(fs.existsSync(journal)).toBe(false);
      fs.rmSync(path.join(h.tree.dir, "proc/5151"), { recursive: true });
      const r = await h.run("host", "01:00.0", "--persist", "--now", "--yes");
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      expect(r.stdout).toContain("0000:01:00.0: vfio-pci -> nouveau (read back)");
      expect(h.kernel.bound("0000:01:00.0")).toBe("nouveau");
    } finally {
      h.cleanup();
    }
  });

  it("--dry-run lists the writes and makes none; a bad mode is exit 2", async () => {
    const h = setup();
    try {
      const r = await h.run("host", "01:00.0", "--dry-run");
      expect(r.code).toBe(0);
      expect(r.stdout).toContain('write "" > /sys/bus/pci/devices/0000:01:00.0/driver_override');
      expect(r.stdout).toContain('write "0000:01:00.0" > /sys/bus/pci/drivers/vfio-pci/unbind');
      expect(r.stdout).toContain("run   modprobe nouveau");
      // An APU's function: its USB and crypto functions, in groups of their own, stay.
      const apu = await h.run("vm", "10:00.0", "--dry-run");
      expect(apu.stdout).toContain("0000:10:00.0  amdgpu -> vfio-pci");
      expect(apu.stdout).not.toMatch(/0000:10:00\.[1-6] /);
      expect(h.kernel.writes).toEqual([]);
      const bad = await h.run("gaming", "01:00.0");
      expect(bad.code).toBe(2);
      expect(bad.stderr).toBe("error: mode gaming: give host (its own driver) or vm (vfio-pci)\n");
    } finally {
      h.cleanup();
    }
  });

  it("--json without --yes cannot ask: exit 2 with the way out, nothing written", async () => {
    const h = setup();
    try {
      const r = await h.run("host", "01:00.0", "--json");
      expect(r.code).toBe(2);
      expect(r.stderr).toBe(
        "error: --json cannot ask for confirmation; add --yes to switch, or --dry-run\n",
      );
      expect(h.kernel.writes).toEqual([]);
    } finally {
      h.cleanup();
    }
  });
});
