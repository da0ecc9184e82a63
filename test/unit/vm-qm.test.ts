// The local Proxmox backend against a fake `qm`/`pvesh` on PATH that keeps real config files
// in a temporary folder: the exact argv, the written config parsed back, digest protection,
// and `vm configure|create` end to end through the CLI.
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import { PassThrough } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { runCli } from "../../src/cli/program.js";
import { ApplyError } from "../../src/errors.js";
import { parseVmConfig } from "../../src/formats/proxmox-vm-config.js";
import { ProcessRunner } from "../../src/process/run.js";
import { QmBackend, qmSetArgv, splitDigest } from "../../src/vm/proxmox/qm-backend.js";
import { cli } from "../helpers/cli.js";
import { fixturePath, fixtureState, REPO } from "../helpers/fixtures.js";
import { fakePve, RecordingRunner, type FakeHost } from "../helpers/fake-tools.js";
import { GUI_VM_101 } from "../helpers/vm-configs.js";

const VM100 = (() => {
  const c = fixtureState("seed-after").vms.find((v) => v.vmid === 100)!.config;
  return Object.keys(c)
    .sort()
    .map((k) => `${k}: ${c[k]}\n`)
    .join("");
})();
const SNAP = fixturePath("seed-after");

let host: (FakeHost & { conf(vmid: number): string | null }) | null = null;
afterEach(() => {
  host?.cleanup();
  host = null;
});

describe("QmBackend", () => {
  it("reads a config with its digest through pvesh and writes it with qm set --digest", async () => {
    host = fakePve({ 100: VM100 });
    const runner = new RecordingRunner(new ProcessRunner(host.env));
    const qm = new QmBackend(runner, "pve");
    const got = await qm.getConfig(100);
    expect(got!.digest).toBe(crypto.createHash("sha1").update(VM100).digest("hex"));
    expect(got!.config.cores).toBe("8"); // a JSON number in the API, text in the model
    expect(await qm.getConfig(555)).toBeNull();
    await qm.updateConfig(
      100,
      { set: { cpu: "host", balloon: "0" }, delete: ["usb1"] },
      got!.digest,
    );
    expect(runner.calls).toEqual([
      ["pvesh", "get", "/nodes/pve/qemu/100/config", "--output-format", "json"],
      ["pvesh", "get", "/nodes/pve/qemu/555/config", "--output-format", "json"],
      [
        "qm",
        "set",
        "100",
        "--balloon",
        "0",
        "--cpu",
        "host",
        "--delete",
        "usb1",
        "--digest",
        got!.digest!,
      ],
    ]);
    const after = parseVmConfig(host.conf(100)!).main;
    expect(after.cpu).toBe("host");
    expect(after.balloon).toBe("0");
    expect(after.usb1).toBeUndefined();
    expect(after.hostpci0).toBe("0000:01:00,pcie=1");
  });

  it("fails with ApplyError on a concurrent edit (stale digest) and leaves the config alone", async () => {
    host = fakePve({ 100: VM100 });
    const qm = new QmBackend(new ProcessRunner(host.env), "pve");
    await expect(
      qm.updateConfig(100, { set: { cpu: "host" }, delete: [] }, "0".repeat(40)),
    ).rejects.toThrow(ApplyError);
    await expect(
      qm.updateConfig(100, { set: { cpu: "host" }, delete: [] }, "0".repeat(40)),
    ).rejects.toThrow(/checksum mismatch \(file change by other user\?\).*VM 100 is unchanged/);
    expect(host.conf(100)).toBe(VM100);
  });

  it("lists every VM of the cluster with its config", async () => {
    host = fakePve({ 100: VM100, 101: GUI_VM_101 });
    const vms = await new QmBackend(new ProcessRunner(host.env), "pve").listVms();
    expect(vms.map((v) => [v.vmid, v.node, v.config.name])).toEqual([
      [100, "pve", "gaming"],
      [101, "pve", "media"],
    ]);
  });

  it("builds qm set argv with sorted keys, --delete list and digest", () => {
    expect(
      qmSetArgv(
        100,
        { set: { vga: "none", bios: "ovmf" }, delete: ["hostpci3", "hostpci2"] },
        null,
      ),
    ).toEqual([
      "qm",
      "set",
      "100",
      "--bios",
      "ovmf",
      "--vga",
      "none",
      "--delete",
      "hostpci3,hostpci2",
    ]);
    expect(splitDigest({ digest: "ab", onboot: 0, name: "x", agent: true })).toEqual({
      digest: "ab",
      config: { onboot: "0", name: "x", agent: "1" },
    });
  });
});

describe("passthrough vm configure --backend qm", () => {
  const args = (...extra: string[]) => [
    "vm",
    "configure",
    "--backend",
    "qm",
    "--node",
    "pve",
    "--snapshot",
    SNAP,
    ...extra,
  ];

  it("shows the diff, applies it with one qm set, reads it back, and a second run changes nothing", async () => {
    host = fakePve({ 100: VM100 });
    const r = await cli(
      args("--vmid", "100", "--device", "01:00", "--usb", "046d:c31c", "--yes"),
      host.env,
    );
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("-cpu: x86-64-v2-AES\n+cpu: host\n");
    expect(r.stdout).toContain("+balloon: 0\n");
    expect(r.stdout).toMatch(
      /Updated VM 100 "gaming": 2 keys set, 0 removed \(read back and checked\)/,
    );
    const sets = host.calls().filter((c) => c[1] === "set");
    expect(sets).toHaveLength(1);
    expect(sets[0]!.slice(0, 7)).toEqual(["qm", "set", "100", "--balloon", "0", "--cpu", "host"]);
    expect(sets[0]![7]).toBe("--digest");

    const again = await cli(
      args("--vmid", "100", "--device", "01:00", "--usb", "046d:c31c", "--yes"),
      host.env,
    );
    expect(again.code).toBe(0);
    expect(again.stdout).toContain("is already configured for passthrough: nothing to change.");
    expect(host.calls().filter((c) => c[1] === "set")).toHaveLength(1);
  });

  it("configures a fresh q35 VM: written lines parse back to the planned config", async () => {
    host = fakePve({
      100: VM100,
      102: GUI_VM_101.replace("name: media", "name: fresh") + "machine: q35\n",
    });
    // VM 100 has the card: moving it needs the other VM freed first.
    const refused = await cli(args("--vmid", "102", "--device", "01:00", "--yes"), host.env);
    expect(refused.code).toBe(3);
    expect(refused.stderr).toMatch(
      /refusing to configure VM 102 \(nothing was changed\):\n {2}- 0000:01:00\.0, 0000:01:00\.1 already belong to VM 100 "gaming" on pve/,
    );
    expect(host.calls().some((c) => c[1] === "set")).toBe(false);

    // Free the card in VM 100 (what the refusal's `qm set 100 --delete hostpci0` does), then give it to 102.
    fs.writeFileSync(
      `${host.dir}/nodes/pve/qemu-server/100.conf`,
      host.conf(100)!.replace(/^hostpci0: .*\n/m, ""),
    );
    const snapWithout = await cli(
      args("--vmid", "102", "--device", "01:00", "--usb", "046d:c092", "--yes", "--json"),
      host.env,
    );
    // The snapshot still has VM 100 with the card in /etc/pve; the live listing wins over it.
    expect(snapWithout.stderr).toBe("");
    expect(snapWithout.code).toBe(0);
    const out = JSON.parse(snapWithout.stdout);
    expect(out.applied).toBe(true);
    const written = parseVmConfig(host.conf(102)!).main;
    for (const [k, v] of Object.entries(out.change.set as Record<string, string>)) {
      if (k === "efidisk0")
        expect(written.efidisk0).toMatch(/^local-lvm:vm-102-disk-1,efitype=4m,size=4M$/);
      else expect(written[k]).toBe(v);
    }
    expect(written).toMatchObject({
      hostpci0: "0000:01:00,pcie=1",
      vga: "none",
      cpu: "host",
      bios: "ovmf",
      balloon: "0",
      usb0: "host=046d:c092",
      machine: "q35",
    });
    expect(written.scsi0).toBe("local-lvm:vm-101-disk-0,iothread=1,size=32G");
  });

  it("needs --yes without a terminal, and --dry-run changes nothing", async () => {
    host = fakePve({ 100: VM100 });
    const r = await cli(args("--vmid", "100", "--device", "01:00"), host.env);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      /^error: not changing the VM without confirmation: there is no terminal to ask on; pass --yes/m,
    );
    const d = await cli(args("--vmid", "100", "--device", "01:00", "--dry-run"), host.env);
    expect(d.code).toBe(0);
    expect(d.stdout).toContain("--dry-run: nothing was changed.");
    expect(host.conf(100)).toBe(VM100);
  });

  it("asks on a terminal: 'n' changes nothing, 'y' applies", async () => {
    host = fakePve({ 100: VM100 });
    const run = async (answer: string) => {
      const stdin = Object.assign(new PassThrough(), { isTTY: true });
      let out = "";
      const io = {
        stdout: { write: (s: string) => (out += s), isTTY: true },
        stderr: { write: () => true, isTTY: true },
        stdin,
        env: { ...host!.env, NO_COLOR: "1" },
      };
      const done = runCli(args("--vmid", "100", "--device", "01:00"), io);
      setTimeout(() => stdin.write(answer), 50);
      return { code: await done, out };
    };
    const no = await run("n\n");
    expect(no.code).toBe(0);
    expect(no.out).toContain('Apply these changes to VM 100 "gaming"? [y/N] Nothing was changed.');
    expect(host.conf(100)).toBe(VM100);
    const yes = await run("y\n");
    expect(yes.code).toBe(0);
    expect(yes.out).toMatch(/Updated VM 100/);
    expect(parseVmConfig(host.conf(100)!).main.cpu).toBe("host");
  });

  it("exit 4 when the config read back is not what was written", async () => {
    host = fakePve({ 100: VM100 });
    const r = await cli(args("--vmid", "100", "--device", "01:00", "--yes"), {
      ...host.env,
      FAKE_PVE_IGNORE: "cpu",
    });
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(
      /^error: qm set reported success, but reading VM 100 back shows cpu: expected host, found x86-64-v2-AES; check it with `qm config 100` on pve/,
    );
  });

  it("says which node has a VM that is not local", async () => {
    host = fakePve({ 100: VM100 });
    fs.mkdirSync(`${host.dir}/nodes/pve2/qemu-server`, { recursive: true });
    fs.writeFileSync(`${host.dir}/nodes/pve2/qemu-server/205.conf`, GUI_VM_101);
    const r = await cli(args("--vmid", "205", "--device", "01:00", "--yes"), host.env);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/VM 205 is on node pve2, not pve/);
  });
});

describe("passthrough vm create --backend qm", () => {
  it("creates the VM with one qm create and the passthrough defaults", async () => {
    // VM 100 (in the snapshot's /etc/pve with the card) has given it up on the live node.
    host = fakePve({ 100: VM100.replace(/^hostpci0: .*\n/m, "") });
    const r = await cli(
      [
        "vm",
        "create",
        "--backend",
        "qm",
        "--node",
        "pve",
        "--snapshot",
        SNAP,
        "--vmid",
        "120",
        "--name",
        "gpu",
        "--memory",
        "16384",
        "--cores",
        "8",
        "--disk",
        "local-lvm:64",
        "--iso",
        "local:iso/debian-12.iso",
        "--device",
        "01:00",
        "--yes",
      ],
      host.env,
    );
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const create = host.calls().find((c) => c[1] === "create")!;
    expect(create.slice(0, 3)).toEqual(["qm", "create", "120"]);
    const written = parseVmConfig(host.conf(120)!).main;
    expect(written).toMatchObject({
      name: "gpu",
      memory: "16384",
      cores: "8",
      sockets: "1",
      machine: "q35",
      bios: "ovmf",
      cpu: "host",
      balloon: "0",
      onboot: "0",
      vga: "none",
      hostpci0: "0000:01:00,pcie=1",
      scsihw: "virtio-scsi-single",
      ide2: "local:iso/debian-12.iso,media=cdrom",
      boot: "order=scsi0;ide2;net0",
      ostype: "l26",
      agent: "1",
    });
    expect(written.efidisk0).toMatch(/^local-lvm:vm-120-disk-\d,efitype=4m,size=4M$/);
    expect(written.scsi0).toMatch(/^local-lvm:vm-120-disk-\d,iothread=1,size=64G$/);
    expect(written.net0).toMatch(/^virtio=BC:24:11:00:00:01,bridge=vmbr0$/);
  });

  it("refuses an id that exists", async () => {
    host = fakePve({ 130: GUI_VM_101 });
    const r = await cli(
      [
        "vm",
        "create",
        "--backend",
        "qm",
        "--node",
        "pve",
        "--snapshot",
        SNAP,
        "--vmid",
        "130",
        "--name",
        "x",
        "--disk",
        "local-lvm:8",
        "--yes",
      ],
      host.env,
    );
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/VM 130 exists already/);
  });
});

describe("passthrough vm plan|configure --hookscript (Proxmox)", () => {
  const args = (cmd: string, ...extra: string[]) => [
    ...`vm ${cmd} --backend qm --node pve --vmid 100 --device 01:00 --hookscript`.split(" "),
    ...["--snapshot", SNAP, ...extra],
  ];
  const setup = () => {
    host = fakePve({ 100: VM100 });
    const bin = `${host.dir}/bin`;
    fs.copyFileSync(`${REPO}/test/helpers/fake-pvesm.cjs`, `${bin}/pvesm`);
    fs.chmodSync(`${bin}/pvesm`, 0o755);
    fs.mkdirSync(`${host.dir}/storage/local/snippets`, { recursive: true });
    return host;
  };

  it("vm plan shows the hookscript line and the snippet in the diff; configure writes the snippet 0700 before qm set", async () => {
    const h = setup();
    const plan = await cli(args("plan"), h.env);
    expect(plan.code).toBe(0);
    expect(plan.stdout).toContain(
      "# write snippet local:snippets/passthrough-0000-01-00.sh (0700): mode vm at pre-start, mode host at post-stop",
    );
    expect(plan.stdout).toContain("+hookscript: local:snippets/passthrough-0000-01-00.sh\n");
    expect(plan.stdout).toContain("--hookscript");
    expect(fs.existsSync(`${h.dir}/storage/local/snippets/passthrough-0000-01-00.sh`)).toBe(false);

    const r = await cli(args("configure", "--yes"), h.env);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const file = `${h.dir}/storage/local/snippets/passthrough-0000-01-00.sh`;
    expect(fs.statSync(file).mode & 0o777).toBe(0o700);
    expect(fs.readFileSync(file, "utf8")).toContain(
      "/usr/bin/passthrough mode vm --device 0000:01:00.0 --yes",
    );
    expect(parseVmConfig(h.conf(100)!).main.hookscript).toBe(
      "local:snippets/passthrough-0000-01-00.sh",
    );
  });
});
