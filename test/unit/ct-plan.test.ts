// `ct plan`: the container-config change (src/vm/container/device-plan.ts) and the command.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import type { FakeHostSpec } from "../../tools/fakehost/spec.js";
import { snapshotToFile } from "../../src/cli/commands/snapshot.js";
import { ctAmdKfd, ctIntelIgpu, ctNvidiaNoUvm, ctNvidiaUvm } from "../fixtures/specs/containers.js";
import { InputError, RefusedError } from "../../src/errors.js";
import { parseGroupFile } from "../../src/formats/etc-group.js";
import { parseCtConfig, printCtConfig } from "../../src/formats/proxmox-ct-config.js";
import type { DeviceNode } from "../../src/host/device-nodes.js";
import {
  planContainerDevices,
  supportsDevEntries,
  type CtPlanInput,
} from "../../src/vm/container/device-plan.js";
import { cli, cliJson } from "../helpers/cli.js";
import { fixturePath, fixtureState, REPO, writeSpec } from "../helpers/fixtures.js";

const INTEL = fixtureState("ct-intel-igpu").pci.find((d) => d.address === "0000:00:02.0")!;
const NODES: DeviceNode[] = [
  { path: "/dev/dri/card0", major: 226, minor: 0, why: "" },
  { path: "/dev/dri/renderD128", major: 226, minor: 128, why: "" },
];
const GROUPS = parseGroupFile("root:x:0:\nvideo:x:44:\nrender:x:993:\n");

function input(over: Partial<CtPlanInput> = {}): CtPlanInput {
  return {
    ctid: 101,
    config: parseCtConfig("arch: amd64\nhostname: frigate\nunprivileged: 1\n"),
    card: INTEL,
    nodes: NODES,
    proxmoxVersion: "8.2.4",
    groups: { ok: true, groups: GROUPS, source: "/etc/group" },
    vmsUsing: [],
    ...over,
  };
}

describe("supportsDevEntries", () => {
  it("is true from Proxmox VE 8.1 on, false before and when unknown", () => {
    expect(supportsDevEntries("8.1.4")).toBe(true);
    expect(supportsDevEntries("9.0.3")).toBe(true);
    expect(supportsDevEntries("8.0.9")).toBe(false);
    expect(supportsDevEntries("7.4-17")).toBe(false);
    expect(supportsDevEntries("unknown")).toBe(false);
    expect(supportsDevEntries(null)).toBe(false);
  });
});

describe("planContainerDevices", () => {
  it("writes devN entries with the container's video gid for card*, render gid for renderD*", () => {
    const plan = planContainerDevices(input());
    expect(plan.style).toBe("devN");
    expect(plan.added).toEqual([
      "dev0: /dev/dri/card0,gid=44,mode=0660",
      "dev1: /dev/dri/renderD128,gid=993,mode=0660",
    ]);
    expect(printCtConfig(plan.after)).toContain("dev1: /dev/dri/renderD128,gid=993,mode=0660\n");
  });

  it("leaves nodes the container already has and takes the next free devN", () => {
    const config = parseCtConfig("arch: amd64\ndev0: /dev/dri/card0,gid=44\ndev1: /dev/kfd\n");
    const plan = planContainerDevices(input({ config }));
    expect(plan.present).toEqual(["/dev/dri/card0"]);
    expect(plan.added).toEqual(["dev2: /dev/dri/renderD128,gid=993,mode=0660"]);
  });

  it("is idempotent: planning on its own result adds nothing", () => {
    const once = planContainerDevices(input());
    const twice = planContainerDevices(input({ config: once.after }));
    expect(twice.added).toEqual([]);
    expect(twice.present).toEqual(["/dev/dri/card0", "/dev/dri/renderD128"]);
  });

  it("falls back to video when the container has no render group, and takes --gid over both", () => {
    const groups = { ok: true as const, groups: parseGroupFile("video:x:44:\n"), source: "g" };
    expect(planContainerDevices(input({ groups })).added[1]).toBe(
      "dev1: /dev/dri/renderD128,gid=44,mode=0660",
    );
    expect(planContainerDevices(input({ groups, gid: 7 })).added).toEqual([
      "dev0: /dev/dri/card0,gid=7,mode=0660",
      "dev1: /dev/dri/renderD128,gid=7,mode=0660",
    ]);
  });

  it("refuses (input error) when the container's /etc/group cannot be read and no --gid is given", () => {
    const groups = { ok: false as const, reason: "its root file system is not mounted" };
    expect(() => planContainerDevices(input({ groups }))).toThrow(InputError);
    expect(() => planContainerDevices(input({ groups }))).toThrow(/pct mount 101.*--gid/);
  });

  it("refuses a card on vfio-pci, naming the VM that owns it", () => {
    const card = { ...INTEL, driver: "vfio-pci" };
    const vmsUsing = ["VM 100 hostpci0: 0000:00:02.0"];
    expect(() => planContainerDevices(input({ card, vmsUsing, nodes: [] }))).toThrow(RefusedError);
    expect(() => planContainerDevices(input({ card, vmsUsing, nodes: [] }))).toThrow(
      /bound to vfio-pci.*VM 100 hostpci0.*`passthrough mode host --device 0000:00:02.0`/,
    );
  });

  it("refuses a card with no driver, so no nodes", () => {
    const card = { ...INTEL, driver: null };
    expect(() => planContainerDevices(input({ card, nodes: [] }))).toThrow(/no driver bound/);
  });

  it("writes cgroup2 rules and bind mounts before Proxmox VE 8.1, without repeating a rule", () => {
    const config = parseCtConfig(
      "arch: amd64\nunprivileged: 1\nlxc.cgroup2.devices.allow: c 226:0 rwm\n",
    );
    const plan = planContainerDevices(input({ config, proxmoxVersion: "7.4-17" }));
    expect(plan.style).toBe("lxc");
    expect(plan.added).toEqual([
      "lxc.mount.entry: /dev/dri/card0 dev/dri/card0 none bind,optional,create=file",
      "lxc.cgroup2.devices.allow: c 226:128 rwm",
      "lxc.mount.entry: /dev/dri/renderD128 dev/dri/renderD128 none bind,optional,create=file",
    ]);
    expect(plan.notes.join(" ")).toMatch(/nobody:nogroup/);
  });

  it("cannot write a cgroup rule for a node whose numbers are unknown", () => {
    const nodes = [{ path: "/dev/kfd", major: null, minor: null, why: "" }];
    expect(() => planContainerDevices(input({ nodes, proxmoxVersion: "7.4-17" }))).toThrow(
      /\/dev\/kfd: the kernel does not say its device numbers/,
    );
  });
});

describe("passthrough ct plan", () => {
  it("shows the diff and the pct set command for an NVIDIA card with UVM", async () => {
    const r = await cli([
      "ct",
      "plan",
      "--ctid",
      "101",
      "--device",
      "01:00.0",
      "--snapshot",
      fixturePath("ct-nvidia-uvm"),
    ]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("+dev1: /dev/dri/renderD129,gid=104,mode=0660");
    expect(r.stdout).toContain("+dev4: /dev/nvidia-uvm,mode=0666");
    expect(r.stdout).toMatch(/pct set 101 --dev0 \/dev\/dri\/card1,gid=44,mode=0660 /);
  });

  it("gives JSON with the nodes and added lines", async () => {
    const { code, json } = await cliJson([
      "ct",
      "plan",
      "--ctid",
      "101",
      "--device",
      "0000:10:00.0",
      "--snapshot",
      fixturePath("ct-amd-kfd"),
    ]);
    expect(code).toBe(0);
    expect(json.style).toBe("devN");
    expect(json.added).toEqual([
      "dev0: /dev/dri/card0,gid=44,mode=0660",
      "dev1: /dev/dri/renderD128,gid=109,mode=0660",
      "dev2: /dev/kfd,gid=109,mode=0660",
    ]);
  });

  it("refuses (exit 3) the card VM 100 owns", async () => {
    const r = await cli([
      "ct",
      "plan",
      "--ctid",
      "101",
      "--device",
      "01:00.0",
      "--snapshot",
      fixturePath("ct-amd-kfd"),
    ]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/vfio-pci.*VM 100 hostpci0/);
  });

  it("says which container does not exist (exit 2)", async () => {
    const r = await cli([
      "ct",
      "plan",
      "--ctid",
      "999",
      "--device",
      "00:02.0",
      "--snapshot",
      fixturePath("ct-intel-igpu"),
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/container 999: no \/etc\/pve\/lxc\/999\.conf/);
    expect(r.stderr.split("\n").filter(Boolean)).toHaveLength(1);
  });

  it("rejects a --ctid that is not a number (exit 2)", async () => {
    const r = await cli([
      "ct",
      "plan",
      "--ctid",
      "abc",
      "--device",
      "00:02.0",
      "--snapshot",
      fixturePath("ct-intel-igpu"),
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--ctid 'abc'|--ctid "abc"|--ctid abc/);
  });
});

describe("passthrough ct configure (fake pct)", () => {
  function setup(spec: FakeHostSpec, extraEnv: NodeJS.ProcessEnv = {}) {
    const tree = writeSpec(spec);
    const lxcDir = path.join(tree.dir, "etc/pve/nodes/pve/lxc");
    const bin = fs.mkdtempSync(path.join(os.tmpdir(), "passthrough-fake-pct-"));
    fs.copyFileSync(path.join(REPO, "test/helpers/fake-pct.cjs"), path.join(bin, "pct"));
    fs.chmodSync(path.join(bin, "pct"), 0o755);
    const env = { PATH: `${bin}:${process.env.PATH}`, FAKE_PCT_LXC_DIR: lxcDir, ...extraEnv };
    const conf = () => fs.readFileSync(path.join(lxcDir, "101.conf"), "utf8");
    const calls = () => {
      const f = path.join(lxcDir, "calls.jsonl");
      return fs.existsSync(f) ? fs.readFileSync(f, "utf8").trim().split("\n") : [];
    };
    const run = (...more: string[]) =>
      cli(
        ["ct", "configure", "--ctid", "101", "--device", "01:00.0", "--root", tree.dir, ...more],
        env,
      );
    return {
      conf,
      calls,
      run,
      cleanup: () => (tree.cleanup(), fs.rmSync(bin, { recursive: true })),
    };
  }

  it("--yes: runs pct set with the digest, reads the config back, and a second run changes nothing", async () => {
    const h = setup(ctNvidiaNoUvm);
    try {
      const r = await h.run("--yes");
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      expect(h.conf()).toContain("dev1: /dev/dri/renderD129,gid=104,mode=0660\n");
      expect(h.conf()).toContain("dev3: /dev/nvidiactl,mode=0666\n");
      expect(h.calls()).toHaveLength(1);
      expect(h.calls()[0]).toMatch(/"--digest","[0-9a-f]{40}"/);
      expect(r.stdout).toMatch(/read back \/etc\/pve\/lxc\/101\.conf: dev0, dev1, dev2, dev3 set/);
      expect(r.stdout).toMatch(
        /undo: passthrough rollback \S+ --root \S+ \(runs pct set 101 --delete dev0,dev1,dev2,dev3\)/,
      );
      const again = await h.run("--yes");
      expect(again.code).toBe(0);
      expect(again.stdout).toContain("nothing to change");
      expect(h.calls()).toHaveLength(1);
    } finally {
      h.cleanup();
    }
  });

  it("--dry-run shows the diff and runs nothing; without --yes and a terminal it refuses (exit 2)", async () => {
    const h = setup(ctNvidiaNoUvm);
    try {
      const before = h.conf();
      const dry = await h.run("--dry-run");
      expect(dry.code).toBe(0);
      expect(dry.stdout).toContain("+dev0: /dev/dri/card1,gid=44,mode=0660");
      expect(dry.stdout).toContain("--dry-run: nothing was changed.");
      const ask = await h.run();
      expect(ask.code).toBe(2);
      expect(ask.stderr).toMatch(/--yes/);
      expect(h.calls()).toEqual([]);
      expect(h.conf()).toBe(before);
    } finally {
      h.cleanup();
    }
  });

  it("reports entries a running container holds as pending", async () => {
    const r = await runOnce({ FAKE_PCT_RUNNING: "1" });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/dev0, dev1, dev2, dev3 pending until the container restarts/);
  });

  it("fails (exit 4) when pct refuses, with pct's reason", async () => {
    const empty = fs.mkdtempSync(path.join(os.tmpdir(), "passthrough-empty-lxc-"));
    try {
      const r = await runOnce({ FAKE_PCT_LXC_DIR: empty });
      expect(r.code).toBe(4);
      expect(r.stderr).toBe(
        "error: pct set failed: Configuration file 'nodes/pve/lxc/101.conf' does not exist; the container config is as it was\n",
      );
    } finally {
      fs.rmSync(empty, { recursive: true, force: true });
    }
  });

  /** One `ct configure --yes` on a fresh ct-nvidia-no-uvm tree. */
  async function runOnce(env: NodeJS.ProcessEnv) {
    const h = setup(ctNvidiaNoUvm, env);
    try {
      return await h.run("--yes");
    } finally {
      h.cleanup();
    }
  }

  it("refuses (exit 3) before Proxmox VE 8.1, where pct set cannot write the lxc.* keys", async () => {
    const tree = writeSpec(ctIntelIgpu);
    try {
      const r = await cli([
        "ct",
        "configure",
        "--ctid",
        "101",
        "--device",
        "00:02.0",
        "--root",
        tree.dir,
        "--yes",
      ]);
      expect(r.code).toBe(3);
      expect(r.stderr).toMatch(/no devN keys.*8\.1/);
    } finally {
      tree.cleanup();
    }
  });
});

describe("ct plan on a captured snapshot", () => {
  it.each([
    ["ct-nvidia-uvm", ctNvidiaUvm, "01:00.0"],
    ["ct-amd-kfd", ctAmdKfd, "10:00.0"],
  ] as const)(
    "%s: `snapshot` keeps the container config and every node, so the plan is the same",
    async (_n, spec, dev) => {
      const tree = writeSpec(spec);
      const folder = fs.mkdtempSync(path.join(os.tmpdir(), "passthrough-ctsnap-"));
      try {
        const w = await snapshotToFile({ source: tree.dir, output: path.join(folder, "s.tar.gz") });
        const argv = ["ct", "plan", "--ctid", "101", "--device", dev, "--gid", "104"];
        const live = await cliJson([...argv, "--snapshot", tree.dir]);
        const snap = await cliJson([...argv, "--snapshot", w.file]);
        expect(snap.code).toBe(0);
        expect(snap.json.nodes).toEqual(live.json.nodes);
        expect(snap.json.added).toEqual(live.json.added);
        expect(snap.json.added.length).toBeGreaterThan(2);
      } finally {
        tree.cleanup();
        fs.rmSync(folder, { recursive: true, force: true });
      }
    },
  );
});
