// `vm plan` and the QEMU command line; backend selection and the CLI's contract (exit codes,
// --json, help).
import * as fs from "node:fs";
import * as path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { parseMeminfo } from "../../src/host/meminfo.js";
import { readHostPrep, selectedFunctions } from "../../src/vm/host-prep.js";
import { DirectoryRoot } from "../../src/host/root.js";
import { formatCommand, qemuArgv } from "../../src/vm/qemu/argv.js";
import { buildVmSpec, type VmOptions } from "../../src/vm/spec.js";
import { findOvmf } from "../../src/vm/firmware.js";
import { seedAfter } from "../fixtures/specs/seed.js";
import { cli, cliJson } from "../helpers/cli.js";
import { fixturePath, fixtureState, writeSpec } from "../helpers/fixtures.js";

const SNAP = fixturePath("seed-after");
const opts = (o: Partial<VmOptions> = {}): VmOptions => ({
  vmid: 100,
  devices: ["0000:01:00"],
  usb: ["046d:c31c"],
  pcie: true,
  primaryGpu: false,
  keepDisplay: false,
  efidisk: null,
  preEnrolledKeys: false,
  hidden: false,
  hvVendorId: null,
  onboot: false,
  convertQ35: false,
  force: false,
  ...o,
});

const cleanups: Array<() => void> = [];
afterEach(() => {
  while (cleanups.length) cleanups.pop()!();
});

describe("QEMU command line", () => {
  it("has a pcie-root-port and one vfio-pci per function, OVMF pflash, no display, usb-host", () => {
    const state = fixtureState("seed-after");
    const spec = buildVmSpec({
      state,
      options: opts({ hidden: true }),
      prep: { journaled: {} },
      memory: null,
      guestMemoryMiB: 16384,
      create: null,
    }).spec;
    const fw = findOvmf(state, false, () => true);
    const { argv, prepare } = qemuArgv(spec, {
      name: "gaming",
      memoryMiB: 16384,
      cores: 8,
      sockets: 1,
      firmware: fw,
      disk: null,
      iso: null,
      bridge: "vmbr0",
    });
    const devices = argv.flatMap((a, i) => (argv[i - 1] === "-device" ? [a] : []));
    expect(devices).toEqual([
      "pcie-root-port,id=pt-rp0,bus=pcie.0,chassis=1,slot=1,addr=10.0",
      "vfio-pci,host=0000:01:00.0,id=hostpci0.0,bus=pt-rp0,addr=00.0,multifunction=on",
      "vfio-pci,host=0000:01:00.1,id=hostpci0.1,bus=pt-rp0,addr=00.1",
      "qemu-xhci,id=xhci",
      "usb-host,bus=xhci.0,vendorid=0x046d,productid=0xc31c",
    ]);
    expect(argv.join(" ")).toContain("-machine q35,accel=kvm -cpu host,kvm=off");
    expect(argv.join(" ")).toContain(
      `-drive if=pflash,format=raw,unit=0,readonly=on,file=${fw.code} -drive if=pflash,format=raw,unit=1,file=gaming_VARS.fd`,
    );
    expect(argv.join(" ")).toContain("-display none -vga none");
    expect(argv.join(" ")).not.toContain("x-vga");
    expect(prepare).toEqual([["cp", fw.vars, "gaming_VARS.fd"]]);
    expect(formatCommand(["qemu-system-x86_64", "-name", "a b", "-m", "1"])).toBe(
      "qemu-system-x86_64 \\\n  -name 'a b' \\\n  -m 1",
    );
  });

  it("vm plan --emit qemu prints it, taking memory and cores from the Proxmox config", async () => {
    const r = await cli([
      "vm",
      "plan",
      "--emit",
      "qemu",
      "--snapshot",
      SNAP,
      "--vmid",
      "100",
      "--device",
      "01:00",
    ]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(
      /^# once, before the first start:\ncp \/usr\/share\/pve-edk2-firmware\/OVMF_VARS_4M\.fd gaming_VARS\.fd\n\nqemu-system-x86_64 \\\n {2}-name gaming \\\n/,
    );
    expect(r.stdout).toContain("  -m 16384 \\\n");
    expect(r.stdout).toContain("  -smp 8,sockets=1,cores=8,threads=1 \\\n");
    const j = await cliJson([
      "vm",
      "plan",
      "--emit",
      "qemu",
      "--snapshot",
      SNAP,
      "--device",
      "01:00",
      "--memory",
      "4096",
    ]);
    expect(j.json.argv).toContain("4096");
    expect(j.json.backend).toBe("qemu");
  });
});

describe("passthrough vm plan", () => {
  it("plans against a snapshot's /etc/pve and prints the diff, the reasons and the next command", async () => {
    const r = await cli(["vm", "plan", "--snapshot", SNAP, "--vmid", "100", "--device", "01:00"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('passthrough vm plan — VM 100 "gaming" on snapshot');
    expect(r.stdout).toContain("--- VM 100 (now)\n+++ VM 100 (after)\n");
    expect(r.stdout).toMatch(/Why\n {2}balloon {2}0: guest RAM is pinned/);
    expect(r.stdout).toContain("Next: passthrough vm configure --vmid 100 --device 0000:01:00");
  });

  it("--json carries the spec, the change and the configs before and after", async () => {
    const { code, json } = await cliJson([
      "vm",
      "plan",
      "--snapshot",
      SNAP,
      "--vmid",
      "100",
      "--device",
      "01:00",
    ]);
    expect(code).toBe(0);
    expect(json).toMatchObject({
      backend: "snapshot",
      vmid: 100,
      change: { set: { balloon: "0", cpu: "host" }, delete: [] },
      refused: [],
      applied: false,
    });
    expect(json.spec.pci[0]).toMatchObject({
      host: "0000:01:00",
      pcie: true,
      primaryGpu: false,
      gpu: true,
    });
    expect(json.after.cpu).toBe("host");
  });

  it("refusals exit 3: every reason on stderr, or in --json", async () => {
    const r = await cli([
      "vm",
      "plan",
      "--snapshot",
      SNAP,
      "--vmid",
      "100",
      "--device",
      "02:00",
      "--usb",
      "dead:beef",
    ]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(
      /^error: refusing to configure VM 100 \(nothing was changed\):\n {2}- .*root filesystem.*\n {2}- .*not on vfio-pci.*\n {2}- USB dead:beef is not plugged into pve/,
    );
    const j = await cliJson([
      "vm",
      "plan",
      "--snapshot",
      SNAP,
      "--vmid",
      "100",
      "--device",
      "02:00",
    ]);
    expect(j.code).toBe(3);
    expect(j.json.refused).toHaveLength(2); // root filesystem, and not on vfio-pci
  });

  it("bad input is a one-line error naming the flag (exit 2)", async () => {
    const cases: Array<[string[], RegExp]> = [
      [
        ["--vmid", "100", "--device", "gpu"],
        /--device gpu: not a PCI address; write a slot like 0000:01:00/,
      ],
      [["--vmid", "100", "--usb", "046d"], /--usb "046d" is not a vendor:product id/],
      [["--vmid", "42", "--device", "01:00"], /--vmid "42": give a whole number from 100/],
      [
        ["--vmid", "100", "--device", "01:00", "--hv-vendor-id", "way-too-long-id"],
        /--hv-vendor-id "way-too-long-id"/,
      ],
      [
        ["--vmid", "100", "--backend", "xen"],
        /--backend "xen": choose one of qm, api, libvirt, qemu/,
      ],
      [["--vmid", "100", "--emit", "qemu", "--backend", "libvirt"], /contradict/],
    ];
    for (const [args, re] of cases) {
      const r = await cli(["vm", "plan", "--snapshot", SNAP, ...args]);
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.stderr).toMatch(re);
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
    }
  });

  it("a snapshot cannot be configured, only planned", async () => {
    const r = await cli([
      "vm",
      "configure",
      "--snapshot",
      SNAP,
      "--vmid",
      "100",
      "--device",
      "01:00",
      "--yes",
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/a snapshot cannot be changed/);
  });

  it("a snapshot of a host that is not a Proxmox node needs --libvirt or --emit", async () => {
    const { dir, cleanup } = writeSpec({
      ...seedAfter,
      name: "plain",
      proxmox: undefined,
      kernel: { ...seedAfter.kernel, release: "6.1.0-18-amd64" },
      tools: ["lspci", "update-grub"],
    });
    cleanups.push(cleanup);
    const r = await cli(["vm", "plan", "--snapshot", dir, "--vmid", "100", "--device", "01:00"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      /no VM backend here: this is not a Proxmox VE node; give --api .*--libvirt DOMAIN.*--emit qemu/,
    );
  });

  it("reads host memory and applied host plans from the snapshot", async () => {
    const { dir, cleanup } = writeSpec({
      ...seedAfter,
      name: "mem",
      pci: seedAfter.pci.map((p) =>
        p.address.startsWith("0000:01:00") ? { ...p, driver: "nouveau" } : p,
      ),
    });
    cleanups.push(cleanup);
    fs.writeFileSync(
      path.join(dir, "proc/meminfo"),
      "MemTotal:       32768000 kB\nMemFree:         1000000 kB\nMemAvailable:    8192000 kB\n",
    );
    const refused = await cli([
      "vm",
      "plan",
      "--snapshot",
      dir,
      "--vmid",
      "100",
      "--device",
      "01:00",
    ]);
    expect(refused.code).toBe(3);
    expect(refused.stderr).toMatch(/the VM has 16384 MiB of memory but pve has 8000 MiB available/);
    expect(refused.stderr).toMatch(/not on vfio-pci and no applied host plan binds/);
    const j = path.join(dir, "var/lib/passthrough/journal/20250101T000000Z");
    fs.mkdirSync(j, { recursive: true });
    fs.writeFileSync(
      path.join(j, "plan.json"),
      JSON.stringify({
        selection: {
          requested: ["0000:01:00"],
          functions: ["0000:01:00.0", "0000:01:00.1"],
          groups: [12],
        },
        steps: [],
      }),
    );
    // An apply that did not end ok prepares nothing.
    fs.writeFileSync(
      path.join(j, "steps.log"),
      '{"at":"t","event":"start","step":0,"kind":"file","what":"x"}\n{"at":"t","event":"end","status":"failed"}\n',
    );
    expect(
      (await cli(["vm", "plan", "--snapshot", dir, "--vmid", "100", "--device", "01:00"])).code,
    ).toBe(3);
    fs.writeFileSync(
      path.join(j, "steps.log"),
      '{"at":"t","event":"start","step":0,"kind":"file","what":"x"}\n{"at":"t","event":"end","status":"ok"}\n{"at":"t","ev',
    );
    expect(
      (await cli(["vm", "plan", "--snapshot", dir, "--vmid", "100", "--device", "01:00"])).code,
    ).toBe(0);
    // A rolled-back plan prepares nothing.
    fs.writeFileSync(
      path.join(j, "rollback.log"),
      '{"at":"t","event":"start","force":false,"commands":"this host"}\n{"at":"t","event":"end","status":"ok"}\n',
    );
    expect(
      (await cli(["vm", "plan", "--snapshot", dir, "--vmid", "100", "--device", "01:00"])).code,
    ).toBe(3);
    expect(readHostPrep(new DirectoryRoot(dir, { kind: "snapshot" })).journaled).toEqual({});
  });

  it("every vm subcommand teaches with --help", async () => {
    for (const sub of ["plan", "configure", "create"]) {
      const r = await cli(["vm", sub, "--help"]);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/Examples:\n {2}passthrough vm /);
      expect(r.stdout).toContain("--device <addr>");
    }
  });
});

describe("readers", () => {
  it("parses /proc/meminfo and plan.json selections defensively", () => {
    expect(parseMeminfo("MemTotal: 100 kB\nMemAvailable: 50 kB\n")).toEqual({
      totalKiB: 100,
      availableKiB: 50,
    });
    expect(parseMeminfo("MemTotal: 100 kB\n")).toBeNull();
    expect(selectedFunctions('{"selection":{"functions":["0000:01:00.0",3]}}')).toEqual([
      "0000:01:00.0",
    ]);
    expect(selectedFunctions("not json")).toEqual([]);
  });
});
