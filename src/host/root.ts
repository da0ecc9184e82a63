// A HostRoot is the one way discovery reads a host: the live machine ("/") or a snapshot
// folder. Same code either way (snapshot-format.md); only command output differs: the live
// host runs a short allow-listed command, a snapshot has its saved output under cmd/.
//
// Snapshot safety: paths are resolved inside the root. A link that points outside the root
// is treated as absent, so a crafted snapshot cannot make us read this machine's files.

import * as fs from "node:fs";
import * as path from "node:path";
import { describeFsError } from "../errors.js";
import { runCapturedCommand, type CapturedCommand } from "./commands.js";

export type ReadResult<T> = { ok: true; value: T } | { ok: false; reason: string };

export interface HostRoot {
  readonly kind: "live" | "snapshot";
  /** Folder on this machine that is the root ("/" or the unpacked snapshot). */
  readonly dir: string;
  /** For messages: "this host" or the snapshot path as the user gave it. */
  readonly label: string;
  /** Read a text file ("sys/bus/pci/devices/0000:01:00.0/vendor"). */
  readText(rel: string): ReadResult<string>;
  readBytes(rel: string, maxBytes?: number): ReadResult<Buffer>;
  /** Raw link target, as readlink shows it; null when not a link or absent. */
  readLink(rel: string): string | null;
  /** Root-relative path with every link followed inside the root; null when absent or escaping. */
  resolve(rel: string): string | null;
  /** Entry names of a folder, sorted; null when absent. */
  list(rel: string): string[] | null;
  exists(rel: string): boolean;
  isDir(rel: string): boolean;
  isLink(rel: string): boolean;
  /** Output of an allow-listed command: run live, or read from cmd/NAME in a snapshot. */
  command(name: CapturedCommand): ReadResult<string>;
  /** Whether a program is installed (searched in the usual sbin/bin folders of the root). */
  hasTool(name: string): boolean;
}

const TOOL_DIRS = ["usr/sbin", "usr/bin", "sbin", "bin", "usr/local/sbin", "usr/local/bin"];

export interface DirectoryRootOptions {
  kind: "live" | "snapshot";
  label?: string;
  /** Tools recorded at capture time (manifest.json "tools"), for snapshots. */
  tools?: string[];
}

export class DirectoryRoot implements HostRoot {
  readonly kind: "live" | "snapshot";
  readonly dir: string;
  readonly label: string;
  private readonly realDir: string;
  private readonly checked: boolean;
  /** Folders (root-relative) known to contain no link component and to lie inside the root. */
  private readonly plainDirs = new Set<string>([""]);
  private readonly tools: Set<string> | null;

  constructor(dir: string, options: DirectoryRootOptions) {
    this.kind = options.kind;
    this.dir = path.resolve(dir);
    this.label = options.label ?? (options.kind === "live" ? "this host" : dir);
    this.realDir = fs.realpathSync.native(this.dir);
    // Reading "/" needs no containment check: nothing is outside it.
    this.checked = this.realDir !== "/";
    this.tools = options.tools ? new Set(options.tools) : null;
  }

  private abs(rel: string): string {
    return path.join(this.realDir, rel);
  }

  /** Absolute path that is safe to open for `rel`, or null when it resolves outside the root. */
  private safePath(input: string): string | null {
    const rel = normalizeRel(input);
    if (rel === null) return null;
    if (!this.checked) return this.abs(rel);
    const dir = path.posix.dirname(rel) === "." ? "" : path.posix.dirname(rel);
    if (!this.plainDirs.has(dir)) {
      let real: string;
      try {
        real = fs.realpathSync.native(this.abs(dir));
      } catch {
        return this.abs(rel); // absent: let the read report it
      }
      if (real === this.abs(dir)) {
        this.plainDirs.add(dir);
      } else {
        if (!this.inside(real)) return null;
        return this.finalComponent(path.join(real, path.posix.basename(rel)));
      }
    }
    return this.finalComponent(this.abs(rel));
  }

  /** The last component may itself be a link: follow it only if it stays inside. */
  private finalComponent(abs: string): string | null {
    try {
      const st = fs.lstatSync(abs);
      if (!st.isSymbolicLink()) return abs;
      const real = fs.realpathSync.native(abs);
      return this.inside(real) ? real : null;
    } catch {
      return abs;
    }
  }

  private inside(real: string): boolean {
    if (!this.checked) return true;
    return real === this.realDir || real.startsWith(this.realDir + path.sep);
  }

  readText(rel: string): ReadResult<string> {
    const r = this.readBytes(rel);
    return r.ok ? { ok: true, value: r.value.toString("utf8") } : r;
  }

  readBytes(rel: string, maxBytes?: number): ReadResult<Buffer> {
    const p = this.safePath(rel);
    if (p === null) return { ok: false, reason: `${rel}: link points outside the ${this.kind === "live" ? "root" : "snapshot"}` };
    try {
      if (maxBytes === undefined) return { ok: true, value: fs.readFileSync(p) };
      const fd = fs.openSync(p, "r");
      try {
        const buf = Buffer.alloc(maxBytes);
        const n = fs.readSync(fd, buf, 0, maxBytes, 0);
        return { ok: true, value: buf.subarray(0, n) };
      } finally {
        fs.closeSync(fd);
      }
    } catch (err) {
      return { ok: false, reason: `${rel}: ${describeFsError(err)}` };
    }
  }

  readLink(rel: string): string | null {
    const n = normalizeRel(rel);
    if (n === null) return null;
    const dir = path.posix.dirname(n) === "." ? "" : path.posix.dirname(n);
    const base = path.posix.basename(n);
    const parent = dir === "" ? this.realDir : this.safePath(dir);
    if (parent === null) return null;
    try {
      return fs.readlinkSync(path.join(parent, base));
    } catch {
      return null;
    }
  }

  resolve(rel: string): string | null {
    const n = normalizeRel(rel);
    if (n === null) return null;
    try {
      const real = fs.realpathSync.native(this.abs(n));
      if (!this.inside(real)) return null;
      return path.relative(this.realDir, real).split(path.sep).join("/");
    } catch {
      return null;
    }
  }

  list(rel: string): string[] | null {
    const p = this.safePath(rel);
    if (p === null) return null;
    try {
      return fs.readdirSync(p).sort();
    } catch {
      return null;
    }
  }

  exists(rel: string): boolean {
    const p = this.safePath(rel);
    if (p === null) return false;
    try {
      fs.lstatSync(p);
      return true;
    } catch {
      return false;
    }
  }

  isDir(rel: string): boolean {
    const p = this.safePath(rel);
    if (p === null) return false;
    try {
      return fs.statSync(p).isDirectory();
    } catch {
      return false;
    }
  }

  isLink(rel: string): boolean {
    const n = normalizeRel(rel);
    if (n === null) return false;
    try {
      return fs.lstatSync(this.abs(n)).isSymbolicLink();
    } catch {
      return false;
    }
  }

  command(name: CapturedCommand): ReadResult<string> {
    if (this.kind === "snapshot") {
      const r = this.readText(`cmd/${name}`);
      return r.ok ? r : { ok: false, reason: `cmd/${name} is not in the snapshot` };
    }
    return runCapturedCommand(name, (tool) => this.hasTool(tool));
  }

  hasTool(name: string): boolean {
    if (this.tools?.has(name)) return true;
    return TOOL_DIRS.some((d) => this.exists(`${d}/${name}`));
  }
}

/** "a/./b/../c" -> "a/c"; leading "/" dropped; null when it climbs above the root. */
export function normalizeRel(rel: string): string | null {
  const n = path.posix.normalize(rel.replace(/^\/+/, ""));
  if (n === "." || n === "") return "";
  if (n === ".." || n.startsWith("../")) return null;
  return n.replace(/\/+$/, "");
}

/** Read a one-line sysfs attribute: trimmed text, or null when absent/unreadable. */
export function readAttr(root: HostRoot, rel: string): string | null {
  const r = root.readText(rel);
  return r.ok ? r.value.trim() : null;
}

/** Last component of a link target ("../../../bus/pci/drivers/vfio-pci" -> "vfio-pci"). */
export function linkName(root: HostRoot, rel: string): string | null {
  const t = root.readLink(rel);
  if (t === null) return null;
  const parts = t.split("/").filter(Boolean);
  return parts.length ? parts[parts.length - 1]! : null;
}
