// npm run bench: passthrough's discovery against lspci on the same synthetic sysfs trees, in
// the same run, and the cold start of a diagnosis of the bundled example host.
//
//   passthrough:  node dist/passthrough.cjs list --json --snapshot DIR
//                 (list reads what it shows of each function, as lspci -nnk does)
//   lspci:        lspci -nnk -A linux-sysfs -O sysfs.path=DIR/sys/bus/pci
//   check:        node dist/passthrough.cjs check --json --snapshot DIR, for scale: the full
//                 read of every function (config space, BARs, link, ...) and every check
//                 (pciutils' sysfs access method; `lspci -O help` lists sysfs.path, whose
//                 default is /sys/bus/pci)
// Each is run REPS times per size, alternating; the medians of wall time and of CPU time
// (user + system, from GNU time when installed) are reported.
// Options: --sizes 100,1000,10000  --reps 7  --keep (leave the generated trees in the temp folder)

import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { writeFakeHost } from "../fakehost/write-tree.js";
import { syntheticHost } from "./synthetic-host.js";

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const cliPath = path.join(repo, "dist/passthrough.cjs");

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i !== -1 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}
const sizes = arg("sizes", "100,1000,10000").split(",").map(Number);
const reps = Number(arg("reps", "7"));
const keep = process.argv.includes("--keep");

/** GNU time (Debian package "time") reports the child's CPU time, which a busy machine distorts far less than wall time. */
const GNU_TIME = fs.existsSync("/usr/bin/time") ? "/usr/bin/time" : null;

interface Sample {
  ms: number;
  /** user + system CPU time, ms (10 ms resolution); null without GNU time. */
  cpu: number | null;
  status: number | null;
  err: string;
}

function time(argv: string[]): Sample {
  const full = GNU_TIME ? [GNU_TIME, "-f", "@@cpu %U %S", ...argv] : argv;
  const t0 = process.hrtime.bigint();
  const r = spawnSync(full[0]!, full.slice(1), {
    stdio: ["ignore", "ignore", "pipe"],
    env: { ...process.env, LC_ALL: "C" },
  });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  const err = r.stderr?.toString() ?? "";
  const m = /@@cpu ([\d.]+) ([\d.]+)\s*$/.exec(err);
  return {
    ms,
    cpu: m ? (Number(m[1]) + Number(m[2])) * 1000 : null,
    status: r.status,
    err: err.replace(/@@cpu .*\s*$/, ""),
  };
}

function medianOf(samples: Sample[], key: "ms" | "cpu"): number | null {
  const xs = samples.map((s) => s[key]).filter((x): x is number => x !== null);
  return xs.length ? median(xs) : null;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

const fmt = (ms: number) => `${ms.toFixed(ms < 100 ? 1 : 0)} ms`;

function lspciVersion(): string | null {
  const r = spawnSync("lspci", ["--version"], { encoding: "utf8" });
  return r.status === 0 ? r.stdout.trim() : null;
}

function main(): void {
  if (!fs.existsSync(cliPath))
    throw new Error("dist/passthrough.cjs is missing: run `npm run build` (npm run bench does)");
  const lspci = lspciVersion();
  if (!lspci)
    console.log("lspci not found (Debian: apt install pciutils): timing passthrough alone");
  const cpu = os.cpus()[0]?.model ?? "unknown CPU";
  console.log(`# passthrough benchmark — ${new Date().toISOString().slice(0, 10)}`);
  console.log(
    `machine: ${cpu}, ${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ${os.type()} ${os.release()}`,
  );
  console.log(`node ${process.version}; ${lspci ?? "no lspci"}; ${reps} runs each, median\n`);

  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "passthrough-bench-"));
  type Row = {
    n: number;
    pt: number;
    ls: number | null;
    ptCpu: number | null;
    lsCpu: number | null;
    ck: number;
    ckCpu: number | null;
  };
  const rows: Row[] = [];
  try {
    for (const n of sizes) {
      const dir = path.join(tmp, `host-${n}`);
      const t0 = Date.now();
      writeFakeHost(syntheticHost(n), dir);
      process.stderr.write(`generated ${n} functions in ${Date.now() - t0} ms (${dir})\n`);
      const ptArgv = [process.execPath, cliPath, "list", "--json", "--snapshot", dir];
      const lsArgv = ["lspci", "-nnk", "-A", "linux-sysfs", "-O", `sysfs.path=${dir}/sys/bus/pci`];
      const ckArgv = [process.execPath, cliPath, "check", "--json", "--snapshot", dir];
      // One untimed run each warms the page cache for both.
      const check = time(ptArgv);
      if (check.status !== 0) throw new Error(`passthrough list failed on ${dir}: ${check.err}`);
      if (lspci) time(lsArgv);
      const pt: Sample[] = [];
      const ls: Sample[] = [];
      const ck: Sample[] = [];
      for (let i = 0; i < reps; i++) {
        pt.push(time(ptArgv));
        if (lspci) ls.push(time(lsArgv));
        ck.push(time(ckArgv));
      }
      // check exits 1 when it finds problems (the synthetic host has some); 2+ is an error.
      if (ck.some((c) => c.status === null || c.status > 1))
        throw new Error(
          `passthrough check failed on ${dir}: ${ck.find((c) => c.status !== 0 && c.status !== 1)?.err}`,
        );
      rows.push({
        n,
        pt: medianOf(pt, "ms")!,
        ls: lspci ? medianOf(ls, "ms") : null,
        ptCpu: medianOf(pt, "cpu"),
        lsCpu: lspci ? medianOf(ls, "cpu") : null,
        ck: medianOf(ck, "ms")!,
        ckCpu: medianOf(ck, "cpu"),
      });
      if (!keep) fs.rmSync(dir, { recursive: true, force: true });
    }
  } finally {
    if (!keep) fs.rmSync(tmp, { recursive: true, force: true });
  }

  const ratio = (a: number | null, b: number | null) =>
    a !== null && b ? `${(a / b).toFixed(2)}×` : "-";
  const f = (x: number | null) => (x === null ? "-" : fmt(x));
  console.log(
    "| PCI functions | list wall | lspci wall | ratio | list CPU | lspci CPU | ratio (CPU) | check wall (full read) | check CPU |",
  );
  console.log("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
  for (const r of rows) {
    console.log(
      `| ${r.n.toLocaleString("en")} | ${fmt(r.pt)} | ${f(r.ls)} | ${ratio(r.pt, r.ls)} | ${f(r.ptCpu)} | ${f(r.lsCpu)} | ${ratio(r.ptCpu, r.lsCpu)} | ${fmt(r.ck)} | ${f(r.ckCpu)} |`,
    );
  }
  // Per function, from the two largest sizes: the slope without the fixed start-up cost.
  if (rows.length >= 2) {
    const a = rows[rows.length - 2]!;
    const b = rows[rows.length - 1]!;
    const per = (x: number | null, y: number | null) =>
      x !== null && y !== null ? `${(((y - x) / (b.n - a.n)) * 1000).toFixed(0)} µs` : "-";
    console.log(
      `per function (${a.n} -> ${b.n}, wall): list ${per(a.pt, b.pt)}, lspci ${per(a.ls, b.ls)}, check ${per(a.ck, b.ck)}`,
    );
  }
  for (let i = 1; i < rows.length; i++) {
    const a = rows[i - 1]!;
    const b = rows[i]!;
    const g = (x: number | null, y: number | null) =>
      x !== null && y !== null ? `${(y / x).toFixed(1)}×` : "-";
    console.log(
      `growth ${a.n} -> ${b.n} functions (${(b.n / a.n).toFixed(0)}×): passthrough wall ${g(a.pt, b.pt)}, CPU ${g(a.ptCpu, b.ptCpu)}; lspci wall ${g(a.ls, b.ls)}, CPU ${g(a.lsCpu, b.lsCpu)}`,
    );
  }

  // Cold start of a full diagnosis of the bundled example host (a fresh process every run).
  const example = path.join(repo, "examples/seed-host.tar.gz");
  const cmd = "check";
  const cold: Sample[] = [];
  const bare: Sample[] = [];
  for (let i = 0; i < Math.max(reps, 11); i++) {
    cold.push(time([process.execPath, cliPath, cmd, "--snapshot", example]));
    bare.push(time([process.execPath, "-e", "0"]));
  }
  console.log(
    `\ncold start: passthrough ${cmd} --snapshot examples/seed-host.tar.gz: wall ${fmt(medianOf(cold, "ms")!)}, CPU ${f(medianOf(cold, "cpu"))}` +
      ` (node -e 0 alone: wall ${fmt(medianOf(bare, "ms")!)}, CPU ${f(medianOf(bare, "cpu"))})`,
  );
}

main();
