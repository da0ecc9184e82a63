// `passthrough vm mapping list|create|check` end to end: the CLI in-process, the API client over
// HTTPS, the simulator as a three-node cluster.

import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { cli } from "../helpers/cli.js";
import { haveOpenssl, testCerts } from "../sim/certs.js";
import { pve3Pci, SECRETS, threeNodeCluster, tokenString } from "../sim/cluster-fixtures.js";
import { PveSchema } from "../sim/pve-schema.js";
import { PveSimulator } from "../sim/pve-simulator.js";

const openssl = haveOpenssl();
const schema = PveSchema.load();

describe.skipIf(!openssl)("vm mapping commands", () => {
  let sim: PveSimulator;
  let conn: string[];
  const certs = openssl ? testCerts() : null!;
  const env = { PASSTHROUGH_PVE_TOKEN: tokenString("admin") };
  const run = (args: string[], e: NodeJS.ProcessEnv = env) =>
    cli(["vm", "mapping", ...args, ...conn], e);
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

  it("lists mappings and their entries", async () => {
    const r = await run(["list"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`passthrough vm mapping list — ${sim.url} · 1 PCI mapping`);
    expect(r.stdout).toMatch(/gpu0\s+pve2\s+0000:01:00\s+10de:2204\s+12\s+1462:3880\s+RTX 3090/);
    const j = await run(["list", "--json"]);
    expect(JSON.parse(j.stdout).mappings[0]).toMatchObject({
      id: "gpu0",
      description: "RTX 3090",
      entries: [
        {
          node: "pve2",
          path: "0000:01:00",
          id: "10de:2204",
          iommugroup: 12,
          subsystemId: "1462:3880",
        },
      ],
    });
    noSecrets(r);
  });

  it("maps a device on every node that has the same card there, then another node explicitly, then checks them", async () => {
    const r = await run([
      "create",
      "--node",
      "pve1",
      "--name",
      "gpu0",
      "--device",
      "0000:01:00",
      "--all-nodes",
    ]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(
      /added\s+pve1\s+node=pve1,path=0000:01:00,id=10de:2204,iommugroup=14,subsystem-id=1462:3880/,
    );
    expect(r.stdout).toMatch(/unchanged\s+pve2\s+node=pve2,path=0000:01:00/);
    expect(r.stdout).toMatch(
      /skipped\s+pve3\s+0000:01:00 is 10de:2206 there, not 10de:2204: map it explicitly with --map pve3=ADDRESS/,
    );
    expect(r.stdout).toContain("Mapping gpu0 updated.");

    const r3 = await run(["create", "--name", "gpu0", "--map", "pve3=02:00", "--json"]);
    expect(r3.code).toBe(0);
    expect(JSON.parse(r3.stdout)).toMatchObject({
      action: "updated",
      entries: [
        {
          node: "pve3",
          action: "added",
          entry: "node=pve3,path=0000:02:00,id=10de:2204,iommugroup=15,subsystem-id=1462:3880",
        },
      ],
    });
    expect(sim.mappings()[0]!.props.map).toHaveLength(3);

    const check = await run(["check"]);
    expect(check.code).toBe(0);
    for (const node of ["pve1", "pve2", "pve3"])
      expect(check.stdout).toMatch(
        new RegExp(`OK\\s+gpu0\\s+${node}\\s+0000:0[12]:00 \\(10de:2204, group \\d+\\)`),
      );
    expect(check.stdout).toContain("Every mapping matches its nodes' hardware.");
  });

  it("check reports entries that no longer match a node's hardware, with the fix", async () => {
    // pve2's 3090 was swapped for pve3's 3080 (and the 3090 moved to 02:00).
    sim.setNodePci("pve2", pve3Pci());
    const r = await run(["check"]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(
      /FAIL\s+gpu0\s+pve2\s+Invalid configuration: 'id' does not match for 'gpu0' \(10de:2206 != 10de:2204\)/,
    );
    expect(r.stdout).toContain("'id' of '0000:01:00.0' is 10de:2204, the node reports 10de:2206");
    expect(r.stdout).toContain("'iommugroup' of '0000:01:00.0' is 12, the node reports 13");
    const flags = `--api ${sim.url} --fingerprint ${certs.selfSigned.fingerprint}`;
    expect(r.stdout).toContain(
      `fix: the mapped device (10de:2204) is now at 0000:02:00: passthrough vm mapping create ${flags} --name gpu0 --map pve2=0000:02:00 --replace`,
    );
    expect(r.stdout).toContain(
      `fix (to use the device now at 0000:01:00 instead): passthrough vm mapping create ${flags} --name gpu0 --map pve2=0000:01:00\n`,
    );
    expect(r.stdout).toMatch(/WARN\s+gpu0\s+pve1\s+No mapping for node pve1\./);
    expect(r.stdout).toContain("1 mapping entry does not match the node's hardware");

    const j = await run(["check", "--json"]);
    expect(j.code).toBe(1);
    const out = JSON.parse(j.stdout);
    expect(out.summary).toEqual({ errors: 1, warnings: 2, skippedNodes: [], nodesNotOk: ["pve2"] });
    const pve2 = out.results.find((x: { node: string }) => x.node === "pve2");
    expect(pve2.status).toBe("error");
    expect(pve2.entries[0].problems.map((p: { field: string }) => p.field)).toEqual([
      "id",
      "subsystem-id",
      "iommugroup",
    ]);

    // Moving the entry to where the card is now fixes it.
    const fix = await run(["create", "--name", "gpu0", "--map", "pve2=0000:02:00", "--replace"]);
    expect(fix.code).toBe(0);
    expect(fix.stdout).toMatch(
      /replaced\s+pve2\s+node=pve2,path=0000:02:00,id=10de:2204,iommugroup=15/,
    );
    expect((await run(["check", "--name", "gpu0"])).code).toBe(0);
  });

  it("check reports a VM whose hookscript snippet is not in its storage (vm.hookscript-missing)", async () => {
    const cluster = threeNodeCluster();
    const [vm100, vm101] = cluster.vms!;
    vm100!.config = { ...vm100!.config, hookscript: "local:snippets/passthrough-0000-01-00.sh" };
    vm101!.config = { ...vm101!.config, hookscript: "local:snippets/passthrough-0000-01-00.sh" };
    cluster.nodes[1]!.snippets = { local: ["passthrough-0000-01-00.sh"] };
    await sim.stop();
    sim = await PveSimulator.start(cluster, { cert: certs.selfSigned, schema });
    conn = ["--api", sim.url, "--fingerprint", certs.selfSigned.fingerprint];
    const r = await run(["check"]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain("Hookscripts: 1 missing (vm.hookscript-missing):");
    expect(r.stdout).toContain(
      "WARN  VM 100's hookscript local:snippets/passthrough-0000-01-00.sh is missing (not in its storage's snippets): the VM will not start",
    );
    expect(r.stdout).toContain(
      "fix: install it again: `passthrough mode vm --device SLOT --hookscript --vmid 100`",
    );
    expect(r.stdout).not.toContain("VM 101's hookscript");
    const j = JSON.parse((await run(["check", "--json"])).stdout);
    expect(j.hookscripts.missing.map((f: { subject: string }) => f.subject)).toEqual(["VM 100"]);
    // One listing per node and storage.
    expect(sim.requests.filter((q) => q.path.endsWith("/storage/local/content")).length).toBe(4);
  });

  it("reports offline nodes as not checked (exit 1: not every node is known to be ok)", async () => {
    sim.setNodeOnline("pve3", false);
    const r = await run(["check"]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain("Not checked: pve3 (offline); rerun when it is back.");
    expect(r.stdout).toMatch(/SKIP\s+-\s+pve3\s+node offline: not checked/);
  });

  it("refuses to repoint a node's entry without --replace (exit 3), and a dry run writes nothing", async () => {
    const r = await run(["create", "--name", "gpu0", "--map", "pve2=0000:00:01.1"]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(
      /^error: mapping gpu0 already maps node pve2 to 0000:01:00; .*--replace/,
    );
    const dry = await run([
      "create",
      "--node",
      "pve1",
      "--name",
      "gpu9",
      "--device",
      "0000:01:00",
      "--dry-run",
    ]);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toMatch(
      /added\s+pve1\s+node=pve1,path=0000:01:00,id=10de:2204,iommugroup=14,subsystem-id=1462:3880/,
    );
    const dryConflict = await run([
      "create",
      "--name",
      "gpu0",
      "--map",
      "pve2=0000:00:01.1",
      "--dry-run",
      "--json",
    ]);
    expect(JSON.parse(dryConflict.stdout)).toMatchObject({
      action: "dry-run",
      exists: true,
      entries: [
        {
          node: "pve2",
          action: "conflict",
          previous: ["node=pve2,path=0000:01:00,id=10de:2204,iommugroup=12,subsystem-id=1462:3880"],
        },
      ],
    });
    expect(sim.mappings().map((m) => m.id)).toEqual(["gpu0"]);
    expect(sim.requests.filter((x) => x.method !== "GET")).toEqual([]);
  });

  it("refuses bad input before connecting", async () => {
    expect((await run(["create", "--name", "9gpu", "--map", "pve2=0000:01:00"])).stderr).toMatch(
      /^error: --name 9gpu: a mapping name starts with a letter/,
    );
    expect((await run(["create", "--name", "gpu1", "--map", "pve2=01:00.9"])).stderr).toMatch(
      /is not a PCI address/,
    );
    expect((await run(["create", "--name", "gpu1", "--map", "pve9=0000:01:00"])).stderr).toMatch(
      /node pve9 is not in the cluster \(nodes: pve1, pve2, pve3\)/,
    );
    const noNode = await run(["create", "--name", "gpu1", "--device", "0000:01:00"]);
    expect([noNode.code, noNode.stderr]).toEqual([
      2,
      expect.stringMatching(/--node NAME is needed/),
    ]);
  });

  describe("the token", () => {
    it("is never taken from argv", async () => {
      const r = await run(["list", "--token", tokenString("admin")], {});
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/^error: --token is refused: .*PASSTHROUGH_PVE_TOKEN.*--token-file/);
      noSecrets(r);
      expect(sim.requests).toEqual([]);
    });

    it("comes from a file, with a warning when others can read it", async () => {
      const dir = mkdtempSync(join(tmpdir(), "pt-token-"));
      try {
        const file = join(dir, "token");
        writeFileSync(file, `# passthrough's API token\n${tokenString("viewer")}\n`);
        chmodSync(file, 0o644);
        const r = await run(["list", "--token-file", file], {});
        expect(r.code).toBe(0);
        expect(r.stderr).toContain(
          `warning: ${file} is readable by other users (mode 644): chmod 600 ${file}`,
        );
        expect(sim.requests[0]!.user).toBe("viewer@pve!ro");
        chmodSync(file, 0o600);
        expect((await run(["list", "--token-file", file], {})).stderr).toBe("");
        expect((await run(["list", "--token-file", join(dir, "nope")], {})).stderr).toMatch(
          /^error: --token-file \S+\/nope: does not exist\n$/,
        );
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it("is required, and a wrong one is reported without printing it", async () => {
      const none = await run(["list"], {});
      expect([none.code, none.stderr]).toEqual([
        2,
        expect.stringMatching(
          /^error: no API token: set PASSTHROUGH_PVE_TOKEN=USER@REALM!TOKENID=SECRET or pass --token-file/,
        ),
      ]);
      const wrongSecret = "c0ffee00-1111-4222-8333-444455556666";
      const bad = await run(["list"], {
        PASSTHROUGH_PVE_TOKEN: `passthrough@pve!cli=${wrongSecret}`,
      });
      expect(bad.code).toBe(2);
      expect(bad.stderr).toMatch(
        /^error: the Proxmox API refused token passthrough@pve!cli \(401 Authentication failed!\): check the secret in PASSTHROUGH_PVE_TOKEN/,
      );
      expect(bad.stdout + bad.stderr).not.toContain(wrongSecret);
      const garbled = await run(["list"], { PASSTHROUGH_PVE_TOKEN: wrongSecret });
      expect(garbled.stderr).not.toContain(wrongSecret);
    });

    it("a missing privilege is named, also where Proxmox only says 'Permission check failed'", async () => {
      const r = await run(["create", "--name", "gpu1", "--map", "pve1=0000:01:00"], {
        PASSTHROUGH_PVE_TOKEN: tokenString("ops"),
      });
      expect(r.code).toBe(2);
      expect(r.stderr).toBe(
        "error: token ops@pve!vm lacks Mapping.Audit, Mapping.Use or Mapping.Modify on /mapping/pci/gpu1 (GET /cluster/mapping/pci/gpu1: Permission check failed): grant it, e.g. `pveum acl modify /mapping/pci --tokens 'ops@pve!vm' --roles Passthrough` (README \"Proxmox API token\")\n",
      );
    });
  });

  it("explains itself in --help", async () => {
    const r = await cli(["vm", "mapping", "create", "--help"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("--all-nodes");
    expect(r.stdout).toContain(
      "passthrough vm mapping create --api https://pve1:8006 --node pve1 --name gpu0 --device 0000:01:00",
    );
    expect(r.stdout).not.toContain("--token <");
  });
});
