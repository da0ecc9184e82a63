// An in-memory file system with the FsLayer calls the apply layer makes, following Linux
// semantics where they matter (O_EXCL, rename over a file, ENOTEMPTY, EISDIR, hard links).
// The kill sweeps run a whole apply and rollback for every possible kill point — hundreds of
// runs — which on a real disk takes minutes on a busy machine and here takes a second.
import type * as fs from "node:fs";
import * as path from "node:path";
import type { FsLayer } from "../../src/apply/file-writer.js";

type FileNode = {
  kind: "file";
  data: Buffer;
  mode: number;
  uid: number;
  gid: number;
  mtimeMs: number;
};
type DirNode = {
  kind: "dir";
  entries: Map<string, Node>;
  mode: number;
  uid: number;
  gid: number;
  mtimeMs: number;
};
type Node = FileNode | DirNode;

function errno(code: string, op: string, p: string): NodeJS.ErrnoException {
  const e = new Error(`${code}: ${op} '${p}'`) as NodeJS.ErrnoException;
  e.code = code;
  return e;
}

function stats(n: Node): fs.Stats {
  const type = n.kind === "file" ? 0o100000 : 0o040000;
  return {
    mode: type | n.mode,
    uid: n.uid,
    gid: n.gid,
    size: n.kind === "file" ? n.data.length : 4096,
    mtimeMs: n.mtimeMs,
    isFile: () => n.kind === "file",
    isDirectory: () => n.kind === "dir",
    isSymbolicLink: () => false,
  } as unknown as fs.Stats;
}

function cloneNode(n: Node): Node {
  if (n.kind === "file") return { ...n, data: Buffer.from(n.data) };
  return { ...n, entries: new Map([...n.entries].map(([k, v]) => [k, cloneNode(v)])) };
}

export class MemFs implements FsLayer {
  private root: DirNode = {
    kind: "dir",
    entries: new Map(),
    mode: 0o755,
    uid: 0,
    gid: 0,
    mtimeMs: 0,
  };
  private fds = new Map<number, { node: Node; append: boolean }>();
  private nextFd = 100;
  private clock = 1;

  clone(): MemFs {
    const m = new MemFs();
    m.root = cloneNode(this.root) as DirNode;
    return m;
  }

  /** Test setup: a file with its folders. */
  put(p: string, content: string, mode = 0o644, uid = 0, gid = 0): void {
    let dir = this.root;
    for (const c of parts(path.posix.dirname(p))) {
      let next = dir.entries.get(c);
      if (!next) {
        next = { kind: "dir", entries: new Map(), mode: 0o755, uid: 0, gid: 0, mtimeMs: 0 };
        dir.entries.set(c, next);
      }
      if (next.kind !== "dir") throw new Error(`${c} is a file`);
      dir = next;
    }
    dir.entries.set(path.posix.basename(p), {
      kind: "file",
      data: Buffer.from(content),
      mode,
      uid,
      gid,
      mtimeMs: 0,
    });
  }

  /** Every entry under `top` with type, mode, owner and bytes; `skip` (relative) left out. */
  tree(top: string, skip = "var/lib/passthrough"): Map<string, string> {
    const out = new Map<string, string>();
    const walk = (n: DirNode, rel: string) => {
      for (const [name, c] of [...n.entries].sort(([a], [b]) => (a < b ? -1 : 1))) {
        const r = rel ? `${rel}/${name}` : name;
        if (r === skip) continue;
        const owner = `${c.mode.toString(8)} ${c.uid}:${c.gid}`;
        if (c.kind === "dir") {
          out.set(r, `dir ${owner}`);
          walk(c, r);
        } else out.set(r, `file ${owner} ${c.data.toString("base64")}`);
      }
    };
    const t = this.lookup(top);
    if (t?.kind === "dir") walk(t, "");
    return out;
  }

  private lookup(p: string): Node | undefined {
    let n: Node = this.root;
    for (const c of parts(p)) {
      if (n.kind !== "dir") return undefined;
      const next: Node | undefined = n.entries.get(c);
      if (!next) return undefined;
      n = next;
    }
    return n;
  }

  private parent(p: string, op: string): { dir: DirNode; name: string } {
    const d = this.lookup(path.posix.dirname(p));
    if (!d) throw errno("ENOENT", op, p);
    if (d.kind !== "dir") throw errno("ENOTDIR", op, p);
    return { dir: d, name: path.posix.basename(p) };
  }

  private fd(fd: number, op: string) {
    const f = this.fds.get(fd);
    if (!f) throw errno("EBADF", op, String(fd));
    return f;
  }

  openSync(p: string, flags: string, mode = 0o666): number {
    const existing = this.lookup(p);
    if (flags === "r") {
      if (!existing) throw errno("ENOENT", "open", p);
    } else if (flags === "wx" || flags === "a") {
      if (existing && flags === "wx") throw errno("EEXIST", "open", p);
      if (existing && existing.kind === "dir") throw errno("EISDIR", "open", p);
      if (!existing) {
        const { dir, name } = this.parent(p, "open");
        dir.entries.set(name, {
          kind: "file",
          data: Buffer.alloc(0),
          mode: mode & 0o7777,
          uid: 0,
          gid: 0,
          mtimeMs: this.clock++,
        });
      }
    } else throw new Error(`MemFs: flags ${flags} not modelled`);
    const fd = this.nextFd++;
    this.fds.set(fd, { node: this.lookup(p)!, append: flags === "a" });
    return fd;
  }

  writeSync(fd: number, buf: Uint8Array, off: number, len: number): number {
    const f = this.fd(fd, "write");
    if (f.node.kind !== "file") throw errno("EISDIR", "write", String(fd));
    f.node.data = Buffer.concat([f.node.data, Buffer.from(buf.subarray(off, off + len))]);
    f.node.mtimeMs = this.clock++;
    return len;
  }
  fsyncSync(fd: number): void {
    this.fd(fd, "fsync");
  }
  fstatSync(fd: number): fs.Stats {
    return stats(this.fd(fd, "fstat").node);
  }
  fchmodSync(fd: number, mode: number): void {
    this.fd(fd, "fchmod").node.mode = mode & 0o7777;
  }
  fchownSync(fd: number, uid: number, gid: number): void {
    const n = this.fd(fd, "fchown").node;
    n.uid = uid;
    n.gid = gid;
  }
  closeSync(fd: number): void {
    this.fd(fd, "close");
    this.fds.delete(fd);
  }
  renameSync(a: string, b: string): void {
    const src = this.parent(a, "rename");
    const node = src.dir.entries.get(src.name);
    if (!node) throw errno("ENOENT", "rename", a);
    const dst = this.parent(b, "rename");
    const target = dst.dir.entries.get(dst.name);
    if (target?.kind === "dir" && node.kind === "file") throw errno("EISDIR", "rename", b);
    if (target?.kind === "file" && node.kind === "dir") throw errno("ENOTDIR", "rename", b);
    if (target?.kind === "dir" && target.entries.size > 0) throw errno("ENOTEMPTY", "rename", b);
    src.dir.entries.delete(src.name);
    dst.dir.entries.set(dst.name, node);
  }
  linkSync(a: string, b: string): void {
    const node = this.lookup(a);
    if (!node) throw errno("ENOENT", "link", a);
    if (node.kind === "dir") throw errno("EPERM", "link", a);
    const dst = this.parent(b, "link");
    if (dst.dir.entries.has(dst.name)) throw errno("EEXIST", "link", b);
    dst.dir.entries.set(dst.name, node);
  }
  unlinkSync(p: string): void {
    const { dir, name } = this.parent(p, "unlink");
    const n = dir.entries.get(name);
    if (!n) throw errno("ENOENT", "unlink", p);
    if (n.kind === "dir") throw errno("EISDIR", "unlink", p);
    dir.entries.delete(name);
  }
  mkdirSync(p: string, mode: number): void {
    const { dir, name } = this.parent(p, "mkdir");
    if (dir.entries.has(name)) throw errno("EEXIST", "mkdir", p);
    dir.entries.set(name, {
      kind: "dir",
      entries: new Map(),
      mode: mode & 0o7777,
      uid: 0,
      gid: 0,
      mtimeMs: this.clock++,
    });
  }
  rmdirSync(p: string): void {
    const { dir, name } = this.parent(p, "rmdir");
    const n = dir.entries.get(name);
    if (!n) throw errno("ENOENT", "rmdir", p);
    if (n.kind !== "dir") throw errno("ENOTDIR", "rmdir", p);
    if (n.entries.size > 0) throw errno("ENOTEMPTY", "rmdir", p);
    dir.entries.delete(name);
  }
  readFileSync(p: string): Buffer {
    const n = this.lookup(p);
    if (!n) throw errno("ENOENT", "open", p);
    if (n.kind === "dir") throw errno("EISDIR", "read", p);
    return Buffer.from(n.data);
  }
  readdirSync(p: string): string[] {
    const n = this.lookup(p);
    if (!n) throw errno("ENOENT", "scandir", p);
    if (n.kind !== "dir") throw errno("ENOTDIR", "scandir", p);
    return [...n.entries.keys()];
  }
  lstatSync(p: string): fs.Stats {
    const n = this.lookup(p);
    if (!n) throw errno("ENOENT", "lstat", p);
    return stats(n);
  }
  realpathSync(p: string): string {
    if (!this.lookup(p)) throw errno("ENOENT", "realpath", p);
    return path.posix.resolve(p);
  }
}

function parts(p: string): string[] {
  return path.posix.resolve(p).split("/").filter(Boolean);
}
