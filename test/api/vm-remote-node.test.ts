// `vm plan|configure|create --api` from a machine that is not the node: the node's devices come
// from its REST API (never this machine's sysfs), and a token that may not write raw hostpciN
// gets a cluster PCI mapping created in the same run.

import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { cli } from "../helpers/cli.js";
import { haveOpenssl, testCerts } from "../sim/certs.js";
import { pve2Pci, SECRETS, TOKENS, tokenString } from "../sim/cluster-fixtures.js";
import { PveSchema } from "../sim/pve-schema.js";
import { PveSimulator, type SimCluster } from "../sim/pve-simulator.js";

const openssl = haveOpenssl();

/** One node "pve" with an RTX 3090 (10de:2204) at 01:00, and VM 100 as `qm create` leaves it (i440fx, SeaBIOS). */
function oneNode(): SimCluster {
  return {
    nodes: [{ name: "pve", pci: pve2Pci() }],
    tokens: Object.values(TOKENS),
    vms: [
      {
        vmid: 100,
        node: "pve",
        config: {
          name: "gaming",
          memory: "16384",
          cores: "8",
          ostype: "win11",
          scsi0: "local-lvm:vm-100-disk-0,size=64G",
          net0: "virtio=BC:24:11:00:01:00,bridge=vmbr0",
        },
      },
    ],
    mappings: [],
  };
}

describe.skipIf(!openssl)("vm configure --api from elsewhere", () => {
  const schema = openssl ? PveSchema.load() : null!;
  const certs = openssl ? testCerts() : null!;
  let sim: PveSimulator;
  let conn: string[];
  const env = { PASSTHROUGH_PVE_TOKEN: tokenString("admin"), PASSTHROUGH_PVE_TASK_POLL_MS: "10" };
  const vm = (sub: string, args: string[], e: NodeJS.ProcessEnv = env) =>
    cli(["vm", sub, ...conn, "--node", "pve", "--vmid", "100", ...args], e);

  beforeEach(async () => {
    sim = await PveSimulator.start(oneNode(), { cert: certs.selfSigned, schema });
    conn = ["--api", sim.url, "--fingerprint", certs.selfSigned.fingerprint];
  });
  afterEach(async () => {
    expect(sim.violations).toEqual([]);
    await sim.stop();
  });

  it("a non-root token: creates the mapping, writes hostpci0: mapping=...,pcie=1 with q35/OVMF/efidisk/vga none, reads it back (exit 0)", async () => {
    const r = await vm("configure", ["--device", "0000:01:00", "--convert-q35", "--yes"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/^note: node pve's devices and IOMMU groups come from its REST API/);
    expect(r.stdout).toContain(
      "+# cluster PCI mapping gpu-10de-2204 (/cluster/mapping/pci): created: node=pve,path=0000:01:00,id=10de:2204,iommugroup=12,subsystem-id=1462:3880",
    );
    expect(sim.mappings()).toEqual([
      expect.objectContaining({
        id: "gpu-10de-2204",
        props: expect.objectContaining({
          map: ["node=pve,path=0000:01:00,id=10de:2204,iommugroup=12,subsystem-id=1462:3880"],
        }),
      }),
    ]);
    const written = sim.vmConfig(100)!.main;
    expect(written).toMatchObject({
      hostpci0: "mapping=gpu-10de-2204,pcie=1",
      machine: "q35",
      bios: "ovmf",
      vga: "none",
    });
    expect(written.efidisk0).toMatch(/^local-lvm:vm-100-disk-\d+,efitype=4m/);
    const config = sim.requests.filter((q) => q.method === "POST" && q.path.endsWith("/config"));
    expect(config).toHaveLength(1);
    expect(config[0]!.params.digest).toMatch(/^[0-9a-f]{40}$/);
    expect(sim.requests.some((q) => q.path.includes("/tasks/"))).toBe(true);
    expect(r.stdout).toMatch(/Updated VM 100 "gaming": .*read back and checked/);
    for (const s of Object.values(SECRETS)) expect(r.stdout + r.stderr).not.toContain(s);

    const again = await vm("plan", ["--device", "0000:01:00", "--convert-q35"]);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain("already configured for passthrough: nothing to change");
  });

  it("--mapping NAME names it; a mapping naming exactly the device is reused, not duplicated", async () => {
    const first = await vm("configure", [
      "--device",
      "01:00",
      "--convert-q35",
      "--mapping",
      "rtx3090",
      "--yes",
    ]);
    expect(first.code, first.stderr).toBe(0);
    expect(sim.vmConfig(100)!.main.hostpci0).toBe("mapping=rtx3090,pcie=1");
    const plan = await vm("plan", ["--device", "01:00", "--convert-q35"]);
    expect(plan.stdout).not.toContain("cluster PCI mapping");
    expect(sim.mappings().map((m) => m.id)).toEqual(["rtx3090"]);
  });

  it("never reads this machine's sysfs: a device the node lacks is refused by the node's name", async () => {
    const r = await vm("plan", ["--device", "0000:07:00"]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(
      /0000:07:00: no such PCI device on pve; .*\(read from node pve \(REST API\)\)/,
    );
  });

  it("names the privilege when the token may not create mappings, and writes no config", async () => {
    const r = await vm("configure", ["--device", "01:00", "--convert-q35", "--yes"], {
      ...env,
      PASSTHROUGH_PVE_TOKEN: tokenString("ops"),
    });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/lacks .*Mapping\.Modify/);
    expect(sim.vmConfig(100)!.main.hostpci0).toBeUndefined();
  });

  it("--dry-run that would refuse prints the whole diff, then the refusals, exit 3, nothing written", async () => {
    // Without --convert-q35 an i440fx VM is refused; the diff still shows everything else.
    const r = await vm("configure", ["--device", "01:00", "--dry-run"]);
    expect(r.code).toBe(3);
    expect(r.stdout).toMatch(/\+hostpci0: mapping=gpu-10de-2204,pcie=1/);
    expect(r.stdout).toMatch(/\+bios: ovmf/);
    expect(r.stderr).toMatch(
      /error: refusing to configure VM 100 \(nothing was changed\):\n {2}- .*q35/,
    );
    expect(sim.vmConfig(100)!.main.hostpci0).toBeUndefined();
    expect(sim.mappings()).toEqual([]);
  });

  it("a function of a multi-function device whose functions share the group selects the slot, in one note line", async () => {
    const r = await vm("plan", ["--device", "0000:01:00.0", "--convert-q35"]);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(
      /\nnote: 0000:01:00\.0: 0000:01:00 has 2 functions in IOMMU group 12, .*whole slot 0000:01:00 is selected/,
    );
    expect(r.stdout).toMatch(/\+hostpci0: mapping=gpu-10de-2204,pcie=1/);
  });

  it("a config write whose answer is lost exits 4 and says how to check; it is not sent twice", async () => {
    sim.httpFailures.push({ method: "POST", path: /\/qemu\/100\/config$/, resetAfter: true });
    const r = await vm("configure", ["--device", "01:00", "--convert-q35", "--yes"]);
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(
      /\nerror: POST .*\/nodes\/pve\/qemu\/100\/config: connection reset after the request was sent — the change may have been made\. Check with `qm config 100` on pve/,
    );
    const posts = sim.requests.filter((q) => q.method === "POST" && q.path.endsWith("/config"));
    expect(posts).toHaveLength(1);
  });
});
