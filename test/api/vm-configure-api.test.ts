// `vm plan|configure|create --api` end to end: the CLI in-process, the REST API client over
// HTTPS, the Proxmox simulator as a three-node cluster. The host model is the seed snapshot
// (an RTX 3080, 10de:2206, at 01:00), which matches pve3's hardware and not pve1's.

import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { cli } from "../helpers/cli.js";
import { fixturePath } from "../helpers/fixtures.js";
import { haveOpenssl, testCerts } from "../sim/certs.js";
import { SECRETS, threeNodeCluster, tokenString } from "../sim/cluster-fixtures.js";
import { PveSchema } from "../sim/pve-schema.js";
import { PveSimulator } from "../sim/pve-simulator.js";

const openssl = haveOpenssl();
const SNAP = fixturePath("seed-after");

describe.skipIf(!openssl)("vm configure/create through the REST API", () => {
  const schema = openssl ? PveSchema.load() : null!;
  const certs = openssl ? testCerts() : null!;
  let sim: PveSimulator;
  let conn: string[];
  const env = { PASSTHROUGH_PVE_TOKEN: tokenString("admin"), PASSTHROUGH_PVE_TASK_POLL_MS: "10" };
  const vm = (sub: string, args: string[]) =>
    cli(["vm", sub, ...conn, "--snapshot", SNAP, ...args], env);
  const noSecrets = (r: { stdout: string; stderr: string }) => {
    for (const s of Object.values(SECRETS)) expect(r.stdout + r.stderr).not.toContain(s);
  };

  beforeEach(async () => {
    sim = await PveSimulator.start(threeNodeCluster(), { cert: certs.selfSigned, schema });
    conn = ["--api", sim.url, "--fingerprint", certs.selfSigned.fingerprint];
  });
  afterEach(async () => {
    expect(sim.violations).toEqual([]);
    await sim.stop();
  });

  it("refuses a node whose hardware is not the host that was read, and writes nothing", async () => {
    const r = await vm("configure", [
      "--node",
      "pve1",
      "--vmid",
      "100",
      "--device",
      "01:00",
      "--yes",
    ]);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain(
      "0000:01:00.0 is 10de:2206 in " + SNAP + " but 10de:2204 on node pve1",
    );
    expect(sim.vmConfig(100)!.main.hostpci0).toBeUndefined();
    expect(sim.mappings().map((m) => m.id)).toEqual(["gpu0"]); // no mapping made for a refusal
    noSecrets(r);
  });

  it("refuses --hookscript (exit 3): the REST API cannot upload the snippet", async () => {
    const r = await vm("configure", [
      "--node",
      "pve2",
      "--vmid",
      "101",
      "--device",
      "01:00",
      "--hookscript",
      "--yes",
    ]);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain("--hookscript: the snippet is written on the node itself");
    expect(sim.vmConfig(101)!.main.hookscript).toBeUndefined();
  });

  it("passes the device through a mapping: diff, apply with the digest, read back; a second run changes nothing", async () => {
    const m = await cli(
      [
        "vm",
        "mapping",
        "create",
        ...conn,
        "--node",
        "pve3",
        "--name",
        "rtx3080",
        "--device",
        "0000:01:00",
      ],
      env,
    );
    expect(m.code).toBe(0);
    const r = await vm("configure", [
      "--node",
      "pve3",
      "--vmid",
      "102",
      "--device",
      "01:00",
      "--convert-q35",
      "--efidisk",
      "local-lvm",
      "--yes",
      "--json",
    ]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ backend: "api", node: "pve3", vmid: 102, applied: true });
    expect(out.change.set).toMatchObject({
      hostpci0: "mapping=rtx3080,pcie=1",
      machine: "q35",
      bios: "ovmf",
      cpu: "host",
      balloon: "0",
      vga: "none",
      efidisk0: "local-lvm:1,efitype=4m",
    });
    const written = sim.vmConfig(102)!.main;
    expect(written).toMatchObject({
      hostpci0: "mapping=rtx3080,pcie=1",
      machine: "q35",
      bios: "ovmf",
      cpu: "host",
      balloon: "0",
      vga: "none",
      name: "spare",
      memory: "2048",
    });
    expect(written.efidisk0).toMatch(/^local-lvm:vm-102-disk-\d+,efitype=4m,size=4M$/);
    const config = sim.requests.filter(
      (q) => q.method !== "GET" && q.path.endsWith("/qemu/102/config"),
    );
    expect(config).toHaveLength(1);
    expect(config[0]!.params.digest).toMatch(/^[0-9a-f]{40}$/);

    const again = await vm("plan", [
      "--node",
      "pve3",
      "--vmid",
      "102",
      "--device",
      "01:00",
      "--convert-q35",
    ]);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain(
      'VM 102 "spare" is already configured for passthrough: nothing to change.',
    );
    noSecrets(r);
  });

  it("creates a VM on a node", async () => {
    const r = await vm("create", [
      "--node",
      "pve3",
      "--vmid",
      "150",
      "--name",
      "newvm",
      "--disk",
      "local-lvm:32",
      "--yes",
    ]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Created VM 150 "newvm" on pve3/);
    expect(sim.vmNode(150)).toBe("pve3");
    expect(sim.vmConfig(150)!.main).toMatchObject({
      machine: "q35",
      bios: "ovmf",
      cpu: "host",
      balloon: "0",
      onboot: "0",
      name: "newvm",
    });
  });

  it("never takes the token from argv", async () => {
    const r = await cli(
      [
        "vm",
        "plan",
        ...conn,
        "--node",
        "pve3",
        "--vmid",
        "102",
        "--token",
        SECRETS.admin,
        "--snapshot",
        SNAP,
      ],
      env,
    );
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--token is refused/);
    noSecrets(r);
  });
});
