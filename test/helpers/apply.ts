// Helpers for apply/rollback tests: temporary roots, whole-tree comparison, a hand-built plan
// of the shape the planner makes, and a file-system layer that fails on demand.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { nodeFs, type FsLayer } from "../../src/apply/file-writer.js";
import type { Plan } from "../../src/plan/types.js";

export const GRUB_BEFORE = `GRUB_DEFAULT=0
GRUB_TIMEOUT=5
GRUB_DISTRIBUTOR="Proxmox VE"
GRUB_CMDLINE_LINUX_DEFAULT="quiet"
GRUB_CMDLINE_LINUX=""
`;
export const GRUB_AFTER = GRUB_BEFORE.replace(`"quiet"`, `"quiet iommu=pt"`);
export const BLACKLIST = "blacklist nouveau\nblacklist nvidia*\n";
export const MODPROBE_AFTER = `# Written by passthrough (passthrough rollback undoes it).
options vfio-pci ids=10de:2206,10de:1aef
softdep nouveau pre: vfio-pci
softdep snd_hda_intel pre: vfio-pci
`;
export const MODULES_AFTER = "# Written by passthrough.\nvfio\nvfio_iommu_type1\nvfio_pci\n";

/** A temporary root with the files of a small Proxmox host's /etc. */
export function makeRoot(extra: Record<string, string> = {}): { dir: string; cleanup: () => void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "passthrough-apply-"));
  const files: Record<string, string> = {
    "etc/default/grub": GRUB_BEFORE,
    "etc/modprobe.d/blacklist.conf": BLACKLIST,
    "etc/modprobe.d/pve-blacklist.conf": "blacklist nvidiafb\n",
    "etc/modules": "# /etc/modules\n",
    "var/lib/.keep": "",
    ...extra,
  };
  for (const [rel, content] of Object.entries(files)) {
    fs.mkdirSync(path.join(dir, path.dirname(rel)), { recursive: true });
    fs.writeFileSync(path.join(dir, rel), content);
  }
  fs.chmodSync(path.join(dir, "etc/default/grub"), 0o640);
  return { dir, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/** The plan the planner makes for the seed host's RTX 3080, by hand. */
export function samplePlan(): Plan {
  return {
    selection: {
      requested: ["0000:01:00"],
      functions: ["0000:01:00.0", "0000:01:00.1"],
      groups: [12],
    },
    steps: [
      {
        kind: "file",
        path: "/etc/default/grub",
        before: GRUB_BEFORE,
        after: GRUB_AFTER,
        why: "add iommu=pt",
      },
      {
        kind: "file",
        path: "/etc/modprobe.d/passthrough.conf",
        before: null,
        after: MODPROBE_AFTER,
        mode: 0o644,
        why: "bind to vfio-pci",
      },
      {
        kind: "file",
        path: "/etc/modules-load.d/passthrough.conf",
        before: null,
        after: MODULES_AFTER,
        mode: 0o644,
        why: "load vfio modules",
      },
      {
        kind: "file",
        path: "/etc/modprobe.d/blacklist.conf",
        before: BLACKLIST,
        after: null,
        why: "remove the no-op blacklist nvidia*",
      },
      { kind: "command", argv: ["update-grub"], why: "regenerate grub.cfg" },
      {
        kind: "command",
        argv: ["update-initramfs", "-u", "-k", "all"],
        why: "rebuild the initramfs",
      },
      { kind: "reboot", why: "the command line and bindings take effect at boot" },
    ],
    findings: [],
    expect: {
      cmdline: ["iommu=pt"],
      modulesLoaded: ["vfio", "vfio_iommu_type1", "vfio_pci"],
      boundToVfio: ["0000:01:00.0", "0000:01:00.1"],
    },
    phase: "complete",
  };
}

const EXCLUDE = "var/lib/passthrough";

/** Every entry of a tree with its type, mode, owner and bytes (the journal and lock left out). */
export function treeState(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (rel: string) => {
    const abs = path.join(dir, rel);
    for (const name of fs.readdirSync(abs).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      if (r === EXCLUDE) continue;
      const st = fs.lstatSync(path.join(dir, r));
      const owner = `${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid}`;
      if (st.isSymbolicLink()) out.set(r, `link ${fs.readlinkSync(path.join(dir, r))}`);
      else if (st.isDirectory()) {
        out.set(r, `dir ${owner}`);
        walk(r);
      } else out.set(r, `file ${owner} ${fs.readFileSync(path.join(dir, r)).toString("base64")}`);
    }
  };
  walk("");
  return out;
}

export function read(dir: string, rel: string): string | null {
  try {
    return fs.readFileSync(path.join(dir, rel), "utf8");
  } catch {
    return null;
  }
}

/** Temporary files left by a writer anywhere in the tree. */
export function tempFiles(dir: string): string[] {
  return [...treeState(dir).keys()].filter((k) => path.basename(k).includes(".passthrough-tmp-"));
}

export class Killed extends Error {
  code = "EKILLED";
}

type Rule = { op: keyof FsLayer; match: (p: string) => boolean; code: string };

/**
 * The real file system, except: `failOn` makes matching calls throw an errno error, and
 * `dieAfter(n)` lets n calls through and then fails every later one — a process killed at that
 * point does nothing more, including its own cleanup. Wraps the real file system or a MemFs.
 */
export class FaultFs implements FsLayer {
  calls = 0;

  constructor(private readonly inner: FsLayer = nodeFs) {}

  private limit = Infinity;
  private rules: Rule[] = [];

  failOn(op: keyof FsLayer, match: (p: string) => boolean, code: string): this {
    this.rules.push({ op, match, code });
    return this;
  }

  dieAfter(n: number): this {
    this.limit = n;
    return this;
  }

  get dead(): boolean {
    return this.calls >= this.limit;
  }

  private gate(op: keyof FsLayer, p: string | number): void {
    if (this.calls >= this.limit) throw new Killed(`killed before ${op}`);
    this.calls++;
    for (const r of this.rules) {
      if (r.op === op && typeof p === "string" && r.match(p)) {
        const e = new Error(`${r.code}: injected on ${op} ${p}`) as NodeJS.ErrnoException;
        e.code = r.code;
        throw e;
      }
    }
  }

  private fdPaths = new Map<number, string>();

  openSync(p: string, flags: string, mode?: number) {
    this.gate("openSync", p);
    const fd = this.inner.openSync(p, flags, mode);
    this.fdPaths.set(fd, p);
    return fd;
  }
  writeSync(fd: number, buf: Uint8Array, off: number, len: number) {
    this.gate("writeSync", this.fdPaths.get(fd) ?? fd);
    return this.inner.writeSync(fd, buf, off, len);
  }
  fsyncSync(fd: number) {
    // Counted and gated like every call; the flush itself is skipped (a test never loses power,
    // and ~300 real fsyncs per sweep step would make the kill sweeps slow).
    this.gate("fsyncSync", this.fdPaths.get(fd) ?? fd);
  }
  fstatSync(fd: number) {
    this.gate("fstatSync", this.fdPaths.get(fd) ?? fd);
    return this.inner.fstatSync(fd);
  }
  fchmodSync(fd: number, mode: number) {
    this.gate("fchmodSync", this.fdPaths.get(fd) ?? fd);
    this.inner.fchmodSync(fd, mode);
  }
  fchownSync(fd: number, uid: number, gid: number) {
    this.gate("fchownSync", this.fdPaths.get(fd) ?? fd);
    this.inner.fchownSync(fd, uid, gid);
  }
  closeSync(fd: number) {
    // A kill closes every descriptor: never leak them across tests.
    if (this.calls >= this.limit) {
      this.inner.closeSync(fd);
      this.fdPaths.delete(fd);
      throw new Killed("killed before closeSync");
    }
    this.gate("closeSync", this.fdPaths.get(fd) ?? fd);
    this.fdPaths.delete(fd);
    this.inner.closeSync(fd);
  }
  renameSync(a: string, b: string) {
    this.gate("renameSync", b);
    this.inner.renameSync(a, b);
  }
  linkSync(a: string, b: string) {
    this.gate("linkSync", b);
    this.inner.linkSync(a, b);
  }
  unlinkSync(p: string) {
    this.gate("unlinkSync", p);
    this.inner.unlinkSync(p);
  }
  mkdirSync(p: string, mode: number) {
    this.gate("mkdirSync", p);
    this.inner.mkdirSync(p, mode);
  }
  rmdirSync(p: string) {
    this.gate("rmdirSync", p);
    this.inner.rmdirSync(p);
  }
  readFileSync(p: string) {
    this.gate("readFileSync", p);
    return this.inner.readFileSync(p);
  }
  readdirSync(p: string) {
    this.gate("readdirSync", p);
    return this.inner.readdirSync(p);
  }
  lstatSync(p: string) {
    this.gate("lstatSync", p);
    return this.inner.lstatSync(p);
  }
  realpathSync(p: string) {
    this.gate("realpathSync", p);
    return this.inner.realpathSync(p);
  }
}

let dead: number | null = null;
/** A pid that no longer runs (for stale-lock tests); one child, spawned once. */
export function deadPid(): number {
  dead ??= spawnSync("true").pid!;
  return dead;
}
