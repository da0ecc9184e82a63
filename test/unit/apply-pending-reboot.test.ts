// apply twice before the reboot: the second run has nothing to do.
import { describe, expect, it } from "vitest";
import type { HistoryEntry } from "../../src/apply/history.js";
import { alreadyAppliedAwaitingReboot } from "../../src/apply/pending-reboot.js";
import { bootTimeOf } from "../../src/host/system.js";
import type { Plan } from "../../src/plan/types.js";
import { fixtureState } from "../helpers/fixtures.js";

const FILE = "etc/modprobe.d/passthrough.conf";
const applied: Plan = {
  selection: { requested: ["0000:01:00"], functions: ["0000:01:00.0"], groups: [12] },
  steps: [
    {
      kind: "file",
      path: `/${FILE}`,
      before: null,
      after: "options vfio-pci ids=10de:2206\n",
      why: "bind",
    },
    { kind: "command", argv: ["update-initramfs", "-u", "-k", "all"], why: "initramfs" },
    { kind: "command", argv: ["update-grub"], why: "grub" },
    { kind: "reboot", why: "reboot" },
  ],
  findings: [],
  expect: { cmdline: ["iommu=pt"], modulesLoaded: [], boundToVfio: [] },
  phase: "complete",
};
const replanned: Plan = { ...applied, steps: applied.steps.filter((s) => s.kind !== "file") };

function entry(
  opts: { status?: string; ran?: boolean; exit?: number; finishedAt?: string } = {},
): HistoryEntry {
  const events = applied.steps
    .filter((s) => s.kind === "command")
    .map((s, i) => ({
      at: "t",
      event: "command" as const,
      step: i + 1,
      argv: s.kind === "command" ? s.argv : [],
      ran: opts.ran ?? true,
      exitCode: opts.exit ?? 0,
      signal: null,
      error: null,
      durationMs: 1,
      stdout: "",
      stderr: "",
    }));
  return {
    ok: true,
    journal: {
      id: "j1",
      dir: "/var/lib/passthrough/journal/j1",
      meta: {} as never,
      plan: applied,
      before: [],
      events,
      rollbackEvents: [],
      tornTail: false,
    },
    summary: {
      id: "j1",
      createdAt: "",
      root: "/",
      status: (opts.status ?? "applied") as never,
      statusText: "",
      devices: [],
      files: [],
      commands: [],
      stepsTotal: 4,
      stepsDone: 4,
      failure: null,
      finishedAt: opts.finishedAt ?? "2026-11-26T20:00:00Z",
      rolledBackAt: null,
      bootedAt: null,
    },
  };
}

describe("already applied, reboot pending", () => {
  const state = fixtureState("seed-after");
  state.configFiles[FILE] = "options vfio-pci ids=10de:2206\n";
  const bootedBefore = new Date("2026-11-26T10:00:00Z");

  it("is nothing to do when the journal ran the same commands since the boot and its files are unchanged", () => {
    expect(alreadyAppliedAwaitingReboot(replanned, state, [entry()], bootedBefore)).toEqual({
      journalId: "j1",
      appliedAt: "2026-11-26T20:00:00Z",
    });
    expect(alreadyAppliedAwaitingReboot(replanned, state, [entry()], null)).not.toBeNull();
  });
  it("runs again when a file changed, a command failed or never ran, the host rebooted since, or it was rolled back", () => {
    const changed = structuredClone(state);
    changed.configFiles[FILE] = "options vfio-pci ids=10de:9999\n";
    expect(alreadyAppliedAwaitingReboot(replanned, changed, [entry()], bootedBefore)).toBeNull();
    expect(
      alreadyAppliedAwaitingReboot(replanned, state, [entry({ exit: 1 })], bootedBefore),
    ).toBeNull();
    expect(
      alreadyAppliedAwaitingReboot(replanned, state, [entry({ ran: false })], bootedBefore),
    ).toBeNull();
    expect(
      alreadyAppliedAwaitingReboot(replanned, state, [entry()], new Date("2026-11-26T21:00:00Z")),
    ).toBeNull();
    expect(
      alreadyAppliedAwaitingReboot(
        replanned,
        state,
        [entry({ status: "rolled-back" })],
        bootedBefore,
      ),
    ).toBeNull();
    expect(
      alreadyAppliedAwaitingReboot(replanned, state, [entry({ status: "failed" })], bootedBefore),
    ).toBeNull();
    expect(alreadyAppliedAwaitingReboot(applied, state, [entry()], bootedBefore)).toBeNull(); // a file still to change
  });
  it("reads the boot time from /proc/stat", () => {
    expect(bootTimeOf("cpu 1 2 3\nbtime 1764180000\nprocesses 5\n")).toEqual(
      new Date(1764180000 * 1000),
    );
    expect(bootTimeOf("cpu 1\n")).toBeNull();
    expect(bootTimeOf(null)).toBeNull();
  });
});
