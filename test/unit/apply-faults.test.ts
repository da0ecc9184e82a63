// Fault injection: a failing refresh command, ENOSPC and EACCES on write, a full disk under
// the journal, and a kill at every single file-system call of an apply and of a rollback.
// In every case no file is half-written and rollback brings back the original tree.
import * as fs from "node:fs";
import * as path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { RecordingRunner } from "../../src/process/recording-runner.js";
import type { CommandRunner } from "../../src/process/run.js";
import { applyPlan } from "../../src/apply/executor.js";
import { FileWriter, sameContent, type FsLayer } from "../../src/apply/file-writer.js";
import { listJournals } from "../../src/apply/history.js";
import { writerSource } from "../../src/apply/journal.js";
import { ApplyLock } from "../../src/apply/lock.js";
import { executeRollback, planRollback } from "../../src/apply/rollback.js";
import { ApplyError } from "../../src/errors.js";
import type { FileStep } from "../../src/plan/types.js";
import {
  BLACKLIST,
  FaultFs,
  GRUB_BEFORE,
  Killed,
  deadPid,
  makeRoot,
  read,
  samplePlan,
  tempFiles,
  treeState,
} from "../helpers/apply.js";
import { MemFs } from "../helpers/memfs.js";

const cleanups: Array<() => void> = [];
afterEach(() => {
  while (cleanups.length) cleanups.pop()!();
});
function root() {
  const r = makeRoot();
  cleanups.push(r.cleanup);
  return r.dir;
}

const fileSteps = () => samplePlan().steps.filter((s): s is FileStep => s.kind === "file");

/** Every planned file is exactly its before or its after: never anything in between. */
function assertNoHalfWrittenFile(dir: string): void {
  const w = new FileWriter(dir);
  for (const s of fileSteps()) {
    const st = w.read(s.path);
    expect(
      sameContent(st, s.before) || sameContent(st, s.after),
      `${s.path} is neither before nor after`,
    ).toBe(true);
  }
}

/** A kill leaves the lock behind with a pid that no longer runs. */
function markLockStale(dir: string): void {
  const p = path.join(dir, "var/lib/passthrough/lock");
  if (fs.existsSync(p))
    fs.writeFileSync(p, JSON.stringify({ pid: deadPid(), command: "apply", startedAt: "killed" }));
}

function rollbackLatest(dir: string, runner: CommandRunner = new RecordingRunner()) {
  const writer = new FileWriter(dir);
  const lock = ApplyLock.acquire(writer, "rollback");
  try {
    const entries = listJournals(writerSource(writer));
    if (entries.length === 0) return null;
    const e = entries[0]!;
    if (!e.ok) throw new Error(e.error);
    return executeRollback(planRollback(e.journal, writer), {
      writer,
      runner,
      force: false,
      rollbackCommand: "passthrough rollback",
    });
  } finally {
    lock.release();
  }
}

/** A runner that belongs to the same (possibly killed) process as the file-system layer. */
function runnerOf(fault: FaultFs, inner = new RecordingRunner()): CommandRunner {
  return {
    description: inner.description,
    run: (argv) => {
      if (fault.dead) throw new Killed("killed during a command");
      return inner.run(argv);
    },
  };
}

describe("a failing step stops the run, the journal says so, rollback restores", () => {
  it("a refresh command that fails (update-initramfs exits 1)", () => {
    const dir = root();
    const original = treeState(dir);
    const runner = new RecordingRunner((a) =>
      a[0] === "update-initramfs"
        ? {
            exitCode: 1,
            stderr: "update-initramfs: failed for /boot/initrd.img-6.8.12-4-pve with 1.\n",
          }
        : undefined,
    );
    const res = applyPlan({
      plan: samplePlan(),
      writer: new FileWriter(dir),
      runner,
      version: "t",
    });
    expect(res.status).toBe("failed");
    expect(res.failure).toMatchObject({
      step: 5,
      error:
        "update-initramfs -u -k all exited 1: update-initramfs: failed for /boot/initrd.img-6.8.12-4-pve with 1.",
    });
    expect(res.notRun).toEqual([6]);
    expect(res.outcomes.map((o) => o.step)).toEqual([0, 1, 2, 3, 4]);
    const [h] = listJournals(writerSource(new FileWriter(dir)));
    expect(h).toMatchObject({
      ok: true,
      summary: {
        status: "failed",
        statusText: expect.stringMatching(/^failed at step 6 of 7: update-initramfs/),
      },
    });
    const cmd = (h as any).journal.events.filter((e: any) => e.event === "command");
    expect(cmd.map((e: any) => [e.argv[0], e.exitCode])).toEqual([
      ["update-grub", 0],
      ["update-initramfs", 1],
    ]);
    expect(cmd[1].stderr).toMatch(/failed for/);
    expect(fs.existsSync(path.join(dir, "var/lib/passthrough/lock"))).toBe(false);

    const rb = rollbackLatest(dir)!;
    expect(rb.status).toBe("ok");
    expect(treeState(dir)).toEqual(original);
  });

  it("ENOSPC while writing a file: the target is untouched, no temp file is left", () => {
    const dir = root();
    const original = treeState(dir);
    const fault = new FaultFs().failOn(
      "writeSync",
      (p) => p.includes("/etc/modules-load.d/"),
      "ENOSPC",
    );
    const res = applyPlan({
      plan: samplePlan(),
      writer: new FileWriter(dir, fault),
      runner: new RecordingRunner(),
      version: "t",
    });
    expect(res.status).toBe("failed");
    expect(res.failure!.step).toBe(2);
    expect(res.failure!.error).toMatch(
      /create \/etc\/modules-load.d\/passthrough.conf: no space left on device/,
    );
    expect(read(dir, "etc/modules-load.d/passthrough.conf")).toBeNull();
    expect(tempFiles(dir)).toEqual([]);
    assertNoHalfWrittenFile(dir);
    rollbackLatest(dir);
    expect(treeState(dir)).toEqual(original); // the folder made for the file is gone too
  });

  it("EACCES when creating the temporary file: nothing is changed", () => {
    const dir = root();
    const original = treeState(dir);
    const fault = new FaultFs().failOn(
      "openSync",
      (p) => p.includes("/etc/default/.grub.passthrough-tmp-"),
      "EACCES",
    );
    const res = applyPlan({
      plan: samplePlan(),
      writer: new FileWriter(dir, fault),
      runner: new RecordingRunner(),
      version: "t",
    });
    expect(res.status).toBe("failed");
    expect(res.failure).toMatchObject({
      step: 0,
      error: "edit /etc/default/grub: permission denied",
    });
    expect(treeState(dir)).toEqual(original);
    const rb = rollbackLatest(dir)!;
    expect(rb.status).toBe("ok");
    expect(treeState(dir)).toEqual(original);
  });

  it("EACCES on the rename: the original stays, the temporary file is removed", () => {
    const dir = root();
    const original = treeState(dir);
    const fault = new FaultFs().failOn(
      "renameSync",
      (p) => p.endsWith("/etc/modprobe.d/passthrough.conf"),
      "EACCES",
    );
    const res = applyPlan({
      plan: samplePlan(),
      writer: new FileWriter(dir, fault),
      runner: new RecordingRunner(),
      version: "t",
    });
    expect(res.failure!.step).toBe(1);
    expect(tempFiles(dir)).toEqual([]);
    assertNoHalfWrittenFile(dir);
    rollbackLatest(dir);
    expect(treeState(dir)).toEqual(original);
  });

  it("a full disk under the lock: exit 4 saying to free space; no empty lock, no folder left", () => {
    const dir = root();
    const original = treeState(dir);
    const fault = new FaultFs().failOn("writeSync", (p) => p.endsWith("/lock"), "ENOSPC");
    let err: unknown;
    try {
      ApplyLock.acquire(new FileWriter(dir, fault), "apply");
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ApplyError);
    expect((err as ApplyError).exitCode).toBe(4);
    expect((err as Error).message).toBe(
      `cannot write in ${dir}/var/lib/passthrough: no space left on device; free space in ${dir}/var/lib/passthrough (or make it writable) and run again — nothing was changed`,
    );
    expect(fs.existsSync(path.join(dir, "var/lib/passthrough"))).toBe(false);
    expect(treeState(dir)).toEqual(original);
    // Read-only or over quota: the same way out.
    for (const code of ["EROFS", "EDQUOT"]) {
      const f = new FaultFs().failOn("mkdirSync", (p) => p.endsWith("/passthrough"), code);
      expect(() => ApplyLock.acquire(new FileWriter(dir, f), "apply")).toThrow(/free space in/);
    }
  });

  it("a run that wrote nothing leaves no state folder behind", () => {
    const dir = root();
    const lock = ApplyLock.acquire(new FileWriter(dir), "apply");
    expect(fs.existsSync(path.join(dir, "var/lib/passthrough/lock"))).toBe(true);
    lock.release();
    expect(fs.existsSync(path.join(dir, "var/lib/passthrough"))).toBe(false);
    expect(fs.existsSync(path.join(dir, "var/lib"))).toBe(true); // only what the run made goes
  });

  it("a full disk under the journal: refused before any change, the half-made journal is cleared next time", () => {
    const dir = root();
    const original = treeState(dir);
    const fault = new FaultFs().failOn("writeSync", (p) => p.includes("plan.json"), "ENOSPC");
    const runner = new RecordingRunner();
    expect(() =>
      applyPlan({ plan: samplePlan(), writer: new FileWriter(dir, fault), runner, version: "t" }),
    ).toThrow(ApplyError);
    expect(() =>
      applyPlan({ plan: samplePlan(), writer: new FileWriter(dir, fault), runner, version: "t" }),
    ).toThrow(
      /could not write the journal .*no space left on device; free space in .*\/var\/lib\/passthrough and run again; nothing was changed/,
    );
    expect(runner.calls).toEqual([]);
    expect(treeState(dir)).toEqual(original);
    expect(listJournals(writerSource(new FileWriter(dir)))).toEqual([]);
    // The next healthy run removes the leftovers of the failed ones.
    applyPlan({ plan: samplePlan(), writer: new FileWriter(dir), runner, version: "t" });
    expect(
      fs
        .readdirSync(path.join(dir, "var/lib/passthrough/journal"))
        .filter((n) => n.endsWith(".partial")),
    ).toEqual([]);
  });
});

describe("a kill at any point", () => {
  const R = "/r";
  /** The same tree as makeRoot(), in memory. */
  function memRoot(): MemFs {
    const m = new MemFs();
    m.put(`${R}/etc/default/grub`, GRUB_BEFORE, 0o640);
    m.put(`${R}/etc/modprobe.d/blacklist.conf`, BLACKLIST);
    m.put(`${R}/etc/modprobe.d/pve-blacklist.conf`, "blacklist nvidiafb\n");
    m.put(`${R}/etc/modules`, "# /etc/modules\n");
    m.put(`${R}/var/lib/.keep`, "");
    return m;
  }
  function noHalfWritten(m: MemFs, where: string): void {
    const w = new FileWriter(R, m);
    for (const s of fileSteps()) {
      const st = w.read(s.path);
      expect(
        sameContent(st, s.before) || sameContent(st, s.after),
        `${where}: ${s.path} is neither before nor after`,
      ).toBe(true);
    }
  }
  function staleLock(m: MemFs): void {
    try {
      m.lstatSync(`${R}/var/lib/passthrough/lock`);
    } catch {
      return;
    }
    m.unlinkSync(`${R}/var/lib/passthrough/lock`);
    m.put(
      `${R}/var/lib/passthrough/lock`,
      JSON.stringify({ pid: deadPid(), command: "apply", startedAt: "killed" }),
    );
  }
  function rollbackMem(m: MemFs, fsl: FsLayer = m, runner: CommandRunner = new RecordingRunner()) {
    const writer = new FileWriter(R, fsl);
    const lock = ApplyLock.acquire(writer, "rollback");
    try {
      const e = listJournals(writerSource(writer))[0];
      if (!e) return null;
      if (!e.ok) throw new Error(e.error);
      return executeRollback(planRollback(e.journal, writer), {
        writer,
        runner,
        force: false,
        rollbackCommand: "passthrough rollback",
      });
    } finally {
      lock.release();
    }
  }

  it("after every single file-system call of an apply: no half-written file, and rollback restores the original", () => {
    const base = memRoot();
    const original = base.tree(R);
    const counter = new FaultFs(base.clone());
    applyPlan({
      plan: samplePlan(),
      writer: new FileWriter(R, counter),
      runner: new RecordingRunner(),
      version: "t",
    });
    const total = counter.calls;
    expect(total).toBeGreaterThan(100);

    const stepsDoneSeen = new Set<number>();
    for (let n = 0; n <= total; n++) {
      const m = base.clone();
      const fault = new FaultFs(m).dieAfter(n);
      try {
        applyPlan({
          plan: samplePlan(),
          writer: new FileWriter(R, fault),
          runner: runnerOf(fault),
          version: "t",
        });
      } catch {
        // the "process" died
      }
      noHalfWritten(m, `kill after call ${n}`);
      staleLock(m);
      const entries = listJournals(writerSource(new FileWriter(R, m)));
      if (entries.length === 0) {
        // Killed before the journal was complete: then nothing on the host had changed.
        expect(m.tree(R), `kill after call ${n}`).toEqual(original);
        stepsDoneSeen.add(0);
        continue;
      }
      const e = entries[0]!;
      expect(e.ok, `kill after call ${n}: ${(e as { error?: string }).error}`).toBe(true);
      if (e.ok) {
        stepsDoneSeen.add(e.summary.stepsDone);
        // "applied" only once the end line is on disk (a kill while releasing the lock).
        if (e.summary.status === "applied")
          expect(e.summary.stepsDone, `kill after call ${n}`).toBe(7);
        else expect(["interrupted", "failed"], `kill after call ${n}`).toContain(e.summary.status);
      }
      const rb = rollbackMem(m)!;
      expect(rb.status, `rollback after a kill after call ${n}: ${rb.failure}`).toBe("ok");
      expect(m.tree(R), `kill after call ${n}`).toEqual(original);
    }
    // The sweep passed through every boundary between steps: after step k for every k.
    expect([...stepsDoneSeen].sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  });

  it("after every single file-system call of a rollback: running rollback again finishes it", () => {
    const applied = memRoot();
    const original = applied.tree(R);
    applyPlan({
      plan: samplePlan(),
      writer: new FileWriter(R, applied),
      runner: new RecordingRunner(),
      version: "t",
    });
    const counter = new FaultFs(applied.clone());
    rollbackMem(applied.clone(), counter);
    const total = counter.calls;
    expect(total).toBeGreaterThan(50);

    for (let n = 0; n <= total; n++) {
      const m = applied.clone();
      const fault = new FaultFs(m).dieAfter(n);
      try {
        rollbackMem(m, fault, runnerOf(fault));
      } catch {
        // killed
      }
      noHalfWritten(m, `rollback killed after call ${n}`);
      staleLock(m);
      const rb = rollbackMem(m)!;
      expect(rb.status, `second rollback after a kill after call ${n}: ${rb.failure}`).toBe("ok");
      expect(m.tree(R), `rollback killed after call ${n}`).toEqual(original);
      expect(listJournals(writerSource(new FileWriter(R, m)))[0]).toMatchObject({
        ok: true,
        summary: { status: "rolled-back" },
      });
    }
  });

  it("on the real file system, after each step k for every k: rollback restores the original", () => {
    // Where each step's "done" line lands, counted on a probe run.
    const probe = new FaultFs();
    const boundaries: number[] = [];
    applyPlan({
      plan: samplePlan(),
      writer: new FileWriter(root(), probe),
      runner: new RecordingRunner(),
      version: "t",
      onProgress: (p) => (p.phase === "done" ? boundaries.push(probe.calls) : undefined),
    });
    expect(boundaries).toHaveLength(samplePlan().steps.length);
    boundaries.forEach((n, k) => {
      const dir = root();
      const original = treeState(dir);
      const fault = new FaultFs().dieAfter(n);
      try {
        applyPlan({
          plan: samplePlan(),
          writer: new FileWriter(dir, fault),
          runner: runnerOf(fault),
          version: "t",
        });
      } catch {
        // killed right after step k
      }
      assertNoHalfWrittenFile(dir);
      markLockStale(dir);
      const [e] = listJournals(writerSource(new FileWriter(dir)));
      expect(e, `after step ${k}`).toMatchObject({ ok: true, summary: { stepsDone: k + 1 } });
      expect(rollbackLatest(dir)!.status).toBe("ok");
      expect(treeState(dir), `killed after step ${k}`).toEqual(original);
    });
  });

  it("inside a write, between the temporary file and the rename: the leftover is removed by rollback", () => {
    const dir = root();
    const original = treeState(dir);
    // Let everything through up to the rename of the new modprobe file, then die.
    const counter = new FaultFs();
    let renameAt = -1;
    const spy = new Proxy(counter, {
      get(t, k) {
        if (k === "renameSync")
          return (a: string, b: string) => {
            if (b.endsWith("/etc/modprobe.d/passthrough.conf") && renameAt < 0) renameAt = t.calls;
            return t.renameSync(a, b);
          };
        const v = Reflect.get(t, k);
        return typeof v === "function" ? v.bind(t) : v;
      },
    });
    applyPlan({
      plan: samplePlan(),
      writer: new FileWriter(root(), spy),
      runner: new RecordingRunner(),
      version: "t",
    });
    expect(renameAt).toBeGreaterThan(0);

    const fault = new FaultFs().dieAfter(renameAt);
    try {
      applyPlan({
        plan: samplePlan(),
        writer: new FileWriter(dir, fault),
        runner: runnerOf(fault),
        version: "t",
      });
    } catch {
      // killed
    }
    expect(tempFiles(dir)).toHaveLength(1);
    expect(read(dir, "etc/modprobe.d/passthrough.conf")).toBeNull();
    markLockStale(dir);
    const rb = rollbackLatest(dir)!;
    expect(rb.files.filter((f) => f.action === "temp-removed")).toHaveLength(1);
    expect(treeState(dir)).toEqual(original);
  });
});
