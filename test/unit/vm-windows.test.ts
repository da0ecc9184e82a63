// `vm plan|configure|create --os windows`: Proxmox's Windows 11 settings (ostype win11, a TPM
// 2.0 state disk beside the EFI disk, the virtio-win ISO as a second CD-ROM; machine and CPU as
// for every passthrough VM, cpu hidden / hv-vendor-id only on request), and the libvirt and QEMU
// equivalents (Hyper-V enlightenments, an emulated TPM 2.0, the ISO).
import * as fs from "node:fs";
import * as path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { parseVmConfig } from "../../src/formats/proxmox-vm-config.js";
import { writtenMatches } from "../../src/vm/proxmox/config-change.js";
import { configText } from "../../src/vm/diff.js";
import { cli } from "../helpers/cli.js";
import { fakePve, type FakeHost } from "../helpers/fake-tools.js";
import { REPO, fixturePath, fixtureState } from "../helpers/fixtures.js";

const SNAP = fixturePath("seed-after");
const VIRTIO = "local:iso/virtio-win-0.1.262.iso";
const DOMAIN_XML = path.join(REPO, "test/fixtures/libvirt/debian12-spice.xml");

let host: (FakeHost & { conf(vmid: number): string | null }) | null = null;
afterEach(() => {
  host?.cleanup();
  host = null;
});

const QM = ["--backend", "qm", "--node", "pve", "--snapshot", SNAP];

/** A fake node whose VM 100 is the snapshot's, changed by `edit`. */
function nodeWithVm100(edit: (c: Record<string, string>) => Record<string, string>) {
  const vm100 = fixtureState("seed-after").vms.find((v) => v.vmid === 100)!.config;
  return fakePve({ 100: configText(edit({ ...vm100 })) });
}

async function planJson(...extra: string[]) {
  const r = await cli(["vm", "plan", "--snapshot", SNAP, "--json", ...extra]);
  return { r, json: JSON.parse(r.stdout) as { change: { set: Record<string, string> } } };
}

describe("--os windows with Proxmox", () => {
  it("configure: ostype win11, TPM 2.0 on the EFI disk's storage, the virtio-win ISO on a free IDE slot; cpu stays host", async () => {
    const { r, json } = await planJson(
      "--vmid",
      "100",
      "--device",
      "01:00",
      "--os",
      "windows",
      "--virtio-iso",
      VIRTIO,
    );
    expect(r.code).toBe(0);
    const set = json.change.set;
    expect(set.ostype).toBe("win11");
    expect(set.tpmstate0).toBe("local-lvm:1,version=v2.0");
    // ide2 holds the installer already: the drivers go on ide0.
    expect(set.ide0).toBe(`${VIRTIO},media=cdrom`);
    expect(set.cpu).toBe("host");
    expect(Object.keys(set)).not.toContain("args");
  });

  it("hidden=1 and hv-vendor-id only when asked for", async () => {
    const { json } = await planJson(
      "--vmid",
      "100",
      "--device",
      "01:00",
      "--os",
      "windows",
      "--hide-hypervisor",
      "--hv-vendor-id",
      "NV43FIX",
    );
    expect(json.change.set.cpu).toBe("host,hidden=1,hv-vendor-id=NV43FIX");
  });

  it("an ISO the VM has already is not added again", async () => {
    const state = fixtureState("seed-after");
    expect(state.vms.find((v) => v.vmid === 100)!.config.tpmstate0).toBeUndefined();
    const { json } = await planJson(
      "--vmid",
      "100",
      "--device",
      "01:00",
      "--os",
      "windows",
      "--virtio-iso",
      "local:iso/ubuntu-22.04.4-desktop-amd64.iso",
    );
    expect(Object.keys(json.change.set).filter((k) => /^(ide|sata)\d$/.test(k))).toEqual([]);
  });

  it("create: one qm create with win11, TPM, both CD-ROMs, q35 + OVMF; a pinned machine version reads back as q35", async () => {
    host = nodeWithVm100(({ hostpci0: _, ...c }) => c);
    const r = await cli(
      [
        "vm",
        "create",
        ...QM,
        "--vmid",
        "130",
        "--name",
        "win11",
        "--disk",
        "local-lvm:80",
        "--iso",
        "local:iso/Win11_24H2.iso",
        "--os",
        "windows",
        "--virtio-iso",
        VIRTIO,
        "--device",
        "01:00",
        "--yes",
      ],
      host.env,
    );
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const conf = parseVmConfig(host.conf(130)!).main;
    expect(conf.ostype).toBe("win11");
    expect(conf.machine).toBe("q35");
    expect(conf.bios).toBe("ovmf");
    expect(conf.tpmstate0).toMatch(/^local-lvm:.*version=v2\.0/);
    expect(conf.ide2).toBe("local:iso/Win11_24H2.iso,media=cdrom");
    expect(conf.ide0).toBe(`${VIRTIO},media=cdrom`);
    expect(writtenMatches("machine", "q35", "pc-q35-9.0+pve0")).toBe(true);
    expect(writtenMatches("machine", "q35", "pc-i440fx-9.0")).toBe(false);
  });

  it("create without --virtio-iso warns that setup will not see the disk", async () => {
    const r = await cli([
      "vm",
      "plan",
      "--snapshot",
      SNAP,
      "--emit",
      "qemu",
      "--os",
      "windows",
      "--device",
      "01:00",
    ]);
    expect(r.code).toBe(0);
    const c = await cli([
      "vm",
      "create",
      "--snapshot",
      SNAP,
      "--emit",
      "qemu",
      "--name",
      "w",
      "--disk",
      "p:64",
      "--os",
      "windows",
      "--device",
      "01:00",
    ]);
    expect(c.stderr).toMatch(
      /Windows setup does not see a VirtIO SCSI disk or NIC without the virtio-win drivers/,
    );
  });
});

describe("--os windows on a VM with a TPM 1.2 state disk", () => {
  it("keeps it and says how to get 2.0", async () => {
    host = nodeWithVm100((c) => ({
      ...c,
      tpmstate0: "local-lvm:vm-100-disk-2,size=4M,version=v1.2",
    }));
    const r = await cli(
      ["vm", "plan", ...QM, "--vmid", "100", "--device", "01:00", "--os", "windows", "--json"],
      host.env,
    );
    expect(r.code).toBe(0);
    const json = JSON.parse(r.stdout) as {
      change: { set: Record<string, string> };
      warnings: string[];
    };
    expect(json.change.set.tpmstate0).toBeUndefined();
    expect(json.warnings.join("\n")).toMatch(
      /has a TPM 1\.2 state disk .*Proxmox cannot change the version in place: remove it \(`qm set 100 --delete tpmstate0`/,
    );
  });
});

describe("--os windows: bad input, exit 2", () => {
  const cases: Array<[string[], RegExp]> = [
    [["--os", "macos"], /^error: --os macos: choose windows or linux$/m],
    [
      ["--virtio-iso", VIRTIO],
      /--virtio-iso .*: the VirtIO drivers ISO is for Windows guests; add --os windows/,
    ],
    [["--os", "windows", "--virtio-iso", "a,b.iso"], /--virtio-iso a,b\.iso: give a volume/],
  ];
  it.each(cases)("%j", async (extra, message) => {
    const r = await cli([
      "vm",
      "plan",
      "--snapshot",
      SNAP,
      "--emit",
      "qemu",
      "--device",
      "01:00",
      ...extra,
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
  });

  it("--ostype that is not Windows 11 with --os windows", async () => {
    const r = await cli([
      "vm",
      "create",
      "--snapshot",
      SNAP,
      "--emit",
      "qemu",
      "--name",
      "w",
      "--disk",
      "p:64",
      "--os",
      "windows",
      "--ostype",
      "l26",
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--ostype "l26" with --os windows/);
  });
});

describe("--os windows with libvirt and QEMU", () => {
  it("libvirt: Hyper-V enlightenments, the Hyper-V clock, a TPM 2.0 (swtpm), the drivers ISO", async () => {
    const iso = "/var/lib/libvirt/images/virtio-win.iso";
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
      DOMAIN_XML,
      "--os",
      "windows",
      "--virtio-iso",
      iso,
    ]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/<hyperv mode="custom">\s*<relaxed state="on"\/>/);
    expect(r.stdout).toContain('<spinlocks state="on" retries="8191"/>');
    expect(r.stdout).toContain('<timer name="hypervclock" present="yes"/>');
    expect(r.stdout).toMatch(
      /<tpm model="tpm-crb">\s*<backend type="emulator" version="2\.0"\/>\s*<\/tpm>/,
    );
    expect(r.stdout).toMatch(
      new RegExp(`<source file="${iso}"/>\\s*<target dev="sd[a-z]" bus="sata"/>\\s*<readonly/>`),
    );
    expect(fs.readFileSync(DOMAIN_XML, "utf8")).not.toContain("<tpm");
  });

  it("QEMU: hv-* flags on -cpu, tpm-crb on swtpm's socket (started before every start), the ISO", async () => {
    const iso = "/srv/iso/virtio-win.iso";
    const r = await cli([
      "vm",
      "create",
      "--emit",
      "qemu",
      "--snapshot",
      SNAP,
      "--device",
      "01:00",
      "--name",
      "w11",
      "--disk",
      "p:64",
      "--os",
      "windows",
      "--virtio-iso",
      iso,
    ]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(
      /-cpu host,hv-relaxed,hv-vapic,hv-spinlocks=0x1fff,hv-time,hv-vpindex,/,
    );
    expect(r.stdout).toContain("-device tpm-crb,tpmdev=tpm0");
    expect(r.stdout).toContain("-chardev socket,id=chrtpm,path=w11_tpm/swtpm-sock");
    const every = r.stdout.split("# before every start:\n")[1]!.split("\n\n")[0]!;
    expect(every.replace(/ \\\n +/g, " ")).toBe(
      "swtpm socket --tpm2 --tpmstate dir=w11_tpm --ctrl type=unixio,path=w11_tpm/swtpm-sock --terminate --daemon",
    );
    expect(r.stdout).toContain(`-drive file=${iso},media=cdrom,readonly=on`);
  });

  it("without --os windows none of it", async () => {
    const r = await cli(["vm", "plan", "--emit", "qemu", "--snapshot", SNAP, "--device", "01:00"]);
    expect(r.stdout).not.toMatch(/hv-relaxed|tpm|swtpm/);
  });
});
