// Debian 12's own Node.js for the benchmark: what a user who installs passthrough with npm on
// Proxmox VE 8 / Debian 12 runs it with (not this machine's Node). A bookworm root with the
// nodejs package, made by debootstrap from this machine's apt mirror and cached in
// .cache/bench/; commands run in it with chroot, the benchmark's files bind-mounted at /bench.
import { execFileSync, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { debianMirror, readAptSources } from "../../test/e2e/lib/apt-sources.js";

const MARKER = ".passthrough-bench-root";

export interface DebianNode {
  root: string;
  version: string;
  /** argv running `node ARGS` inside the root (paths under /bench). */
  argv(args: string[]): string[];
  /** Makes a folder of this machine visible at /bench/NAME inside the root. */
  mount(name: string, dir: string): string;
  close(): void;
}

export function debianNode(repo: string): DebianNode | string {
  if (process.getuid?.() !== 0) return "needs root (debootstrap, chroot, mount)";
  if (spawnSync("sh", ["-c", "command -v debootstrap"]).status !== 0)
    return "debootstrap is not installed (apt-get install debootstrap)";
  const root = path.join(repo, ".cache/bench/bookworm-nodejs");
  if (!fs.existsSync(path.join(root, MARKER))) {
    const mirror = debianMirror(readAptSources(), "bookworm");
    if (!mirror) return "no Debian bookworm mirror in this machine's apt configuration";
    fs.rmSync(root, { recursive: true, force: true });
    fs.mkdirSync(path.dirname(root), { recursive: true });
    process.stderr.write(`debootstrap bookworm with nodejs into ${root} (once)\n`);
    execFileSync(
      "debootstrap",
      ["--variant=minbase", "--include=nodejs", "bookworm", root, mirror],
      { stdio: ["ignore", "ignore", "inherit"] },
    );
    fs.writeFileSync(path.join(root, MARKER), `${mirror}\n`);
  }
  const mounts: string[] = [];
  const bind = (from: string, to: string) => {
    fs.mkdirSync(to, { recursive: true });
    execFileSync("mount", ["--bind", from, to]);
    mounts.push(to);
  };
  execFileSync("mount", ["-t", "proc", "proc", path.join(root, "proc")]);
  mounts.push(path.join(root, "proc"));
  const version = execFileSync("chroot", [root, "/usr/bin/node", "--version"], {
    encoding: "utf8",
  }).trim();
  return {
    root,
    version,
    argv: (args) => ["chroot", root, "/usr/bin/node", ...args],
    mount(name, dir) {
      bind(dir, path.join(root, "bench", name));
      return `/bench/${name}`;
    },
    close() {
      for (const m of mounts.reverse()) spawnSync("umount", ["-l", m]);
    },
  };
}
