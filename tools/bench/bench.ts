// npm run bench: the installed executable's start-up and discovery against lspci, and the same
// for the Node.js bundle (on this machine's Node and on Debian 12's own nodejs), same run.
//
//   start-up:  passthrough --version; passthrough check --snapshot examples/seed-host.tar.gz
//   discovery: passthrough list --json --snapshot DIR  against  lspci -nnk on the same tree
//              (lspci -A linux-sysfs -O sysfs.path=DIR/sys/bus/pci; `lspci -O help` lists it),
//              and check --json (the full read) for scale, on synthetic hosts of N functions.
// Runtimes: dist/passthrough (standalone, what the .deb installs), node dist/passthrough.cjs on
// this machine's Node.js, and on Debian 12's nodejs in a cached debootstrap root (as root only).
// Each command runs REPS times (after one untimed run), alternating; the minimum wall time and
// the minimum CPU time (user + system, GNU time, 10 ms steps) are reported. NODE_EXTRA_CA_CERTS
// is removed from the environment: hosts do not set it, and it costs Node.js ~35 ms a start.
// Options: --sizes 100,1000,10000  --reps 11  --keep  --no-debian-node

import "../esm-require.js"; // first: a `require` for the sources loaded below
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { writeFakeHost } from "../fakehost/write-tree.js";
import { debianNode, type DebianNode } from "./debian-node.js";
import { syntheticHost } from "./synthetic-host.js";

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const EXE = path.join(repo, "dist/passthrough");
const BUNDLE = path.join(repo, "dist/passthrough.cjs");
const EXAMPLE = path.join(repo, "examples/seed-host.tar.gz");

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i !== -1 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}
const sizes = arg("sizes", "100,1000,10000").split(",").map(Number);
const reps = Number(arg("reps", "11"));
const keep = process.argv.includes("--keep");

const GNU_TIME = fs.existsSync("/usr/bin/time") ? "/usr/bin/time" : null;
const ENV: NodeJS.ProcessEnv = { ...process.env, LC_ALL: "C" };
delete ENV.NODE_EXTRA_CA_CERTS;

interface Sample {
  ms: number;
  cpu: number | null;
  status: number | null;
  err: string;
}

function time(argv: string[]): Sample {
  const full = GNU_TIME ? [GNU_TIME, "-f", "@@cpu %U %S", ...argv] : argv;
  const t0 = process.hrtime.bigint();
  const r = spawnSync(full[0]!, full.slice(1), { stdio: ["ignore", "ignore", "pipe"], env: ENV });
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

interface Min {
  ms: number;
  cpu: number | null;
}

/** Runs every command once untimed, then REPS rounds alternating between them; minimum of each. */
function race(
  commands: Record<string, string[]>,
  ok: (name: string, s: Sample) => boolean,
): Record<string, Min> {
  const samples: Record<string, Sample[]> = {};
  for (const [name, argv] of Object.entries(commands)) {
    const s = time(argv);
    if (!ok(name, s)) throw new Error(`${argv.join(" ")} failed (exit ${s.status}): ${s.err}`);
    samples[name] = [];
  }
  for (let i = 0; i < reps; i++)
    for (const [name, argv] of Object.entries(commands)) samples[name]!.push(time(argv));
  const out: Record<string, Min> = {};
  for (const [name, xs] of Object.entries(samples)) {
    const cpus = xs.map((s) => s.cpu).filter((c): c is number => c !== null);
    out[name] = {
      ms: Math.min(...xs.map((s) => s.ms)),
      cpu: cpus.length ? Math.min(...cpus) : null,
    };
  }
  return out;
}

const fmt = (ms: number | null) => (ms === null ? "-" : `${ms.toFixed(ms < 100 ? 1 : 0)} ms`);
const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}×`;
/** check exits 1 when the host has a FAIL finding (the example host does); 2+ is an error. */
const exitOk = (_: string, s: Sample) => s.status === 0 || s.status === 1;

function version(argv: string[]): string {
  const r = spawnSync(argv[0]!, [...argv.slice(1), "--version"], { encoding: "utf8", env: ENV });
  return r.status === 0 ? r.stdout.trim().split("\n")[0]! : "not found";
}

function main(): void {
  for (const f of [EXE, BUNDLE])
    if (!fs.existsSync(f))
      throw new Error(`${f} is missing: run npm run build (npm run bench does)`);
  const lspci = version(["lspci"]);
  const haveLspci = lspci !== "not found";
  const deb = process.argv.includes("--no-debian-node")
    ? "skipped (--no-debian-node)"
    : debianNode(repo);
  const dn: DebianNode | null = typeof deb === "string" ? null : deb;
  if (!dn) console.log(`Debian 12's nodejs: ${deb}`);
  try {
    const runtimes: Record<string, (args: string[]) => string[]> = {
      standalone: (a) => [EXE, ...a],
      [`node ${process.version}`]: (a) => [process.execPath, BUNDLE, ...a],
    };
    let inRoot = (p: string) => p;
    if (dn) {
      const dist = dn.mount("dist", path.dirname(BUNDLE));
      const examples = dn.mount("examples", path.dirname(EXAMPLE));
      inRoot = (p) =>
        p.startsWith(path.dirname(BUNDLE))
          ? p.replace(path.dirname(BUNDLE), dist)
          : p.replace(path.dirname(EXAMPLE), examples);
      runtimes[`Debian 12 nodejs ${dn.version}`] = (a) =>
        dn.argv([inRoot(BUNDLE), ...a.map((x) => (x.startsWith("/") ? inRoot(x) : x))]);
    }
    console.log(`# passthrough benchmark — ${new Date().toISOString().slice(0, 10)}`);
    console.log(
      `machine: ${os.cpus()[0]?.model ?? "unknown CPU"}, ${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ${os.type()} ${os.release()}, load ${os.loadavg()[0]!.toFixed(2)}`,
    );
    console.log(`standalone: ${version([EXE])} (Bun runtime); ${lspci}; minimum of ${reps} runs\n`);

    // Start-up.
    const start: Record<string, string[]> = {};
    for (const [name, run] of Object.entries(runtimes)) {
      start[`${name}|version`] = run(["--version"]);
      start[`${name}|check`] = run(["check", "--snapshot", EXAMPLE]);
    }
    start["node -e 0|version"] = [process.execPath, "-e", "0"];
    if (dn) start["Debian node -e 0|version"] = dn.argv(["-e", "0"]);
    const s = race(start, exitOk);
    console.log(
      "| runtime | --version wall | CPU | check --snapshot examples/seed-host.tar.gz wall | CPU |",
    );
    console.log("| --- | ---: | ---: | ---: | ---: |");
    for (const name of [
      ...Object.keys(runtimes),
      "node -e 0",
      ...(dn ? ["Debian node -e 0"] : []),
    ]) {
      const v = s[`${name}|version`]!;
      const c = s[`${name}|check`];
      console.log(
        `| ${name} | ${fmt(v.ms)} | ${fmt(v.cpu)} | ${c ? fmt(c.ms) : "-"} | ${c ? fmt(c.cpu) : "-"} |`,
      );
    }

    // Discovery against lspci.
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "passthrough-bench-"));
    try {
      const rows: string[] = [];
      for (const n of sizes) {
        const dir = path.join(tmp, `host-${n}`);
        const t0 = Date.now();
        writeFakeHost(syntheticHost(n), dir);
        process.stderr.write(`generated ${n} functions in ${Date.now() - t0} ms\n`);
        const hostInRoot = dn ? dn.mount(`host-${n}`, dir) : dir;
        const cmds: Record<string, string[]> = {};
        if (haveLspci)
          cmds.lspci = [
            "lspci",
            "-nnk",
            "-A",
            "linux-sysfs",
            "-O",
            `sysfs.path=${dir}/sys/bus/pci`,
          ];
        for (const [name, run] of Object.entries(runtimes)) {
          const d = name.startsWith("Debian") ? hostInRoot : dir;
          cmds[name] = name.startsWith("Debian")
            ? dn!.argv([inRoot(BUNDLE), "list", "--json", "--snapshot", d])
            : run(["list", "--json", "--snapshot", d]);
        }
        cmds["standalone check"] = [EXE, "check", "--json", "--snapshot", dir];
        const r = race(cmds, (name, x) =>
          name.endsWith("check") ? exitOk(name, x) : x.status === 0,
        );
        const ls = r.lspci;
        for (const name of Object.keys(runtimes))
          rows.push(
            `| ${n.toLocaleString("en")} | ${name} | ${fmt(r[name]!.ms)} | ${fmt(r[name]!.cpu)} | ${ls ? fmt(ls.ms) : "-"} | ${ls ? ratio(r[name]!.ms, ls.ms) : "-"} | ${ls && r[name]!.cpu !== null && ls.cpu ? ratio(r[name]!.cpu!, ls.cpu) : "-"} |`,
          );
        rows.push(
          `| ${n.toLocaleString("en")} | standalone check --json (full read) | ${fmt(r["standalone check"]!.ms)} | ${fmt(r["standalone check"]!.cpu)} | | | |`,
        );
        if (!keep) fs.rmSync(dir, { recursive: true, force: true });
      }
      console.log(
        "\n| PCI functions | list --json | wall | CPU | lspci -nnk wall | ratio (wall) | ratio (CPU) |",
      );
      console.log("| ---: | --- | ---: | ---: | ---: | ---: | ---: |");
      for (const row of rows) console.log(row);
    } finally {
      if (!keep) fs.rmSync(tmp, { recursive: true, force: true });
    }
  } finally {
    dn?.close();
  }
}

main();
