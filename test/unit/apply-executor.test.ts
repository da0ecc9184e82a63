// apply -> (nothing left to do) -> rollback on temporary roots with a recording runner: the
// tree comes back byte for byte, mode and owner included; the journal says what happened.
import * as fs from "node:fs";
import * as path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { ListingRunner } from "../../src/apply/command-runner.js";
import { RecordingRunner } from "../../src/process/recording-runner.js";
import { applyPlan, executePlan, preflight } from "../../src/apply/executor.js";
import { FileWriter, sameContent } from "../../src/apply/file-writer.js";
import { listJournals } from "../../src/apply/history.js";
import { readJournal, writerSource, JOURNAL_ROOT } from "../../src/apply/journal.js";
import { ApplyLock } from "../../src/apply/lock.js";
import { executeRollback, planRollback } from "../../src/apply/rollback.js";
import { inverseCommand } from "../../src/boot/undo.js";
import { ApplyError, RefusedError } from "../../src/errors.js";
import type { Plan } from "../../src/plan/types.js";
import {
  BLACKLIST,
  GRUB_AFTER,
  GRUB_BEFORE,
  MODPROBE_AFTER,
  makeRoot,
  read,
  samplePlan,
  tempFiles,
  treeState,
} from "../helpers/apply.js";

const cleanups: Array<() => void> = [];
afterEach(() => {
  while (cleanups.length) cleanups.pop()!();
});
function root(extra?: Record<string, string>) {
  const r = makeRoot(extra);
  cleanups.push(r.cleanup);
  return r.dir;
}

/** What is still to do: the file steps whose target is not yet the plan's `after`. */
function residual(plan: Plan, writer: FileWriter): string[] {
  return plan.steps.flatMap((s) =>
    s.kind === "file" && !sameContent(writer.read(s.path), s.after) ? [s.path] : [],
  );
}

function rollbackAll(writer: FileWriter, runner = new RecordingRunner(), force = false) {
  const [entry] = listJournals(writerSource(writer));
  if (!entry?.ok) throw new Error("no journal");
  const rp = planRollback(entry.journal, writer);
  return {
    rp,
    result: executeRollback(rp, { writer, runner, force, rollbackCommand: "passthrough rollback" }),
    runner,
  };
}

describe("apply then rollback", () => {
  it("applies every step, leaves nothing to do, and rollback restores the tree byte for byte", () => {
    const dir = root();
    const original = treeState(dir);
    const writer = new FileWriter(dir);
    const runner = new RecordingRunner();
    const plan = samplePlan();

    const res = applyPlan({ plan, writer, runner, version: "test" });
    expect(res.status).toBe("ok");
    expect(res.outcomes.map((o) => o.result)).toEqual([
      "written",
      "created",
      "created",
      "removed",
      "ran",
      "ran",
      "reboot-pending",
    ]);
    expect(runner.calls).toEqual([["update-grub"], ["update-initramfs", "-u", "-k", "all"]]);
    expect(read(dir, "etc/default/grub")).toBe(GRUB_AFTER);
    expect(read(dir, "etc/modprobe.d/passthrough.conf")).toBe(MODPROBE_AFTER);
    expect(read(dir, "etc/modprobe.d/blacklist.conf")).toBeNull();
    // An existing file keeps its mode; a new one gets the plan's.
    expect(fs.statSync(path.join(dir, "etc/default/grub")).mode & 0o777).toBe(0o640);
    expect(fs.statSync(path.join(dir, "etc/modules-load.d/passthrough.conf")).mode & 0o777).toBe(
      0o644,
    );
    expect(residual(plan, writer)).toEqual([]);
    expect(fs.existsSync(path.join(dir, "var/lib/passthrough/lock"))).toBe(false);

    const { result, runner: rbRunner } = rollbackAll(writer);
    expect(result.status).toBe("ok");
    expect(rbRunner.calls).toEqual([["update-grub"], ["update-initramfs", "-u", "-k", "all"]]);
    expect(treeState(dir)).toEqual(original);
  });

  it("writes the journal before the change: plan, exact before-images with mode/owner, started/done markers", () => {
    const dir = root();
    const writer = new FileWriter(dir);
    const res = applyPlan({
      plan: samplePlan(),
      writer,
      runner: new RecordingRunner((a) =>
        a[0] === "update-grub"
          ? { stdout: "Generating grub configuration file ...\ndone\n" }
          : undefined,
      ),
      version: "9.9.9",
    });
    const j = readJournal(writerSource(writer), res.journalId);
    expect(res.journalPath).toBe(path.join(dir, "var/lib/passthrough/journal", res.journalId));
    expect(j.meta.version).toBe("9.9.9");
    expect(j.meta.root).toBe(dir);
    expect(j.plan).toEqual(samplePlan());
    const grub = j.before.find((b) => b.path === "/etc/default/grub")!;
    expect(grub.bytes!.toString()).toBe(GRUB_BEFORE);
    expect(grub.mode).toBe(0o640);
    expect(grub.uid).toBe(fs.statSync(path.join(dir, "etc/default/grub")).uid);
    const created = j.before.find((b) => b.path === "/etc/modules-load.d/passthrough.conf")!;
    expect(created.existed).toBe(false);
    expect(created.bytes).toBeNull();
    expect(created.createdDirs).toEqual(["/etc/modules-load.d"]);
    const kinds = j.events.map((e) => `${e.event}${"step" in e ? e.step : ""}`);
    expect(kinds).toEqual([
      "start0",
      "done0",
      "start1",
      "done1",
      "start2",
      "done2",
      "start3",
      "done3",
      "start4",
      "command4",
      "done4",
      "start5",
      "command5",
      "done5",
      "start6",
      "done6",
      "end",
    ]);
    const cmd = j.events.find((e) => e.event === "command") as {
      argv: string[];
      exitCode: number;
      stdout: string;
    };
    expect(cmd).toMatchObject({
      argv: ["update-grub"],
      exitCode: 0,
      stdout: "Generating grub configuration file ...\ndone\n",
    });
    expect(listJournals(writerSource(writer))[0]).toMatchObject({
      ok: true,
      summary: { status: "applied", devices: ["0000:01:00.0", "0000:01:00.1"] },
    });
  });

  it("keeps the owner of an existing file and restores it on rollback", () => {
    if (process.getuid?.() !== 0) return; // chown to another user needs root
    const dir = root();
    const grub = path.join(dir, "etc/default/grub");
    fs.chownSync(grub, 1234, 4321);
    const original = treeState(dir);
    const writer = new FileWriter(dir);
    applyPlan({ plan: samplePlan(), writer, runner: new RecordingRunner(), version: "t" });
    expect(fs.statSync(grub)).toMatchObject({ uid: 1234, gid: 4321 });
    rollbackAll(writer);
    expect(treeState(dir)).toEqual(original);
  });

  it("stops before writing anything when a file changed since planning (exit 4)", () => {
    const dir = root({ "etc/default/grub": GRUB_BEFORE.replace("quiet", "quiet splash") });
    const original = treeState(dir);
    const writer = new FileWriter(dir);
    const runner = new RecordingRunner();
    expect(() => applyPlan({ plan: samplePlan(), writer, runner, version: "t" })).toThrow(
      ApplyError,
    );
    expect(() => applyPlan({ plan: samplePlan(), writer, runner, version: "t" })).toThrow(
      /\/etc\/default\/grub changed since the plan was made/,
    );
    expect(runner.calls).toEqual([]);
    expect(treeState(dir)).toEqual(original);
    expect(listJournals(writerSource(writer))).toEqual([]);
  });

  it("a file already as planned counts as done (a second run of the same plan changes no file)", () => {
    const dir = root();
    const writer = new FileWriter(dir);
    applyPlan({ plan: samplePlan(), writer, runner: new RecordingRunner(), version: "t" });
    const afterFirst = treeState(dir);
    const second = applyPlan({
      plan: samplePlan(),
      writer,
      runner: new RecordingRunner(),
      version: "t",
    });
    expect(second.outcomes.filter((o) => o.kind === "file").map((o) => o.result)).toEqual([
      "unchanged",
      "unchanged",
      "unchanged",
      "unchanged",
    ]);
    expect(treeState(dir)).toEqual(afterFirst);
  });

  it("refuses a plan that writes outside the root or through a link that leaves it", () => {
    const dir = root();
    fs.symlinkSync("/etc", path.join(dir, "etc/escape"));
    const writer = new FileWriter(dir);
    const plan = samplePlan();
    plan.steps = [
      {
        kind: "file",
        path: "/etc/escape/passthrough-test.conf",
        before: null,
        after: "x\n",
        why: "",
      },
    ];
    expect(() => applyPlan({ plan, writer, runner: new RecordingRunner(), version: "t" })).toThrow(
      RefusedError,
    );
    plan.steps = [
      { kind: "file", path: "/etc/../etc/x.conf", before: null, after: "x\n", why: "" },
    ];
    expect(() => applyPlan({ plan, writer, runner: new RecordingRunner(), version: "t" })).toThrow(
      /not a normalised/,
    );
    expect(fs.existsSync("/etc/passthrough-test.conf")).toBe(false);
  });

  it("refuses to replace a symbolic link", () => {
    const dir = root();
    fs.symlinkSync("blacklist.conf", path.join(dir, "etc/modprobe.d/link.conf"));
    const plan = samplePlan();
    plan.steps = [
      { kind: "file", path: "/etc/modprobe.d/link.conf", before: BLACKLIST, after: "x\n", why: "" },
    ];
    expect(() => preflight(plan, new FileWriter(dir))).toThrow(/is a symbolic link/);
  });

  it("--root without --run-commands lists the commands and runs none", () => {
    const dir = root();
    const runner = new ListingRunner();
    const res = applyPlan({
      plan: samplePlan(),
      writer: new FileWriter(dir),
      runner,
      version: "t",
    });
    expect(res.status).toBe("ok");
    expect(runner.listed).toEqual([["update-grub"], ["update-initramfs", "-u", "-k", "all"]]);
    expect(res.outcomes.filter((o) => o.kind === "command").map((o) => o.result)).toEqual([
      "listed",
      "listed",
    ]);
    const j = readJournal(writerSource(new FileWriter(dir)), res.journalId);
    expect(j.meta.commands).toMatch(/listed, not run/);
  });
});

describe("rollback safety", () => {
  it("refuses when a file was changed by someone else since, and --force overwrites keeping the displaced copy", () => {
    const dir = root();
    const writer = new FileWriter(dir);
    applyPlan({ plan: samplePlan(), writer, runner: new RecordingRunner(), version: "t" });
    fs.writeFileSync(path.join(dir, "etc/modprobe.d/passthrough.conf"), "# edited by the admin\n");
    const [entry] = listJournals(writerSource(writer));
    const rp = planRollback((entry as { journal: any }).journal, writer);
    expect(rp.files.find((f) => f.record.path === "/etc/modprobe.d/passthrough.conf")!.state).toBe(
      "changed",
    );
    const before = treeState(dir);
    expect(() =>
      executeRollback(rp, {
        writer,
        runner: new RecordingRunner(),
        force: false,
        rollbackCommand: "passthrough rollback X",
      }),
    ).toThrow(
      /\/etc\/modprobe.d\/passthrough.conf was changed by someone else .*passthrough rollback X --force/,
    );
    expect(treeState(dir)).toEqual(before);

    const forced = executeRollback(rp, {
      writer,
      runner: new RecordingRunner(),
      force: true,
      rollbackCommand: "passthrough rollback X",
    });
    expect(forced.status).toBe("ok");
    const displaced = forced.files.find((f) => f.action === "overwritten")!;
    expect(displaced.path).toBe("/etc/modprobe.d/passthrough.conf");
    const jdir = path.join(dir, "var/lib/passthrough/journal", rp.journal.id);
    expect(fs.readFileSync(path.join(jdir, displaced.displaced!), "utf8")).toBe(
      "# edited by the admin\n",
    );
    expect(read(dir, "etc/modprobe.d/passthrough.conf")).toBeNull();
    expect(read(dir, "etc/default/grub")).toBe(GRUB_BEFORE);
  });

  it("is idempotent: a second rollback finds nothing to do and runs no command", () => {
    const dir = root();
    const writer = new FileWriter(dir);
    applyPlan({ plan: samplePlan(), writer, runner: new RecordingRunner(), version: "t" });
    rollbackAll(writer);
    const entry = listJournals(writerSource(writer))[0]!;
    expect(entry).toMatchObject({ ok: true, summary: { status: "rolled-back" } });
    const rp = planRollback((entry as { journal: any }).journal, writer);
    expect(rp.nothingToDo).toBe(true);
    expect(rp.commands).toEqual([]);
  });

  it("undoes direct boot-entry edits (grubby, kernelstub) by their inverse option", () => {
    expect(
      inverseCommand(["grubby", "--update-kernel=ALL", "--args=intel_iommu=on iommu=pt"]),
    ).toEqual(["grubby", "--update-kernel=ALL", "--remove-args=intel_iommu=on iommu=pt"]);
    expect(inverseCommand(["kernelstub", "-a", "iommu=pt"])).toEqual([
      "kernelstub",
      "--delete-options",
      "iommu=pt",
    ]);
    expect(inverseCommand(["update-grub"])).toBeNull();
    const dir = root();
    const writer = new FileWriter(dir);
    const plan = samplePlan();
    plan.steps = [
      plan.steps[1]!,
      { kind: "command", argv: ["grubby", "--update-kernel=ALL", "--args=iommu=pt"], why: "" },
      { kind: "command", argv: ["dracut", "-f", "--regenerate-all"], why: "" },
    ];
    applyPlan({ plan, writer, runner: new RecordingRunner(), version: "t" });
    const { runner } = rollbackAll(writer);
    expect(runner.calls).toEqual([
      ["grubby", "--update-kernel=ALL", "--remove-args=iommu=pt"],
      ["dracut", "-f", "--regenerate-all"],
    ]);
  });

  it("runs every rebuild again, booster's script included, and kernelstub alone (it rewrites its entry)", () => {
    const dir = root();
    const writer = new FileWriter(dir);
    const plan = samplePlan();
    plan.steps = [
      plan.steps[1]!,
      { kind: "command", argv: ["/usr/lib/booster/regenerate_images"], why: "" },
      { kind: "command", argv: ["kernelstub"], why: "" },
    ];
    applyPlan({ plan, writer, runner: new RecordingRunner(), version: "t" });
    const { rp, runner } = rollbackAll(writer);
    expect(rp.notUndone).toEqual([]);
    expect(runner.calls).toEqual([["/usr/lib/booster/regenerate_images"], ["kernelstub"]]);
  });
});

describe("the lock", () => {
  it("a second apply while one runs is refused and changes nothing; the first completes and rolls back cleanly", () => {
    const dir = root();
    const original = treeState(dir);
    const writer = new FileWriter(dir);
    let second: unknown = null;
    let treeDuringSecond: Map<string, string> | null = null;
    // The second run starts while the first is inside its update-grub step.
    const runner = new RecordingRunner((argv) => {
      if (argv[0] === "update-grub") {
        const snapshot = treeState(dir);
        try {
          applyPlan({
            plan: samplePlan(),
            writer: new FileWriter(dir),
            runner: new RecordingRunner(),
            version: "t",
          });
        } catch (err) {
          second = err;
        }
        treeDuringSecond = treeState(dir);
        expect(treeDuringSecond).toEqual(snapshot);
      }
      return undefined;
    });
    const first = applyPlan({ plan: samplePlan(), writer, runner, version: "t" });
    expect(second).toBeInstanceOf(RefusedError);
    expect((second as Error).message).toMatch(
      /another passthrough apply \(pid \d+, started .*\) is running/,
    );
    expect(first.status).toBe("ok");
    expect(listJournals(writerSource(writer))).toHaveLength(1);
    rollbackAll(writer);
    expect(treeState(dir)).toEqual(original);
  });

  it("takes over a lock whose process is gone", () => {
    const dir = root();
    const writer = new FileWriter(dir);
    fs.mkdirSync(path.join(dir, "var/lib/passthrough"), { recursive: true });
    fs.writeFileSync(
      path.join(dir, "var/lib/passthrough/lock"),
      JSON.stringify({ pid: 2 ** 22 + 7, command: "apply", startedAt: "x" }),
    );
    const lock = ApplyLock.acquire(writer, "apply");
    expect(
      JSON.parse(fs.readFileSync(path.join(dir, "var/lib/passthrough/lock"), "utf8")).pid,
    ).toBe(process.pid);
    lock.release();
    expect(fs.existsSync(path.join(dir, "var/lib/passthrough/lock"))).toBe(false);
  });
});

describe("journal root", () => {
  it("lives under the root it applies to", () => {
    const dir = root();
    const res = executePlan({
      plan: samplePlan(),
      writer: new FileWriter(dir),
      runner: new RecordingRunner(),
      version: "t",
    });
    expect(fs.existsSync(path.join(dir, JOURNAL_ROOT, res.journalId, "plan.json"))).toBe(true);
    expect(tempFiles(dir)).toEqual([]);
  });
});
