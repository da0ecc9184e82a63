// npm run bench:cluster: `passthrough vm mapping check` against the Proxmox simulator
// (test/sim) as a cluster of N nodes, every answer delayed by a fixed latency, as from a laptop
// to a remote cluster. Measures the installed executable (dist/passthrough) and the Node.js
// bundle with NODE_EXTRA_CA_CERTS removed (hosts do not set it), at the default --parallel 8 and
// at --parallel 1 (one request at a time, as before the pool) for comparison.
// Each command runs REPS times after one untimed run; the minimum wall time is reported.
// Options: --nodes 16,64  --latency 50  --reps 5

import { spawn } from "node:child_process";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { testCerts } from "../../test/sim/certs.js";
import { tokenString, uniformCluster } from "../../test/sim/cluster-fixtures.js";
import { PveSimulator } from "../../test/sim/pve-simulator.js";

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const RUNTIMES: Array<[string, string[]]> = [
  ["standalone", [path.join(repo, "dist/passthrough")]],
  ["node bundle", [process.execPath, path.join(repo, "dist/passthrough.cjs")]],
];

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i !== -1 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}
const nodeCounts = arg("nodes", "16,64").split(",").map(Number);
const latency = Number(arg("latency", "50"));
const reps = Number(arg("reps", "5"));

const ENV: NodeJS.ProcessEnv = { ...process.env, PASSTHROUGH_PVE_TOKEN: tokenString("admin") };
delete ENV.NODE_EXTRA_CA_CERTS;

/** One run, asynchronously: the simulator answers from this process meanwhile. */
function timed(argv: string[]): Promise<{ ms: number; code: number | null; err: string }> {
  return new Promise((resolve) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(argv[0]!, argv.slice(1), { env: ENV, stdio: ["ignore", "ignore", "pipe"] });
    let err = "";
    child.stderr.on("data", (c: Buffer) => (err += c.toString()));
    child.on("close", (code) =>
      resolve({ ms: Number(process.hrtime.bigint() - t0) / 1e6, code, err }),
    );
  });
}

async function main(): Promise<void> {
  const certs = testCerts();
  console.log(`vm mapping check, ${latency} ms per answer, min of ${reps} runs`);
  console.log("nodes  runtime       parallel  requests  handshakes  min ms");
  for (const n of nodeCounts) {
    const sim = await PveSimulator.start(uniformCluster(n), { cert: certs.selfSigned });
    sim.latencyMs = latency;
    try {
      for (const [name, runtime] of RUNTIMES) {
        for (const parallel of ["8", "1"]) {
          const argv = [
            ...runtime,
            ...["vm", "mapping", "check", "--api", sim.url],
            ...["--fingerprint", certs.selfSigned.fingerprint, "--parallel", parallel],
            ...["--timeout", "600"],
          ];
          let best = Infinity;
          let requests = 0;
          let handshakes = 0;
          for (let i = 0; i <= reps; i++) {
            const before = { r: sim.requests.length, c: sim.connections };
            const r = await timed(argv);
            if (r.code !== 0) throw new Error(`exit ${r.code}: ${r.err.trim()}`);
            requests = sim.requests.length - before.r;
            handshakes = sim.connections - before.c;
            if (i > 0) best = Math.min(best, r.ms);
          }
          console.log(
            `${String(n).padStart(5)}  ${name.padEnd(12)}  ${parallel.padStart(8)}  ${String(requests).padStart(8)}  ${String(handshakes).padStart(10)}  ${best.toFixed(0).padStart(6)}`,
          );
        }
      }
    } finally {
      await sim.stop();
    }
  }
}

void main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
