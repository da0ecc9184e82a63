// Plain LXC containers (no Proxmox): the config-file edits (src/vm/container/lxc-config.ts),
// the plan (lxc-plan.ts) and `ct plan|configure|check --name` on a temporary root with a
// fake lxc-info/lxc-attach (test/helpers/fake-lxc.cjs); configure goes through apply's
// journal, so `rollback` restores the config byte for byte.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import type { FakeHostSpec } from "../../tools/fakehost/spec.js";
import { parseGroupFile } from "../../src/formats/etc-group.js";
import type { PciDevice } from "../../src/host/types.js";
import {
  containerIdOf,
  groupMaps,
  hostIdOf,
  lxcPathFrom,
  mapOne,
  parseLxcConfig,
  printIdMap,
  rootfsFolder,
} from "../../src/vm/container/lxc-config.js";
import { planLxcDevices, type LxcPlanInput } from "../../src/vm/container/lxc-plan.js";
import { ctIntelIgpu } from "../fixtures/specs/containers.js";
import { cli } from "../helpers/cli.js";
import { REPO, writeSpec } from "../helpers/fixtures.js";

const UNPRIVILEGED = `# Template used to create this container: /usr/share/lxc/templates/lxc-busybox
lxc.rootfs.path = dir:/var/lib/lxc/media/rootfs
lxc.uts.name = media
lxc.idmap = u 0 100000 65536
lxc.idmap = g 0 100000 65536
lxc.apparmor.profile = unconfined
`;
const CT_GROUP = "root:x:0:\nvideo:x:44:\nrender:x:107:\n";
const HOST_GROUP = "root:x:0:\nvideo:x:44:\nrender:x:993:\nnogroup:x:65534:\n";
const CARD0 = { path: "/dev/dri/card0", major: 226, minor: 0, why: "" };
const RENDER = { path: "/dev/dri/renderD128", major: 226, minor: 128, why: "" };
const IGPU = { address: "0000:00:02.0", driver: "i915" } as PciDevice;

function input(over: Partial<LxcPlanInput> = {}): LxcPlanInput {
  return {
    name: "media",
    file: "/var/lib/lxc/media/config",
    text: UNPRIVILEGED,
    card: IGPU,
    nodes: [CARD0, RENDER],
    groups: { ok: true, groups: parseGroupFile(CT_GROUP), source: "rootfs" },
    hostGroups: parseGroupFile(HOST_GROUP),
    vmsUsing: [],
    ...over,
  };
}

describe("LXC config files (lxc.container.conf(5))", () => {
  it("reads key = value lines, the lxcpath, a dir: root file system and the group maps", () => {
    const e = parseLxcConfig(UNPRIVILEGED);
    expect(e.map((x) => x.key)).toEqual([
      "lxc.rootfs.path",
      "lxc.uts.name",
      "lxc.idmap",
      "lxc.idmap",
      "lxc.apparmor.profile",
    ]);
    expect(rootfsFolder(e)).toBe("/var/lib/lxc/media/rootfs");
    expect(rootfsFolder(parseLxcConfig("lxc.rootfs.path = lvm:/dev/vg/media\n"))).toBeNull();
    expect(lxcPathFrom(null)).toBe("/var/lib/lxc");
    expect(lxcPathFrom("lxc.lxcpath = /srv/lxc/\n")).toBe("/srv/lxc");
    expect(groupMaps(e).map(printIdMap)).toEqual(["g 0 100000 65536"]);
  });

  it("maps one container gid onto a host gid by splitting its range", () => {
    const maps = groupMaps(parseLxcConfig(UNPRIVILEGED));
    const out = mapOne(maps, 107, 993);
    expect(out.map(printIdMap)).toEqual(["g 0 100000 107", "g 107 993 1", "g 108 100108 65428"]);
    expect(hostIdOf(out, 107)).toBe(993);
    expect(hostIdOf(out, 108)).toBe(100108);
    expect(containerIdOf(out, 993)).toBe(107);
    expect(containerIdOf(maps, 993)).toBeNull();
    expect(mapOne(out, 0, 5).map(printIdMap)[0]).toBe("g 0 5 1");
  });
});

describe("planLxcDevices", () => {
  it("adds a cgroup rule and a bind mount per node and maps video and render onto the host's groups", () => {
    const plan = planLxcDevices(input());
    expect(plan.steps.map((s) => s.path)).toEqual(["/var/lib/lxc/media/config"]);
    expect(plan.steps[0]!.before).toBe(UNPRIVILEGED);
    // video is 44 on both sides, but the container's 44 runs as host 100044: mapped too.
    expect(plan.steps[0]!.after)
      .toBe(`# Template used to create this container: /usr/share/lxc/templates/lxc-busybox
lxc.rootfs.path = dir:/var/lib/lxc/media/rootfs
lxc.uts.name = media
lxc.idmap = u 0 100000 65536
lxc.idmap = g 0 100000 44
lxc.idmap = g 44 44 1
lxc.idmap = g 45 100045 62
lxc.idmap = g 107 993 1
lxc.idmap = g 108 100108 65428
lxc.apparmor.profile = unconfined
# passthrough: device nodes of 0000:00:02.0 (i915); lxc.container.conf(5)
lxc.cgroup2.devices.allow = c 226:0 rwm
lxc.mount.entry = /dev/dri/card0 dev/dri/card0 none bind,optional,create=file
lxc.cgroup2.devices.allow = c 226:128 rwm
lxc.mount.entry = /dev/dri/renderD128 dev/dri/renderD128 none bind,optional,create=file
`);
    expect(plan.idmap?.before).toEqual(["g 0 100000 65536"]);
    expect(plan.notes.join("\n")).toMatch(
      /gid 107 \(the container's "render" group\) is the host's "render" group \(gid 993\), which owns \/dev\/dri\/renderD128/,
    );
  });

  it("changes nothing the second time: the nodes are given and the groups mapped", () => {
    const again = planLxcDevices(input({ text: planLxcDevices(input()).steps[0]!.after! }));
    expect(again.steps).toEqual([]);
    expect(again.present).toEqual(["/dev/dri/card0", "/dev/dri/renderD128"]);
    expect(again.notes.join("\n")).toMatch(/lxc\.idmap maps it already/);
  });

  it("adds root:GID:1 to /etc/subgid when the host has newgidmap and root's ranges lack it", () => {
    const plan = planLxcDevices(input({ nodes: [RENDER], subgid: "root:100000:65536\n" }));
    expect(plan.steps.map((s) => [s.path, s.after])).toEqual([
      ["/var/lib/lxc/media/config", expect.any(String)],
      ["/etc/subgid", "root:100000:65536\nroot:993:1\n"],
    ]);
    const covered = planLxcDevices(input({ nodes: [RENDER], subgid: "root:900:200\n" }));
    expect(covered.steps).toHaveLength(1);
    expect(planLxcDevices(input({ nodes: [RENDER], subgid: null })).steps[1]?.after).toBe(
      "root:993:1\n",
    );
  });

  it("leaves a privileged container's gids alone and says when its groups differ from the host's", () => {
    const privileged = "lxc.rootfs.path = dir:/var/lib/lxc/media/rootfs\n";
    const plan = planLxcDevices(input({ text: privileged, nodes: [RENDER] }));
    expect(plan.idmap).toBeNull();
    expect(plan.steps[0]!.after).not.toContain("lxc.idmap");
    expect(plan.notes).toEqual([
      'a privileged container sees host gids: /dev/dri/renderD128 is gid 993 inside, its "render" group is 107; give that group gid 993 inside (groupmod -g 993 render) or add its users to group 993',
    ]);
  });

  it("refuses a card on vfio-pci, an unknown gid, and a host gid mapped to another container gid", () => {
    expect(() =>
      planLxcDevices(input({ card: { ...IGPU, driver: "vfio-pci" } as PciDevice, nodes: [] })),
    ).toThrow(/bound to vfio-pci.*passthrough mode host --device 0000:00:02\.0/);
    expect(() =>
      planLxcDevices(
        input({ groups: { ok: false, reason: "its lxc.rootfs.path is not a folder" } }),
      ),
    ).toThrow(
      /cannot read its \/etc\/group \(its lxc\.rootfs\.path is not a folder\).*give --gid N/,
    );
    expect(() =>
      planLxcDevices(
        input({ groups: { ok: true, groups: parseGroupFile("root:x:0:\n"), source: "rootfs" } }),
      ),
    ).toThrow(/no "video" group in rootfs; create it in the container/);
    const mapped = UNPRIVILEGED.replace(
      "lxc.idmap = g 0 100000 65536",
      "lxc.idmap = g 0 100000 50\nlxc.idmap = g 50 993 1\nlxc.idmap = g 51 100051 65485",
    );
    expect(() => planLxcDevices(input({ text: mapped, nodes: [RENDER] }))).toThrow(
      /host gid 993 \("render"\) is mapped to container gid 50 by lxc\.idmap already; give --gid 50/,
    );
    expect(planLxcDevices(input({ text: mapped, nodes: [RENDER], gid: 50 })).idmap).toBeNull();
    expect(() => planLxcDevices(input({ gid: 50 }))).toThrow(
      /gid 50 would have to be two host groups/,
    );
  });
});

/** A Debian 12 host without Proxmox: the i7-12700K's UHD 770 (card0, renderD128) and LXC container "media". */
const lxcHost: FakeHostSpec = {
  ...ctIntelIgpu,
  name: "ct-lxc-intel",
  proxmox: undefined,
  files: {
    ...ctIntelIgpu.files,
    "etc/group": HOST_GROUP,
    "var/lib/lxc/media/config": UNPRIVILEGED,
    "var/lib/lxc/media/rootfs/etc/group": CT_GROUP,
  },
};

function lxcSetup(state: string) {
  const tree = writeSpec(lxcHost);
  const bin = fs.mkdtempSync(path.join(os.tmpdir(), "passthrough-fake-lxc-"));
  for (const tool of ["lxc-info", "lxc-attach"])
    fs.symlinkSync(path.join(REPO, "test/helpers/fake-lxc.cjs"), path.join(bin, tool));
  fs.writeFileSync(path.join(bin, "media.state"), `${state}\n`);
  const env = { PATH: `${bin}:${process.env.PATH}`, FAKE_LXC_DIR: bin };
  const config = path.join(tree.dir, "var/lib/lxc/media/config");
  return {
    tree: tree.dir,
    bin,
    env,
    config,
    calls: () =>
      fs
        .readFileSync(path.join(bin, "calls.jsonl"), "utf8")
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l) as string[]),
    cleanup: () => (tree.cleanup(), fs.rmSync(bin, { recursive: true })),
  };
}

describe("passthrough ct plan|configure|check --name (plain LXC, fake lxc-info/lxc-attach)", () => {
  const dev = ["--device", "0000:00:02.0"];

  it("plans the diff of the container's config, and configure --dry-run changes nothing", async () => {
    const h = lxcSetup("STOPPED");
    try {
      const r = await cli(["ct", "plan", "--name", "media", ...dev, "--snapshot", h.tree], h.env);
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      // A snapshot is another host: lxc-info is not asked.
      expect(r.stdout).toContain("container media (plain LXC, unprivileged, state unknown)");
      expect(r.stdout).toContain("--- a/var/lib/lxc/media/config");
      expect(r.stdout).toContain(
        "+lxc.mount.entry = /dev/dri/renderD128 dev/dri/renderD128 none bind,optional,create=file",
      );
      expect(r.stdout).toContain("+lxc.idmap = g 107 993 1");
      expect(r.stdout).toContain("make it with: passthrough ct configure --name media");
      expect(fs.existsSync(path.join(h.bin, "calls.jsonl"))).toBe(false);
      const dry = await cli(
        ["ct", "configure", "--name", "media", ...dev, "--root", h.tree, "--dry-run"],
        h.env,
      );
      expect(dry.code).toBe(0);
      expect(dry.stdout).toContain("container media (plain LXC, unprivileged, stopped)");
      expect(dry.stdout).toContain("--dry-run: nothing was changed.");
      expect(h.calls()).toContainEqual(["lxc-info", "-n", "media", "-s", "-H"]);
      expect(fs.readFileSync(h.config, "utf8")).toBe(UNPRIVILEGED);
    } finally {
      h.cleanup();
    }
  });

  it("configures through apply's journal, and rollback restores the config byte for byte", async () => {
    const h = lxcSetup("STOPPED");
    try {
      const r = await cli(
        ["ct", "configure", "--name", "media", ...dev, "--root", h.tree, "--yes"],
        h.env,
      );
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      const id = /journal (\d{8}-\d{6}-[0-9a-f]{4})/.exec(r.stdout)?.[1];
      expect(id).toBeDefined();
      expect(r.stdout).toMatch(/read back \/var\/lib\/lxc\/media\/config: 9 line\(s\) as planned/);
      expect(r.stdout).toContain(`undo: passthrough rollback ${id} --root ${h.tree}`);
      const written = fs.readFileSync(h.config, "utf8");
      expect(written).toContain("lxc.cgroup2.devices.allow = c 226:128 rwm");
      expect(
        fs.existsSync(path.join(h.tree, `var/lib/passthrough/journal/${id}/before/000.bytes`)),
      ).toBe(true);
      // A second run has nothing to do.
      const again = await cli(
        ["ct", "plan", "--name", "media", ...dev, "--snapshot", h.tree],
        h.env,
      );
      expect(again.stdout).toContain("nothing to change");
      const back = await cli(["rollback", id!, "--root", h.tree, "--yes"], h.env);
      expect(back.stderr).toBe("");
      expect(back.code).toBe(0);
      expect(fs.readFileSync(h.config, "utf8")).toBe(UNPRIVILEGED);
    } finally {
      h.cleanup();
    }
  });

  it("refuses a running container (exit 3) and writes nothing", async () => {
    const h = lxcSetup("RUNNING");
    try {
      const r = await cli(
        ["ct", "configure", "--name", "media", ...dev, "--root", h.tree, "--yes"],
        h.env,
      );
      expect(r.code).toBe(3);
      expect(r.stderr).toBe(
        "error: container media is running, and LXC reads its config only when it starts; stop it (lxc-stop -n media), run this again, then lxc-start -n media; nothing was changed\n",
      );
      expect(fs.readFileSync(h.config, "utf8")).toBe(UNPRIVILEGED);
      expect(fs.existsSync(path.join(h.tree, "var/lib/passthrough/journal"))).toBe(false);
    } finally {
      h.cleanup();
    }
  });

  it("checks inside through lxc-attach: passes with the mapped group, fails nogroup, refuses a stopped container", async () => {
    const h = lxcSetup("RUNNING");
    const inside = (gid: number) =>
      fs.writeFileSync(
        path.join(h.bin, "media.inside.json"),
        JSON.stringify({
          nodes: { "/dev/dri/renderD128": { major: 226, minor: 128, gid, mode: "660" } },
          files: { "/etc/group": CT_GROUP },
        }),
      );
    try {
      fs.appendFileSync(
        h.config,
        "lxc.mount.entry = /dev/dri/renderD128 dev/dri/renderD128 none bind,optional,create=file\n",
      );
      inside(107);
      const argv = ["ct", "check", "--name", "media", "--root", h.tree];
      const ok = await cli(argv, h.env);
      expect(ok.stderr).toBe("");
      expect(ok.code).toBe(0);
      expect(ok.stdout).toContain("container media (plain LXC)");
      expect(ok.stdout).toMatch(
        /PASS\s+ct\.node-access\s+\/dev\/dri\/renderD128 is group render \(gid 107\)/,
      );
      expect(h.calls()).toContainEqual(["lxc-attach", "-n", "media", "--", "cat", "/etc/group"]);
      inside(65534);
      const bad = await cli([...argv, "--json"], h.env);
      expect(bad.code).toBe(1);
      const access = JSON.parse(bad.stdout).findings.find(
        (f: { id: string }) => f.id === "ct.node-access",
      );
      expect(access.status).toBe("fail");
      expect(access.fix).toMatch(/lxc\.idmap.*ct configure --name media.*lxc-stop -n media -r/);
      fs.writeFileSync(path.join(h.bin, "media.state"), "STOPPED\n");
      const stopped = await cli(argv, h.env);
      expect(stopped.code).toBe(2);
      expect(stopped.stderr).toBe(
        "error: container media is stopped; ct check looks inside a running container (lxc-start -n media)\n",
      );
    } finally {
      h.cleanup();
    }
  });

  it("refuses --name on a Proxmox host, --ctid with --name, and an unknown container (exit 2)", async () => {
    const h = lxcSetup("STOPPED");
    try {
      const both = await cli(
        ["ct", "plan", "--ctid", "101", "--name", "media", ...dev, "--snapshot", h.tree],
        h.env,
      );
      expect(both.code).toBe(2);
      expect(both.stderr).toMatch(/--ctid and --name: give one/);
      const none = await cli(
        ["ct", "plan", "--name", "nosuch", ...dev, "--snapshot", h.tree],
        h.env,
      );
      expect(none.code).toBe(2);
      expect(none.stderr).toMatch(
        /^error: container nosuch: no \/var\/lib\/lxc\/nosuch\/config on .*`lxc-ls` shows the containers\n$/,
      );
      const bad = await cli(
        ["ct", "plan", "--name", "../etc", ...dev, "--snapshot", h.tree],
        h.env,
      );
      expect(bad.stderr).toMatch(/--name "?\.\.\/etc"?: not a container name/);
      const pve = writeSpec(ctIntelIgpu);
      try {
        const r = await cli(
          ["ct", "plan", "--name", "media", ...dev, "--snapshot", pve.dir],
          h.env,
        );
        expect(r.code).toBe(2);
        expect(r.stderr).toMatch(/this is a Proxmox VE host.*give --ctid CTID/);
      } finally {
        pve.cleanup();
      }
    } finally {
      h.cleanup();
    }
  });
});
