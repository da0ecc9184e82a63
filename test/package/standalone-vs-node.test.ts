// The standalone executable (dist/passthrough: the bundle on the Bun runtime it embeds) must
// behave exactly like the Node.js bundle (dist/passthrough.cjs): the same stdout, stderr and
// exit code for every read-only command on every fixture host, the same errors, the same
// Proxmox API client over TLS, and a snapshot of this machine that reads back like the live host.
// Both are built by `npm run build` (which `npm test` runs first).
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import * as zlib from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { REPO, fixturePath } from "../helpers/fixtures.js";
import { haveOpenssl, testCerts } from "../sim/certs.js";
import { tokenString, threeNodeCluster } from "../sim/cluster-fixtures.js";
import { PveSimulator } from "../sim/pve-simulator.js";

const EXE = path.join(REPO, "dist/passthrough");
const BUNDLE = path.join(REPO, "dist/passthrough.cjs");
const built = fs.existsSync(EXE) && fs.existsSync(BUNDLE);
const FIXTURES = fs
  .readdirSync(path.join(REPO, "test/fixtures/hosts"))
  .filter((f) => f.endsWith(".tar.gz"))
  .map((f) => f.slice(0, -".tar.gz".length))
  .sort();

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

const run = promisify(execFile);
/** The same environment for both: no NODE_OPTIONS, no colour, a fixed locale. */
const ENV = { PATH: process.env.PATH ?? "/usr/bin:/bin", LC_ALL: "C", HOME: os.tmpdir() };

async function exec(argv: string[], env: NodeJS.ProcessEnv, cwd: string): Promise<Run> {
  try {
    const r = await run(argv[0]!, argv.slice(1), { env, cwd, maxBuffer: 64 << 20 });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code?: number | string; stdout?: string; stderr?: string };
    if (typeof e.code !== "number") throw err;
    return { code: e.code, stdout: e.stdout ?? "", stderr: e.stderr ?? "" };
  }
}

/** Runs the command with both builds; returns the Node.js result after checking they agree. */
async function both(args: string[], env: NodeJS.ProcessEnv = {}, cwd = REPO): Promise<Run> {
  const e = { ...ENV, ...env };
  const [node, exe] = await Promise.all([
    exec([process.execPath, BUNDLE, ...args], e, cwd),
    exec([EXE, ...args], e, cwd),
  ]);
  expect(exe, `passthrough ${args.join(" ")}`).toEqual(node);
  return node;
}

/** A device to plan for on a fixture: its first candidate, else a slot that is not there. */
async function candidate(snap: string): Promise<string> {
  const r = await exec(
    [process.execPath, BUNDLE, "check", "--json", "--snapshot", snap],
    ENV,
    REPO,
  );
  return (JSON.parse(r.stdout).candidates[0]?.address as string | undefined) ?? "0000:01:00";
}

/** The offset of the first tar header at or after `near` (a 512-byte block with a valid checksum). */
function tarHeaderNear(tar: Buffer, near: number): number {
  for (let off = Math.ceil(near / 512) * 512; off + 512 <= tar.length; off += 512) {
    const h = tar.subarray(off, off + 512);
    let sum = 8 * 0x20;
    for (let i = 0; i < 512; i++) if (i < 148 || i >= 156) sum += h[i]!;
    if (h[0] !== 0 && parseInt(h.toString("latin1", 148, 156), 8) === sum) return off;
  }
  throw new Error("no tar header after the middle");
}

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "passthrough-standalone-"));
  fs.writeFileSync(
    path.join(tmp, "id.pub"),
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBk6 user@host\n",
  );
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe.skipIf(!built)("standalone executable = Node.js bundle", () => {
  it.each(FIXTURES)(
    "fixture %s: check, list, plan, vm plan, guest setup",
    { timeout: 120_000 },
    async (name) => {
      const snap = fixturePath(name);
      const dev = await candidate(snap);
      const s = ["--snapshot", snap];
      await both(["check", ...s]);
      await both(["check", "--json", ...s]);
      await both(["list", ...s]);
      await both(["list", "--json", "--tree", "--usb", ...s]);
      await both(["plan", "--device", dev, ...s]);
      await both(["plan", "--json", "--device", dev, ...s]);
      await both(["vm", "plan", "--vmid", "100", "--device", dev, ...s]);
      // libvirt XML: @xmldom/xmldom is required on first use.
      const xml = path.join(REPO, "test/fixtures/libvirt/debian12-spice.xml");
      await both([
        "vm",
        "plan",
        "--backend",
        "libvirt",
        "--domain-xml",
        xml,
        "--device",
        dev,
        ...s,
      ]);
      const guest = [
        "guest",
        "setup",
        "--distro",
        "debian:12",
        "--ssh",
        "--ssh-key",
        path.join(tmp, "id.pub"),
      ];
      await both([...guest, "--tailscale", "--gpu-driver", "--device", dev, ...s]);
      // cloud-init: yaml is required on first use.
      await both([...guest, "--format", "cloud-init", ...s]);
      await both(["guest", "check", ...s]);
    },
  );

  it("explain, help, version and bad input", { timeout: 120_000 }, async () => {
    await both(["explain", "--list"]);
    await both(["explain", "--list", "--json"]);
    for (const id of [
      "cmdline.pending",
      "plan.partial-group",
      "verify.cmdline",
      "guest.gpu.driver",
    ])
      expect((await both(["explain", id])).code).toBe(0);
    expect((await both(["explain", "cmdline.pendng"])).code).toBe(2);
    expect((await both(["--version"])).stdout).toMatch(/^\d+\.\d+\.\d+\n$/);
    await both(["--help"]);
    await both([]);
    await both(["vm", "--help"]);
    expect((await both(["check", "--bogus"])).code).toBe(2);
    expect((await both(["check", "--snapshot", path.join(tmp, "missing.tar.gz")])).code).toBe(2);
    fs.writeFileSync(path.join(tmp, "broken.tar.gz"), "not gzip");
    expect((await both(["list", "--snapshot", path.join(tmp, "broken.tar.gz")])).code).toBe(2);
    // Colour on request of the environment is the same too.
    await both(["check", "--snapshot", fixturePath("seed-before")], { NO_COLOR: "1" });
  });

  // The executable unpacks small snapshots with the Bun runtime's own gunzip, which reads only
  // the first gzip member and ignores what follows; node:zlib reads every member and refuses
  // trailing bytes. Odd and damaged files must read, or fail, alike.
  it("odd and damaged .tar.gz snapshots read the same", { timeout: 120_000 }, async () => {
    const gz = fs.readFileSync(fixturePath("seed-before"));
    const tar = zlib.gunzipSync(gz);
    const half = tarHeaderNear(tar, tar.length / 2);
    const flipped = Buffer.from(gz);
    flipped[gz.length - 6]! ^= 1; // the CRC-32 in the trailer
    const files: Record<string, Buffer> = {
      "trailing-garbage": Buffer.concat([gz, Buffer.from("garbage!")]),
      "trailing-zeros": Buffer.concat([gz, Buffer.alloc(64)]),
      // Two members, the first ending mid-archive: only both together hold the whole host.
      "two-members": Buffer.concat([
        zlib.gzipSync(tar.subarray(0, half)),
        zlib.gzipSync(tar.subarray(half)),
      ]),
      truncated: gz.subarray(0, gz.length - 100),
      "bad-crc": flipped,
    };
    for (const [name, data] of Object.entries(files)) {
      const file = path.join(tmp, `${name}.tar.gz`);
      fs.writeFileSync(file, data);
      await both(["list", "--json", "--snapshot", file]);
    }
    expect((await both(["list", "--snapshot", path.join(tmp, "two-members.tar.gz")])).code).toBe(0);
    expect((await both(["list", "--snapshot", path.join(tmp, "truncated.tar.gz")])).code).toBe(2);
  });

  it("a reader that closes the pipe early ends the command quietly (EPIPE), exit 0", async () => {
    const piped = (exe: string) =>
      exec(
        [
          "bash",
          "-c",
          `"$@" explain --list | head -n 1 >/dev/null; echo "\${PIPESTATUS[0]}"`,
          "bash",
          ...exe.split(" "),
        ],
        ENV,
        REPO,
      );
    const [node, exe] = await Promise.all([piped(`${process.execPath} ${BUNDLE}`), piped(EXE)]);
    expect(exe).toEqual(node);
    expect(node).toEqual({ code: 0, stdout: "0\n", stderr: "" });
  });

  it(
    "a snapshot of this machine taken by each reads back with the live host's devices",
    { timeout: 240_000 },
    async () => {
      const take = async (argv: string[], out: string) => {
        const r = await exec([...argv, "snapshot", "-o", out, "--json"], ENV, tmp);
        expect(r.code, r.stderr).toBe(0);
        return JSON.parse(r.stdout);
      };
      const [fromNode, fromExe] = await Promise.all([
        take([process.execPath, BUNDLE], path.join(tmp, "node.tar.gz")),
        take([EXE], path.join(tmp, "exe.tar.gz")),
      ]);
      // The empty-snapshot bug: a reader child that never ran made a 1-entry archive.
      expect(fromExe.entries).toBeGreaterThan(50);
      expect(fromExe.entries).toBe(fromNode.entries);
      expect(fromExe.skipped).toEqual(fromNode.skipped);
      const devices = async (args: string[]) => {
        const r = await exec([EXE, "list", "--json", ...args], ENV, tmp);
        expect(r.code, r.stderr).toBe(0);
        const j = JSON.parse(r.stdout);
        return { devices: j.devices, groups: j.groups };
      };
      const live = await devices([]);
      expect(live.devices.length).toBeGreaterThan(0);
      expect(await devices(["--snapshot", path.join(tmp, "exe.tar.gz")])).toEqual(live);
      expect(await devices(["--snapshot", path.join(tmp, "node.tar.gz")])).toEqual(live);
      // And each build reads the other's archive the same way.
      await both(["list", "--json", "--snapshot", path.join(tmp, "exe.tar.gz")]);
      await both(["check", "--snapshot", path.join(tmp, "node.tar.gz")]);
    },
  );

  describe.skipIf(!haveOpenssl())("the Proxmox API client (HTTPS, TLS pinning)", () => {
    let sim: PveSimulator;
    const certs = haveOpenssl() ? testCerts() : null!;
    beforeAll(async () => {
      sim = await PveSimulator.start(threeNodeCluster(), { cert: certs.selfSigned });
    });
    afterAll(async () => sim.stop());

    it(
      "reads mappings, plans a mapping, and refuses a wrong fingerprint alike",
      { timeout: 60_000 },
      async () => {
        const env = { PASSTHROUGH_PVE_TOKEN: tokenString("admin") };
        const conn = ["--api", sim.url, "--fingerprint", certs.selfSigned.fingerprint];
        expect((await both(["vm", "mapping", "list", ...conn], env)).code).toBe(0);
        await both(["vm", "mapping", "list", "--json", ...conn], env);
        await both(["vm", "mapping", "check", ...conn], env);
        const create = ["vm", "mapping", "create", "--node", "pve1", "--name", "gpu9"];
        await both([...create, "--device", "0000:01:00", "--dry-run", ...conn], env);
        const wrong = ["--api", sim.url, "--fingerprint", "AB:".repeat(31) + "AB"];
        expect((await both(["vm", "mapping", "list", ...wrong], env)).code).toBe(2);
        // Without a pin or a CA the self-signed certificate is refused.
        expect((await both(["vm", "mapping", "list", "--api", sim.url], env)).code).not.toBe(0);
        expect(sim.requests.filter((r) => r.method !== "GET")).toEqual([]);
      },
    );
  });
});
