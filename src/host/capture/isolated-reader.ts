// Reading a live host's files with a timeout that actually works.
//
// A sysfs attribute read calls into the driver (`config` reads the device's configuration
// space, `reset_method`, `power_state` ... ask the device), and a wedged device or driver can
// block that read forever. A FUSE mount (Proxmox's /etc/pve, pmxcfs) can hang the same way
// when the cluster filesystem is stuck. Node offers no way out of a blocked read:
//   - fs.readFileSync blocks the only JavaScript thread;
//   - fs.promises.readFile parks one of libuv's four pool threads in the syscall, so a
//     Promise.race timeout returns, but four hung reads stall every later file operation,
//     and the process may not even exit while a thread sits in the kernel.
// So every read runs in a small child process (this file's WORKER_SOURCE, evaluated by the
// runtime we run on: see workerCommand). The parent sends requests one per line and gets one framed answer per
// request; a watchdog kills the child when the oldest pending request has waited longer
// than the timeout, records that path as timed out, and starts a fresh child for the rest.
// The watchdog counts only once the child says it is ready: starting Node.js takes seconds on a
// slow host (10+ s under emulation in test/e2e, where counting it made every read "time out",
// each fresh child timing out in turn, and the snapshot came out nearly empty); the start has
// its own, generous limit.
// A child stuck in an uninterruptible kernel read cannot even be killed, so it is detached
// (unref'd, pipes destroyed) and left to the kernel: the capture goes on without it.
// After one attribute of a folder hangs, the rest of that folder is skipped rather than
// waiting for each of them in turn (a device that hangs on one attribute usually hangs on all).
//
// The child only ever opens files read-only (O_RDONLY) and lists folders; it never writes.
// For a source other than "/" (capturing a snapshot folder), it refuses any path whose real
// location is outside that folder, so a link in a crafted tree cannot make it read this
// machine's files.

import type { ChildProcessByStdio } from "node:child_process";
import type * as ChildProcess from "node:child_process";
import * as path from "node:path";
import type { Readable, Writable } from "node:stream";

export type EntryKind = "file" | "dir" | "link" | "other";

export interface ScannedEntry {
  name: string;
  kind: EntryKind;
  /** Permission bits (lstat). */
  mode: number;
  /** readlink text, for links. */
  target?: string;
  /** For links: what the link's final target is (stat), or null when it dangles or escapes. */
  targetKind?: EntryKind | null;
}

export type ReadOutcome = { ok: true; data: Buffer } | { ok: false; code: string };
export type ScanOutcome = { ok: true; entries: ScannedEntry[] } | { ok: false; code: string };

/** The child's program. Plain JavaScript (no imports from this bundle): it runs under `node -e`. */
export const WORKER_SOURCE = String.raw`
"use strict";
const fs = require("fs");
const path = require("path");
const root = process.argv[1];
const checked = root !== "/";
let realRoot = root;
try { realRoot = fs.realpathSync.native(root); } catch (e) {}
function inside(p) {
  if (!checked) return true;
  let real;
  try { real = fs.realpathSync.native(p); } catch (e) { return e.code || "ENOENT"; }
  return real === realRoot || real.startsWith(realRoot + "/") ? true : "EESCAPE";
}
function kindOf(st) {
  return st.isFile() ? "file" : st.isDirectory() ? "dir" : st.isSymbolicLink() ? "link" : "other";
}
function send(head, data) {
  const h = Buffer.from(JSON.stringify(head) + "\n");
  const out = data ? Buffer.concat([h, data]) : h;
  let off = 0;
  while (off < out.length) {
    try { off += fs.writeSync(1, out, off); } catch (e) { if (e.code !== "EAGAIN") process.exit(1); }
  }
}
function handle(req) {
  const p = path.join(root, req.path);
  const ok = inside(p);
  if (ok !== true) return send({ ok: false, code: ok });
  if (req.op === "read") {
    let fd;
    try {
      fd = fs.openSync(p, "r");
      const chunks = [];
      let total = 0;
      for (;;) {
        const want = Math.min(65536, req.max - total);
        if (want <= 0) break;
        const buf = Buffer.allocUnsafe(want);
        const n = fs.readSync(fd, buf, 0, want, null);
        if (n === 0) break;
        chunks.push(buf.subarray(0, n));
        total += n;
      }
      const data = Buffer.concat(chunks);
      send({ ok: true, n: data.length }, data);
    } catch (e) {
      send({ ok: false, code: e.code || "EIO" });
    } finally {
      if (fd !== undefined) try { fs.closeSync(fd); } catch (e) {}
    }
  } else if (req.op === "scan") {
    let names;
    try { names = fs.readdirSync(p); } catch (e) { return send({ ok: false, code: e.code || "EIO" }); }
    const entries = [];
    for (const name of names) {
      try {
        const st = fs.lstatSync(path.join(p, name));
        const e = { name, kind: kindOf(st), mode: st.mode & 0o7777 };
        if (e.kind === "link") {
          e.target = fs.readlinkSync(path.join(p, name));
          const where = inside(path.join(p, name));
          if (where === true) {
            try { e.targetKind = kindOf(fs.statSync(path.join(p, name))); } catch (x) { e.targetKind = null; }
          } else e.targetKind = null;
        }
        entries.push(e);
      } catch (e) {}
    }
    send({ ok: true, entries });
  } else {
    send({ ok: false, code: "EBADOP" });
  }
}
let pending = "";
process.stdin.on("data", (chunk) => {
  pending += chunk.toString("utf8");
  let nl;
  while ((nl = pending.indexOf("\n")) !== -1) {
    const line = pending.slice(0, nl);
    pending = pending.slice(nl + 1);
    if (line) handle(JSON.parse(line));
  }
});
process.stdin.on("end", () => process.exit(0));
send({ ready: true });
`;

interface Request {
  op: "read" | "scan";
  path: string;
  max: number;
  resolve: (v: { head: Record<string, unknown>; data: Buffer }) => void;
}

export type Worker = ChildProcessByStdio<Writable, Readable, null>;

export interface IsolatedReaderOptions {
  /** Milliseconds one request may take, once the child is ready, before the child is killed. */
  timeoutMs?: number;
  /** Milliseconds a child may take to start and say it is ready (default 120 s). */
  startTimeoutMs?: number;
  /** How the child is started (default: this Node.js running WORKER_SOURCE); tests start slow ones. */
  spawnWorker?: (root: string) => Worker;
}

export class IsolatedReader {
  private worker: Worker | null = null;
  /** Sent to the current worker, answered in order. */
  private inFlight: Request[] = [];
  private buffer: Buffer = Buffer.alloc(0);
  private timer: NodeJS.Timeout | null = null;
  private readonly timeoutMs: number;
  private readonly startTimeoutMs: number;
  private readonly spawnWorker: (root: string) => Worker;
  /** The current child has said it is ready (its start-up is not a read's time). */
  private ready = false;
  /** Folders (source-relative) where a read hung: their other files are skipped. */
  readonly hungFolders = new Set<string>();
  /** Paths that timed out, in order. */
  readonly timedOut: string[] = [];
  private closed = false;

  constructor(
    /** Absolute folder every request path is relative to ("/" for the live host). */
    readonly root: string,
    options: IsolatedReaderOptions = {},
  ) {
    this.timeoutMs = options.timeoutMs ?? 2000;
    this.startTimeoutMs = options.startTimeoutMs ?? 120_000;
    this.spawnWorker = options.spawnWorker ?? spawnNodeWorker;
  }

  read(rel: string, max: number): Promise<ReadOutcome> {
    return this.request("read", rel, max).then(({ head, data }) =>
      head.ok ? { ok: true, data } : { ok: false, code: String(head.code) },
    );
  }

  scan(rel: string): Promise<ScanOutcome> {
    return this.request("scan", rel, 0).then(({ head }) =>
      head.ok
        ? { ok: true, entries: head.entries as ScannedEntry[] }
        : { ok: false, code: String(head.code) },
    );
  }

  /** End the child (it exits when its stdin closes). */
  close(): void {
    this.closed = true;
    this.stopTimer();
    if (this.worker) {
      this.worker.stdin.end();
      this.worker.unref();
      this.worker = null;
    }
  }

  private request(
    op: Request["op"],
    rel: string,
    max: number,
  ): Promise<{ head: Record<string, unknown>; data: Buffer }> {
    return new Promise((resolve) => {
      if (this.closed)
        return resolve({ head: { ok: false, code: "ECLOSED" }, data: Buffer.alloc(0) });
      if (this.hungFolders.has(folderKey(op, rel)))
        return resolve({ head: { ok: false, code: "ESKIPPED" }, data: Buffer.alloc(0) });
      const req: Request = { op, path: rel, max, resolve };
      this.send(req);
    });
  }

  private send(req: Request): void {
    const w = this.ensureWorker();
    this.inFlight.push(req);
    w.stdin.write(`${JSON.stringify({ op: req.op, path: req.path, max: req.max })}\n`);
    if (this.inFlight.length === 1) this.armTimer();
  }

  private ensureWorker(): Worker {
    if (this.worker) return this.worker;
    const w = this.spawnWorker(this.root);
    this.buffer = Buffer.alloc(0);
    this.ready = false;
    w.stdout.on("data", (chunk: Buffer) => {
      if (this.worker !== w) return;
      this.buffer = this.buffer.length ? Buffer.concat([this.buffer, chunk]) : chunk;
      this.drain();
    });
    const onGone = () => {
      if (this.worker !== w) return;
      // The child died with requests pending: fail the oldest, retry the rest on a new child.
      this.worker = null;
      this.retryAfterFailure("EWORKER");
    };
    w.on("exit", onGone);
    w.on("error", onGone);
    w.stdin.on("error", () => undefined);
    this.worker = w;
    return w;
  }

  private drain(): void {
    for (;;) {
      const nl = this.buffer.indexOf(10);
      if (nl === -1) return;
      const head = JSON.parse(this.buffer.subarray(0, nl).toString("utf8")) as Record<
        string,
        unknown
      >;
      const n = typeof head.n === "number" ? head.n : 0;
      if (this.buffer.length < nl + 1 + n) return;
      const data = Buffer.from(this.buffer.subarray(nl + 1, nl + 1 + n));
      this.buffer = this.buffer.subarray(nl + 1 + n);
      if (head.ready === true) {
        // Start-up done: from now on the oldest request's own time counts.
        this.ready = true;
        if (this.inFlight.length) this.armTimer();
        continue;
      }
      const req = this.inFlight.shift();
      this.stopTimer();
      if (this.inFlight.length) this.armTimer();
      req?.resolve({ head, data });
    }
  }

  private armTimer(): void {
    this.stopTimer();
    this.timer = setTimeout(
      () => this.onTimeout(),
      this.ready ? this.timeoutMs : this.startTimeoutMs,
    );
  }

  private stopTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private onTimeout(): void {
    const w = this.worker;
    this.worker = null;
    if (w) {
      w.kill("SIGKILL");
      w.stdout.destroy();
      w.stdin.destroy();
      w.unref();
    }
    this.retryAfterFailure("ETIMEDOUT");
  }

  private retryAfterFailure(code: string): void {
    this.stopTimer();
    const [stuck, ...rest] = this.inFlight;
    this.inFlight = [];
    if (stuck) {
      if (code === "ETIMEDOUT") {
        this.timedOut.push(stuck.path);
        this.hungFolders.add(folderKey(stuck.op, stuck.path));
      }
      stuck.resolve({ head: { ok: false, code }, data: Buffer.alloc(0) });
    }
    for (const r of rest) {
      if (this.hungFolders.has(folderKey(r.op, r.path)))
        r.resolve({ head: { ok: false, code: "ESKIPPED" }, data: Buffer.alloc(0) });
      else this.send(r);
    }
  }
}

function spawnNodeWorker(root: string): Worker {
  const { file, args, env } = workerCommand(process.execPath, process.versions, root);
  // An empty environment: no NODE_OPTIONS (loaders, inspectors) from the caller's shell. "/" as
  // the working folder: a runtime that looks for configuration there finds only root's.
  return (require("node:child_process") as typeof ChildProcess).spawn(file, args, {
    stdio: ["pipe", "pipe", "ignore"],
    env,
    cwd: "/",
  });
}

/**
 * How to run WORKER_SOURCE as a child of this process. Under Node.js (the bundle, tests running
 * the sources) `process.execPath` is node: `node -e SOURCE ROOT`. In the standalone executable
 * (a Bun single-file executable) `process.execPath` is passthrough itself, which would parse
 * `-e` as its own arguments; BUN_BE_BUN=1 makes such an executable act as the Bun runtime it
 * embeds (bun.com/docs/bundler/executables), whose `-e` runs the same source with the same
 * argv. `--no-env-file`: Bun would otherwise load a `.env` file from the working folder.
 */
export function workerCommand(
  execPath: string,
  versions: NodeJS.ProcessVersions,
  root: string,
): { file: string; args: string[]; env: Record<string, string> } {
  if (typeof (versions as { bun?: string }).bun === "string")
    return {
      file: execPath,
      args: ["--no-env-file", "-e", WORKER_SOURCE, root],
      env: { BUN_BE_BUN: "1" },
    };
  return { file: execPath, args: ["-e", WORKER_SOURCE, root], env: {} };
}

/** The folder a request belongs to: a file's parent, or the folder being listed. */
function folderKey(op: Request["op"], rel: string): string {
  return op === "scan" ? path.posix.normalize(rel) : path.posix.dirname(rel);
}
