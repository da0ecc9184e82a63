// Fake `qm`/`pvesh` (fake-pve.cjs) and `virsh` (fake-virsh.cjs) on a temporary PATH, plus a
// CommandRunner that records every argv it runs.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { REPO } from "./fixtures.js";
import {
  ProcessRunner,
  type CommandResult,
  type CommandRunner,
  type RunOptions,
} from "../../src/process/run.js";

export interface FakeHost {
  dir: string;
  env: NodeJS.ProcessEnv;
  /** Every call the fakes got, as argv arrays (tool name first). */
  calls(): string[][];
  cleanup(): void;
}

function install(
  names: Record<string, string>,
  envExtra: (dir: string) => NodeJS.ProcessEnv,
): FakeHost {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "passthrough-fake-"));
  const bin = path.join(dir, "bin");
  fs.mkdirSync(bin);
  for (const [name, script] of Object.entries(names)) {
    fs.copyFileSync(path.join(REPO, "test/helpers", script), path.join(bin, name));
    fs.chmodSync(path.join(bin, name), 0o755);
  }
  const env = { PATH: `${bin}${path.delimiter}${process.env.PATH ?? ""}`, ...envExtra(dir) };
  return {
    dir,
    env,
    calls: () => readCalls(dir),
    cleanup: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}

/** The argv arrays a fake appended to DIR/calls.jsonl. */
function readCalls(dir: string): string[][] {
  const f = path.join(dir, "calls.jsonl");
  return fs.existsSync(f)
    ? fs
        .readFileSync(f, "utf8")
        .trim()
        .split("\n")
        .filter(Boolean)
        .map((l) => JSON.parse(l) as string[])
    : [];
}

/** Proxmox containers: fake `pct` (fake-pct.cjs) acting on the configs in lxcDir, where it logs its calls. */
export function fakePct(lxcDir: string): FakeHost {
  const h = install({ pct: "fake-pct.cjs" }, () => ({ FAKE_PCT_LXC_DIR: lxcDir }));
  return { ...h, calls: () => readCalls(lxcDir) };
}

/** A Proxmox node: VM configs (file text) by vmid, on `node`. */
export function fakePve(
  vms: Record<number, string>,
  node = "pve",
): FakeHost & { conf(vmid: number): string | null } {
  const h = install({ qm: "fake-pve.cjs", pvesh: "fake-pve.cjs" }, (dir) => ({
    FAKE_PVE_DIR: dir,
    FAKE_PVE_NODE: node,
  }));
  const qs = path.join(h.dir, "nodes", node, "qemu-server");
  fs.mkdirSync(qs, { recursive: true });
  for (const [id, text] of Object.entries(vms)) fs.writeFileSync(path.join(qs, `${id}.conf`), text);
  return {
    ...h,
    conf: (vmid) => {
      const f = path.join(qs, `${vmid}.conf`);
      return fs.existsSync(f) ? fs.readFileSync(f, "utf8") : null;
    },
  };
}

/** A libvirt host: domain XML by name. */
export function fakeVirsh(
  domains: Record<string, string>,
): FakeHost & { domain(name: string): string | null; volumes(): string[] } {
  const h = install({ virsh: "fake-virsh.cjs" }, (dir) => ({ FAKE_VIRSH_DIR: dir }));
  fs.mkdirSync(path.join(h.dir, "domains"));
  fs.mkdirSync(path.join(h.dir, "volumes"));
  for (const [name, xml] of Object.entries(domains))
    fs.writeFileSync(path.join(h.dir, "domains", `${name}.xml`), xml);
  return {
    ...h,
    domain: (name) => {
      const f = path.join(h.dir, "domains", `${name}.xml`);
      return fs.existsSync(f) ? fs.readFileSync(f, "utf8") : null;
    },
    volumes: () => fs.readdirSync(path.join(h.dir, "volumes")).sort(),
  };
}

/** Records each argv, then runs it (or answers from `reply`). */
export class RecordingRunner implements CommandRunner {
  readonly description = "recording runner";
  readonly calls: string[][] = [];
  constructor(
    private readonly inner: CommandRunner = new ProcessRunner(),
    private readonly reply?: (argv: readonly string[]) => CommandResult | undefined,
  ) {}
  run(argv: readonly string[], options?: RunOptions): CommandResult {
    this.calls.push([...argv]);
    return this.reply?.(argv) ?? this.inner.run(argv, options);
  }
}
