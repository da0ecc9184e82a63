// `ct plan|configure --api`: the container config through the REST API of the Proxmox simulator
// (pve3 has the RTX 3080 of the ct-nvidia-no-uvm host read here, as --snapshot).

import { createHash } from "node:crypto";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { printCtConfig } from "../../src/formats/proxmox-ct-config.js";
import { configFromApi } from "../../src/vm/container/api-config.js";
import { cli } from "../helpers/cli.js";
import { fixturePath, writeSpec } from "../helpers/fixtures.js";
import { ctNvidiaNoUvm } from "../fixtures/specs/containers.js";
import { haveOpenssl, testCerts } from "../sim/certs.js";
import { SECRETS, threeNodeCluster, tokenString } from "../sim/cluster-fixtures.js";
import { PveSchema } from "../sim/pve-schema.js";
import { PveSimulator } from "../sim/pve-simulator.js";

const openssl = haveOpenssl();
const SNAP = fixturePath("ct-nvidia-no-uvm");
const CT = `#Jellyfin
arch: amd64
cores: 4
hostname: jellyfin
memory: 4096
ostype: debian
rootfs: local-lvm:vm-201-disk-0,size=16G
unprivileged: 1
lxc.apparmor.profile: unconfined
`;
// A running container that got /dev/dri/card1 already, pending until its restart.
const PENDING = `arch: amd64
hostname: frigate
memory: 2048
unprivileged: 1

[pve:pending]
dev0: /dev/dri/card1,gid=104,mode=0660
`;
const NOSEE = { id: "nosee@pve!tok", secret: "12345678-1234-4234-8234-123456789abc" };

describe.skipIf(!openssl)("ct plan/configure through the REST API", () => {
  const schema = openssl ? PveSchema.load() : null!;
  const certs = openssl ? testCerts() : null!;
  let sim: PveSimulator;
  let conn: string[];
  const env = { PASSTHROUGH_PVE_TOKEN: tokenString("admin") };
  const ct = (sub: string, args: string[], e: NodeJS.ProcessEnv = env) =>
    cli(["ct", sub, ...conn, "--snapshot", SNAP, "--device", "01:00.0", ...args], e);
  const noSecrets = (r: { stdout: string; stderr: string }) => {
    for (const s of [...Object.values(SECRETS), NOSEE.secret])
      expect(r.stdout + r.stderr).not.toContain(s);
  };

  beforeEach(async () => {
    const cluster = threeNodeCluster();
    cluster.tokens.push({ ...NOSEE, privileges: { "/": ["Sys.Audit"] } });
    cluster.cts = [
      { vmid: 201, node: "pve3", raw: CT },
      { vmid: 202, node: "pve3", raw: PENDING },
    ];
    sim = await PveSimulator.start(cluster, { cert: certs.selfSigned, schema });
    conn = ["--api", sim.url, "--fingerprint", certs.selfSigned.fingerprint];
  });
  afterEach(async () => {
    expect(sim.violations).toEqual([]);
    await sim.stop();
  });

  it("plan: the diff against the config the API answers, with --gid", async () => {
    const r = await ct("plan", ["--node", "pve3", "--ctid", "201", "--gid", "104"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("container 201 (jellyfin, unprivileged) on node pve3 (REST API)");
    expect(r.stdout).toContain("+dev0: /dev/dri/card1,gid=104,mode=0660");
    expect(r.stdout).toContain("+dev1: /dev/dri/renderD129,gid=104,mode=0660");
    expect(sim.requests.map((q) => `${q.method} ${q.path}`)).toContain(
      "GET /api2/json/nodes/pve3/lxc/201/config",
    );
    noSecrets(r);
  });

  it("plan: an entry a running container holds as pending counts as there", async () => {
    const r = await ct("plan", ["--node", "pve3", "--ctid", "202", "--gid", "104", "--json"]);
    expect(r.code).toBe(0);
    const json = JSON.parse(r.stdout);
    expect(json.present).toContain("/dev/dri/card1");
    expect(json.added[0]).toBe("dev1: /dev/dri/renderD129,gid=104,mode=0660");
  });

  it("plan: --gid is required, since the API cannot read the container's /etc/group", async () => {
    const r = await ct("plan", ["--node", "pve3", "--ctid", "201"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^error: --gid is needed with --api: .*\/etc\/group.*\n$/);
    expect(sim.requests).toEqual([]);
  });

  it("configure: shows the diff, then refuses (exit 3) and names the pct set with the API's digest", async () => {
    // configure reads the host from --root (a tree here; on the node, /).
    const tree = writeSpec(ctNvidiaNoUvm);
    const r = await cli(
      [
        "ct",
        "configure",
        ...conn,
        "--root",
        tree.dir,
        "--device",
        "01:00.0",
        "--node",
        "pve3",
      ].concat(["--ctid", "201", "--gid", "104", "--yes"]),
      env,
    );
    tree.cleanup();
    expect(r.code).toBe(3);
    expect(r.stdout).toContain("+dev0: /dev/dri/card1,gid=104,mode=0660");
    const digest = createHash("sha1").update(CT).digest("hex");
    expect(r.stderr).toContain("only root@pam add or remove devN entries");
    expect(r.stderr).toContain(
      `pct set 201 --dev0 /dev/dri/card1,gid=104,mode=0660 --dev1 /dev/dri/renderD129,gid=104,mode=0660 --dev2 /dev/nvidia0,mode=0666 --dev3 /dev/nvidiactl,mode=0666 --digest ${digest}`,
    );
    expect(sim.requests.filter((q) => q.method !== "GET")).toEqual([]);
  });

  it("a node whose hardware is not the host read here is refused (exit 3)", async () => {
    const r = await ct("plan", ["--node", "pve1", "--ctid", "201", "--gid", "104"]);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain("0000:01:00.0 is 10de:2206 in");
    expect(r.stderr).toContain("but 10de:2204 on node pve1");
  });

  it("a container the node does not have is exit 2, in one line", async () => {
    const r = await ct("plan", ["--node", "pve3", "--ctid", "299", "--gid", "104"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      "error: container 299: node pve3 has no config for it (Configuration file 'nodes/pve3/lxc/299.conf' does not exist); `pct list` on pve3, or the web UI, shows its containers\n",
    );
  });

  it("401 and 403 say which token and what to do, never the secret", async () => {
    const bad = await ct("plan", ["--node", "pve3", "--ctid", "201", "--gid", "104"], {
      PASSTHROUGH_PVE_TOKEN: tokenString("expired"),
    });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/refused token old@pve!gone \(401/);
    noSecrets(bad);
    const denied = await ct("plan", ["--node", "pve3", "--ctid", "201", "--gid", "104"], {
      PASSTHROUGH_PVE_TOKEN: `${NOSEE.id}=${NOSEE.secret}`,
    });
    expect(denied.code).toBe(2);
    expect(denied.stderr).toContain("token nosee@pve!tok lacks VM.Audit on /vms/201");
    noSecrets(denied);
  });
});

describe("configFromApi", () => {
  it("turns the GET answer into the config: keys as text, lxc pairs, the description, the digest", () => {
    const { config, digest } = configFromApi({
      arch: "amd64",
      memory: 2048,
      unprivileged: 1,
      description: "Frigate\nNVR",
      lxc: [["lxc.cgroup2.devices.allow", "c 226:128 rwm"]],
      digest: "a".repeat(40),
    });
    expect(digest).toBe("a".repeat(40));
    expect(printCtConfig(config)).toBe(
      "#Frigate\n#NVR\narch: amd64\nmemory: 2048\nunprivileged: 1\nlxc.cgroup2.devices.allow: c 226:128 rwm\n",
    );
  });
});
