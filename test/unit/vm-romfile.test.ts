// `vm plan|configure|create --romfile FILE`: the file is checked against the card before
// anything is written (one line, exit 2, nothing copied); Proxmox copies it to
// /usr/share/kvm (a temporary root here) and names it in hostpci, never over a different file;
// libvirt gets <rom file=.../> in the hostdev, QEMU romfile= on the vfio-pci device.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { vmOptions } from "../../src/cli/commands/vm-options.js";
import { openHostRoot } from "../../src/host/open-root.js";
import { readHostState } from "../../src/host/read-host.js";
import { ProcessRunner } from "../../src/process/run.js";
import { applyVmChange, planVmChange, type VmHost, type VmRequest } from "../../src/vm/backend.js";
import { configText } from "../../src/vm/diff.js";
import { ProxmoxVmBackend } from "../../src/vm/proxmox/backend.js";
import { QmBackend } from "../../src/vm/proxmox/qm-backend.js";
import { cli } from "../helpers/cli.js";
import { fakePve } from "../helpers/fake-tools.js";
import { REPO, fixturePath } from "../helpers/fixtures.js";

const ROMS = path.join(REPO, "test/fixtures/roms");
const rom = (name: string) => path.join(ROMS, name);
const SNAP = fixturePath("seed-after");
const opened = openHostRoot(SNAP);
const host: VmHost = {
  state: readHostState(opened.root, { manifest: opened.manifest }),
  root: opened.root,
};
const VM100 = host.state.vms.find((v) => v.vmid === 100)!.config;

const request = (romfile: string): VmRequest => ({
  mode: "configure",
  options: vmOptions({ vmid: "100", device: ["0000:01:00"], pcie: true, romfile }),
  create: null,
  guest: { name: null, memoryMiB: null, cores: null },
  dryRun: false,
});

const cleanups: Array<() => void> = [];
afterEach(() => {
  while (cleanups.length) cleanups.pop()!();
});

function tempDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), "pt-romfile-"));
  cleanups.push(() => fs.rmSync(d, { recursive: true, force: true }));
  return d;
}

function qmBackend(romRoot: string) {
  const pve = fakePve({ 100: configText(VM100) });
  cleanups.push(pve.cleanup);
  return {
    pve,
    backend: new ProxmoxVmBackend(new QmBackend(new ProcessRunner(pve.env), "pve"), "", romRoot),
  };
}

describe("--romfile with Proxmox (qm)", () => {
  it("copies the ROM to /usr/share/kvm, sets romfile= on the GPU's hostpci, and a second run changes nothing", async () => {
    const root = tempDir();
    const { pve, backend } = qmBackend(root);
    const plan = await planVmChange(backend, request(rom("nvidia-gop.rom")), host);
    expect(plan.refusals).toEqual([]);
    expect(plan.report!.diff!.after).toContain(
      `# copy ${rom("nvidia-gop.rom")} to /usr/share/kvm/nvidia-gop.rom`,
    );
    expect(plan.report!.diff!.after).toContain(
      "hostpci0: 0000:01:00,pcie=1,romfile=nvidia-gop.rom",
    );
    const back = await applyVmChange(backend, plan);
    expect(back.message).toContain("Copied the ROM to /usr/share/kvm/nvidia-gop.rom");
    const copied = path.join(root, "usr/share/kvm/nvidia-gop.rom");
    expect(fs.readFileSync(copied).equals(fs.readFileSync(rom("nvidia-gop.rom")))).toBe(true);
    expect(fs.statSync(copied).mode & 0o777).toBe(0o644);
    expect(pve.conf(100)).toMatch(/^hostpci0: 0000:01:00,pcie=1,romfile=nvidia-gop\.rom$/m);

    const again = await planVmChange(qmBackend(root).backend, request(rom("nvidia-gop.rom")), {
      ...host,
    });
    expect(again.refusals).toEqual([]);
    expect(again.json.romfile).toEqual({ path: "/usr/share/kvm/nvidia-gop.rom", copy: false });
  });

  it("copies through the apply journal: rollback removes the file, an identical file needs no journal", async () => {
    const root = tempDir();
    const { backend } = qmBackend(root);
    const back = await applyVmChange(
      backend,
      await planVmChange(backend, request(rom("nvidia-gop.rom")), host),
    );
    const journals = fs.readdirSync(path.join(root, "var/lib/passthrough/journal"));
    expect(journals).toHaveLength(1);
    expect(back.message).toContain(`(journal ${journals[0]}: \`passthrough rollback\` removes it)`);
    const copied = path.join(root, "usr/share/kvm/nvidia-gop.rom");
    // The plan holds the ROM's bytes exactly (host text round-trips every byte).
    const plan = JSON.parse(
      fs.readFileSync(
        path.join(root, "var/lib/passthrough/journal", journals[0]!, "plan.json"),
        "utf8",
      ),
    );
    expect(plan.steps).toHaveLength(1);
    expect(plan.steps[0]).toMatchObject({
      kind: "file",
      path: "/usr/share/kvm/nvidia-gop.rom",
      before: null,
    });
    const history = await cli(["history", "--root", root, "--json"]);
    expect(JSON.parse(history.stdout).journals[0]).toMatchObject({
      id: journals[0],
      status: "applied",
    });
    // verify never takes this journal for a host plan: it binds nothing.
    const rb = await cli(["rollback", "--root", root, "--yes"]);
    expect(rb.code, rb.stderr).toBe(0);
    expect(rb.stdout).toMatch(/remove +\/usr\/share\/kvm\/nvidia-gop\.rom/);
    expect(fs.existsSync(copied)).toBe(false);

    // The same bytes already there: nothing copied, no second journal.
    fs.mkdirSync(path.dirname(copied), { recursive: true });
    fs.copyFileSync(rom("nvidia-gop.rom"), copied);
    const second = qmBackend(root).backend;
    const again = await applyVmChange(
      second,
      await planVmChange(second, request(rom("nvidia-gop.rom")), host),
    );
    expect(again.message).not.toContain("Copied the ROM");
    expect(fs.readdirSync(path.join(root, "var/lib/passthrough/journal"))).toHaveLength(1);
  });

  it("refuses to overwrite a different file of the same name, and copies nothing", async () => {
    const root = tempDir();
    fs.mkdirSync(path.join(root, "usr/share/kvm"), { recursive: true });
    const other = path.join(root, "usr/share/kvm/nvidia-gop.rom");
    fs.writeFileSync(other, "another VM's ROM");
    const { pve, backend } = qmBackend(root);
    const before = pve.conf(100);
    const plan = await planVmChange(backend, request(rom("nvidia-gop.rom")), host);
    expect(plan.refusals).toEqual([
      `/usr/share/kvm/nvidia-gop.rom exists already with other contents than ${rom("nvidia-gop.rom")}; refusing to overwrite it (another VM may use it): rename your file (e.g. nvidia-gop-2.rom) and run again`,
    ]);
    expect(fs.readFileSync(other, "utf8")).toBe("another VM's ROM");
    expect(pve.conf(100)).toBe(before);
  });

  it("the REST API as root@pam copies only when it runs on the node itself", async () => {
    const api = (node: string) => ({
      kind: "api" as const,
      node,
      canSetRawHostpci: true,
      getConfig: async () => ({ config: { ...VM100 }, digest: "d" }),
      listVms: async () => [],
      updateConfig: async () => undefined,
      createVm: async () => undefined,
    });
    const root = tempDir();
    const here = os.hostname().split(".")[0]!;
    const local = new ProxmoxVmBackend(api(here), "", root);
    const plan = await planVmChange(local, request(rom("nvidia-gop.rom")), host);
    expect(plan.refusals).toEqual([]);
    await local.apply(plan as Parameters<typeof local.apply>[0]);
    expect(fs.existsSync(path.join(root, "usr/share/kvm/nvidia-gop.rom"))).toBe(true);
    const remote = new ProxmoxVmBackend(api(`${here}-other`), "", tempDir());
    const refused = await planVmChange(remote, request(rom("nvidia-gop.rom")), host);
    expect(refused.refusals.join("\n")).toMatch(/the REST API cannot copy a file onto node/);
  });

  it("an API token cannot set romfile: refused with the way that works", async () => {
    const api = {
      kind: "api" as const,
      node: "pve",
      canSetRawHostpci: false,
      getConfig: async () => ({ config: { ...VM100 }, digest: "d" }),
      listVms: async () => [],
      updateConfig: async () => undefined,
      createVm: async () => undefined,
    };
    const plan = await planVmChange(
      new ProxmoxVmBackend(api, "", tempDir()),
      request(rom("nvidia-gop.rom")),
      host,
    );
    expect(plan.refusals.join("\n")).toContain("only root@pam set a hostpci romfile");
  });
});

describe("--romfile: bad files are refused in one line, exit 2, nothing copied", () => {
  const args = (file: string, ...extra: string[]) => [
    "vm",
    "plan",
    "--emit",
    "qemu",
    "--snapshot",
    SNAP,
    "--device",
    "01:00",
    "--romfile",
    file,
    ...extra,
  ];
  const cases: Array<[string, RegExp]> = [
    ["truncated.rom", /truncated\.rom: truncated: the UEFI image at 0x10000 is \d+ bytes long/],
    ["not-a-rom.bin", /not-a-rom\.bin: not a PCI option ROM/],
    ["amd-legacy-only.rom", /made for 1002:731f, not for the card 10de:2206/],
    ["nvidia-nvflash.rom", /bytes of nvflash's header come before the ROM.*dd /],
  ];
  it.each(cases)("%s", async (name, message) => {
    const r = await cli(args(rom(name)));
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(message);
    expect(r.stdout).toBe("");
  });

  it("an oversized file and a missing one", async () => {
    const dir = tempDir();
    const big = path.join(dir, "big.rom");
    fs.writeFileSync(big, Buffer.alloc(16 * 1024 * 1024 + 1));
    const r = await cli(args(big));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^error: --romfile .*big\.rom: larger than 16 MiB/);
    const m = await cli(args(path.join(dir, "none.rom")));
    expect(m.code).toBe(2);
    expect(m.stderr).toMatch(/--romfile .*none\.rom: /);
  });

  it("a ROM without a GPU among --device", async () => {
    const r = await cli([
      "vm",
      "plan",
      "--emit",
      "qemu",
      "--snapshot",
      SNAP,
      "--romfile",
      rom("nvidia-gop.rom"),
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/a ROM file is for a GPU, and --device names none/);
  });
});

describe("--romfile with libvirt and QEMU", () => {
  it("QEMU: romfile= on the GPU function's vfio-pci device only", async () => {
    const r = await cli([
      "vm",
      "plan",
      "--emit",
      "qemu",
      "--snapshot",
      SNAP,
      "--device",
      "01:00",
      "--romfile",
      rom("nvidia-gop.rom"),
    ]);
    expect(r.code).toBe(0);
    const devices = r.stdout.split("\n").filter((l) => l.includes("vfio-pci"));
    expect(devices).toHaveLength(2);
    expect(devices[0]).toContain(`host=0000:01:00.0,`);
    expect(devices[0]).toContain(`,romfile=${rom("nvidia-gop.rom")}`);
    expect(devices[1]).not.toContain("romfile");
  });

  it("libvirt: <rom file=.../> inside the GPU function's hostdev", async () => {
    const r = await cli([
      "vm",
      "plan",
      "--emit",
      "libvirt",
      "--snapshot",
      SNAP,
      "--device",
      "01:00",
      "--domain-xml",
      path.join(REPO, "test/fixtures/libvirt/debian12-spice.xml"),
      "--romfile",
      rom("nvidia-gop.rom"),
    ]);
    expect(r.code).toBe(0);
    const hostdevs = r.stdout
      .split("<hostdev ")
      .slice(1)
      .map((h) => h.split("</hostdev>")[0]!);
    const gpu = hostdevs.find((h) => h.includes('function="0x0"'))!;
    expect(gpu).toContain(`<rom file="${rom("nvidia-gop.rom")}"/>`);
    expect(hostdevs.filter((h) => h.includes("<rom "))).toHaveLength(1);
  });
});
