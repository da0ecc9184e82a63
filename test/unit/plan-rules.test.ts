// The planner's rules one at a time, on fixture hosts changed just enough to exercise each.

import { describe, expect, it } from "vitest";
import { InputError } from "../../src/errors.js";
import { parseModprobeConf } from "../../src/formats/modprobe-conf.js";
import type { HostState } from "../../src/host/types.js";
import { kmodNameMatches } from "../../src/plan/modprobe-view.js";
import { planHost } from "../../src/plan/plan.js";
import { removeListWord } from "../../src/plan/repairs.js";
import { validatePlan } from "../../src/apply/executor.js";
import { resolveSelection } from "../../src/plan/selection.js";
import type { FileStep, Plan } from "../../src/plan/types.js";
import { FIXTURE_SPECS } from "../fixtures/specs/index.js";
import { fixtureState } from "../helpers/fixtures.js";
import { planOpts, planSpec } from "../helpers/plan.js";

const spec = (name: string) => FIXTURE_SPECS.find((s) => s.name === name)!;
const file = (p: Plan, path: string): FileStep | undefined =>
  p.steps.find((s): s is FileStep => s.kind === "file" && s.path === path);
const argvs = (p: Plan) => p.steps.flatMap((s) => (s.kind === "command" ? [s.argv.join(" ")] : []));
const plan = (s: HostState, over: Parameters<typeof planOpts>[0]) => planHost(s, planOpts(over));

describe("selection", () => {
  const s = fixtureState("seed-after");
  it("a slot selects every function, a function only itself, in any short form", () => {
    expect(resolveSelection(s, { devices: ["01:00"], groups: [] }).selection.functions).toEqual([
      "0000:01:00.0",
      "0000:01:00.1",
    ]);
    expect(resolveSelection(s, { devices: ["1:0.1"], groups: [] }).selection.functions).toEqual([
      "0000:01:00.1",
    ]);
    expect(
      resolveSelection(s, { devices: ["0000:01:00.1,0000:0e:00.0"], groups: [] }).selection,
    ).toEqual({
      requested: ["0000:01:00.1", "0000:0e:00.0"],
      functions: ["0000:01:00.1", "0000:0e:00.0"],
      groups: [12, 24],
    });
  });
  it("--group selects the group's endpoints, never its bridges", () => {
    const d = fixtureState("debian-grub-intel");
    expect(resolveSelection(d, { devices: [], groups: [1] }).selection.functions).toEqual([
      "0000:01:00.0",
      "0000:01:00.1",
    ]);
  });
  it("says what is wrong and what to do instead", () => {
    const err = (devices: string[], groups: number[] = []) => {
      try {
        resolveSelection(s, { devices, groups });
      } catch (e) {
        expect(e).toBeInstanceOf(InputError);
        return (e as Error).message;
      }
      return "no error";
    };
    expect(err([])).toMatch(
      /nothing selected: give --device with a slot like 0000:01:00 .* or --group N/,
    );
    expect(err(["gpu0"])).toMatch(/--device gpu0: not a PCI address; write a slot like 0000:01:00/);
    expect(err(["05:00"])).toMatch(/no PCI device 0000:05:00 on this host; `passthrough list`/);
    expect(err(["00:01.1"])).toMatch(/0000:00:01.1 is a PCI bridge; bridges stay on the host/);
    expect(err([], [99])).toMatch(/no IOMMU group 99/);
    expect(() =>
      resolveSelection(fixtureState("seed-before"), { devices: [], groups: [12] }),
    ).toThrow(/no IOMMU groups \(the IOMMU is off\); select by --device/);
  });
});

describe("kernel command line", () => {
  it("never writes amd_iommu=on, and repairs it where it is, as its own step, then refreshes GRUB", () => {
    const s = spec("seed-after");
    const p = planSpec(
      {
        ...s,
        files: {
          ...s.files,
          "etc/default/grub": s.files["etc/default/grub"]!.replace(
            "quiet iommu=pt",
            "quiet amd_iommu=on iommu=pt",
          ),
        },
      },
      { devices: ["0000:01:00"] },
    );
    const step = file(p, "/etc/default/grub")!;
    expect(step.why).toMatch(/amd_iommu=on is not a valid value/);
    expect(step.before).toContain('GRUB_CMDLINE_LINUX_DEFAULT="quiet amd_iommu=on iommu=pt"');
    expect(step.after).toContain('GRUB_CMDLINE_LINUX_DEFAULT="quiet iommu=pt"');
    expect(p.expect.cmdline).not.toContain("amd_iommu=on");
    expect(argvs(p)).toContain("update-grub");
    for (const name of [
      "seed-before",
      "pve-grub-on-esp",
      "fedora-grubby-dracut",
      "arch-booster",
      "plan-two-gpus",
    ]) {
      expect(
        JSON.stringify(
          plan(fixtureState(name), {
            devices: [name === "plan-two-gpus" ? "0000:05:00" : "0000:01:00"],
          }),
        ),
      ).not.toContain("amd_iommu=on");
    }
  });

  it("adds intel_iommu=on only while the Intel IOMMU is off", () => {
    expect(
      plan(fixtureState("debian-grub-intel"), { devices: ["0000:01:00"] }).expect.cmdline,
    ).toEqual(["iommu=pt"]);
    expect(
      plan(fixtureState("popos-kernelstub"), { devices: ["0000:01:00"] }).expect.cmdline,
    ).toEqual(["intel_iommu=on", "iommu=pt"]);
  });

  it("--no-iommu-pt leaves iommu=pt out", () => {
    const p = plan(fixtureState("debian-grub-intel"), { devices: ["0000:01:00"], iommuPt: false });
    expect(p.expect.cmdline).toEqual([]);
    expect(file(p, "/etc/default/grub.d/passthrough.cfg")).toBeUndefined();
    expect(argvs(p)).not.toContain("update-grub");
  });

  it("--acs-override: validated, added, and warned about", () => {
    const s = fixtureState("debian-grub-intel");
    expect(() => plan(s, { devices: ["0000:01:00"], acsOverride: "everything" })).toThrow(
      /--acs-override everything: not a pcie_acs_override value; use downstream, multifunction, id:VVVV:DDDD/,
    );
    const p = plan(s, { devices: ["0000:01:00"], acsOverride: "downstream,multifunction" });
    expect(file(p, "/etc/default/grub.d/passthrough.cfg")!.after).toContain(
      '"$GRUB_CMDLINE_LINUX_DEFAULT iommu=pt pcie_acs_override=downstream,multifunction"',
    );
    expect(p.findings.map((f) => f.id)).toEqual(
      expect.arrayContaining(["plan.acs-override", "plan.acs-override-kernel"]),
    );
  });

  it("frees the boot GPU's framebuffer: initcall_blacklist=sysfb_init, video=efifb:off before 5.15", () => {
    const s = fixtureState("plan-two-gpus");
    expect(plan(s, { devices: ["0000:01:00"] }).expect.cmdline).toContain(
      "initcall_blacklist=sysfb_init",
    );
    expect(plan(s, { devices: ["0000:05:00"] }).expect.cmdline).not.toContain(
      "initcall_blacklist=sysfb_init",
    );
    s.system.kernelVersion = [5, 10];
    expect(plan(s, { devices: ["0000:01:00"] }).expect.cmdline).toContain("video=efifb:off");
  });

  it("counts iommu.passthrough=1 as iommu=pt and an initcall_blacklist list as containing sysfb_init", () => {
    const s = fixtureState("plan-two-gpus");
    s.configFiles["etc/default/grub"] = s.configFiles["etc/default/grub"]!.replace(
      'DEFAULT="quiet"',
      'DEFAULT="quiet iommu.passthrough=1 initcall_blacklist=foo_init,sysfb_init"',
    );
    const p = plan(s, { devices: ["0000:01:00"] });
    expect(file(p, "/etc/default/grub.d/passthrough.cfg")).toBeUndefined();
    expect(argvs(p)).toContain("update-grub"); // configured, not running yet
  });
});

describe("GRUB", () => {
  it("edits in place when a later grub.d file overrides the variable without appending", () => {
    const s = fixtureState("seed-before");
    s.configFiles["etc/default/grub.d/zz-local.cfg"] =
      'GRUB_CMDLINE_LINUX_DEFAULT="quiet splash"\n';
    const p = plan(s, { devices: ["0000:01:00"] });
    expect(file(p, "/etc/default/grub.d/passthrough.cfg")).toBeUndefined();
    expect(file(p, "/etc/default/grub.d/zz-local.cfg")!.after).toBe(
      'GRUB_CMDLINE_LINUX_DEFAULT="quiet splash iommu=pt"\n',
    );
    expect(p.findings.map((f) => f.id)).toContain("bootloader.grub-override");
  });

  it("keeps $VARIABLE references when adding to a value built from them", () => {
    const s = fixtureState("arch-grub-mkinitcpio");
    s.configFiles["etc/default/grub"] +=
      'GRUB_CMDLINE_LINUX_DEFAULT="$GRUB_CMDLINE_LINUX_DEFAULT nowatchdog"\n';
    const step = file(plan(s, { devices: ["0000:01:00"] }), "/etc/default/grub")!;
    expect(
      step.after!.split("\n").filter((l) => l.startsWith("GRUB_CMDLINE_LINUX_DEFAULT")),
    ).toEqual([
      'GRUB_CMDLINE_LINUX_DEFAULT="loglevel=3 quiet intel_iommu=on"',
      'GRUB_CMDLINE_LINUX_DEFAULT="$GRUB_CMDLINE_LINUX_DEFAULT nowatchdog iommu=pt"',
    ]);
  });

  it("rewrites its own drop-in from the desired state (a stale parameter goes)", () => {
    const s = fixtureState("debian-grub-intel");
    s.configFiles["etc/default/grub.d/passthrough.cfg"] =
      '# old\nGRUB_CMDLINE_LINUX_DEFAULT="$GRUB_CMDLINE_LINUX_DEFAULT iommu=pt vfio-pci.ids=10de:0000"\n';
    const step = file(plan(s, { devices: ["0000:01:00"] }), "/etc/default/grub.d/passthrough.cfg")!;
    expect(step.after).toMatch(
      /GRUB_CMDLINE_LINUX_DEFAULT="\$GRUB_CMDLINE_LINUX_DEFAULT iommu=pt"\n$/,
    );
  });

  it("grubby hosts: arguments through grubby, with the command that undoes it", () => {
    const p = plan(fixtureState("fedora-grubby-dracut"), { devices: ["0000:01:00"] });
    const cmd = p.steps.find((s) => s.kind === "command" && s.argv[0] === "grubby");
    expect(cmd).toMatchObject({
      argv: ["grubby", "--update-kernel=ALL", "--args=iommu=pt"],
      undo: ["grubby", "--update-kernel=ALL", "--remove-args=iommu=pt"],
    });
    expect(p.steps.some((s) => s.kind === "file" && s.path === "/etc/default/grub")).toBe(false);
  });
});

describe("/etc/kernel/cmdline and systemd-boot entries", () => {
  it("refuses to guess when /etc/kernel/cmdline has two lines or loses root=", () => {
    const s = fixtureState("plan-pve-sdboot");
    s.configFiles["etc/kernel/cmdline"] = "root=ZFS=rpool/ROOT/pve-1 boot=zfs\nquiet\n";
    expect(() => plan(s, { devices: ["0000:01:00"], headlessOk: true })).toThrow(
      /\/etc\/kernel\/cmdline has 2 lines; the kernel command line must be one line/,
    );
    s.configFiles["etc/kernel/cmdline"] = "boot=zfs\n";
    expect(() => plan(s, { devices: ["0000:01:00"], headlessOk: true })).toThrow(
      /has no root= parameter; proxmox-boot-tool refresh refuses/,
    );
  });

  it("creates /etc/kernel/cmdline from the running command line when it is missing", () => {
    const s = fixtureState("plan-pve-sdboot");
    delete s.configFiles["etc/kernel/cmdline"];
    const step = file(
      plan(s, { devices: ["0000:01:00"], headlessOk: true }),
      "/etc/kernel/cmdline",
    )!;
    expect(step.before).toBeNull();
    expect(step.after).toBe(
      "root=ZFS=rpool/ROOT/pve-1 boot=zfs iommu=pt initcall_blacklist=sysfb_init\n",
    );
  });

  it("plain systemd-boot without visible entries cannot plan the command line: a FAIL note with the fix", () => {
    const s = fixtureState("arch-booster");
    for (const k of Object.keys(s.configFiles)) if (k.startsWith("boot/")) delete s.configFiles[k];
    const p = plan(s, { devices: ["0000:01:00"] });
    expect(p.findings.find((f) => f.id === "bootloader.entries-unseen")).toMatchObject({
      status: "fail",
      fix: expect.stringMatching(
        /add iommu=pt vfio-pci.ids=1002:744c,1002:ab30 to the options line/,
      ),
    });
  });

  it("an unknown boot loader gets a FAIL note listing the parameters to add by hand", () => {
    const s = fixtureState("debian-grub-intel");
    s.bootloader = { kind: "unknown", grubFlavor: null, cmdlineFiles: [], evidence: [] };
    const p = plan(s, { devices: ["0000:01:00"] });
    expect(p.findings.find((f) => f.id === "bootloader.unknown")?.fix).toMatch(
      /add iommu=pt to your boot loader's kernel command line by hand/,
    );
    expect(
      p.steps.some((st) => st.kind === "file" && st.path.startsWith("/etc/default/grub")),
    ).toBe(false);
  });
});

describe("binding", () => {
  it("joins an existing ids= line instead of adding a second one (the last ids= wins)", () => {
    const s = fixtureState("seed-after");
    s.configFiles["etc/modprobe.d/vfio.conf"] = "options vfio-pci ids=1002:abcd disable_vga=1\n";
    const p = plan(s, { devices: ["0000:01:00"] });
    expect(file(p, "/etc/modprobe.d/vfio.conf")!.after).toBe(
      "options vfio-pci ids=1002:abcd,10de:2206,10de:1aef disable_vga=1\n",
    );
    expect(file(p, "/etc/modprobe.d/passthrough.conf")!.after).not.toContain("options vfio-pci");
  });

  it("adds vfio-pci to an existing softdep line (kmod reads only the first one)", () => {
    const s = fixtureState("seed-after");
    s.configFiles["etc/modprobe.d/nouveau.conf"] = "softdep nouveau pre: drm_kms_helper\n";
    const p = plan(s, { devices: ["0000:01:00"] });
    expect(file(p, "/etc/modprobe.d/nouveau.conf")!.after).toBe(
      "softdep nouveau pre: vfio-pci drm_kms_helper\n",
    );
    expect(file(p, "/etc/modprobe.d/passthrough.conf")!.after).not.toContain("softdep nouveau");
  });

  it("per-address binding takes shared ids out of an existing ids= line", () => {
    const s = fixtureState("plan-two-gpus");
    s.configFiles["etc/modprobe.d/vfio.conf"] = "options vfio-pci ids=10de:2504,10de:228e\n";
    const p = plan(s, { devices: ["0000:05:00"] });
    const step = file(p, "/etc/modprobe.d/vfio.conf")!;
    expect(step.after).toBe("");
    expect(step.why).toMatch(
      /binds every device with 10de:2504, 10de:228e, including 0000:01:00.0, 0000:01:00.1 which the host keeps/,
    );
    expect(file(p, "/etc/modprobe.d/passthrough.conf")!.after).toContain(
      "install vfio-pci for dev in 0000:05:00.0 0000:05:00.1;",
    );
  });

  it("built-in vfio-pci: ids on the command line, no modprobe options; per-address hooks the native drivers", () => {
    const s = fixtureState("debian-grub-intel");
    s.modules.builtin = ["vfio", "vfio_iommu_type1", "vfio_pci", "vfio_pci_core"];
    const p = plan(s, { devices: ["0000:01:00"] });
    expect(p.expect.cmdline).toEqual(["iommu=pt", "vfio-pci.ids=10de:2786,10de:22bc"]);
    expect(p.expect.modulesLoaded).toEqual(["vfio_virqfd"]);
    expect(file(p, "/etc/modprobe.d/passthrough.conf")).toBeUndefined();
    const two = fixtureState("plan-two-gpus");
    two.modules.builtin = ["vfio", "vfio_iommu_type1", "vfio_pci"];
    const own = file(
      plan(two, { devices: ["0000:05:00"] }),
      "/etc/modprobe.d/passthrough.conf",
    )!.after!;
    expect(own).toContain(
      "install nouveau for dev in 0000:05:00.0 0000:05:00.1; do echo vfio-pci > /sys/bus/pci/devices/$dev/driver_override; echo $dev > /sys/bus/pci/drivers_probe; done; /sbin/modprobe --ignore-install nouveau $CMDLINE_OPTS",
    );
    expect(own).not.toContain("softdep");
  });

  it("--blacklist never blacklists a driver another host device uses", () => {
    const p = plan(fixtureState("arch-booster"), { devices: ["0000:01:00"], blacklist: true });
    const own = file(p, "/etc/modprobe.d/passthrough.conf")!.after!;
    expect(own).toContain("blacklist radeon\n");
    expect(own).not.toContain("blacklist amdgpu");
    expect(own).not.toContain("blacklist snd_hda_intel");
    expect(
      p.findings.filter((f) => f.id === "binding.blacklist-skipped").map((f) => f.subject),
    ).toEqual(["amdgpu", "snd_hda_intel"]);
    expect(
      file(
        plan(fixtureState("arch-booster"), { devices: ["0000:01:00"] }),
        "/etc/modprobe.d/passthrough.conf",
      )!.after,
    ).not.toContain("blacklist");
  });

  it("vfio_virqfd only before 6.2", () => {
    expect(
      plan(fixtureState("debian-grub-intel"), { devices: ["0000:01:00"] }).expect.modulesLoaded,
    ).toContain("vfio_virqfd");
    expect(
      plan(fixtureState("pve-grub-on-esp"), { devices: ["0000:01:00"] }).expect.modulesLoaded,
    ).not.toContain("vfio_virqfd");
  });

  it("kmod name patterns", () => {
    expect(kmodNameMatches("nvidia*", "nvidia_drm")).toBe(true);
    expect(kmodNameMatches("snd-hda-intel", "snd_hda_intel")).toBe(true);
    expect(kmodNameMatches("nvidia", "nvidia_drm")).toBe(false);
    expect(parseModprobeConf("x", "softdep snd-hda-intel pre: vfio-pci")[0]!.module).toBe(
      "snd_hda_intel",
    );
  });
});

describe("repairs", () => {
  it("removes one name from a one-line module list, with one separator", () => {
    expect(removeListWord("MODULES=(vfio vfio_virqfd vfio_pci)", "vfio_virqfd")).toBe(
      "MODULES=(vfio vfio_pci)",
    );
    expect(removeListWord("MODULES=(vfio_virqfd vfio)", "vfio_virqfd")).toBe("MODULES=(vfio)");
    expect(removeListWord('force_drivers+=" vfio vfio_virqfd "', "vfio_virqfd")).toBe(
      'force_drivers+=" vfio "',
    );
    expect(removeListWord("modules_force_load: vfio,vfio-virqfd,vfio_pci", "vfio_virqfd")).toBe(
      "modules_force_load: vfio,vfio_pci",
    );
    expect(removeListWord("MODULES=(vfio_virqfd_extra)", "vfio_virqfd")).toBe(
      "MODULES=(vfio_virqfd_extra)",
    );
  });

  it("leaves backup copies in modprobe.d alone instead of switching them on", () => {
    const s = fixtureState("seed-after");
    s.modules.ignoredModprobeFiles.push("etc/modprobe.d/blacklist.conf.bak");
    s.configFiles["etc/modprobe.d/blacklist.conf.bak"] = "blacklist nvidia\n";
    const p = plan(s, { devices: ["0000:01:00"] });
    expect(p.steps.some((st) => st.kind === "file" && st.path.includes("blacklist.conf.bak"))).toBe(
      false,
    );
    expect(p.findings.find((f) => f.id === "repair.modprobe-not-conf")?.summary).toMatch(
      /left alone: the name says it is a backup copy/,
    );
  });

  it("removes vfio_virqfd from an mkinitcpio MODULES array on >= 6.2", () => {
    const s = spec("arch-grub-mkinitcpio");
    const p = planSpec(
      {
        ...s,
        files: {
          ...s.files,
          "etc/mkinitcpio.conf": s.files["etc/mkinitcpio.conf"]!.replace(
            "MODULES=()",
            "MODULES=(nvidia vfio_pci vfio vfio_iommu_type1 vfio_virqfd)",
          ),
        },
      },
      { devices: ["0000:01:00"] },
    );
    // One step per file (apply journals one `before` per path), with both reasons in order.
    const steps = p.steps.filter(
      (st): st is FileStep => st.kind === "file" && st.path === "/etc/mkinitcpio.conf",
    );
    expect(steps).toHaveLength(1);
    expect(steps[0]!.why).toMatch(/vfio_virqfd was merged into vfio in kernel 6.2.*; /);
    expect(steps[0]!.before).toContain(
      "MODULES=(nvidia vfio_pci vfio vfio_iommu_type1 vfio_virqfd)\n",
    );
    // And the VFIO modules move in front of the KMS driver.
    expect(steps[0]!.after).toContain("MODULES=(vfio_pci vfio vfio_iommu_type1 nvidia)\n");
  });

  it("joins several repairs of one file into one step that apply accepts (two blacklist wildcards)", () => {
    const s = spec("seed-after");
    const file = "etc/modprobe.d/blacklist.conf";
    const text = `${s.files[file]!}blacklist nvidia_*\n`;
    const p = planSpec({ ...s, files: { ...s.files, [file]: text } }, { devices: ["0000:01:00"] });
    const steps = p.steps.filter(
      (st): st is FileStep => st.kind === "file" && st.path === `/${file}`,
    );
    expect(steps).toHaveLength(1);
    expect(steps[0]!.before).toBe(text);
    expect(steps[0]!.after).not.toMatch(/\*/);
    expect(steps[0]!.why.split("; the line is removed").length - 1).toBe(2);
    expect(() => validatePlan(p)).not.toThrow();
  });

  it("warns when mkinitcpio's HOOKS lack modconf (modprobe.d would not reach the initramfs)", () => {
    const s = fixtureState("arch-grub-mkinitcpio");
    expect(plan(s, { devices: ["0000:01:00"] }).findings.map((f) => f.id)).not.toContain(
      "initramfs.mkinitcpio-modconf",
    );
    s.configFiles["etc/mkinitcpio.conf"] = s.configFiles["etc/mkinitcpio.conf"]!.replace(
      " modconf",
      "",
    );
    expect(
      plan(s, { devices: ["0000:01:00"] }).findings.find(
        (f) => f.id === "initramfs.mkinitcpio-modconf",
      )?.fix,
    ).toMatch(/add modconf to HOOKS/);
  });
});
