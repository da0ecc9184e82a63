// One bad node among many: every node gets a verdict, the failing one is named with the request
// that failed, the others are still reported, and the exit code says so. The CLI in-process, the
// API client over HTTPS, the simulator as a cluster whose nodes fail in the ways pveproxy does.

import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { cli } from "../helpers/cli.js";
import { haveOpenssl, testCerts } from "../sim/certs.js";
import { threeNodeCluster, tokenString, uniformCluster } from "../sim/cluster-fixtures.js";
import { PveSchema } from "../sim/pve-schema.js";
import { PveSimulator, type SimCluster } from "../sim/pve-simulator.js";

const openssl = haveOpenssl();
const schema = PveSchema.load();
const CREATE_ALL = [
  "create",
  "--node",
  "pve1",
  "--name",
  "gpu9",
  "--device",
  "01:00",
  "--all-nodes",
];

describe.skipIf(!openssl)("a cluster with one failing node", () => {
  let sim: PveSimulator;
  let conn: string[];
  const certs = openssl ? testCerts() : null!;
  const env = { PASSTHROUGH_PVE_TOKEN: tokenString("admin") };
  const run = (args: string[]) => cli(["vm", "mapping", ...args, ...conn], env);
  const start = async (cluster: SimCluster) => {
    sim = await PveSimulator.start(cluster, { cert: certs.selfSigned, schema });
    conn = ["--api", sim.url, "--fingerprint", certs.selfSigned.fingerprint];
  };

  beforeEach(async () => start(threeNodeCluster()));
  afterEach(async () => {
    expect(sim.violations).toEqual([]);
    await sim.stop();
  });

  it("check: a node answering 500 is unreachable, named with its request; the others are checked (exit 1)", async () => {
    sim.httpFailures.push({
      path: /\/nodes\/pve2\/hardware\/pci$/,
      status: 500,
      reason: "node pve2 exploded",
    });
    const r = await run(["check", "--json"]);
    expect(r.code).toBe(1);
    const out = JSON.parse(r.stdout);
    const verdicts = Object.fromEntries(
      out.nodes.map((n: { node: string; verdict: string }) => [n.node, n.verdict]),
    );
    expect(verdicts).toEqual({ pve1: "ok", pve2: "unreachable", pve3: "ok" });
    const pve2 = out.nodes.find((n: { node: string }) => n.node === "pve2");
    expect(pve2.reason).toMatch(/^GET .*\/nodes\/pve2\/hardware\/pci: node pve2 exploded$/);
    expect(out.summary.nodesNotOk).toEqual(["pve2"]);
  });

  it("check: text output names the node once and still lists the others", async () => {
    sim.httpFailures.push({ path: /\/nodes\/pve3\/hardware\/pci$/, status: 500, reason: "boom" });
    const r = await run(["check"]);
    expect(r.code).toBe(1);
    expect(r.stdout.match(/pve3 .*boom/g)).toHaveLength(1);
    expect(r.stdout).toMatch(
      /FAIL\s+-\s+pve3\s+node unreachable: GET .*\/nodes\/pve3\/hardware\/pci: boom/,
    );
    expect(r.stdout).toContain("Nodes: pve1 ok, pve2 ok, pve3 unreachable");
  });

  it("check: a node that hangs costs the run's --timeout, not minutes, and the others are reported", async () => {
    sim.httpFailures.push({ path: /\/nodes\/pve1\/hardware\/pci$/, hang: true });
    const t0 = Date.now();
    const r = await run(["check", "--json", "--timeout", "2"]);
    const took = Date.now() - t0;
    expect(took).toBeLessThan(5000);
    expect(r.code).toBe(1);
    const out = JSON.parse(r.stdout);
    const pve1 = out.nodes.find((n: { node: string }) => n.node === "pve1");
    expect(pve1.verdict).toBe("unreachable");
    expect(pve1.reason).toMatch(
      /\/nodes\/pve1\/hardware\/pci: no answer before the run's deadline \(--timeout 2 s\)/,
    );
    expect(out.nodes.filter((n: { verdict: string }) => n.verdict === "ok")).toHaveLength(2);
  });

  it("check: malformed JSON from one node is said precisely, for that node only", async () => {
    sim.httpFailures.push({
      path: /\/nodes\/pve2\/hardware\/pci$/,
      status: 200,
      body: "<html>gateway</html>",
    });
    const r = await run(["check", "--json"]);
    expect(r.code).toBe(1);
    const pve2 = JSON.parse(r.stdout).nodes.find((n: { node: string }) => n.node === "pve2");
    expect(pve2).toMatchObject({ verdict: "unreachable" });
    expect(pve2.reason).toMatch(
      /\/nodes\/pve2\/hardware\/pci: a malformed answer \(HTTP 200, not JSON \(starts "<html>gateway<\/html>"\)\)/,
    );
  });

  it("check: a node whose device is gone is 'missing device', one whose group changed 'mismatch'", async () => {
    await sim.stop();
    const cluster = threeNodeCluster();
    cluster.mappings = [
      {
        id: "gpu0",
        map: [
          "node=pve1,path=0000:09:00,id=10de:2204,iommugroup=14,subsystem-id=1462:3880",
          "node=pve2,path=0000:01:00,id=10de:2204,iommugroup=99,subsystem-id=1462:3880",
        ],
      },
    ];
    await start(cluster);
    const r = await run(["check", "--json"]);
    expect(r.code).toBe(1);
    const out = JSON.parse(r.stdout);
    expect(out.nodes.map((n: { verdict: string }) => n.verdict)).toEqual([
      "missing device",
      "mismatch",
      "ok",
    ]);
  });

  it("check: a 401 in the middle of the run says the token stopped working (exit 2), once", async () => {
    sim.httpFailures.push({
      path: /\/nodes\/pve2\/hardware\/pci$/,
      status: 401,
      reason: "invalid token",
    });
    const r = await run(["check"]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(
      /^error: GET .*\/nodes\/pve2\/hardware\/pci: the token was refused \(401 invalid token\) after \d+ requests were answered in this run: token passthrough@pve!cli was deleted/,
    );
  });

  it("a redirect is not followed: the token stays here, and the message says what --api should be", async () => {
    sim.httpFailures.push({
      path: /\/cluster\/resources$/,
      status: 302,
      reason: "Found",
      location: "https://login.example/sso",
    });
    const r = await run(["check"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      /^error: GET .*\/cluster\/resources: the server answered 302 Found \(to https:\/\/login\.example\/sso\); passthrough does not follow redirects/,
    );
    expect(sim.requests).toHaveLength(1);
  });

  it("mapping create --all-nodes never takes an error for 'no device': it lists the node and writes nothing (exit 3)", async () => {
    sim.httpFailures.push({ path: /\/nodes\/pve2\/hardware\/pci$/, status: 500, reason: "boom" });
    const before = sim.pciCfgText();
    const r = await run(CREATE_ALL);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/mapping gpu9 not written: the hardware of 1 node could not be read/);
    expect(r.stderr).toMatch(/ {2}pve2: GET .*\/nodes\/pve2\/hardware\/pci: boom/);
    expect(r.stderr).toContain("--skip-unreachable");
    expect(sim.pciCfgText()).toBe(before);
  });

  it("mapping create --all-nodes --skip-unreachable writes the others and lists the node left out", async () => {
    sim.httpFailures.push({ path: /\/nodes\/pve2\/hardware\/pci$/, status: 500, reason: "boom" });
    const r = await run([...CREATE_ALL, "--skip-unreachable", "--json"]);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.entries.map((e: { node: string }) => e.node)).toEqual(["pve1"]);
    expect(out.skipped).toEqual([
      { node: "pve2", reason: expect.stringMatching(/^unreachable: GET .*pve2.*: boom$/) },
      { node: "pve3", reason: expect.stringMatching(/is 10de:2206 there, not 10de:2204/) },
    ]);
  });

  it("a mapping write whose answer is lost exits 4, says it may have been made and how to check", async () => {
    sim.httpFailures.push({ method: "POST", path: /\/cluster\/mapping\/pci$/, resetAfter: true });
    const r = await run(["create", "--node", "pve1", "--name", "gpu9", "--device", "0000:01:00"]);
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(
      /^error: POST .*\/cluster\/mapping\/pci: connection reset after the request was sent — the change may have been made\. Check with `passthrough vm mapping list`.*never sends a write twice/,
    );
    expect(sim.requests.filter((q) => q.method === "POST")).toHaveLength(1);
    expect(sim.mappings().map((m) => m.id)).toContain("gpu9"); // it was made
  });

  it("reads share kept-alive connections: fewer TLS handshakes than requests", async () => {
    await sim.stop();
    await start(uniformCluster(12));
    const r = await run(["check", "--parallel", "4"]);
    expect(r.code).toBe(0);
    expect(sim.requests.length).toBeGreaterThan(20);
    expect(sim.connections).toBeLessThanOrEqual(4);
  });

  it("sorts nodes naturally: pve2 before pve10", async () => {
    await sim.stop();
    await start(uniformCluster(11));
    const r = await run(["check", "--json"]);
    const names = JSON.parse(r.stdout).nodes.map((n: { node: string }) => n.node);
    expect(names.slice(0, 3)).toEqual(["pve1", "pve2", "pve3"]);
    expect(names.slice(-2)).toEqual(["pve10", "pve11"]);
  });

  it("refuses a --parallel or --timeout that is not a number (exit 2)", async () => {
    expect((await run(["check", "--parallel", "0"])).stderr).toMatch(/^error: --parallel 0: /);
    expect((await run(["check", "--timeout", "soon"])).code).toBe(2);
    expect(sim.requests).toHaveLength(0);
  });
});
