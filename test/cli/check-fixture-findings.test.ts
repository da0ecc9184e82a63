// What `check` must find on each fixture host: the key findings (id, status, subject, the
// words that matter in the summary and fix), the host facts of the JSON contract, the exit
// code, plus the full text report compared with test/fixtures/expected/check/<name>.txt
// (reviewed output; rerun vitest with -u after an intended change and read the diff).

import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { cli, cliJson } from "../helpers/cli.js";
import { REPO, fixturePath } from "../helpers/fixtures.js";

interface Expect {
  code: 0 | 1;
  host: Record<string, unknown>;
  iommu: Record<string, unknown>;
  targets: string[];
  findings: Array<{
    id: string;
    status: string;
    subject?: string | null;
    summary?: RegExp;
    fix?: RegExp;
  }>;
  absent?: string[];
}

const CASES: Record<string, Expect> = {
  "seed-before": {
    code: 1,
    host: { cpuVendor: "amd", virtualMachine: false, proxmox: true, bootloader: "grub" },
    iommu: { enabled: false, interruptRemapping: null },
    targets: ["0000:01:00"],
    findings: [
      {
        id: "iommu.enabled",
        status: "fail",
        summary: /disabled in the firmware/,
        fix: /Settings > AMD CBS > NBIO > IOMMU = Enabled, then Settings > Miscellaneous > IOMMU = Enabled/,
      },
      { id: "iommu.irq-remapping", status: "skip" },
      { id: "candidate.isolation", status: "skip", subject: "0000:01:00" },
      { id: "driver.native", status: "info", subject: "0000:01:00.0", summary: /on nouveau/ },
    ],
    absent: ["cmdline.pending", "modprobe.wildcard"],
  },
  "seed-after": {
    code: 1,
    host: { cpuVendor: "amd", virtualMachine: false, proxmox: true, bootloader: "grub" },
    iommu: { enabled: true, interruptRemapping: true },
    targets: ["0000:01:00"],
    findings: [
      { id: "iommu.enabled", status: "pass", summary: /AMD-Vi on, 28 groups/ },
      {
        id: "modprobe.wildcard",
        status: "fail",
        subject: "/etc/modprobe.d/blacklist.conf:2",
        summary: /"blacklist nvidia\*" matches no module/,
        fix: /blacklist nvidia_drm/,
      },
      {
        id: "cmdline.pending",
        status: "warn",
        subject: "/etc/default/grub:9",
        summary: /^iommu=pt is in \/etc\/default\/grub:9/,
        fix: /^update-grub, then reboot$/,
      },
      {
        id: "candidate.isolation",
        status: "pass",
        subject: "0000:01:00",
        summary: /group 12 holds only/,
      },
      {
        id: "candidate.assigned",
        status: "info",
        subject: "0000:01:00",
        summary: /VM 100 \(hostpci0: 0000:01:00,pcie=1\)/,
      },
      {
        id: "driver.vfio-runtime",
        status: "warn",
        subject: "0000:01:00.0",
        summary: /has no driver \(nouveau and nvidiafb blacklisted\)/,
      },
      {
        id: "driver.vfio-runtime",
        status: "warn",
        subject: "0000:01:00.1",
        summary: /returns to snd_hda_intel/,
      },
    ],
  },
  "intel-shared-group": {
    code: 1,
    host: { cpuVendor: "intel", virtualMachine: false, proxmox: false, bootloader: "grub" },
    iommu: { enabled: true, interruptRemapping: true },
    targets: ["0000:04:00"],
    findings: [
      { id: "iommu.enabled", status: "pass", summary: /Intel VT-d on/ },
      { id: "iommu.groups", status: "pass", summary: /lack ACS/ },
      {
        id: "candidate.isolation",
        status: "fail",
        subject: "0000:04:00",
        summary: /group 7 also holds 0000:02:00\.0 .*0000:03:00\.0/,
        fix: /slot wired to the CPU.*pcie_acs_override/,
      },
      {
        id: "candidate.host-critical",
        status: "fail",
        subject: "0000:04:00",
        summary: /group-mate 0000:02:00\.0 carries the default route \(br0 -> enp2s0\)/,
      },
      { id: "reset.method", status: "pass", summary: /secondary bus reset/ },
    ],
  },
  "intel-iommu-off": {
    code: 1,
    host: { cpuVendor: "intel", virtualMachine: false, proxmox: true, bootloader: "grub" },
    iommu: { enabled: false },
    targets: ["0000:01:00"],
    findings: [
      {
        id: "iommu.enabled",
        status: "fail",
        summary:
          /VT-d is on in the firmware \(DMAR table present\), but kernel 6\.5\.13-5-pve does not turn the Intel IOMMU on by default \(Proxmox kernels do from 6\.8\)/,
        fix: /intel_iommu=on is already in \/etc\/default\/grub:9 .*update-grub, then reboot/,
      },
      {
        id: "modprobe.not-conf",
        status: "fail",
        subject: "/etc/modprobe.d/vfio",
        fix: /^mv \/etc\/modprobe\.d\/vfio \/etc\/modprobe\.d\/vfio\.conf, then update-initramfs -u -k all$/,
      },
      {
        id: "cmdline.pending",
        status: "warn",
        subject: "/etc/default/grub:9",
        summary: /^intel_iommu=on is in/,
      },
    ],
  },
  "no-irq-remapping": {
    code: 1,
    host: { cpuVendor: "intel", proxmox: true, bootloader: "grub" },
    iommu: { enabled: true, interruptRemapping: false },
    targets: ["0000:03:00"],
    findings: [
      {
        id: "iommu.irq-remapping",
        status: "fail",
        summary: /not available: vfio will refuse/,
        fix: /--allow-unsafe-interrupts/,
      },
      {
        id: "vfio.ids-absent",
        status: "warn",
        subject: "/etc/modprobe.d/vfio.conf:1",
        summary: /10de:1c03, which no device/,
      },
      { id: "driver.vfio", status: "pass", subject: "0000:03:00.1" },
      {
        id: "driver.native",
        status: "warn",
        subject: "0000:03:00.0",
        summary: /only partly reserved/,
        fix: /add 10de:1c30 to the vfio-pci ids= list/,
      },
    ],
  },
  "two-identical-gpus": {
    code: 0,
    host: { cpuVendor: "amd", proxmox: true, bootloader: "grub" },
    iommu: { enabled: true, interruptRemapping: true },
    targets: ["0000:0a:00"],
    findings: [
      {
        id: "gpu.identical-ids",
        status: "warn",
        subject: "0000:0a:00",
        summary: /0000:09:00 has the same ids \(10de:2503, 10de:228e\)/,
        fix: /driver_override/,
      },
      { id: "gpu.large-bar", status: "warn", summary: /16 GiB BAR \(Resizable BAR on\)/ },
      { id: "candidate.isolation", status: "pass", subject: "0000:0a:00" },
    ],
    absent: ["gpu.boot-vga", "gpu.only-gpu"],
  },
  "single-gpu-bootvga": {
    code: 0,
    host: { cpuVendor: "intel", proxmox: false, bootloader: "grub" },
    iommu: { enabled: true, interruptRemapping: true },
    targets: ["0000:03:00"],
    findings: [
      { id: "gpu.only-gpu", status: "warn", subject: "0000:03:00", fix: /SSH/ },
      {
        id: "gpu.boot-vga",
        status: "warn",
        subject: "0000:03:00",
        fix: /initcall_blacklist=sysfb_init/,
      },
      { id: "reset.vendor-reset", status: "warn", subject: "0000:03:00.0", summary: /Navi 1x/ },
      {
        id: "candidate.isolation",
        status: "pass",
        summary: /bridges 0000:00:01\.0, 0000:01:00\.0 and 0000:02:00\.0/,
      },
    ],
    absent: ["reset.method"],
  },
  "sriov-nic": {
    code: 0,
    host: { cpuVendor: "intel", proxmox: true, bootloader: "grub" },
    iommu: { enabled: true, interruptRemapping: true },
    targets: [],
    findings: [
      { id: "iommu.enabled", status: "pass" },
      { id: "candidate.no-gpu", status: "info" },
      { id: "sriov.pf-active", status: "info", subject: "0000:18:00.0", summary: /4 of 64 VFs/ },
    ],
  },
  "pve-systemd-boot": {
    code: 0,
    host: { cpuVendor: "amd", proxmox: true, bootloader: "proxmox-boot-tool/systemd-boot" },
    iommu: { enabled: true, interruptRemapping: true },
    targets: ["0000:03:00"],
    findings: [
      {
        id: "boot.loader",
        status: "info",
        summary:
          /\/etc\/kernel\/cmdline, applied by proxmox-boot-tool refresh; \/etc\/default\/grub not used/,
      },
      {
        id: "cmdline.wrong-bootloader",
        status: "warn",
        subject: "/etc/default/grub:9",
        summary: /^iommu=pt is in/,
        fix: /\/etc\/kernel\/cmdline, run proxmox-boot-tool refresh/,
      },
      {
        id: "cmdline.wrong-bootloader",
        status: "warn",
        subject: "/etc/default/grub:9",
        summary: /^amd_iommu=on is in/,
      },
      { id: "cmdline.amd-iommu-on", status: "warn", summary: /would log/ },
      { id: "modules.vfio-virqfd", status: "warn", subject: "/etc/modules-load.d/vfio.conf:4" },
      { id: "driver.vfio", status: "pass", subject: "0000:03:00.0" },
      {
        id: "driver.native",
        status: "warn",
        subject: "0000:03:00.2",
        summary: /on xhci_hcd while \.0 and \.1 are bound/,
      },
      { id: "driver.none", status: "info", subject: "0000:03:00.3" },
    ],
    absent: ["cmdline.pending"],
  },
  "guest-nvidia": {
    code: 1,
    host: { cpuVendor: "amd", virtualMachine: true, proxmox: false, bootloader: "grub" },
    iommu: { enabled: false },
    targets: [],
    findings: [
      { id: "cpu.virtualization", status: "warn", summary: /VM without nested virtualization/ },
      {
        id: "iommu.enabled",
        status: "fail",
        summary: /this VM has no virtual IOMMU/,
        fix: /viommu=intel/,
      },
      {
        id: "host.virtual-machine",
        status: "warn",
        summary: /QEMU Standard PC \(Q35 \+ ICH9, 2009\).*0000:01:00\.0 is passed in/,
      },
    ],
    absent: ["candidate.isolation", "candidate.no-gpu"],
  },
  // The seed host copied without root and without sys/: what could not be read is said, and
  // nothing judged on it passes or fails (no "IOMMU off in the firmware", no blacklist verdict).
  "seed-partial": {
    code: 1,
    host: { cpuVendor: "amd", proxmox: true, bootloader: "grub" },
    iommu: { enabled: false },
    targets: [],
    findings: [
      { id: "host.unreadable", status: "skip", subject: "/sys", summary: /IOMMU groups/ },
      { id: "host.unreadable", status: "skip", subject: "/etc/modprobe.d", fix: /sudo/ },
      { id: "iommu.enabled", status: "skip", summary: /could not be read/ },
    ],
    absent: ["modprobe.wildcard", "candidate.no-gpu"],
  },
};

describe.each(Object.keys(CASES).map((n) => [n]))("check on %s", (name) => {
  const want = CASES[name]!;
  const snap = fixturePath(name);

  it("finds what matters, with the exit code of the contract", async () => {
    const { code, json } = await cliJson(["check", "--snapshot", snap]);
    expect(code).toBe(want.code);
    expect(json.host).toMatchObject(want.host);
    expect(json.iommu).toMatchObject(want.iommu);
    expect(
      json.candidates
        .filter((c: { target: boolean }) => c.target)
        .map((c: { address: string }) => c.address),
    ).toEqual(want.targets);
    for (const w of want.findings) {
      const hits = json.findings.filter(
        (f: {
          id: string;
          status: string;
          subject: string | null;
          summary: string;
          fix: string | null;
        }) =>
          f.id === w.id &&
          f.status === w.status &&
          (w.subject === undefined || f.subject === w.subject) &&
          (!w.summary || w.summary.test(f.summary)) &&
          (!w.fix || w.fix.test(f.fix ?? "")),
      );
      expect(
        hits.length,
        `${w.status} ${w.id} ${w.subject ?? ""} ${w.summary ?? ""} in\n${JSON.stringify(json.findings, null, 1)}`,
      ).toBeGreaterThan(0);
    }
    for (const id of want.absent ?? [])
      expect(json.findings.map((f: { id: string }) => f.id)).not.toContain(id);
  });

  it("prints the reviewed report", async () => {
    const r = await cli(["check", "--snapshot", snap]);
    const text = r.stdout
      .replace(/^snapshot .*$/m, "snapshot <fixture>")
      .replaceAll(` --snapshot ${snap}`, " --snapshot <fixture>");
    await expect(text).toMatchFileSnapshot(
      path.join(REPO, "test/fixtures/expected/check", `${name}.txt`),
    );
  });
});

describe("check --device", () => {
  it("judges an SR-IOV PF that carries the host's network: fail, with the VFs as the way out", async () => {
    const { code, json } = await cliJson([
      "check",
      "--snapshot",
      fixturePath("sriov-nic"),
      "--device",
      "18:00.0",
    ]);
    expect(code).toBe(1);
    expect(json.device).toBe("0000:18:00.0");
    const ids = json.findings
      .filter((f: { status: string }) => f.status === "fail")
      .map((f: { id: string }) => f.id);
    expect(ids).toEqual(["candidate.host-critical", "sriov.pf-active"]);
    expect(json.findings.find((f: { id: string }) => f.id === "sriov.pf-active").fix).toContain(
      "passthrough check --device 0000:18:02.0",
    );
  });

  it("judges a VF on its own: isolated, bound at VM start only", async () => {
    const { code, json } = await cliJson([
      "check",
      "--snapshot",
      fixturePath("sriov-nic"),
      "--device",
      "0000:18:02.2",
    ]);
    expect(code).toBe(0);
    expect(
      json.candidates
        .filter((c: { target: boolean }) => c.target)
        .map((c: { address: string }) => c.address),
    ).toEqual(["0000:18:02.2"]);
    const byId = Object.fromEntries(
      json.findings.map((f: { id: string; status: string }) => [f.id, f.status]),
    );
    expect(byId).toMatchObject({
      "candidate.isolation": "pass",
      "sriov.vf": "info",
      "driver.vfio-runtime": "warn",
      "candidate.assigned": "info",
    });
    expect(json.next).toBe(
      `passthrough plan --device 0000:18:02.2 --snapshot ${fixturePath("sriov-nic")}`,
    );
  });

  it("judges the whole slot when the function named shares its IOMMU group with the others, saying so", async () => {
    const { json, stderr } = await cliJson([
      "check",
      "--snapshot",
      fixturePath("seed-after"),
      "--device",
      "01:00.1",
    ]);
    expect(json.device).toBe("0000:01:00");
    expect(stderr).toMatch(/^note: 0000:01:00\.1: 0000:01:00 has 2 functions in IOMMU group \d+, /);
    const drivers = json.findings.filter((f: { id: string }) => f.id.startsWith("driver."));
    expect(drivers.map((f: { subject: string }) => f.subject).sort()).toEqual([
      "0000:01:00.0",
      "0000:01:00.1",
    ]);
  });

  it("refuses a bridge, naming the devices that can be passed (exit 2)", async () => {
    const r = await cli(["check", "--snapshot", fixturePath("seed-after"), "--device", "00:01.1"]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(
      /^error: 0000:00:01\.1 is a PCI bridge \[0604\], not a device that can be passed to a VM .*; devices that can be passed: 0000:01:00 \(NVIDIA GA102 \[GeForce RTX 3080\]\), /,
    );
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
  });

  it("refuses an absent device and a malformed address (exit 2)", async () => {
    const absent = await cli([
      "check",
      "--snapshot",
      fixturePath("seed-after"),
      "--device",
      "05:00",
    ]);
    expect(absent.code).toBe(2);
    expect(absent.stderr).toMatch(
      /^error: no PCI device 0000:05:00 on this host; devices that can be passed: 0000:01:00/,
    );
    const bad = await cli(["check", "--snapshot", fixturePath("seed-after"), "--device", "gpu0"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(
      /^error: --device gpu0: not a PCI address; write a slot like 0000:01:00 \(every function\) or a function like 0000:01:00\.1\n$/,
    );
  });
});

describe("check output styling", () => {
  const snap = fixturePath("seed-after");
  it("colours status words on a terminal", async () => {
    const r = await cli(["check", "--snapshot", snap], {}, { tty: true });
    expect(r.stdout).toContain("\u001b[31m\u001b[1mFAIL");
    expect(r.stdout).toContain("\u001b[32mPASS");
  });
  it("never colours with NO_COLOR or --no-color", async () => {
    expect(
      (await cli(["check", "--snapshot", snap], { NO_COLOR: "1" }, { tty: true })).stdout,
    ).not.toContain("\u001b[");
    expect(
      (await cli(["--no-color", "check", "--snapshot", snap], {}, { tty: true })).stdout,
    ).not.toContain("\u001b[");
  });
});

describe("check's next command", () => {
  it("reads the same snapshot as check did, quoted for the shell when it must be", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "passthrough next "));
    try {
      const copy = path.join(dir, "it's.tar.gz");
      fs.copyFileSync(fixturePath("seed-after"), copy);
      const { json } = await cliJson(["check", "--snapshot", copy]);
      expect(json.next).toBe(
        `passthrough plan --device 0000:01:00 --snapshot '${copy.replace("'", "'\\''")}'`,
      );
      const r = await cli(["check", "--snapshot", copy]);
      expect(r.stdout).toContain(`Next: ${json.next}\n`);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
