// End to end through the real CLI and the real planner, on fixture hosts written to temporary
// roots (--root): apply -> nothing left but the reboot -> (simulated) reboot -> plan is empty,
// apply does nothing, verify passes -> rollback -> every file byte for byte as before.
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { RecordingRunner } from "../../src/process/recording-runner.js";
import { applyPlan } from "../../src/apply/executor.js";
import { FileWriter } from "../../src/apply/file-writer.js";
import { listJournals } from "../../src/apply/history.js";
import { readJournal, writerSource } from "../../src/apply/journal.js";
import { executeRollback, planRollback } from "../../src/apply/rollback.js";
import { parseCmdline } from "../../src/formats/kernel-cmdline.js";
import { satisfied } from "../../src/plan/cmdline.js";
import { planHost } from "../../src/plan/plan.js";
import type { Plan } from "../../src/plan/types.js";
import type { FakeHostSpec } from "../../tools/fakehost/spec.js";
import { FIXTURE_SPECS } from "../fixtures/specs/index.js";
import { treeState } from "../helpers/apply.js";
import { cli } from "../helpers/cli.js";
import { writeSpec } from "../helpers/fixtures.js";
import { planOpts, readTree, rebootTree } from "../helpers/plan.js";

const spec = (name: string): FakeHostSpec => FIXTURE_SPECS.find((s) => s.name === name)!;

/**
 * The files of a host. Left out: runtime state (proc, sys: what the simulated reboot changes,
 * not what apply writes) and the folders that hold the journal (var, var/lib), which stays.
 */
function files(dir: string): Map<string, string> {
  return new Map(
    [...treeState(dir)].filter(
      ([k, v]) =>
        !/^(proc|sys)(\/|$)/.test(k) && !(/^var(\/lib)?$/.test(k) && v.startsWith("dir ")),
    ),
  );
}

// One per boot loader x initramfs generator whose refresh regenerates from files
// (GRUB + initramfs-tools on Proxmox, proxmox-boot-tool + systemd-boot, grub-mkconfig + mkinitcpio).
const CASES: Array<[string, string[]]> = [
  ["seed-after", []],
  ["plan-pve-sdboot", ["--headless-ok"]], // its only GPU: the host has SSH
  ["arch-grub-mkinitcpio", []],
];

describe("apply -> plan (empty) -> rollback on fixture roots", () => {
  for (const [name, flags] of CASES) {
    it(name, async () => {
      const s = spec(name);
      const { dir, cleanup } = writeSpec(s);
      try {
        const original = files(dir);
        const args = ["--device", "0000:01:00", ...flags, "--root", dir];

        const applied = await cli(["apply", ...args, "--yes"]);
        expect(applied.stderr).toBe("");
        expect(applied.code).toBe(0);
        expect(applied.stdout).toContain("Reboot required:");
        const [entry] = listJournals(writerSource(new FileWriter(dir)));
        expect(entry).toMatchObject({ ok: true, summary: { status: "applied" } });
        const plan: Plan = (entry as { journal: { plan: Plan } }).journal.plan;
        expect(plan.steps.some((st) => st.kind === "file")).toBe(true);
        for (const st of plan.steps)
          if (st.kind === "file")
            expect(
              fs.existsSync(path.join(dir, st.path))
                ? fs.readFileSync(path.join(dir, st.path), "utf8")
                : null,
              st.path,
            ).toBe(st.after);

        // Before the reboot only the refresh and the reboot are left; verify says so.
        const pending = JSON.parse((await cli(["plan", ...args, "--json"])).stdout) as Plan;
        expect(pending.steps.filter((st) => st.kind === "file")).toEqual([]);
        const early = await cli(["verify", "--root", dir, "--json"]);
        expect(early.code).toBe(1);
        const earlyFails: string[] = JSON.parse(early.stdout)
          .findings.filter((f: { status: string }) => f.status === "fail")
          .map((f: { id: string }) => f.id);
        expect(
          earlyFails.includes("verify.cmdline") || earlyFails.includes("verify.binding"),
          earlyFails.join(", "),
        ).toBe(true);

        // The reboot: the kernel gets the configured parameters, vfio-pci the functions.
        const extra = plan.expect.cmdline.filter(
          (raw) => !satisfied(parseCmdline(s.cmdline), parseCmdline(raw)[0]!),
        );
        rebootTree(dir, plan, [s.cmdline, ...extra].join(" "));

        const settled = JSON.parse((await cli(["plan", ...args, "--json"])).stdout) as Plan;
        expect(settled.steps).toEqual([]);
        const again = await cli(["apply", ...args, "--yes"]);
        expect(again.code).toBe(0);
        expect(again.stdout).toMatch(/^Nothing to do: /);
        expect(listJournals(writerSource(new FileWriter(dir)))).toHaveLength(1);

        const verified = await cli(["verify", "--root", dir, "--json"]);
        expect(JSON.parse(verified.stdout)).toMatchObject({
          ok: true,
          source: { kind: "journal" },
        });
        expect(verified.code).toBe(0);

        const rb = await cli(["rollback", "--root", dir, "--yes"]);
        expect(rb.stderr).toBe("");
        expect(rb.code).toBe(0);
        expect(files(dir)).toEqual(original);
        const hist = JSON.parse((await cli(["history", "--root", dir, "--json"])).stdout);
        expect(hist.journals.map((j: { status: string }) => j.status)).toEqual(["rolled-back"]);
      } finally {
        cleanup();
      }
    });
  }
});

describe("the real planner through apply", () => {
  it("bad input and refusals: exit 2 and 3, nothing written", async () => {
    const { dir, cleanup } = writeSpec(spec("seed-after"));
    try {
      const original = files(dir);
      const bad = await cli(["apply", "--device", "gpu0", "--root", dir, "--yes"]);
      expect(bad.code).toBe(2);
      expect(bad.stderr).toMatch(
        /^error: --device gpu0: not a PCI address; write a slot like 0000:01:00/,
      );
      const none = await cli(["apply", "--root", dir, "--yes"]);
      expect(none.code).toBe(2);
      expect(none.stderr).toMatch(
        /^error: nothing selected: give --device with a slot like 0000:01:00 .* or --group N/,
      );
      // The NVMe controller holds the root file system.
      const refused = await cli(["apply", "--device", "0000:02:00", "--root", dir, "--yes"]);
      expect(refused.code).toBe(3);
      expect(refused.stderr).toMatch(/^error: refused/);
      expect(files(dir)).toEqual(original);
      expect(listJournals(writerSource(new FileWriter(dir)))).toEqual([]);
    } finally {
      cleanup();
    }
  });

  it("grubby edits boot entries itself: rollback runs the plan's undo command, then regenerates the initramfs", () => {
    const s = spec("fedora-grubby-dracut");
    const { dir, cleanup } = writeSpec(s);
    try {
      const plan = planHost(readTree(dir), planOpts({ devices: ["0000:01:00"] }));
      const grubby = plan.steps.find((st) => st.kind === "command" && st.argv[0] === "grubby");
      expect(grubby && grubby.kind === "command" && grubby.undo).toBeTruthy();
      const writer = new FileWriter(dir);
      const res = applyPlan({ plan, writer, runner: new RecordingRunner(), version: "t" });
      expect(res.status).toBe("ok");
      const journal = readJournal(writerSource(writer), res.journalId);
      const runner = new RecordingRunner();
      expect(
        executeRollback(planRollback(journal, writer), {
          writer,
          runner,
          force: false,
          rollbackCommand: "x",
        }).status,
      ).toBe("ok");
      expect(runner.calls).toContainEqual((grubby as { undo: string[] }).undo);
      expect(runner.calls.some((c) => c[0] === "dracut")).toBe(true);
    } finally {
      cleanup();
    }
  });
});
