// npm run bench: passthrough's discovery against lspci on the same synthetic sysfs trees, in
// the same run, and the cold start of a diagnosis of the bundled example host.
//
//   passthrough:  node dist/passthrough.cjs list --json --snapshot DIR
//   lspci:        lspci -nnk -A linux-sysfs -O sysfs.path=DIR/sys/bus/pci
//                 (pciutils' sysfs access method; `lspci -O help` lists sysfs.path, whose
//                 default is /sys/bus/pci)
// Each is run REPS times per size, alternating, and the median wall time is reported.
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

function time(argv: string[]): { ms: number; status: number | null; err: string } {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(argv[0]!, argv.slice(1), { stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, LC_ALL: "C" } });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  return { ms, status: r.status, err: r.stderr?.toString() ?? "" };
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
  if (!fs.existsSync(cliPath)) throw new Error("dist/passthrough.cjs is missing: run `npm run build` (npm run bench does)");
  const lspci = lspciVersion();
  if (!lspci) console.log("lspci not found (Debian: apt install pciutils): timing passthrough alone");
  const cpu = os.cpus()[0]?.model ?? "unknown CPU";
  console.log(`# passthrough benchmark — ${new Date().toISOString().slice(0, 10)}`);
  console.log(`machine: ${cpu}, ${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ${os.type()} ${os.release()}`);
  console.log(`node ${process.version}; ${lspci ?? "no lspci"}; ${reps} runs each, median\n`);

  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "passthrough-bench-"));
  const rows: Array<{ n: number; pt: number; ls: number | null }> = [];
  try {
    for (const n of sizes) {
      const dir = path.join(tmp, `host-${n}`);
      const t0 = Date.now();
      writeFakeHost(syntheticHost(n), dir);
      process.stderr.write(`generated ${n} functions in ${Date.now() - t0} ms (${dir})\n`);
      const ptArgv = [process.execPath, cliPath, "list", "--json", "--snapshot", dir];
      const lsArgv = ["lspci", "-nnk", "-A", "linux-sysfs", "-O", `sysfs.path=${dir}/sys/bus/pci`];
      // One untimed run each warms the page cache for both.
      const check = time(ptArgv);
      if (check.status !== 0) throw new Error(`passthrough list failed on ${dir}: ${check.err}`);
      if (lspci) time(lsArgv);
      const pt: number[] = [];
      const ls: number[] = [];
      for (let i = 0; i < reps; i++) {
        pt.push(time(ptArgv).ms);
        if (lspci) ls.push(time(lsArgv).ms);
      }
      rows.push({ n, pt: median(pt), ls: lspci ? median(ls) : null });
      if (!keep) fs.rmSync(dir, { recursive: true, force: true });
    }
  } finally {
    if (!keep) fs.rmSync(tmp, { recursive: true, force: true });
  }

  console.log("| PCI functions | passthrough list --json | lspci -nnk | ratio | passthrough per 1 000 functions |");
  console.log("| ---: | ---: | ---: | ---: | ---: |");
  for (const r of rows) {
    const ratio = r.ls ? `${(r.pt / r.ls).toFixed(2)}×` : "-";
    console.log(`| ${r.n.toLocaleString("en")} | ${fmt(r.pt)} | ${r.ls ? fmt(r.ls) : "-"} | ${ratio} | ${fmt((r.pt / r.n) * 1000)} |`);
  }
  if (rows.length >= 2) {
    const a = rows[rows.length - 2]!;
    const b = rows[rows.length - 1]!;
    console.log(`\ngrowth ${a.n} -> ${b.n} functions (${(b.n / a.n).toFixed(0)}×): passthrough ${(b.pt / a.pt).toFixed(1)}×${a.ls && b.ls ? `, lspci ${(b.ls / a.ls).toFixed(1)}×` : ""}`);
  }

  // Cold start of a full diagnosis of the bundled example host (a fresh process every run).
  const help = spawnSync(process.execPath, [cliPath, "--help"], { encoding: "utf8" }).stdout;
  const hasCheck = /^\s+check\b/m.test(help);
  const example = path.join(repo, "examples/seed-host.tar.gz");
  const cmd = hasCheck ? "check" : "list";
  const cold: number[] = [];
  for (let i = 0; i < reps; i++) cold.push(time([process.execPath, cliPath, cmd, "--snapshot", example]).ms);
  const node = median(Array.from({ length: reps }, () => time([process.execPath, "-e", "0"]).ms));
  console.log(`\ncold start: passthrough ${cmd} --snapshot examples/seed-host.tar.gz: ${fmt(median(cold))} (node -e 0 alone: ${fmt(node)})`);
  if (!hasCheck) console.log("(`check` is not on this branch yet: timed `list` instead)");
}

main();
