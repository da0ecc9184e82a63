// `ct configure` is journaled, and `passthrough rollback` takes the change back out with
// `pct set` (src/apply/container-undo.ts), refusing when the config changed since.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { classifyContainer } from "../../src/apply/container-undo.js";
import {
  chainHeads,
  rollbackChain,
  type HistoryEntry,
  type JournalSummary,
} from "../../src/apply/history.js";
import type { LoadedJournal } from "../../src/apply/journal.js";
import { alreadyAppliedAwaitingReboot } from "../../src/apply/pending-reboot.js";
import type { HostState } from "../../src/host/types.js";
import { ctConfigDigest } from "../../src/formats/proxmox-ct-config.js";
import type { ContainerConfigChange, Plan } from "../../src/plan/types.js";
import { ctNvidiaNoUvm } from "../fixtures/specs/containers.js";
import { cli } from "../helpers/cli.js";
import { writeSpec } from "../helpers/fixtures.js";
import { fakePct } from "../helpers/fake-tools.js";

function setup(extraEnv: NodeJS.ProcessEnv = {}) {
  const tree = writeSpec(ctNvidiaNoUvm);
  const lxcDir = path.join(tree.dir, "etc/pve/nodes/pve/lxc");
  const pct = fakePct(lxcDir);
  const env = { ...pct.env, ...extraEnv };
  const file = path.join(lxcDir, "101.conf");
  const calls = pct.calls;
  return {
    tree,
    env,
    calls,
    conf: () => fs.readFileSync(file, "utf8"),
    write: (text: string) => fs.writeFileSync(file, text),
    configure: (more: NodeJS.ProcessEnv = {}) =>
      cli(
        ["ct", "configure", "--ctid", "101", "--device", "01:00.0", "--root", tree.dir, "--yes"],
        { ...env, ...more },
      ),
    rollback: (...flags: string[]) => cli(["rollback", "--root", tree.dir, "--yes", ...flags], env),
    cleanup: () => (tree.cleanup(), pct.cleanup()),
  };
}

describe("ct configure -> rollback (fake pct)", () => {
  it("journals the change and rollback deletes exactly those keys, with the digest", async () => {
    const h = setup();
    try {
      const before = h.conf();
      const r = await h.configure();
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      const id = /journal (\d{8}-\d{6}-[0-9a-f]{4})/.exec(r.stdout)?.[1];
      expect(id).toBeDefined();
      expect(r.stdout).toContain(`undo: passthrough rollback ${id} --root ${h.tree.dir}`);
      const journal = path.join(h.tree.dir, "var/lib/passthrough/journal", id!);
      const plan = JSON.parse(fs.readFileSync(path.join(journal, "plan.json"), "utf8"));
      expect(plan.container).toEqual({
        ctid: 101,
        file: "/etc/pve/lxc/101.conf",
        set: {
          dev0: "/dev/dri/card1,gid=44,mode=0660",
          dev1: "/dev/dri/renderD129,gid=104,mode=0660",
          dev2: "/dev/nvidia0,mode=0666",
          dev3: "/dev/nvidiactl,mode=0666",
        },
        previous: { dev0: null, dev1: null, dev2: null, dev3: null },
        digestBefore: ctConfigDigest(before),
      });
      const after = h.conf();
      const steps = fs.readFileSync(path.join(journal, "steps.log"), "utf8");
      expect(steps).toContain(
        `"event":"read-back","step":0,"path":"/etc/pve/lxc/101.conf","digest":"${ctConfigDigest(after)}"`,
      );

      const hist = await cli(["history", "--root", h.tree.dir], h.env);
      expect(hist.stdout).toMatch(
        new RegExp(`${id} .* applied +- +container 101: dev0, dev1, dev2, dev3`),
      );

      const back = await h.rollback();
      expect(back.stderr).toBe("");
      expect(back.code).toBe(0);
      expect(back.stdout).toContain("undo      container 101: dev0, dev1, dev2, dev3");
      expect(h.conf()).toBe(before);
      expect(h.calls().at(-1)).toEqual([
        "pct",
        "set",
        "101",
        "--delete",
        "dev0,dev1,dev2,dev3",
        "--digest",
        ctConfigDigest(after),
      ]);
      const again = await h.rollback();
      expect(again.code).toBe(2);
      expect(again.stderr).toMatch(/every journal is rolled back already/);
      expect(h.calls()).toHaveLength(2);
    } finally {
      h.cleanup();
    }
  });

  it("refuses (exit 3) when the config changed since, naming what; --force takes back only its keys", async () => {
    const h = setup();
    try {
      await h.configure();
      const edited = h
        .conf()
        .replace(
          "dev1: /dev/dri/renderD129,gid=104,mode=0660",
          "dev1: /dev/dri/renderD129,gid=993,mode=0660",
        )
        .replace(/^memory: \d+$/m, "memory: 4096");
      h.write(edited);
      const r = await h.rollback();
      expect(r.code).toBe(3);
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
      expect(r.stderr).toMatch(
        /container 101's config \/etc\/pve\/lxc\/101\.conf was changed since journal \S+ \(dev1 is \/dev\/dri\/renderD129,gid=993,mode=0660, not \/dev\/dri\/renderD129,gid=104,mode=0660\); nothing was undone .*--force/,
      );
      expect(h.conf()).toBe(edited);
      expect(h.calls()).toHaveLength(1);

      const forced = await h.rollback("--force");
      expect(forced.code).toBe(0);
      expect(h.calls().at(-1)).toEqual([
        "pct",
        "set",
        "101",
        "--delete",
        "dev0,dev2,dev3",
        "--digest",
        ctConfigDigest(edited),
      ]);
      expect(h.conf()).toContain("dev1: /dev/dri/renderD129,gid=993,mode=0660\n");
      expect(h.conf()).not.toMatch(/^dev[023]:/m);
    } finally {
      h.cleanup();
    }
  });

  it("a running container: its pending entries are reverted", async () => {
    const h = setup({ FAKE_PCT_RUNNING: "1" });
    try {
      const before = h.conf();
      const r = await h.configure();
      expect(r.stdout).toMatch(/pending until the container restarts/);
      expect(h.conf()).toContain("[pve:pending]\n");
      const back = await h.rollback();
      expect(back.code).toBe(0);
      expect(h.calls().at(-1)!.slice(3, 5)).toEqual(["--revert", "dev0,dev1,dev2,dev3"]);
      expect(h.conf()).toBe(before);
    } finally {
      h.cleanup();
    }
  });

  it("a restart that applied the pending entries since is not a change by someone else", async () => {
    const h = setup({ FAKE_PCT_RUNNING: "1" });
    try {
      const before = h.conf();
      await h.configure();
      // The restart: pending values over the main ones, as vmconfig_apply_pending writes them.
      const [main, pending] = h.conf().split("\n[pve:pending]\n");
      const lines = [...main!.split("\n"), ...pending!.split("\n")].filter(Boolean);
      const plain = lines.filter((l) => !l.startsWith("lxc.")).sort();
      const raw = lines.filter((l) => l.startsWith("lxc."));
      h.write([...plain, ...raw].map((l) => `${l}\n`).join(""));
      const back = await cli(["rollback", "--root", h.tree.dir, "--yes"], {
        ...h.env,
        FAKE_PCT_RUNNING: "0",
      });
      expect(back.stderr).toBe("");
      expect(back.code).toBe(0);
      expect(h.calls().at(-1)!.slice(3, 5)).toEqual(["--delete", "dev0,dev1,dev2,dev3"]);
      expect(h.conf()).toBe(before);
    } finally {
      h.cleanup();
    }
  });

  it("a failed pct set leaves a failed journal whose rollback has nothing to do", async () => {
    const empty = fs.mkdtempSync(path.join(os.tmpdir(), "passthrough-empty-lxc-"));
    const h = setup();
    try {
      const r = await h.configure({ FAKE_PCT_LXC_DIR: empty });
      expect(r.code).toBe(4);
      const back = await h.rollback();
      expect(back.code).toBe(0);
      expect(back.stdout).toMatch(/nothing to restore/);
      expect(h.calls()).toEqual([]);
    } finally {
      h.cleanup();
      fs.rmSync(empty, { recursive: true, force: true });
    }
  });
});

describe("classifyContainer", () => {
  const change: ContainerConfigChange = {
    ctid: 101,
    file: "/etc/pve/lxc/101.conf",
    set: { dev0: "/dev/dri/renderD128,gid=104,mode=0660", features: "nesting=1" },
    previous: { dev0: null, features: "keyctl=1" },
    digestBefore: "0".repeat(40),
  };
  const after = "arch: amd64\ndev0: /dev/dri/renderD128,gid=104,mode=0660\nfeatures: nesting=1\n";
  const readBack = { digest: ctConfigDigest(after), text: after };

  it("puts a replaced value back and deletes an added key, with the digest of the config now", () => {
    const c = classifyContainer(change, after, readBack);
    expect(c.state).toBe("applied");
    expect(c.undo).toEqual([
      "pct",
      "set",
      "101",
      "--features",
      "keyctl=1",
      "--delete",
      "dev0",
      "--digest",
      ctConfigDigest(after),
    ]);
  });

  it("has nothing to do when the keys are gone already, or the container is", () => {
    expect(classifyContainer(change, "arch: amd64\nfeatures: keyctl=1\n", readBack)).toMatchObject({
      state: "original",
      undo: [],
    });
    expect(classifyContainer(change, null, readBack)).toMatchObject({ state: "gone", undo: [] });
  });

  it("without a read-back (killed after pct set) trusts keys that all still hold their values", () => {
    expect(classifyContainer(change, after, null).state).toBe("applied");
    const one = "arch: amd64\ndev0: /dev/dri/renderD128,gid=104,mode=0660\nfeatures: keyctl=1\n";
    expect(classifyContainer(change, one, null)).toMatchObject({
      state: "changed",
      differences: ["features is keyctl=1, not nesting=1"],
    });
  });

  it("calls any other edit a change, though every key is still set", () => {
    const other = `${after}memory: 2048\n`;
    expect(classifyContainer(change, other, readBack)).toMatchObject({
      state: "changed",
      differences: ["other settings changed (the config's digest differs)"],
    });
  });
});

describe("rollback chains and ct configure journals", () => {
  const entry = (id: string, container: boolean): HistoryEntry => {
    const plan = { steps: [], ...(container ? { container: {} } : {}) } as unknown as Plan;
    return {
      ok: true,
      journal: { id, plan } as LoadedJournal,
      summary: { id, status: "applied", bootedAt: "2026-12-06T08:00:00.000Z" } as JournalSummary,
    };
  };
  // Newest first, all in one boot: host apply C, ct configure B, host apply A.
  const entries = [entry("C", false), entry("B", true), entry("A", false)];

  it("a container journal is a chain of its own: rollback takes one step at a time", () => {
    expect(rollbackChain(entries).map((j) => j.id)).toEqual(["C"]);
    expect(rollbackChain(entries.slice(1)).map((j) => j.id)).toEqual(["B"]);
    expect(rollbackChain([entry("C", false), entry("A", false)]).map((j) => j.id)).toEqual([
      "C",
      "A",
    ]);
    expect([...chainHeads(entries)]).toEqual([
      ["C", "C"],
      ["B", "B"],
      ["A", "A"],
    ]);
  });
});

describe("apply's 'only the reboot is pending' and a later ct configure", () => {
  it("looks past the container journal to the host apply before it", () => {
    const refresh = ["update-initramfs", "-u", "-k", "all"];
    const step = { kind: "command" as const, argv: refresh, why: "" };
    const host = {
      ok: true,
      journal: {
        id: "A",
        plan: { steps: [step] },
        events: [{ event: "command", argv: refresh, ran: true, exitCode: 0 }],
      } as unknown as LoadedJournal,
      summary: { id: "A", status: "applied", finishedAt: "2026-12-06T08:00:00.000Z" },
    } as HistoryEntry;
    const ct = {
      ok: true,
      journal: { id: "B", plan: { steps: [], container: {} }, events: [] },
      summary: { id: "B", status: "applied", finishedAt: "2026-12-06T09:00:00.000Z" },
    } as unknown as HistoryEntry;
    const plan = { steps: [step] } as unknown as Plan;
    const state = { configFiles: {} } as unknown as HostState;
    expect(alreadyAppliedAwaitingReboot(plan, state, [ct, host], null)?.journalId).toBe("A");
  });
});

describe("rollback of a container that is gone from this node", () => {
  it("refuses (exit 3) with the pct set to run where it went; --force marks the journal rolled back", async () => {
    const h = setup();
    try {
      const r = await h.configure();
      expect(r.code).toBe(0);
      const moved = h.conf();
      fs.rmSync(path.join(h.tree.dir, "etc/pve/nodes/pve/lxc/101.conf"));
      const back = await h.rollback();
      expect(back.code).toBe(3);
      expect(back.stderr).toMatch(
        /container 101's config \/etc\/pve\/lxc\/101\.conf is not on this node .*`pct set 101 --delete dev0,dev1,dev2,dev3`.*--force` marks journal/,
      );
      const forced = await h.rollback("--force");
      expect(forced.code).toBe(0);
      expect(h.calls()).toHaveLength(1); // pct set of configure only
      const hist = await cli(["history", "--root", h.tree.dir], h.env);
      expect(hist.stdout).toMatch(/rolled back/);
      expect(moved).toContain("dev0:");
    } finally {
      h.cleanup();
    }
  });
});
