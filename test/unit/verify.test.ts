// verify: on fixture snapshots of a correctly configured host (pass) and of each way it goes
// wrong (fail, with the right cause), and rule by rule on edited host states.
import { describe, expect, it } from "vitest";
import { verifyHost, type VerifyInput } from "../../src/apply/verify.js";
import { problemFinding } from "../../src/checks/config.js";
import { makeCheckContext } from "../../src/checks/context.js";
import { checkInterruptRemapping } from "../../src/checks/interrupt-remapping.js";
import { registerVerifyWith } from "../../src/cli/commands/verify.js";
import { runCli } from "../../src/cli/program.js";
import type { HostState, PciDevice } from "../../src/host/types.js";
import type { Planner } from "../../src/plan/types.js";
import { VERIFY_JOURNAL_ID } from "../fixtures/specs/verify.js";
import { fixturePath, fixtureState } from "../helpers/fixtures.js";

let planned = 0;
const planner: Planner = (_state, opts) => {
  planned++;
  return {
    selection: {
      requested: opts.devices,
      functions: ["0000:01:00.0", "0000:01:00.1"],
      groups: [12],
    },
    steps: [],
    findings: [],
    expect: {
      cmdline: ["iommu=pt"],
      modulesLoaded: ["vfio", "vfio_iommu_type1", "vfio_pci"],
      boundToVfio: ["0000:01:00.0", "0000:01:00.1"],
    },
    phase: "complete",
  };
};

async function verify(args: string[]) {
  let stdout = "";
  let stderr = "";
  const code = await runCli(
    ["verify", ...args],
    {
      stdout: { write: (s: string) => (stdout += s) },
      stderr: { write: (s: string) => (stderr += s) },
      env: {},
    },
    [registerVerifyWith(planner)],
  );
  return { code, stdout, stderr };
}

interface Case {
  fixture: string;
  ok: boolean;
  /** id -> text the failing finding's summary must contain (the cause). */
  fails: Array<[string, RegExp]>;
  fix?: RegExp;
}

const CASES: Case[] = [
  { fixture: "verify-ok", ok: true, fails: [] },
  { fixture: "verify-unsafe-optin", ok: true, fails: [] },
  {
    fixture: "verify-not-refreshed",
    ok: false,
    fails: [
      [
        "verify.cmdline",
        /not in the generated GRUB config: the boot loader config was not refreshed/,
      ],
    ],
    fix: /^update-grub, then reboot$/,
  },
  {
    fixture: "verify-no-reboot",
    ok: false,
    fails: [
      ["verify.reboot", /booted 2025-02-20.*before the apply finished/],
      ["verify.cmdline", /has not rebooted since the apply/],
      [
        "verify.modules",
        /vfio, vfio_iommu_type1, vfio_pci are not loaded: the host has not rebooted/,
      ],
      ["verify.binding", /0000:01:00.1 is bound to snd_hda_intel: the host has not rebooted/],
    ],
    fix: /^reboot/,
  },
  {
    fixture: "verify-modules-missing",
    ok: false,
    fails: [
      ["verify.modules", /nothing loads them at boot/],
      ["verify.binding", /vfio-pci is not loaded/],
    ],
    fix: /\/etc\/modules-load.d\/passthrough.conf .*update-initramfs -u -k all, reboot/,
  },
  {
    fixture: "verify-softdep-missing",
    ok: false,
    fails: [
      [
        "verify.binding",
        /snd_hda_intel: the native driver loaded before vfio-pci: there is no `softdep snd_hda_intel pre: vfio-pci`/,
      ],
    ],
    fix: /softdep snd_hda_intel pre: vfio-pci/,
  },
  {
    fixture: "verify-initramfs-stale",
    ok: false,
    fails: [["verify.binding", /initramfs built before them: the initramfs was not rebuilt/]],
    fix: /^update-initramfs -u -k all, then reboot$/,
  },
  {
    fixture: "verify-iommu-off",
    ok: false,
    fails: [
      ["verify.iommu", /the IOMMU is off in the firmware/],
      ["verify.binding", /without an IOMMU/],
      ["verify.binding", /without an IOMMU group/],
    ],
    fix: /AMD CBS > NBIO/,
  },
  {
    fixture: "verify-irq-off",
    ok: false,
    fails: [["verify.irq-remapping", /kernel command line says intremap=off/]],
    fix: /remove intremap=off from \/etc\/default\/grub:\d+, run update-grub/,
  },
];

describe("verify on fixture hosts", () => {
  for (const c of CASES) {
    it(`${c.fixture}: ${c.ok ? "passes" : c.fails.map((f) => f[0]).join(", ")}`, async () => {
      const r = await verify(["--snapshot", fixturePath(c.fixture), "--json"]);
      expect(r.stderr).toBe("");
      const j = JSON.parse(r.stdout);
      expect(r.code).toBe(c.ok ? 0 : 1);
      expect(j.ok).toBe(c.ok);
      expect(j.source).toMatchObject({ kind: "journal", id: VERIFY_JOURNAL_ID });
      const failing = j.findings.filter((f: any) => f.status === "fail");
      expect(failing.map((f: any) => f.id)).toEqual(c.fails.map((f) => f[0]));
      c.fails.forEach(([, re], i) => expect(failing[i].summary).toMatch(re));
      if (c.fix) expect(failing[0].fix).toMatch(c.fix);
      for (const f of failing) expect(f.fix, f.id).toBeTruthy();
    });
  }

  it("the text output names each problem and the first fix", async () => {
    const r = await verify(["--snapshot", fixturePath("verify-softdep-missing")]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(
      /^passthrough verify — pve · expectation from journal 20250301-142233-9f3a$/m,
    );
    expect(r.stdout).toMatch(
      /^ {2}PASS {2}verify.binding +0000:01:00.0 bound to vfio-pci, no host driver$/m,
    );
    expect(r.stdout).toMatch(
      /^ {2}FAIL {2}verify.binding +0000:01:00.1 is bound to snd_hda_intel: /m,
    );
    expect(r.stdout).toMatch(
      /^Not verified: 1 problem\. Start with: add "softdep snd_hda_intel pre: vfio-pci"/m,
    );
  });

  it("the unsafe opt-in passes with a warning that says what it costs", async () => {
    const j = JSON.parse(
      (await verify(["--snapshot", fixturePath("verify-unsafe-optin"), "--json"])).stdout,
    );
    expect(j.findings.find((f: any) => f.id === "verify.irq-remapping")).toMatchObject({
      status: "warn",
      summary: expect.stringMatching(/a guest can inject interrupts/),
    });
  });

  it("without an applied journal: --device plans the expectation; without --device it says what to pass", async () => {
    const none = await verify(["--snapshot", fixturePath("seed-after")]);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(
      /^error: no applied journal in .*seed-after.tar.gz:\/var\/lib\/passthrough\/journal; pass --device 0000:01:00/,
    );
    const before = planned;
    const r = await verify([
      "--snapshot",
      fixturePath("seed-after"),
      "--device",
      "0000:01:00",
      "--json",
    ]);
    expect(planned).toBe(before + 1);
    const j = JSON.parse(r.stdout);
    expect(j.source).toEqual({ kind: "plan" });
    // seed-after: iommu=pt edited into /etc/default/grub, update-grub never run.
    expect(j.findings.filter((f: any) => f.status === "fail").map((f: any) => f.id)).toEqual([
      "verify.cmdline",
    ]);
    expect(r.code).toBe(1);
  });

  it("a journal for other devices is not used", async () => {
    const before = planned;
    const r = await verify([
      "--snapshot",
      fixturePath("verify-ok"),
      "--device",
      "0000:02:00",
      "--json",
    ]);
    expect(planned).toBe(before + 1);
    expect(JSON.parse(r.stdout).source).toEqual({ kind: "plan" });
    const own = await verify([
      "--snapshot",
      fixturePath("verify-ok"),
      "--device",
      "01:00.1",
      "--json",
    ]);
    expect(JSON.parse(own.stdout).source.kind).toBe("journal");
  });
});

function input(state: HostState, over: Partial<VerifyInput> = {}): VerifyInput {
  return {
    state,
    expect: {
      cmdline: ["iommu=pt"],
      modulesLoaded: ["vfio", "vfio_iommu_type1", "vfio_pci"],
      boundToVfio: ["0000:01:00.0", "0000:01:00.1"],
    },
    allowUnsafeInterrupts: false,
    grubCfg: null,
    bootedAt: null,
    appliedAt: null,
    ...over,
  };
}
const fails = (s: ReturnType<typeof verifyHost>) => s.findings.filter((f) => f.status === "fail");

describe("verify rules", () => {
  it("a correctly configured host passes, and no reboot finding appears when the boot time is unknown", () => {
    const r = verifyHost(input(fixtureState("verify-ok")));
    expect(r.ok).toBe(true);
    expect(r.rebooted).toBeNull();
    expect(r.findings.some((f) => f.id === "verify.reboot")).toBe(false);
    expect(r.functions).toEqual([
      { address: "0000:01:00.0", role: "selected", iommuGroup: 12, driver: "vfio-pci", ok: true },
      { address: "0000:01:00.1", role: "selected", iommuGroup: 12, driver: "vfio-pci", ok: true },
    ]);
  });

  it("every other endpoint of the group must leave the host too (bridges stay)", () => {
    const state = fixtureState("verify-ok");
    const gpu = state.pci.find((d) => d.address === "0000:01:00.0")!;
    const mate: PciDevice = {
      ...gpu,
      address: "0000:01:00.2",
      deviceId: "1ada",
      classCode: "0c0330",
      driver: "xhci_hcd",
      driverModule: "xhci_pci",
      isBridge: false,
    };
    state.pci.push(mate);
    state.iommu.groups.find((g) => g.id === 12)!.devices.push("0000:01:00.2", "0000:00:01.1");
    const r = verifyHost(input(state));
    expect(r.ok).toBe(false);
    expect(r.functions.map((f) => [f.address, f.role])).toEqual([
      ["0000:01:00.0", "selected"],
      ["0000:01:00.1", "selected"],
      ["0000:01:00.2", "group-mate"],
    ]);
    expect(fails(r)[0]!.summary).toMatch(
      /0000:01:00.2 \(in IOMMU group 12 with the selected device: the whole group must leave the host\) is bound to xhci_hcd: nothing tells vfio-pci to claim 10de:1ada/,
    );
  });

  it("a device that is gone is named with the way out", () => {
    const r = verifyHost(
      input(fixtureState("verify-ok"), {
        expect: { cmdline: [], modulesLoaded: [], boundToVfio: ["0000:05:00.0"] },
      }),
    );
    expect(fails(r)).toEqual([
      expect.objectContaining({
        id: "verify.binding",
        subject: "0000:05:00.0",
        summary: "0000:05:00.0 is not present on this host",
      }),
    ]);
  });

  it("interrupt remapping: unknown fails, opted in but not active fails, live unsafe parameter passes with a warning", () => {
    const unknown = fixtureState("verify-ok");
    unknown.iommu.interruptRemapping = null;
    expect(fails(verifyHost(input(unknown)))[0]!.summary).toMatch(
      /cannot tell whether interrupt remapping is on/,
    );
    const off = fixtureState("verify-ok");
    off.iommu.interruptRemapping = false;
    expect(fails(verifyHost(input(off)))[0]!.summary).toMatch(
      /^interrupt remapping is off: VFIO refuses MSI/,
    );
    expect(fails(verifyHost(input(off, { allowUnsafeInterrupts: true })))[0]!.summary).toMatch(
      /allow_unsafe_interrupts is not active although it was opted in/,
    );
    off.iommu.allowUnsafeInterrupts = true;
    const r = verifyHost(input(off));
    expect(r.ok).toBe(true);
    expect(r.findings.find((f) => f.id === "verify.irq-remapping")!.status).toBe("warn");
  });

  it("the refresh command follows the boot loader", () => {
    const s = fixtureState("verify-not-refreshed");
    s.bootloader = { ...s.bootloader, kind: "proxmox-boot-tool/systemd-boot", grubFlavor: null };
    s.cmdline.configured = {
      source: "kernel-cmdline",
      files: ["etc/kernel/cmdline"],
      params: [{ key: "iommu", value: "pt", raw: "iommu=pt" }],
    };
    const f = fails(verifyHost(input(s)))[0]!;
    expect(f.summary).toBe(
      "iommu=pt is in /etc/kernel/cmdline but not in /proc/cmdline: the boot loader config was not refreshed, or no reboot yet",
    );
    expect(f.fix).toBe("proxmox-boot-tool refresh, then reboot");
  });

  it("names the step check names, for every boot loader (systemd-boot: its entries, not kernel-install)", () => {
    const loader = (
      kind: HostState["bootloader"]["kind"],
      grubFlavor: "update-grub" | "grubby" | null,
    ) => ({
      kind,
      grubFlavor,
      cmdlineFiles: kind === "systemd-boot" ? ["etc/kernel/cmdline"] : ["etc/default/grub"],
      evidence: [],
    });
    const cases: Array<[HostState["bootloader"], string, string]> = [
      [
        loader("grub", "update-grub"),
        "update-grub",
        "remove intremap=off from /etc/default/grub:6, run update-grub",
      ],
      [
        loader("grub", "grubby"),
        "grubby --update-kernel=ALL --args=iommu=pt",
        "run grubby --update-kernel=ALL --remove-args=intremap=off",
      ],
      [
        loader("systemd-boot", null),
        "edit the options line of every boot entry the same way (`bootctl list` shows them)",
        "remove intremap=off from /etc/default/grub:6, edit the options line of every boot entry the same way (`bootctl list` shows them)",
      ],
      [loader("kernelstub", null), "kernelstub", "run kernelstub --delete-options intremap=off"],
    ];
    for (const [bootloader, refresh, removal] of cases) {
      const s = fixtureState("verify-not-refreshed");
      s.bootloader = bootloader;
      const pending = problemFinding(s, {
        kind: "cmdline-pending",
        file: "etc/default/grub",
        line: 6,
        text: "iommu=pt",
        message: "",
      });
      expect(pending.fix, bootloader.kind).toBe(`${refresh}, then reboot`);
      expect(fails(verifyHost(input(s)))[0]!.fix, bootloader.kind).toBe(`${refresh}, then reboot`);
      // Taking a parameter off: verify says what check says.
      s.iommu.interruptRemapping = false;
      s.cmdline.running = [
        ...s.cmdline.running!,
        { key: "intremap", value: "off", raw: "intremap=off" },
      ];
      s.cmdline.configured!.params.push({
        key: "intremap",
        value: "off",
        raw: "intremap=off",
        origin: { file: "etc/default/grub", line: 6 },
      });
      const irq = fails(verifyHost(input(s))).find((f) => f.id === "verify.irq-remapping")!;
      expect(irq.fix, bootloader.kind).toBe(
        `${removal}, then reboot (or keep it and accept the risk: plan with --allow-unsafe-interrupts)`,
      );
      const checked = checkInterruptRemapping(makeCheckContext(s)).find((f) => f.status === "fail");
      expect(checked?.fix, bootloader.kind).toBe(`${removal}, then reboot`);
    }
  });

  it("a parameter set only for a boot loader the host does not use", () => {
    const s = fixtureState("verify-not-refreshed");
    s.cmdline.inactive = [s.cmdline.configured!];
    s.cmdline.configured = { source: "kernel-cmdline", files: ["etc/kernel/cmdline"], params: [] };
    s.bootloader = { ...s.bootloader, kind: "proxmox-boot-tool/systemd-boot", grubFlavor: null };
    expect(fails(verifyHost(input(s)))[0]!.summary).toBe(
      "iommu=pt is set in /etc/default/grub, which this host does not boot with (boot loader: proxmox-boot-tool/systemd-boot)",
    );
  });

  it("grub.cfg with the parameter but /proc/cmdline without: reboot or another loader", () => {
    const s = fixtureState("verify-not-refreshed");
    const r = verifyHost(
      input(s, {
        grubCfg: "menuentry 'x' {\n\tlinux\t/boot/vmlinuz root=/dev/sda1 ro quiet iommu=pt\n}\n",
      }),
    );
    expect(fails(r)[0]!.summary).toMatch(
      /in grub.cfg, but not in \/proc\/cmdline: no reboot since, or the firmware boots another GRUB/,
    );
    const stale = verifyHost(
      input(s, { grubCfg: "menuentry 'x' {\n\tlinux\t/boot/vmlinuz root=/dev/sda1 ro quiet\n}\n" }),
    );
    expect(fails(stale)[0]!.summary).toMatch(/not in the generated GRUB config/);
  });

  it("IOMMU off inside a VM, and with virtualization off", () => {
    const vm = fixtureState("verify-iommu-off");
    vm.system.virtualMachine = true;
    expect(fails(verifyHost(input(vm)))[0]!.summary).toBe(
      "no IOMMU groups: this is a virtual machine without a virtual IOMMU",
    );
    const novirt = fixtureState("verify-iommu-off");
    novirt.system.virtualizationFlag = null;
    expect(fails(verifyHost(input(novirt)))[0]!.summary).toMatch(
      /no svm\/vmx CPU flag: virtualization is off in the firmware/,
    );
  });

  it("a native driver built into the kernel cannot be ordered by softdep", () => {
    const s = fixtureState("verify-softdep-missing");
    const audio = s.pci.find((d) => d.address === "0000:01:00.1")!;
    audio.driverModule = null;
    s.modules.builtin = [...(s.modules.builtin ?? []), "snd_hda_intel"];
    const f = fails(verifyHost(input(s)))[0]!;
    expect(f.summary).toMatch(/snd_hda_intel is built into the kernel/);
    expect(f.fix).toMatch(/driverctl set-override 0000:01:00.1 vfio-pci/);
  });

  it("a module configured to load but not loaded points at the initramfs", () => {
    const s = fixtureState("verify-ok");
    s.modules.loaded = s.modules.loaded!.filter((m) => m !== "vfio_iommu_type1");
    const f = fails(verifyHost(input(s)))[0]!;
    expect(f.summary).toMatch(
      /^vfio_iommu_type1 is configured to load \(\/etc\/modules:\d+\) but not loaded: the initramfs was not rebuilt/,
    );
  });
});
