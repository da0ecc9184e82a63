// A HostRoot is the one way discovery reads a host: the live machine ("/") or a snapshot
// folder. Same code either way (docs/snapshot-format.md); only command output differs: the live
// host runs a short allow-listed command, a snapshot has its saved output under cmd/.
//
// Snapshot safety: paths are resolved inside the root. A link that points outside the root
// is treated as absent, so a crafted snapshot cannot make us read this machine's files.

import { fileTypeName } from "../input-file.js";
import * as fs from "node:fs";
import * as path from "node:path";
import { describeFsError } from "../errors.js";
import { runCapturedCommand, type CapturedCommand } from "./commands.js";
import { decodeHostText } from "../formats/host-text.js";

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
  /**
   * Folders that exist but could not be listed (permission denied ...), as unknowns: a folder
   * read as empty would otherwise let a check pass on what it never saw.
   */
  listProblems(): readonly { field: string; reason: string }[];
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
  private readonly problems = new Map<string, { field: string; reason: string }>();

  listProblems(): readonly { field: string; reason: string }[] {
    return [...this.problems.values()];
  }

  constructor(dir: string, options: DirectoryRootOptions) {
    this.kind = options.kind;
    this.dir = path.resolve(dir);
    this.label = options.label ?? (options.kind === "live" ? "this host" : dir);
    this.realDir = fs.realpathSync.native(this.dir);
    // Reading "/" needs no containment check: nothing is outside it.
    this.checked = this.realDir !== "/";
    this.tools = options.tools ? new Set(options.tools) : null;
  }

  /** `rel` is normalized (normalizeRel), so plain concatenation is exact. */
  private abs(rel: string): string {
    if (rel === "") return this.realDir;
    return this.realDir === "/" ? `/${rel}` : `${this.realDir}/${rel}`;
  }

  /**
   * Whether `dir` is a real folder inside the root with no link anywhere on its path, so its
   * absolute path is its real path. One lstat per new folder once its parent is known: far
   * cheaper than realpath(3), which re-reads every component (discovery visits a folder per
   * PCI function).
   */
  private isPlainDir(dir: string): boolean {
    if (this.plainDirs.has(dir)) return true;
    const parent = path.posix.dirname(dir) === "." ? "" : path.posix.dirname(dir);
    if (parent === dir || !this.isPlainDir(parent)) return false;
    try {
      if (!fs.lstatSync(this.abs(dir)).isDirectory()) return false;
    } catch {
      return false;
    }
    this.plainDirs.add(dir);
    return true;
  }

  /**
   * Absolute path that is safe to open for `rel`, or null when it resolves outside the root.
   * With `followFinal` false the last component is not checked: the caller opens it with
   * O_NOFOLLOW and comes back through finalComponent only when it is a link.
   */
  private safePath(input: string, followFinal = true): string | null {
    const rel = normalizeRel(input);
    if (rel === null) return null;
    if (!this.checked) return this.abs(rel);
    // A folder already known to be real and inside (every PCI function's, once resolved).
    if (this.plainDirs.has(rel)) return this.abs(rel);
    const dir = path.posix.dirname(rel) === "." ? "" : path.posix.dirname(rel);
    if (!this.isPlainDir(dir)) {
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
    return followFinal ? this.finalComponent(this.abs(rel)) : this.abs(rel);
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
    return this.read(rel, undefined, true);
  }

  readBytes(rel: string, maxBytes?: number): ReadResult<Buffer> {
    return this.read(rel, maxBytes, false);
  }

  private read(rel: string, maxBytes: number | undefined, text: true): ReadResult<string>;
  private read(rel: string, maxBytes: number | undefined, text: false): ReadResult<Buffer>;
  private read(
    rel: string,
    maxBytes: number | undefined,
    text: boolean,
  ): ReadResult<string> | ReadResult<Buffer> {
    const escaped = {
      ok: false as const,
      reason: `${rel}: link points outside the ${this.kind === "live" ? "root" : "snapshot"}`,
    };
    const p = this.safePath(rel, false);
    if (p === null) return escaped;
    // A snapshot or --root tree is outside input: O_NONBLOCK so that a FIFO planted in it
    // cannot block the open, and only regular files are read (checked on the open file).
    const flags = this.checked
      ? fs.constants.O_RDONLY | fs.constants.O_NONBLOCK
      : fs.constants.O_RDONLY;
    let fd: number;
    try {
      // O_NOFOLLOW: a final component that is a link fails with ELOOP instead of being opened,
      // and only then is it checked against the root (most files are not links: no lstat each).
      fd = fs.openSync(p, this.checked ? flags | fs.constants.O_NOFOLLOW : flags);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ELOOP" || !this.checked)
        return { ok: false, reason: `${rel}: ${describeFsError(err)}` };
      const real = this.finalComponent(p);
      if (real === null) return escaped;
      try {
        fd = fs.openSync(real, flags);
      } catch (err2) {
        return { ok: false, reason: `${rel}: ${describeFsError(err2)}` };
      }
    }
    try {
      if (this.checked) {
        const st = fs.fstatSync(fd);
        if (!st.isFile())
          return { ok: false, reason: `${rel}: ${fileTypeName(st)}, not a regular file; not read` };
      }
      const cap = maxBytes ?? MAX_FILE_BYTES + 1;
      const value = readAll(fd, cap, this.kind === "snapshot", text);
      if (maxBytes === undefined && value.length > MAX_FILE_BYTES)
        return {
          ok: false,
          reason: `${rel}: larger than ${MAX_FILE_BYTES / 2 ** 20} MiB; not read`,
        };
      return { ok: true, value } as ReadResult<string> | ReadResult<Buffer>;
    } catch (err) {
      return { ok: false, reason: `${rel}: ${describeFsError(err)}` };
    } finally {
      fs.closeSync(fd);
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
    if (this.checked) {
      const fast = this.resolveRelativeLink(n);
      if (fast !== undefined) return fast;
    }
    try {
      const real = fs.realpathSync.native(this.abs(n));
      if (!this.inside(real)) return null;
      return path.relative(this.realDir, real).split(path.sep).join("/");
    } catch {
      return null;
    }
  }

  /**
   * The common case of resolve() without realpath(3): `n` is a link in a plain folder whose
   * relative target, joined lexically (exact, since every folder on the way is real), is a
   * plain folder. undefined: not that case, use realpath.
   */
  private resolveRelativeLink(n: string): string | null | undefined {
    const dir = path.posix.dirname(n) === "." ? "" : path.posix.dirname(n);
    if (!this.isPlainDir(dir)) return undefined;
    let target: string;
    try {
      target = fs.readlinkSync(this.abs(n));
    } catch (err) {
      return (err as NodeJS.ErrnoException).code === "ENOENT" ? null : undefined;
    }
    if (target.startsWith("/")) return undefined;
    const joined = path.posix.normalize(path.posix.join(dir === "" ? "." : dir, target));
    if (joined === ".." || joined.startsWith("../")) return null; // climbs out of the root
    return this.isPlainDir(joined === "." ? "" : joined)
      ? joined === "."
        ? ""
        : joined
      : undefined;
  }

  list(rel: string): string[] | null {
    const p = this.safePath(rel);
    if (p === null) return null;
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(p, { withFileTypes: true });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== "ENOENT" && code !== "ENOTDIR")
        this.problems.set(rel, { field: rel, reason: `${rel}: ${describeFsError(err)}` });
      return null;
    }
    // A listed plain folder vouches for its sub-folders (the entry type is the lstat's): no
    // lstat each later (one per IOMMU group folder).
    const n = this.checked ? normalizeRel(rel) : null;
    if (n !== null && p === this.abs(n)) {
      for (const e of entries)
        if (e.isDirectory()) this.plainDirs.add(n === "" ? e.name : `${n}/${e.name}`);
    }
    return entries.map((e) => e.name).sort();
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

/** A leading or trailing "/", "//", or a "." / ".." component. */
const NOT_NORMAL = /^\/|\/$|\/\/|(^|\/)\.\.?(\/|$)/;

/**
 * The most read of one file: a host's largest file discovery reads (modules.alias, pci.ids) is
 * a few MiB; more is not a host file, and reading it whole would only cost memory.
 */
export const MAX_FILE_BYTES = 64 * 2 ** 20;

/** Reused for every read: most host files are a few bytes; the result is copied out. */
const SCRATCH = Buffer.alloc(64 * 1024);

/**
 * Read an open file to its end (or `max` bytes) without an fstat per file. On a snapshot (a
 * regular file on disk) a short read means end of file; live /proc files may return less
 * than asked before the end, so those are read until read(2) returns 0.
 */
function readAll(fd: number, max: number, regularFile: boolean, text: boolean): Buffer | string {
  // The usual case, a small file read whole: decode straight from the scratch buffer.
  const first = fs.readSync(fd, SCRATCH, 0, Math.min(SCRATCH.length, max), null);
  const whole =
    first < SCRATCH.length &&
    (first === 0 || first >= max || regularFile || fs.readSync(fd, SCRATCH, first, 1, null) === 0);
  if (whole)
    return text
      ? decodeHostText(SCRATCH.subarray(0, first))
      : Buffer.from(SCRATCH.subarray(0, first));
  const chunks: Buffer[] = [
    Buffer.from(SCRATCH.subarray(0, first === SCRATCH.length ? first : first + 1)),
  ];
  let total = chunks[0]!.length;
  for (;;) {
    const want = Math.min(SCRATCH.length, max - total);
    if (want <= 0) break;
    const n = fs.readSync(fd, SCRATCH, 0, want, null);
    if (n === 0) break;
    chunks.push(Buffer.from(SCRATCH.subarray(0, n)));
    total += n;
    if (regularFile && n < want) break;
  }
  const all = Buffer.concat(chunks, total);
  return text ? decodeHostText(all) : all;
}

/** "a/./b/../c" -> "a/c"; leading "/" dropped; null when it climbs above the root. */
export function normalizeRel(rel: string): string | null {
  // Already normal (the common case: paths built by discovery itself): nothing to do.
  if (rel !== "" && !NOT_NORMAL.test(rel)) return rel;
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

/** The first of these files that can be read, as text, or null. */
export function readFirstText(root: HostRoot, paths: readonly string[]): string | null {
  for (const p of paths) {
    const r = root.readText(p);
    if (r.ok) return r.value;
  }
  return null;
}

/** Last component of a link target ("../../../bus/pci/drivers/vfio-pci" -> "vfio-pci"). */
export function linkName(root: HostRoot, rel: string): string | null {
  const t = root.readLink(rel);
  if (t === null) return null;
  const parts = t.split("/").filter(Boolean);
  return parts.length ? parts[parts.length - 1]! : null;
}
