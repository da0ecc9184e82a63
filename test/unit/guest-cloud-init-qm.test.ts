// `guest setup --cloud-init VMID` on a Proxmox node (the qm backend): the fake qm/pvesh of the
// vm tests plus a fake pvesm, on PATH. The snippet lands where `pvesm path` says, root-only;
// `qm set` gets cicustom and the cloud-init drive with the config digest; a rerun only rewrites
// the snippet.

import * as fs from "node:fs";
import * as path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { cli } from "../helpers/cli.js";
import { fakePve, type FakeHost } from "../helpers/fake-tools.js";
import { REPO } from "../helpers/fixtures.js";
import { MARKER_AUTHKEY, TEST_PUBKEY } from "../helpers/guest.js";

const VM100 = `agent: 1
bios: ovmf
boot: order=scsi0;ide2;net0
cores: 8
efidisk0: local-lvm:vm-100-disk-0,efitype=4m,pre-enrolled-keys=1,size=4M
hostpci0: 0000:01:00,pcie=1
ide2: local:iso/ubuntu-22.04.4-desktop-amd64.iso,media=cdrom,size=4926276K
machine: q35
memory: 16384
name: gaming
net0: virtio=BC:24:11:5A:3C:01,bridge=vmbr0,firewall=1
ostype: l26
scsi0: local-lvm:vm-100-disk-1,iothread=1,size=128G
scsihw: virtio-scsi-single
vga: none
`;

let host: (FakeHost & { conf(vmid: number): string | null }) | null = null;
afterEach(() => {
  host?.cleanup();
  host = null;
});

function node(): FakeHost & { conf(vmid: number): string | null } {
  host = fakePve({ 100: VM100 }, "pve");
  const bin = path.join(host.dir, "bin");
  fs.copyFileSync(path.join(REPO, "test/helpers/fake-pvesm.cjs"), path.join(bin, "pvesm"));
  fs.chmodSync(path.join(bin, "pvesm"), 0o755);
  return host;
}

describe("guest setup --cloud-init on the node (qm)", () => {
  it("stores the snippet, attaches it with a new cloud-init drive, and a rerun changes only the snippet", async () => {
    const h = node();
    const pub = path.join(h.dir, "me.pub");
    fs.writeFileSync(pub, `${TEST_PUBKEY}\n`);
    const args = [
      "guest",
      "setup",
      "--distro",
      "ubuntu:22.04",
      "--ssh-key",
      pub,
      "--gpu-driver",
      "--gpu-vendor",
      "nvidia",
      "--cloud-init",
      "100",
      "--cloud-init-drive",
      "local-lvm",
      "--backend",
      "qm",
      "--node",
      "pve",
    ];
    const r = await cli(args, h.env);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const snippet = path.join(h.dir, "storage/local/snippets/passthrough-guest-100.yaml");
    expect(r.stdout).toContain(
      `  snippet  local:snippets/passthrough-guest-100.yaml  (${snippet})`,
    );
    expect(fs.statSync(snippet).mode & 0o777).toBe(0o600);
    const doc = parse(fs.readFileSync(snippet, "utf8")) as { runcmd: string[][] };
    expect(doc.runcmd).toEqual([["bash", "/var/lib/passthrough/guest-setup.sh"]]);
    expect(h.conf(100)).toContain("cicustom: user=local:snippets/passthrough-guest-100.yaml\n");
    expect(h.conf(100)).toContain("ide0: local-lvm:cloudinit\n");
    const sets = h.calls().filter((c) => c[0] === "qm" && c[1] === "set");
    expect(sets).toHaveLength(1);
    expect(sets[0]).toEqual(
      expect.arrayContaining([
        "--cicustom",
        "user=local:snippets/passthrough-guest-100.yaml",
        "--ide0",
        "local-lvm:cloudinit",
        "--digest",
      ]),
    );

    const again = await cli(args, h.env);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain("only the snippet was rewritten");
    expect(h.calls().filter((c) => c[0] === "qm" && c[1] === "set")).toHaveLength(1);
  });

  it("refuses a storage without snippets before changing the VM", async () => {
    const h = node();
    const r = await cli(
      [
        "guest",
        "setup",
        "--distro",
        "debian:12",
        "--ssh",
        "--cloud-init",
        "100",
        "--cloud-init-drive",
        "local-lvm",
        "--snippet-storage",
        "local-lvm",
        "--backend",
        "qm",
        "--node",
        "pve",
      ],
      h.env,
    );
    expect(r.code).toBe(3);
    expect(r.stderr).toContain(
      "storage local-lvm does not take snippets (these do: local; pass --snippet-storage NAME)",
    );
    expect(h.conf(100)).toBe(VM100);
  });

  it("embeds a key only in the root-only snippet, and says where it is", async () => {
    const h = node();
    const key = path.join(h.dir, "ts.key");
    fs.writeFileSync(key, MARKER_AUTHKEY);
    const r = await cli(
      [
        "guest",
        "setup",
        "--distro",
        "debian:12",
        "--tailscale",
        "--embed-secrets",
        "--tailscale-authkey-file",
        key,
        "--cloud-init",
        "100",
        "--cloud-init-drive",
        "local-lvm",
        "--backend",
        "qm",
        "--node",
        "pve",
      ],
      h.env,
    );
    expect(r.code).toBe(0);
    expect(r.stdout + r.stderr).not.toContain(MARKER_AUTHKEY);
    expect(r.stderr).toContain("holds the auth key: delete it once the VM has joined the tailnet");
    expect(
      fs.readFileSync(
        path.join(h.dir, "storage/local/snippets/passthrough-guest-100.yaml"),
        "utf8",
      ),
    ).toContain(MARKER_AUTHKEY);
  });
});
