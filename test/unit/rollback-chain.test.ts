// `rollback` without an id undoes every apply made in the newest boot, newest first, so the host
// returns to its state before the first of them: two applies before a reboot build on each
// other, and undoing only the last one would leave the first one's files changed.
import * as fs from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import { RecordingRunner } from "../../src/process/recording-runner.js";
import { applyPlan } from "../../src/apply/executor.js";
import { FileWriter } from "../../src/apply/file-writer.js";
import { chainHeads, listJournals, rollbackChain } from "../../src/apply/history.js";
import { writerSource } from "../../src/apply/journal.js";
import { planChainRollback } from "../../src/apply/rollback.js";
import type { Plan } from "../../src/plan/types.js";
import { cli } from "../helpers/cli.js";
import {
  GRUB_AFTER,
  GRUB_BEFORE,
  makeRoot,
  read,
  samplePlan,
  treeState,
} from "../helpers/apply.js";

const cleanups: Array<() => void> = [];
afterEach(() => {
  while (cleanups.length) cleanups.pop()!();
});
function root() {
  const r = makeRoot();
  cleanups.push(r.cleanup);
  return r.dir;
}

const GRUB_AFTER_2 = GRUB_AFTER.replace("iommu=pt", "iommu=pt video=efifb:off");

/** A second apply that edits what the first one wrote (the same file, one more parameter). */
function secondPlan(): Plan {
  return {
    ...samplePlan(),
    steps: [
      {
        kind: "file",
        path: "/etc/default/grub",
        before: GRUB_AFTER,
        after: GRUB_AFTER_2,
        why: "one more parameter",
      },
      { kind: "command", argv: ["update-grub"], why: "regenerate grub.cfg" },
    ],
  };
}

function apply(dir: string, plan: Plan, bootedAt: Date | null | undefined) {
  const res = applyPlan({
    plan,
    writer: new FileWriter(dir),
    runner: new RecordingRunner(),
    version: "t",
    ...(bootedAt !== undefined ? { bootedAt } : {}),
  });
  expect(res.status).toBe("ok");
  return res.journalId;
}

const entries = (dir: string) => listJournals(writerSource(new FileWriter(dir)));
const BOOT = new Date("2026-12-01T08:00:00Z");

describe("rollback chains", () => {
  it("two applies in one boot are one chain; rollback restores the state before the first", async () => {
    const dir = root();
    const original = treeState(dir);
    const first = apply(dir, samplePlan(), BOOT);
    const second = apply(dir, secondPlan(), BOOT);
    expect(read(dir, "etc/default/grub")).toBe(GRUB_AFTER_2);
    expect(rollbackChain(entries(dir)).map((j) => j.id)).toEqual([second, first]);
    expect(chainHeads(entries(dir))).toEqual(
      new Map([
        [second, second],
        [first, second],
      ]),
    );

    const r = await cli(["rollback", "--yes", "--root", dir]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`2 applies made in the same boot under ${dir}`);
    expect(r.stdout).toContain(`Back to the state before ${first} under ${dir}.`);
    expect(treeState(dir)).toEqual(original);
    expect(read(dir, "etc/default/grub")).toBe(GRUB_BEFORE);
    // update-grub once, with the older journal, not once per journal.
    expect(r.stdout.match(/^ {2}update-grub$/gm)).toHaveLength(1);
    const statuses = entries(dir).map((e) => (e.ok ? e.summary.status : "?"));
    expect(statuses).toEqual(["rolled-back", "rolled-back"]);
  });

  it("a file changed by someone else anywhere in the chain refuses before anything is restored", async () => {
    const dir = root();
    apply(dir, samplePlan(), BOOT);
    apply(dir, secondPlan(), BOOT);
    // Only the first apply wrote this file; someone edits it afterwards.
    fs.appendFileSync(`${dir}/etc/modules-load.d/passthrough.conf`, "extra\n");
    const before = treeState(dir);
    const r = await cli(["rollback", "--yes", "--root", dir]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(
      /^error: \/etc\/modules-load\.d\/passthrough\.conf was changed by someone else since journal/,
    );
    expect(treeState(dir)).toEqual(before); // the newer journal's grub was not restored either
    const plans = planChainRollback(rollbackChain(entries(dir)), new FileWriter(dir));
    expect(plans[0]!.files.map((f) => f.state)).toEqual(["applied"]);
    expect(plans[1]!.files.find((f) => f.record.path.includes("modules-load"))!.state).toBe(
      "changed",
    );
  });

  it("applies in different boots, or from before boots were recorded, are undone one at a time", async () => {
    const dir = root();
    const first = apply(dir, samplePlan(), BOOT);
    const second = apply(dir, secondPlan(), new Date("2026-12-02T08:00:00Z"));
    expect(rollbackChain(entries(dir)).map((j) => j.id)).toEqual([second]);

    const legacy = root();
    for (const id of [apply(legacy, samplePlan(), BOOT), apply(legacy, secondPlan(), BOOT)]) {
      // Journals written before boots were recorded have no bootedAt at all.
      const meta = `${legacy}/var/lib/passthrough/journal/${id}/meta.json`;
      const { bootedAt: _, ...old } = JSON.parse(fs.readFileSync(meta, "utf8"));
      fs.writeFileSync(meta, JSON.stringify(old));
    }
    const newest = entries(legacy)[0]!;
    expect(rollbackChain(entries(legacy)).map((j) => j.id)).toEqual([
      newest.ok && newest.summary.id,
    ]);

    const r = await cli(["rollback", "--yes", "--root", dir]);
    expect(r.code, r.stderr).toBe(0);
    expect(read(dir, "etc/default/grub")).toBe(GRUB_AFTER); // only the second was undone
    expect(rollbackChain(entries(dir)).map((j) => j.id)).toEqual([first]);
  });

  it("a tree without a boot time (no proc/stat) chains its applies; an id rolls back that journal alone", async () => {
    const dir = root();
    const first = apply(dir, samplePlan(), null);
    const second = apply(dir, secondPlan(), null);
    expect(rollbackChain(entries(dir)).map((j) => j.id)).toEqual([second, first]);
    const r = await cli(["rollback", second, "--yes", "--root", dir]);
    expect(r.code, r.stderr).toBe(0);
    expect(read(dir, "etc/default/grub")).toBe(GRUB_AFTER);
    const h = await cli(["history", "--root", dir]);
    expect(h.stdout).toContain(
      `Undo the newest apply (${first}): passthrough rollback --root ${dir}`,
    );
  });
});
