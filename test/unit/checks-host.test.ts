// Host-wide checks on fixture hosts, each changed in the one fact the case is about.
import { describe, expect, it } from "vitest";
import { cmdlineApplySteps, cmdlineRefreshCommand } from "../../src/boot/advice.js";
import { problemFinding } from "../../src/checks/config.js";
import { makeCheckContext } from "../../src/checks/context.js";
import { checkCpu, firmwareSettings } from "../../src/checks/cpu.js";
import { checkInterruptRemapping } from "../../src/checks/interrupt-remapping.js";
import { checkIommu } from "../../src/checks/iommu.js";
import { checkBootloader } from "../../src/checks/bootloader.js";
import { checkVmGuest } from "../../src/checks/vm-guest.js";
import type { ConfigProblem } from "../../src/checks/types.js";
import type { Finding } from "../../src/findings/finding.js";
import { parseCmdline } from "../../src/formats/kernel-cmdline.js";
import { parseModprobeConf } from "../../src/formats/modprobe-conf.js";
import type { HostState } from "../../src/host/types.js";
import { fixtureState } from "../helpers/fixtures.js";

const one = (fs: Finding[], id: string) => {
  const f = fs.find((x) => x.id === id);
  if (!f) throw new Error(`no ${id} in ${JSON.stringify(fs)}`);
  return f;
};
const iommuEnabled = (s: HostState) => one(checkIommu(makeCheckContext(s)), "iommu.enabled");

describe("cpu.virtualization", () => {
  it("names the firmware switch for the CPU and board vendor when the flag is missing", () => {
    const s = fixtureState("intel-shared-group");
    s.system.virtualizationFlag = null;
    expect(checkCpu(makeCheckContext(s))[0]).toMatchObject({
      status: "fail",
      summary: "no vmx flag: Intel Virtualization Technology (VT-x) is off in the firmware",
      fix: expect.stringContaining(
        "Advanced > CPU Configuration > Intel (VMX) Virtualization Technology = Enabled (usual path on ASUS boards",
      ),
    });
  });

  it("uses the seed write-up's Gigabyte menu names on its board, and generic names without DMI", () => {
    const seed = fixtureState("seed-before");
    expect(firmwareSettings(seed)).toMatchObject({
      board: "Gigabyte",
      iommu:
        "Settings > AMD CBS > NBIO > IOMMU = Enabled, then Settings > Miscellaneous > IOMMU = Enabled",
    });
    seed.system.dmi = {
      sysVendor: null,
      productName: null,
      boardVendor: null,
      boardName: null,
      biosVendor: null,
      biosVersion: null,
    };
    expect(firmwareSettings(seed)).toMatchObject({
      board: null,
      iommu: expect.stringContaining("Advanced > AMD CBS > NBIO Common Options > IOMMU"),
    });
    const intel = fixtureState("intel-iommu-off");
    expect(firmwareSettings(intel)).toMatchObject({
      board: "MSI",
      iommu: "OC > CPU Features > Intel VT-D Tech = Enabled",
    });
  });

  it("passes with the flag, warns inside a VM without it, skips without cpuinfo", () => {
    expect(checkCpu(makeCheckContext(fixtureState("seed-after")))[0]).toMatchObject({
      status: "pass",
      summary: "AMD-V (svm) available",
    });
    expect(checkCpu(makeCheckContext(fixtureState("guest-nvidia")))[0]).toMatchObject({
      status: "warn",
    });
    const s = fixtureState("seed-after");
    s.system.cpuVendor = null;
    s.system.virtualizationFlag = null;
    expect(checkCpu(makeCheckContext(s))[0]!.status).toBe("skip");
  });
});

describe("iommu.enabled: the precise reason it is off", () => {
  it("AMD with no groups: the firmware setting", () => {
    expect(iommuEnabled(fixtureState("seed-before"))).toMatchObject({
      status: "fail",
      summary: expect.stringContaining("disabled in the firmware"),
    });
  });

  it("AMD with an IVRS table but no groups: AMD-Vi failed to start", () => {
    const s = fixtureState("seed-before");
    s.iommu.logEvidence.push(
      "ACPI: IVRS 0x00000000DABC5000 0000D0 (v02 AMD    AmdTable 00000001 AMD  00000001)",
    );
    expect(iommuEnabled(s).summary).toContain("IVRS table but AMD-Vi did not start");
  });

  it("a command line that turns it off, with the file and line that set it", () => {
    const s = fixtureState("seed-before");
    s.cmdline.running!.push(...parseCmdline("amd_iommu=off"));
    s.cmdline.configured!.params.push({
      ...parseCmdline("amd_iommu=off")[0]!,
      origin: { file: "etc/default/grub", line: 9 },
    });
    expect(iommuEnabled(s)).toMatchObject({
      summary: "IOMMU off: the running kernel was booted with amd_iommu=off",
      fix: "remove amd_iommu=off from /etc/default/grub:9, run update-grub, then reboot",
    });
  });

  it("no svm/vmx at all: virtualization is off in the firmware altogether", () => {
    const s = fixtureState("seed-before");
    s.system.virtualizationFlag = null;
    expect(iommuEnabled(s)).toMatchObject({
      summary: expect.stringContaining("virtualization is off in the firmware altogether"),
      fix: expect.stringContaining("SVM Mode"),
    });
  });

  it("Intel with a DMAR table on a kernel that needs intel_iommu=on: points at the pending line", () => {
    const f = iommuEnabled(fixtureState("intel-iommu-off"));
    expect(f.summary).toContain("VT-d is on in the firmware (DMAR table present)");
    expect(f.fix).toBe(
      "intel_iommu=on is already in /etc/default/grub:9 but the running kernel did not get it: update-grub, then reboot",
    );
  });

  it("Intel with nothing configured yet: says where to add intel_iommu=on", () => {
    const s = fixtureState("intel-iommu-off");
    s.cmdline.configured!.params = s.cmdline.configured!.params.filter(
      (p) => p.key !== "intel_iommu",
    );
    expect(iommuEnabled(s).fix).toBe(
      "add intel_iommu=on to GRUB_CMDLINE_LINUX_DEFAULT in /etc/default/grub, run update-grub, then reboot (`passthrough plan` writes it)",
    );
  });

  it("Intel without a DMAR table, or booted with intel_iommu=on, or on a default-on kernel: VT-d off in the firmware", () => {
    const noDmar = fixtureState("intel-iommu-off");
    noDmar.iommu.logEvidence = noDmar.iommu.logEvidence.filter((l) => !/DMAR/.test(l));
    expect(iommuEnabled(noDmar).summary).toContain(
      "no DMAR table in the kernel log, so VT-d is off in the firmware",
    );
    const asked = fixtureState("intel-iommu-off");
    asked.cmdline.running!.push(...parseCmdline("intel_iommu=on"));
    expect(iommuEnabled(asked)).toMatchObject({
      summary: expect.stringContaining(
        "VT-d is off in the firmware (the kernel was booted with intel_iommu=on",
      ),
      fix: expect.stringContaining("OC > CPU Features > Intel VT-D Tech"),
    });
    const pve68 = fixtureState("intel-iommu-off");
    pve68.system.kernelRelease = "6.8.12-4-pve";
    pve68.system.kernelVersion = [6, 8];
    expect(iommuEnabled(pve68).summary).toContain(
      "kernel 6.8.12-4-pve turns the Intel IOMMU on by default",
    );
    const noLog = fixtureState("intel-iommu-off");
    noLog.iommu.logEvidence = [];
    noLog.kernelLog = { available: false, lines: 0, d3coldFailures: [] };
    expect(iommuEnabled(noLog).summary).toContain("no kernel log to tell which");
  });

  it("a VM without a virtual IOMMU, and units without groups", () => {
    expect(iommuEnabled(fixtureState("guest-nvidia")).summary).toContain(
      "this VM has no virtual IOMMU",
    );
    const s = fixtureState("seed-after");
    s.iommu.groups = [];
    const groups = one(checkIommu(makeCheckContext(s)), "iommu.groups");
    expect(groups).toMatchObject({
      status: "fail",
      summary: expect.stringContaining("IOMMU units registered (ivhd0) but no IOMMU groups"),
    });
  });
});

describe("iommu.irq-remapping and allow_unsafe_interrupts", () => {
  const ir = (s: HostState) => checkInterruptRemapping(makeCheckContext(s));

  it("unknown from a silent log is a warning with how to verify, not a failure", () => {
    const s = fixtureState("seed-after");
    s.iommu.interruptRemapping = null;
    expect(ir(s)[0]).toMatchObject({
      status: "warn",
      fix: expect.stringContaining("journalctl -k -b | grep -i remapping"),
    });
    s.kernelLog = { available: false, lines: 0, d3coldFailures: [] };
    expect(ir(s)[0]!.status).toBe("skip");
  });

  it("off: fails, unless allow_unsafe_interrupts is on (then warns and names where)", () => {
    const s = fixtureState("no-irq-remapping");
    expect(ir(s)[0]!.status).toBe("fail");
    s.iommu.allowUnsafeInterrupts = true;
    s.modules.modprobe.push(
      ...parseModprobeConf(
        "etc/modprobe.d/iommu_unsafe_interrupts.conf",
        "options vfio_iommu_type1 allow_unsafe_interrupts=1\n",
      ),
    );
    expect(ir(s)).toEqual([
      expect.objectContaining({
        id: "iommu.irq-remapping",
        status: "warn",
        detail: expect.arrayContaining([
          "allow_unsafe_interrupts set in /etc/modprobe.d/iommu_unsafe_interrupts.conf:1 (options vfio_iommu_type1 allow_unsafe_interrupts=1)",
        ]),
      }),
    ]);
  });

  it("intremap=off on the command line is named as the cause", () => {
    const s = fixtureState("seed-after");
    s.iommu.interruptRemapping = false;
    s.cmdline.running!.push(...parseCmdline("intremap=off"));
    expect(ir(s)[0]).toMatchObject({
      status: "fail",
      summary: expect.stringContaining("intremap=off"),
      fix: expect.stringContaining("remove intremap=off"),
    });
  });

  it("warns about allow_unsafe_interrupts where remapping works", () => {
    const s = fixtureState("seed-after");
    s.iommu.allowUnsafeInterrupts = true;
    expect(ir(s).map((f) => `${f.status} ${f.id}`)).toEqual([
      "pass iommu.irq-remapping",
      "warn iommu.unsafe-interrupts",
    ]);
  });
});

describe("host.virtual-machine and boot.loader", () => {
  it("names the hypervisor and the devices passed in", () => {
    const f = checkVmGuest(makeCheckContext(fixtureState("guest-nvidia")))[0]!;
    expect(f.status).toBe("warn");
    expect(f.detail).toEqual([
      "0000:01:00.0 NVIDIA GA102 [GeForce RTX 3080] [10de:2206] on nvidia: passed in by the hypervisor",
      "0000:01:00.1 NVIDIA GA102 High Definition Audio Controller [10de:1aef] on snd_hda_intel: passed in by the hypervisor",
    ]);
    expect(checkVmGuest(makeCheckContext(fixtureState("seed-after")))[0]!.status).toBe("pass");
  });

  it("says which file the boot loader reads and which are ignored", () => {
    expect(checkBootloader(makeCheckContext(fixtureState("seed-after")))[0]!.summary).toBe(
      "GRUB: command line in GRUB_CMDLINE_LINUX_DEFAULT in /etc/default/grub, applied by update-grub",
    );
    const s = fixtureState("seed-after");
    s.bootloader = {
      kind: "unknown",
      grubFlavor: null,
      cmdlineFiles: [],
      evidence: ["nothing found"],
    };
    expect(checkBootloader(makeCheckContext(s))[0]!.status).toBe("warn");
  });

  it("knows each boot loader's refresh command", () => {
    const s = fixtureState("seed-after");
    const with_ = (
      kind: HostState["bootloader"]["kind"],
      grubFlavor: HostState["bootloader"]["grubFlavor"],
      files: string[],
    ) => {
      s.bootloader = { kind, grubFlavor, cmdlineFiles: files, evidence: [] };
      return cmdlineRefreshCommand(s, ["iommu=pt"]);
    };
    expect(with_("grub", "update-grub", ["etc/default/grub"])).toBe("update-grub");
    expect(with_("grub", "grub-mkconfig", ["etc/default/grub"])).toBe(
      "grub-mkconfig -o /boot/grub/grub.cfg",
    );
    expect(with_("grub", "grub2-mkconfig", ["etc/default/grub"])).toBe(
      "grub2-mkconfig -o /boot/grub2/grub.cfg",
    );
    expect(with_("grub", "grubby", ["etc/default/grub"])).toBe(
      "grubby --update-kernel=ALL --args=iommu=pt",
    );
    expect(with_("proxmox-boot-tool/grub", "update-grub", ["etc/default/grub"])).toBe(
      "proxmox-boot-tool refresh",
    );
    expect(with_("proxmox-boot-tool/systemd-boot", null, ["etc/kernel/cmdline"])).toBe(
      "proxmox-boot-tool refresh",
    );
    // systemd-boot reads each entry's options line as it is: the plan edits them, and so does
    // the advice (kernel-install add would redo one kernel's entry only).
    const entries =
      "edit the options line of every boot entry the same way (`bootctl list` shows them)";
    expect(with_("systemd-boot", null, ["etc/kernel/cmdline"])).toBe(entries);
    expect(with_("systemd-boot", null, ["boot/loader/entries/arch.conf"])).toBe(entries);
    expect(cmdlineApplySteps(s)).toBe(`${entries}, then reboot`);
    // kernelstub rewrites its entry from its configuration when run alone (what plan runs).
    expect(with_("kernelstub", null, ["etc/kernelstub/configuration"])).toBe("kernelstub");
  });
});

describe("configuration problems as findings", () => {
  const state = fixtureState("seed-after");
  const cases: Array<[ConfigProblem, string, string, RegExp, RegExp]> = [
    [
      {
        kind: "blacklist-wildcard",
        file: "etc/modprobe.d/blacklist.conf",
        line: 2,
        text: "blacklist nvidia*",
        message: "",
      },
      "modprobe.wildcard",
      "fail",
      /matches no module/,
      /blacklist nvidia, blacklist nvidia_drm/,
    ],
    [
      {
        kind: "blacklist-unknown-module",
        file: "etc/modprobe.d/x.conf",
        line: 1,
        text: "blacklist noveau",
        message: '"blacklist noveau": no module named noveau (did you mean nouveau?)',
      },
      "modprobe.unknown-module",
      "fail",
      /did you mean nouveau/,
      /write "blacklist nouveau" in \/etc\/modprobe\.d\/x\.conf:1, then update-initramfs -u -k all/,
    ],
    [
      {
        kind: "amd-iommu-on",
        file: "etc/default/grub",
        line: 9,
        text: "amd_iommu=on",
        message: "",
      },
      "cmdline.amd-iommu-on",
      "warn",
      /not a valid value/,
      /remove amd_iommu=on from \/etc\/default\/grub:9 .*update-grub, then reboot/,
    ],
    [
      {
        kind: "vfio-virqfd-merged",
        file: "etc/modules",
        line: 10,
        text: "vfio_virqfd",
        message: "",
      },
      "modules.vfio-virqfd",
      "warn",
      /merged into vfio in 6\.2/,
      /delete the vfio_virqfd line \(\/etc\/modules:10\)/,
    ],
    [
      {
        kind: "modprobe-not-conf",
        file: "etc/modprobe.d/vfio",
        line: null,
        text: "vfio",
        message: "",
      },
      "modprobe.not-conf",
      "fail",
      /ignored/,
      /^mv \/etc\/modprobe\.d\/vfio \/etc\/modprobe\.d\/vfio\.conf/,
    ],
    [
      {
        kind: "vfio-ids-absent",
        file: "etc/modprobe.d/vfio.conf",
        line: 1,
        text: "options vfio-pci ids=10de:9999",
        message: "vfio-pci ids= names 10de:9999, which no PCI device on this host has",
      },
      "vfio.ids-absent",
      "warn",
      /binds vfio-pci to 10de:9999/,
      /update-initramfs -u -k all/,
    ],
    [
      { kind: "cmdline-pending", file: "etc/default/grub", line: 9, text: "iommu=pt", message: "" },
      "cmdline.pending",
      "warn",
      /not in the running kernel/,
      /^update-grub, then reboot$/,
    ],
    [
      {
        kind: "cmdline-wrong-bootloader",
        file: "etc/kernel/cmdline",
        line: 1,
        text: "intel_iommu=on",
        message: "",
      },
      "cmdline.wrong-bootloader",
      "warn",
      /never reads/,
      /put it in GRUB_CMDLINE_LINUX_DEFAULT in \/etc\/default\/grub, run update-grub, reboot, and remove it from \/etc\/kernel\/cmdline/,
    ],
  ];
  it.each(cases.map((c) => [c[1], ...c]))("%s", (_id, problem, id, status, summary, fix) => {
    const f = problemFinding(state, problem);
    expect(f).toMatchObject({
      id,
      status,
      subject: `/${problem.file}${problem.line ? `:${problem.line}` : ""}`,
    });
    expect(f.summary).toMatch(summary);
    expect(f.fix).toMatch(fix);
  });
});
