// `guest setup --cloud-init VMID`: the cicustom/drive plan, the attach through a
// ProxmoxBackend (fake here: records calls, enforces the digest), and the qm backend's local
// snippet writer (pvesm answered by a fake runner, files in a temporary folder).

import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import {
  attachCloudInit,
  cloudInitDrive,
  planCloudInitAttach,
} from "../../src/guest/cloud-init-attach.js";
import { InputError, RefusedError } from "../../src/errors.js";
import { RecordingRunner } from "../../src/process/recording-runner.js";
import { parsePvesmStatus, writeLocalSnippet } from "../../src/vm/snippets.js";
import type { ProxmoxBackend, VmConfig, VmConfigChange } from "../../src/vm/types.js";

/** The write-up's VM 100 (ide2 holds the installer ISO). */
const VM100: VmConfig = {
  bios: "ovmf",
  machine: "q35",
  hostpci0: "0000:01:00,pcie=1",
  ide2: "local:iso/ubuntu-22.04.4-desktop-amd64.iso,media=cdrom,size=4926276K",
  scsi0: "local-lvm:vm-100-disk-1,iothread=1,size=128G",
  vga: "none",
};

const OPTS = { vmid: 100, snippetStorage: "local", driveStorage: null };

describe("planCloudInitAttach", () => {
  it("points cicustom user= at the snippet and keeps the other parts", () => {
    const withDrive = {
      ...VM100,
      ide0: "local-lvm:vm-100-cloudinit,media=cdrom",
      cicustom: "vendor=local:snippets/v.yaml,network=local:snippets/net.yaml",
    };
    const p = planCloudInitAttach(withDrive, OPTS);
    expect(p.volume).toBe("local:snippets/passthrough-guest-100.yaml");
    expect(p.change).toEqual({
      set: {
        cicustom:
          "network=local:snippets/net.yaml,user=local:snippets/passthrough-guest-100.yaml,vendor=local:snippets/v.yaml",
      },
      delete: [],
    });
    expect(p.summary).toEqual([
      "cicustom: user=local:snippets/passthrough-guest-100.yaml (meta/network/vendor kept)",
      "cloud-init drive: ide0 (local-lvm:vm-100-cloudinit,media=cdrom)",
    ]);
  });

  it("changes nothing when it is already attached", () => {
    const done = {
      ...VM100,
      ide0: "local:100/vm-100-cloudinit.qcow2,media=cdrom",
      cicustom: "user=local:snippets/passthrough-guest-100.yaml",
    };
    expect(planCloudInitAttach(done, OPTS).change).toEqual({ set: {}, delete: [] });
  });

  it("adds a cloud-init drive on a free slot (ide2 holds the ISO here) only when asked", () => {
    expect(() => planCloudInitAttach(VM100, OPTS)).toThrow(InputError);
    expect(() => planCloudInitAttach(VM100, OPTS)).toThrow(
      "VM 100 has no cloud-init drive, so cloud-init in the guest would never see the snippet; add --cloud-init-drive STORAGE",
    );
    const p = planCloudInitAttach(VM100, { ...OPTS, driveStorage: "local-lvm" });
    expect(p.change.set).toEqual({
      cicustom: "user=local:snippets/passthrough-guest-100.yaml",
      ide0: "local-lvm:cloudinit",
    });
    const noIso: VmConfig = { ...VM100 };
    delete noIso.ide2;
    expect(planCloudInitAttach(noIso, { ...OPTS, driveStorage: "local-lvm" }).change.set.ide2).toBe(
      "local-lvm:cloudinit",
    );
  });

  it("refuses when every IDE and SATA slot is taken", () => {
    const full: VmConfig = { ...VM100 };
    for (const s of ["ide0", "ide1", "ide3", "sata0", "sata1", "sata2", "sata3", "sata4", "sata5"])
      full[s] = "none,media=cdrom";
    expect(() => planCloudInitAttach(full, { ...OPTS, driveStorage: "local-lvm" })).toThrow(
      RefusedError,
    );
  });

  it("recognises cloud-init drives in their allocated and to-be-allocated forms", () => {
    expect(cloudInitDrive({ ide2: "local-lvm:vm-100-cloudinit,media=cdrom" })).toBe("ide2");
    expect(cloudInitDrive({ sata1: "local:100/vm-100-cloudinit.qcow2,media=cdrom" })).toBe("sata1");
    expect(cloudInitDrive({ scsi1: "local-lvm:cloudinit" })).toBe("scsi1");
    expect(cloudInitDrive({ ide2: "local:iso/cloudinit-notes.iso,media=cdrom" })).toBeNull();
    expect(cloudInitDrive({ description: "local-lvm:cloudinit" })).toBeNull();
  });
});

class FakeBackend implements ProxmoxBackend {
  readonly node = "pve";
  readonly canSetRawHostpci = true;
  calls: string[] = [];
  snippets = new Map<string, string>();
  digest = "d1";
  constructor(
    readonly kind: "qm" | "api",
    public config: VmConfig,
    snippets: boolean,
  ) {
    if (!snippets) this.writeSnippet = undefined;
  }
  async getConfig(vmid: number) {
    this.calls.push(`get ${vmid}`);
    return vmid === 100 ? { config: { ...this.config }, digest: this.digest } : null;
  }
  async listVms() {
    return [];
  }
  async updateConfig(vmid: number, change: VmConfigChange, digest: string | null) {
    this.calls.push(`update ${vmid} ${JSON.stringify(change.set)} digest=${digest}`);
    if (digest !== this.digest) throw new Error("config changed meanwhile");
    Object.assign(this.config, change.set);
    this.digest = "d2";
  }
  async createVm() {
    throw new Error("not used");
  }
  writeSnippet? = async (storage: string, filename: string, content: string) => {
    this.calls.push(`snippet ${storage} ${filename}`);
    this.snippets.set(`${storage}:snippets/${filename}`, content);
    return `/var/lib/vz/snippets/${filename}`;
  };
}

describe("attachCloudInit", () => {
  it("writes the snippet first, then changes the config with its digest; a rerun only rewrites the snippet", async () => {
    const b = new FakeBackend("qm", { ...VM100 }, true);
    const r = await attachCloudInit(b, "#cloud-config\n", { ...OPTS, driveStorage: "local-lvm" });
    expect(b.calls).toEqual([
      "get 100",
      "snippet local passthrough-guest-100.yaml",
      'update 100 {"cicustom":"user=local:snippets/passthrough-guest-100.yaml","ide0":"local-lvm:cloudinit"} digest=d1',
    ]);
    expect(r).toMatchObject({
      node: "pve",
      snippetLocation: "/var/lib/vz/snippets/passthrough-guest-100.yaml",
      configChanged: true,
    });
    expect(b.snippets.get("local:snippets/passthrough-guest-100.yaml")).toBe("#cloud-config\n");

    b.calls = [];
    const again = await attachCloudInit(b, "#cloud-config\n# v2\n", {
      ...OPTS,
      driveStorage: "local-lvm",
    });
    expect(again.configChanged).toBe(false);
    expect(b.calls).toEqual(["get 100", "snippet local passthrough-guest-100.yaml"]);
  });

  it("says why the API backend cannot, before touching anything", async () => {
    const b = new FakeBackend("api", { ...VM100, ide0: "local-lvm:vm-100-cloudinit" }, false);
    await expect(attachCloudInit(b, "x", OPTS)).rejects.toThrow(
      "the api backend cannot store snippets (Proxmox's upload API takes only iso, vztmpl and import)",
    );
    expect(b.calls).toEqual(["get 100"]);
  });

  it("names a missing VM", async () => {
    const b = new FakeBackend("qm", VM100, true);
    await expect(attachCloudInit(b, "x", { ...OPTS, vmid: 123 })).rejects.toThrow(
      "VM 123 does not exist on node pve",
    );
  });
});

describe("writeLocalSnippet (qm backend, on the node)", () => {
  const STATUS =
    "Name             Type     Status           Total            Used       Available        %\nlocal             dir     active        98497780        12345678        81089624   12.53%\n";

  function runner(dir: string, status = STATUS) {
    return new RecordingRunner((argv) => {
      if (argv[1] === "status") return { stdout: status };
      if (argv[1] === "path")
        return { stdout: `${path.join(dir, "snippets", argv[2]!.split("/")[1]!)}\n` };
      return { exitCode: 1, stderr: "unexpected" };
    });
  }

  it("asks pvesm where the volume lives and writes it there, root-only", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "passthrough-snippets-"));
    try {
      const r = runner(dir);
      const file = await writeLocalSnippet(
        r,
        "local",
        "passthrough-guest-100.yaml",
        "#cloud-config\n",
      );
      expect(r.calls).toEqual([
        ["pvesm", "status", "--content", "snippets"],
        ["pvesm", "path", "local:snippets/passthrough-guest-100.yaml"],
      ]);
      expect(file).toBe(path.join(dir, "snippets/passthrough-guest-100.yaml"));
      expect(fs.readFileSync(file, "utf8")).toBe("#cloud-config\n");
      expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("refuses a storage that does not take snippets, naming the ones that do", async () => {
    const r = runner("/nonexistent");
    await expect(writeLocalSnippet(r, "local-lvm", "x.yaml", "x")).rejects.toThrow(
      "storage local-lvm does not take snippets (these do: local; pass --snippet-storage NAME)",
    );
    expect(r.calls).toHaveLength(1);
  });

  it("parses pvesm status", () => {
    expect(parsePvesmStatus(STATUS)).toEqual(["local"]);
    expect(parsePvesmStatus("Name Type Status Total Used Available %\n")).toEqual([]);
  });
});
