// `ct check`: the pure judgement (src/vm/container/check.ts) and the command against a fake
// pct whose `exec` answers from a described container (test/helpers/fake-pct.cjs).
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import type { FakeHostSpec } from "../../tools/fakehost/spec.js";
import { CT_CATALOG } from "../../src/findings/ct-catalog.js";
import { parseGroupFile } from "../../src/formats/etc-group.js";
import {
  checkContainer,
  nvmlVersions,
  parseStatOutput,
  type CtCheckInput,
} from "../../src/vm/container/check.js";
import { ctIntelIgpu, ctNvidiaUvm } from "../fixtures/specs/containers.js";
import { cli } from "../helpers/cli.js";
import { REPO, writeSpec } from "../helpers/fixtures.js";

const GROUPS = parseGroupFile("root:x:0:\nvideo:x:44:\nrender:x:104:\n");
const RENDER = { path: "/dev/dri/renderD128", major: 226, minor: 128, why: "" };

function input(stat: string, over: Partial<CtCheckInput> = {}): CtCheckInput {
  return {
    ctid: 101,
    nodes: [RENDER],
    stats: parseStatOutput(stat),
    groups: GROUPS,
    nvidia: null,
    ...over,
  };
}

/** cliJson with an environment (the fake pct on PATH). */
async function cliJsonEnv(argv: string[], env: NodeJS.ProcessEnv) {
  const r = await cli([...argv, "--json"], env);
  return { code: r.code, json: JSON.parse(r.stdout), stderr: r.stderr };
}

describe("parseStatOutput / nvmlVersions", () => {
  it("reads stat's hex major:minor and octal mode, and skips lines that are not its format", () => {
    const s = parseStatOutput(
      "/dev/dri/renderD128|character special file|e2|80|104|660\nstat: cannot statx 'x'\n/dev/kfd|regular empty file|0|0|0|644\n",
    );
    expect(s.get("/dev/dri/renderD128")).toEqual({
      charDevice: true,
      type: "character special file",
      major: 226,
      minor: 128,
      gid: 104,
      mode: 0o660,
    });
    expect(s.get("/dev/kfd")?.charDevice).toBe(false);
    expect(s.size).toBe(2);
  });

  it("takes the version from libnvidia-ml.so.VERSION, not from the .so.1 link", () => {
    expect(
      nvmlVersions([
        "/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1",
        "/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.550.54.14",
        "/usr/lib/i386-linux-gnu/libnvidia-ml.so.550.54.14",
      ]),
    ).toEqual(["550.54.14"]);
  });
});

describe("checkContainer", () => {
  it("passes a render node of the right numbers owned by the container's render group", () => {
    const out = checkContainer(input("/dev/dri/renderD128|character special file|e2|80|104|660"));
    expect(out.map((f) => [f.id, f.status])).toEqual([
      ["ct.node", "pass"],
      ["ct.node-access", "pass"],
    ]);
    expect(out[1]!.summary).toMatch(/group render \(gid 104\)/);
  });

  it("fails a missing node, a regular file and a node of another device", () => {
    expect(checkContainer(input(""))[0]).toMatchObject({ status: "fail", summary: /missing/ });
    const file = checkContainer(input("/dev/dri/renderD128|regular empty file|0|0|0|644"));
    expect(file[0]!.summary).toMatch(/regular empty file, not a character device/);
    const other = checkContainer(input("/dev/dri/renderD128|character special file|e2|81|104|660"));
    expect(other[0]!.summary).toMatch(/226:129, the host's is 226:128/);
    expect(other).toHaveLength(1);
  });

  it("fails a node the render group cannot open: nogroup in an unprivileged container", () => {
    const out = checkContainer(input("/dev/dri/renderD128|character special file|e2|80|65534|660"));
    expect(out[1]).toMatchObject({ id: "ct.node-access", status: "fail" });
    expect(out[1]!.summary).toMatch(/gid 65534 \(nogroup: a host group/);
    expect(out[1]!.fix).toMatch(/gid=104/);
    const open = checkContainer(
      input("/dev/dri/renderD128|character special file|e2|80|65534|666"),
    );
    expect(open[1]!.status).toBe("pass");
  });

  it("compares NVIDIA's user-space version with the host module", () => {
    const nv = (hostVersion: string | null, libraries: string[]) =>
      checkContainer(input("", { nodes: [], nvidia: { hostVersion, libraries } }))[0]!;
    const lib = (v: string) => `/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.${v}`;
    expect(nv("550.54.14", [lib("550.54.14")]).status).toBe("pass");
    const old = nv("550.54.14", [lib("1"), lib("535.183.01")]);
    expect(old.status).toBe("fail");
    expect(old.summary).toMatch(/535\.183\.01, the host module is 550\.54\.14.*version mismatch/);
    expect(old.fix).toContain("NVIDIA-Linux-x86_64-550.54.14.run --no-kernel-module");
    expect(nv("550.54.14", []).summary).toMatch(/no NVIDIA user-space driver/);
    expect(nv(null, [lib("550.54.14")]).status).toBe("warn");
  });
});

describe("passthrough ct check (fake pct exec)", () => {
  const CONF = `arch: amd64
dev0: /dev/dri/card1,gid=44,mode=0660
dev1: /dev/dri/renderD129,gid=104,mode=0660
dev2: /dev/nvidia0,mode=0666
dev3: /dev/nvidiactl,mode=0666
hostname: jellyfin
unprivileged: 1
`;
  const GROUP = "root:x:0:\nvideo:x:44:\nrender:x:104:\njellyfin:x:105:\n";
  const NODES = {
    "/dev/dri/card1": { major: 226, minor: 1, gid: 44, mode: "660" },
    "/dev/dri/renderD129": { major: 226, minor: 129, gid: 104, mode: "660" },
    "/dev/nvidia0": { major: 195, minor: 0, gid: 0, mode: "666" },
    "/dev/nvidiactl": { major: 195, minor: 255, gid: 0, mode: "666" },
  };

  function setup(spec: FakeHostSpec, conf: string, inside: object) {
    const tree = writeSpec(spec);
    const lxcDir = fs.realpathSync(path.join(tree.dir, "etc/pve/lxc"));
    fs.writeFileSync(path.join(lxcDir, "101.conf"), conf);
    fs.writeFileSync(path.join(lxcDir, "101.inside.json"), JSON.stringify(inside));
    const bin = fs.mkdtempSync(path.join(os.tmpdir(), "passthrough-fake-pct-"));
    fs.copyFileSync(path.join(REPO, "test/helpers/fake-pct.cjs"), path.join(bin, "pct"));
    fs.chmodSync(path.join(bin, "pct"), 0o755);
    const env = {
      PATH: `${bin}:${process.env.PATH}`,
      FAKE_PCT_LXC_DIR: lxcDir,
      FAKE_PCT_RUNNING: "1",
    };
    const argv = ["ct", "check", "--ctid", "101", "--root", tree.dir];
    return {
      env,
      argv,
      cleanup: () => (tree.cleanup(), fs.rmSync(bin, { recursive: true })),
    };
  }

  it("passes an NVIDIA container with its nodes and the host's driver version (exit 0)", async () => {
    const lib = "/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.550.54.14";
    const h = setup(ctNvidiaUvm, CONF, { nodes: NODES, files: { "/etc/group": GROUP, [lib]: "" } });
    try {
      const r = await cli(h.argv, h.env);
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      expect(r.stdout).toContain("0000:01:00.0 (driver nvidia)");
      expect(r.stdout).toMatch(/PASS\s+ct\.nvidia-driver\s+user-space driver 550\.54\.14 matches/);
      expect(r.stdout).toContain("every check passed");
      const { json } = await cliJsonEnv(h.argv, h.env);
      expect(json.ok).toBe(true);
      expect(json.findings.map((f: { id: string }) => f.id)).toEqual([
        "ct.node",
        "ct.node-access",
        "ct.node",
        "ct.node-access",
        "ct.node",
        "ct.node-access",
        "ct.node",
        "ct.node-access",
        "ct.nvidia-driver",
      ]);
      // Every ct check id is emitted here or in the failure case below.
      expect(
        Object.keys(CT_CATALOG).every((id) =>
          json.findings.some((f: { id: string }) => f.id === id),
        ),
      ).toBe(true);
    } finally {
      h.cleanup();
    }
  });

  it("fails (exit 1) after a host driver update, with a node missing and one unusable", async () => {
    const lib = "/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.535.183.01";
    const nodes = {
      ...NODES,
      "/dev/dri/renderD129": { ...NODES["/dev/dri/renderD129"], gid: 65534 },
    };
    delete (nodes as Record<string, unknown>)["/dev/nvidia0"];
    const h = setup(ctNvidiaUvm, CONF, { nodes, files: { "/etc/group": GROUP, [lib]: "" } });
    try {
      const { code, json } = await cliJsonEnv(h.argv, h.env);
      expect(code).toBe(1);
      expect(json.ok).toBe(false);
      const fails = json.findings.filter((f: { status: string }) => f.status === "fail");
      expect(fails.map((f: { id: string; subject: string }) => `${f.id} ${f.subject}`)).toEqual([
        "ct.node-access /dev/dri/renderD129",
        "ct.node /dev/nvidia0",
        "ct.nvidia-driver null",
      ]);
    } finally {
      h.cleanup();
    }
  });

  it("says the container is not running (exit 2), in one line", async () => {
    const h = setup(ctNvidiaUvm, CONF, { nodes: NODES, files: { "/etc/group": GROUP } });
    try {
      const r = await cli(h.argv, { ...h.env, FAKE_PCT_RUNNING: "0" });
      expect(r.code).toBe(2);
      expect(r.stderr).toBe(
        "error: container 101: `pct exec 101 -- cat` failed: container '101' not running!; ct check looks inside a running container (pct start 101)\n",
      );
    } finally {
      h.cleanup();
    }
  });

  it("refuses a container whose config gives it none of the card's nodes (exit 2)", async () => {
    const h = setup(ctIntelIgpu, "arch: amd64\nhostname: frigate\n", { nodes: {}, files: {} });
    try {
      const r = await cli(h.argv, h.env);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(
        /container 101: its config gives it none of this host's GPU device nodes/,
      );
    } finally {
      h.cleanup();
    }
  });
});
