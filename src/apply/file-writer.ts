// Writing files under a root ("/" for the live host, DIR for --root) so that a reader, a
// crash or a full disk never sees a half-written file: the new bytes go to a temporary file
// in the same folder, are flushed (fsync), and replace the target with rename(2), which is
// atomic within one file system; then the folder itself is flushed so the rename survives a
// power cut (ext4 and XFS document that a rename is only durable once the directory is
// synced). An existing file keeps its mode and owner.
//
// Every file-system call goes through `FsLayer`, so tests can inject ENOSPC, EACCES or a
// "kill" (every call after the n-th fails) at any point.

import * as fs from "node:fs";
import * as path from "node:path";
import { RefusedError } from "../errors.js";
import { encodeHostText } from "../formats/host-text.js";

/** The file-system calls the apply layer makes; `nodeFs` is the real one. */
export interface FsLayer {
  openSync(p: string, flags: string, mode?: number): number;
  writeSync(fd: number, buf: Uint8Array, offset: number, length: number): number;
  fsyncSync(fd: number): void;
  fstatSync(fd: number): fs.Stats;
  fchmodSync(fd: number, mode: number): void;
  fchownSync(fd: number, uid: number, gid: number): void;
  closeSync(fd: number): void;
  renameSync(from: string, to: string): void;
  linkSync(existing: string, newPath: string): void;
  unlinkSync(p: string): void;
  mkdirSync(p: string, mode: number): void;
  rmdirSync(p: string): void;
  readFileSync(p: string): Buffer;
  readdirSync(p: string): string[];
  lstatSync(p: string): fs.Stats;
  realpathSync(p: string): string;
}

export const nodeFs: FsLayer = {
  openSync: (p, flags, mode) => fs.openSync(p, flags, mode),
  writeSync: (fd, buf, offset, length) => fs.writeSync(fd, buf, offset, length),
  fsyncSync: (fd) => fs.fsyncSync(fd),
  fstatSync: (fd) => fs.fstatSync(fd),
  fchmodSync: (fd, mode) => fs.fchmodSync(fd, mode),
  fchownSync: (fd, uid, gid) => fs.fchownSync(fd, uid, gid),
  closeSync: (fd) => fs.closeSync(fd),
  renameSync: (a, b) => fs.renameSync(a, b),
  linkSync: (a, b) => fs.linkSync(a, b),
  unlinkSync: (p) => fs.unlinkSync(p),
  mkdirSync: (p, mode) => {
    fs.mkdirSync(p, { mode });
  },
  rmdirSync: (p) => fs.rmdirSync(p),
  readFileSync: (p) => fs.readFileSync(p),
  readdirSync: (p) => fs.readdirSync(p),
  lstatSync: (p) => fs.lstatSync(p),
  realpathSync: (p) => fs.realpathSync.native(p),
};

/** What a path holds now: the exact bytes with mode and owner, or nothing. */
export type FileState =
  { exists: true; bytes: Buffer; mode: number; uid: number; gid: number } | { exists: false };

export interface WriteOptions {
  /** Permission bits for the file; default: the existing file's, else 0644. */
  mode?: number;
  /** Owner; default: the existing file's, else whoever we run as. */
  uid?: number;
  gid?: number;
}

/** Temporary files are hidden and named after their target, so a leftover is recognisable. */
const TEMP_MARK = ".passthrough-tmp-";

export function errnoOf(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

/** Host path ("/etc/modprobe.d/x.conf") checked: absolute, normalised, no "..". */
export function checkHostPath(hostPath: string): string {
  if (!hostPath.startsWith("/"))
    throw new RefusedError(
      `plan path ${JSON.stringify(hostPath)} is not absolute; refusing to write it`,
    );
  const norm = path.posix.normalize(hostPath);
  if (norm !== hostPath || hostPath.split("/").includes("..") || hostPath === "/") {
    throw new RefusedError(
      `plan path ${JSON.stringify(hostPath)} is not a normalised file path; refusing to write it`,
    );
  }
  return norm;
}

export class FileWriter {
  readonly rootDir: string;
  private realRoot: string | null = null;

  constructor(
    rootDir: string,
    readonly fsl: FsLayer = nodeFs,
  ) {
    this.rootDir = path.resolve(rootDir);
  }

  /** The same root seen through another FsLayer (tests switch a faulty layer for a healthy one). */
  withFs(fsl: FsLayer): FileWriter {
    return new FileWriter(this.rootDir, fsl);
  }

  /** Where a host path lives on this machine: "/etc/x" under root DIR is "DIR/etc/x". */
  resolve(hostPath: string): string {
    const p = checkHostPath(hostPath);
    const abs = path.join(this.rootDir, p);
    this.assertInsideRoot(abs, hostPath);
    return abs;
  }

  /**
   * A folder on the way that is a link leaving the root (an image's `etc/default -> /etc/default`)
   * would make us write this machine's own files: refuse. Checked on the deepest folder that exists.
   */
  private assertInsideRoot(abs: string, hostPath: string): void {
    if (this.rootDir === "/") return;
    this.realRoot ??= this.fsl.realpathSync(this.rootDir);
    let dir = path.dirname(abs);
    for (;;) {
      let real: string;
      try {
        real = this.fsl.realpathSync(dir);
      } catch (err) {
        if (errnoOf(err) === "ENOENT" && dir !== this.rootDir) {
          dir = path.dirname(dir);
          continue;
        }
        throw err;
      }
      if (real !== this.realRoot && !real.startsWith(this.realRoot + path.sep)) {
        throw new RefusedError(
          `${hostPath}: a folder on its path under ${this.rootDir} is a link that leaves that root (${real}); refusing to write outside --root`,
        );
      }
      return;
    }
  }

  /** Current bytes, mode and owner of a host path. Links and non-files are refused: we only replace regular files. */
  read(hostPath: string): FileState {
    const abs = this.resolve(hostPath);
    let st: fs.Stats;
    try {
      st = this.fsl.lstatSync(abs);
    } catch (err) {
      if (errnoOf(err) === "ENOENT" || errnoOf(err) === "ENOTDIR") return { exists: false };
      throw err;
    }
    if (st.isSymbolicLink()) {
      throw new RefusedError(
        `${hostPath} is a symbolic link; passthrough replaces only regular files — edit the file it points to, or replace the link with a copy`,
      );
    }
    if (!st.isFile())
      throw new RefusedError(`${hostPath} is not a regular file; move it aside and run again`);
    return {
      exists: true,
      bytes: this.fsl.readFileSync(abs),
      mode: st.mode & 0o7777,
      uid: st.uid,
      gid: st.gid,
    };
  }

  /** Folders (host paths) that writing `hostPath` would create, outermost first. */
  missingParents(hostPath: string): string[] {
    const missing: string[] = [];
    let dir = path.posix.dirname(checkHostPath(hostPath));
    while (dir !== "/") {
      try {
        const st = this.fsl.lstatSync(path.join(this.rootDir, dir));
        if (!st.isDirectory() && !st.isSymbolicLink())
          throw new RefusedError(
            `${dir} exists and is not a folder; cannot create ${hostPath} under it`,
          );
        break;
      } catch (err) {
        if (errnoOf(err) !== "ENOENT") throw err;
      }
      missing.unshift(dir);
      dir = path.posix.dirname(dir);
    }
    return missing;
  }

  /** Atomically replace (or create) `hostPath` with `bytes`. Returns the folders it created. */
  write(hostPath: string, bytes: Buffer | string, opts: WriteOptions = {}): string[] {
    const data = typeof bytes === "string" ? encodeHostText(bytes) : bytes;
    const current = this.read(hostPath);
    const created = this.makeParents(hostPath);
    const abs = this.resolve(hostPath);
    const tmp = path.join(
      path.dirname(abs),
      `.${path.basename(abs)}${TEMP_MARK}${process.pid}-${Math.random().toString(16).slice(2, 10)}`,
    );
    const mode = opts.mode ?? (current.exists ? current.mode : 0o644);
    const fd = this.fsl.openSync(tmp, "wx", 0o600);
    try {
      let off = 0;
      while (off < data.length) off += this.fsl.writeSync(fd, data, off, data.length - off);
      const uid = opts.uid ?? (current.exists ? current.uid : undefined);
      const gid = opts.gid ?? (current.exists ? current.gid : undefined);
      if (uid !== undefined && gid !== undefined) {
        const st = this.fsl.fstatSync(fd);
        if (st.uid !== uid || st.gid !== gid) this.fsl.fchownSync(fd, uid, gid);
      }
      // After chown: chown clears set-id bits, so the mode goes last.
      this.fsl.fchmodSync(fd, mode);
      this.fsl.fsyncSync(fd);
    } catch (err) {
      this.quietly(() => this.fsl.closeSync(fd));
      this.quietly(() => this.fsl.unlinkSync(tmp));
      throw err;
    }
    this.fsl.closeSync(fd);
    try {
      this.fsl.renameSync(tmp, abs);
    } catch (err) {
      this.quietly(() => this.fsl.unlinkSync(tmp));
      throw err;
    }
    this.syncDir(path.dirname(abs));
    return created;
  }

  /** Append one line and flush it (journal logs). Creates the file (0600) when absent. */
  appendLine(hostPath: string, line: string): void {
    const abs = this.resolve(hostPath);
    const fd = this.fsl.openSync(abs, "a", 0o600);
    try {
      const data = Buffer.from(line.endsWith("\n") ? line : `${line}\n`, "utf8");
      let off = 0;
      while (off < data.length) off += this.fsl.writeSync(fd, data, off, data.length - off);
      this.fsl.fsyncSync(fd);
    } finally {
      this.fsl.closeSync(fd);
    }
  }

  /** Remove a file (absent is fine) and flush its folder. */
  remove(hostPath: string): boolean {
    const abs = this.resolve(hostPath);
    try {
      this.fsl.unlinkSync(abs);
    } catch (err) {
      if (errnoOf(err) === "ENOENT") return false;
      throw err;
    }
    this.syncDir(path.dirname(abs));
    return true;
  }

  /** Remove a folder if it is empty; true when removed. */
  removeEmptyDir(hostPath: string): boolean {
    const abs = this.resolve(hostPath);
    try {
      this.fsl.rmdirSync(abs);
    } catch (err) {
      const code = errnoOf(err);
      if (code === "ENOENT" || code === "ENOTEMPTY" || code === "EEXIST" || code === "ENOTDIR")
        return false;
      throw err;
    }
    this.syncDir(path.dirname(abs));
    return true;
  }

  /** Create a folder (and its parents, 0755); returns the host paths created, outermost first. */
  makeDirs(hostDir: string): string[] {
    const created: string[] = [];
    for (const dir of this.missingParents(`${hostDir}/x`)) {
      const abs = this.resolve(dir);
      try {
        this.fsl.mkdirSync(abs, 0o755);
        created.push(dir);
      } catch (err) {
        if (errnoOf(err) !== "EEXIST") throw err;
      }
    }
    if (created.length) this.syncDir(path.dirname(this.resolve(created[0]!)));
    return created;
  }

  private makeParents(hostPath: string): string[] {
    return this.makeDirs(path.posix.dirname(checkHostPath(hostPath)));
  }

  /** Temporary files a killed writer left next to `hostPath` (host paths). */
  leftovers(hostPath: string): string[] {
    const abs = this.resolve(hostPath);
    const prefix = `.${path.basename(abs)}${TEMP_MARK}`;
    let names: string[];
    try {
      names = this.fsl.readdirSync(path.dirname(abs));
    } catch {
      return [];
    }
    return names
      .filter((n) => n.startsWith(prefix))
      .sort()
      .map((n) => path.posix.join(path.posix.dirname(hostPath), n));
  }

  /** Remove what `leftovers` finds; returns their host paths. */
  removeLeftovers(hostPath: string): string[] {
    const found = this.leftovers(hostPath);
    for (const t of found) this.fsl.unlinkSync(path.join(this.rootDir, t));
    if (found.length) this.syncDir(path.dirname(this.resolve(hostPath)));
    return found;
  }

  /** Rename within the root (journal folders). */
  rename(fromHost: string, toHost: string): void {
    const a = this.resolve(fromHost);
    const b = this.resolve(toHost);
    this.fsl.renameSync(a, b);
    this.syncDir(path.dirname(b));
  }

  list(hostDir: string): string[] | null {
    try {
      return this.fsl.readdirSync(this.resolve(hostDir)).sort();
    } catch (err) {
      if (errnoOf(err) === "ENOENT" || errnoOf(err) === "ENOTDIR") return null;
      throw err;
    }
  }

  /** Flush a folder so renames and unlinks in it are durable. */
  syncDir(absDir: string): void {
    let fd: number;
    try {
      fd = this.fsl.openSync(absDir, "r");
    } catch (err) {
      if (errnoOf(err) === "EISDIR" || errnoOf(err) === "EINVAL") return;
      throw err;
    }
    try {
      this.fsl.fsyncSync(fd);
    } catch (err) {
      // Some file systems do not support fsync on folders (EINVAL): nothing more can be done there.
      if (errnoOf(err) !== "EINVAL") throw err;
    } finally {
      this.quietly(() => this.fsl.closeSync(fd));
    }
  }

  private quietly(fn: () => void): void {
    try {
      fn();
    } catch {
      // cleanup after a failure: the original error is what matters
    }
  }
}

/** Byte-for-byte equality of a file state with wanted content (null = absent). */
export function sameContent(state: FileState, wanted: Buffer | string | null): boolean {
  if (wanted === null) return !state.exists;
  if (!state.exists) return false;
  const w = typeof wanted === "string" ? encodeHostText(wanted) : wanted;
  return state.bytes.equals(w);
}
