// The capture's reader: reads in a child process, so a read that never returns (here a FIFO
// without a writer, which blocks open(2) like a wedged device attribute) costs one timeout.
import { execFileSync, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  IsolatedReader,
  WORKER_SOURCE,
  workerCommand,
} from "../../src/host/capture/isolated-reader.js";

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "passthrough-reader-"));
  fs.mkdirSync(path.join(dir, "dev"));
  fs.mkdirSync(path.join(dir, "ok"));
  execFileSync("mkfifo", [path.join(dir, "dev/hung")]);
  fs.writeFileSync(path.join(dir, "dev/vendor"), "0x10de\n");
  fs.writeFileSync(path.join(dir, "ok/config"), Buffer.from([0xde, 0x10, 0x06, 0x22, 0x00, 0xff]));
  fs.symlinkSync("../ok/config", path.join(dir, "ok/inside"));
  fs.symlinkSync("/etc/hostname", path.join(dir, "ok/outside"));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe("IsolatedReader", () => {
  it("returns bytes exactly, follows links inside the root, refuses links out of it", async () => {
    const r = new IsolatedReader(dir);
    try {
      const a = await r.read("ok/config", 4096);
      expect(a.ok && a.data.equals(Buffer.from([0xde, 0x10, 0x06, 0x22, 0x00, 0xff]))).toBe(true);
      const b = await r.read("ok/inside", 4096);
      expect(b.ok && b.data.length).toBe(6);
      expect(await r.read("ok/outside", 4096)).toEqual({ ok: false, code: "EESCAPE" });
      expect(await r.read("ok/missing", 4096)).toEqual({ ok: false, code: "ENOENT" });
      const cut = await r.read("ok/config", 2);
      expect(cut.ok && [...cut.data]).toEqual([0xde, 0x10]);
      const s = await r.scan("ok");
      expect(
        s.ok &&
          s.entries.map((e) => [e.name, e.kind, e.target ?? null, e.targetKind ?? null]).sort(),
      ).toEqual([
        ["config", "file", null, null],
        ["inside", "link", "../ok/config", "file"],
        ["outside", "link", "/etc/hostname", null],
      ]);
    } finally {
      r.close();
    }
  });

  it("times out a hung read, skips the rest of its folder, and carries on with a new child", async () => {
    const r = new IsolatedReader(dir, { timeoutMs: 250 });
    try {
      const t0 = Date.now();
      const [hung, sibling, other] = await Promise.all([
        r.read("dev/hung", 64),
        r.read("dev/vendor", 64),
        r.read("ok/config", 64),
      ]);
      expect(hung).toEqual({ ok: false, code: "ETIMEDOUT" });
      expect(sibling).toEqual({ ok: false, code: "ESKIPPED" });
      expect(other.ok).toBe(true);
      expect(Date.now() - t0).toBeLessThan(5000);
      expect(r.timedOut).toEqual(["dev/hung"]);
      // Later requests in that folder are skipped at once; others still work.
      expect(await r.read("dev/vendor", 64)).toEqual({ ok: false, code: "ESKIPPED" });
      expect(await r.scan("dev")).toEqual({ ok: false, code: "ESKIPPED" });
      expect((await r.scan("ok")).ok).toBe(true);
      expect((await r.read("ok/inside", 64)).ok).toBe(true);
    } finally {
      r.close();
    }
  });

  it("does not count a slow start of the child as a read's time (a slow host, QEMU in test/e2e)", async () => {
    // The child takes 600 ms to start; each read may take 150 ms once it is ready.
    const slow = (root: string) =>
      spawn(
        process.execPath,
        ["-e", `setTimeout(() => eval(${JSON.stringify(WORKER_SOURCE)}), 600)`, root],
        { stdio: ["pipe", "pipe", "ignore"], env: {} },
      );
    const r = new IsolatedReader(dir, { timeoutMs: 150, spawnWorker: slow });
    try {
      const [a, b] = await Promise.all([r.read("ok/config", 64), r.scan("ok")]);
      expect(a.ok).toBe(true);
      expect(b.ok).toBe(true);
      expect(r.timedOut).toEqual([]);
    } finally {
      r.close();
    }
    // A child that never gets ready is given up after the start limit, like a hung read.
    const never = (root: string) =>
      spawn(process.execPath, ["-e", "setInterval(() => {}, 1000)", root], {
        stdio: ["pipe", "pipe", "ignore"],
        env: {},
      });
    const q = new IsolatedReader(dir, { timeoutMs: 150, startTimeoutMs: 300, spawnWorker: never });
    try {
      expect(await q.read("ok/config", 64)).toEqual({ ok: false, code: "ETIMEDOUT" });
    } finally {
      q.close();
    }
  });

  it("reading from / needs no containment (the live host)", async () => {
    const r = new IsolatedReader("/");
    try {
      const v = await r.read("proc/version", 4096);
      expect(v.ok && v.data.toString()).toMatch(/^Linux version /);
    } finally {
      r.close();
    }
  });

  it("runs the worker with the runtime's own -e: node directly, a Bun executable as Bun", () => {
    // The compiled executable's process.execPath is passthrough itself; without BUN_BE_BUN it
    // would parse "-e" as its own option and every read would fail (an empty snapshot).
    const node = workerCommand(
      "/usr/bin/node",
      { node: "18.19.0" } as unknown as NodeJS.ProcessVersions,
      "/",
    );
    expect(node).toEqual({ file: "/usr/bin/node", args: ["-e", WORKER_SOURCE, "/"], env: {} });
    const bun = workerCommand(
      "/usr/bin/passthrough",
      { ...process.versions, bun: "1.4.5" },
      "/srv/snap",
    );
    expect(bun).toEqual({
      file: "/usr/bin/passthrough",
      args: ["--no-env-file", "-e", WORKER_SOURCE, "/srv/snap"],
      env: { BUN_BE_BUN: "1" },
    });
  });
});
