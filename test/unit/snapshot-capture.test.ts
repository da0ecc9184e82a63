// `snapshot`: capturing a host folder (every fixture host, written fresh from its spec) must
// give a snapshot that reads exactly like the original, keep sysfs bytes and links as they
// are, never open what it must not, survive a hung read, and refuse bad output paths.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { snapshotToFile } from "../../src/cli/commands/snapshot.js";
import { captureSnapshot, TRACKED_TOOLS } from "../../src/host/capture/capture.js";
import { CAPTURED_COMMANDS } from "../../src/host/commands.js";
import { openSnapshot } from "../../src/host/open-root.js";
import { readHostState } from "../../src/host/read-host.js";
import type { HostState } from "../../src/host/types.js";
import { listTree } from "../../tools/fakehost/archive.js";
import { FIXTURE_SPECS } from "../fixtures/specs/index.js";
import { seedAfter } from "../fixtures/specs/seed.js";
import { readArchive } from "../helpers/archive.js";
import { cli, cliJson } from "../helpers/cli.js";
import { REPO, writeSpec } from "../helpers/fixtures.js";

const NOW = new Date("2026-02-03T04:05:06Z");

function stateOf(p: string): HostState {
  const { root, manifest } = openSnapshot(p);
  const s = readHostState(root, { manifest, systemPciIds: false });
  return { ...s, source: { ...s.source, path: "", capturedAt: null } };
}

let out: string;
beforeEach(() => {
  out = fs.mkdtempSync(path.join(os.tmpdir(), "passthrough-snapout-"));
});
afterEach(() => fs.rmSync(out, { recursive: true, force: true }));

// A partial fixture stands for a copy that already lost files; capturing it again is not a
// round trip (its own skip list is not re-captured), so it is left out here.
const WHOLE_HOSTS = FIXTURE_SPECS.filter((s) => !s.partial);

describe.each(WHOLE_HOSTS.map((s) => [s.name, s] as const))(
  "snapshot of fixture %s",
  (_name, spec) => {
    // One capture per fixture, shared by the tests below (capturing is the slow part).
    let src: { dir: string; cleanup: () => void };
    let file: string;
    let skipped: unknown[];
    let folder: string;
    beforeAll(async () => {
      folder = fs.mkdtempSync(path.join(os.tmpdir(), "passthrough-snapfx-"));
      src = writeSpec(spec);
      const w = await snapshotToFile({
        source: src.dir,
        output: path.join(folder, "s.tar.gz"),
        now: NOW,
      });
      file = w.file;
      skipped = w.skipped;
    }, 60_000);
    afterAll(() => {
      src.cleanup();
      fs.rmSync(folder, { recursive: true, force: true });
    });

    it("reads back exactly like the folder it was captured from", async () => {
      expect(skipped).toEqual([]);
      // The whole host model, not just the devices: every fact discovery reads was captured.
      expect(stateOf(file)).toEqual(stateOf(src.dir));
      // And through the CLI, as a user would compare them.
      const a = await cliJson(["list", "--snapshot", src.dir]);
      const b = await cliJson(["list", "--snapshot", file]);
      expect(b.code).toBe(0);
      expect(b.json.devices).toEqual(a.json.devices);
      expect(b.json.groups).toEqual(a.json.groups);
      // Nothing but the archive was written.
      expect(fs.readdirSync(folder)).toEqual(["s.tar.gz"]);
      expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    });

    it("keeps sysfs attribute bytes and link texts exactly", () => {
      const dir = src.dir;
      const entries = new Map(
        readArchive(file).map((e) => [e.path.replace(/^s\//, "").replace(/\/$/, ""), e]),
      );
      let compared = 0;
      for (const rel of listTree(dir).filter((p) => p.startsWith("sys/"))) {
        const st = fs.lstatSync(path.join(dir, rel));
        const e = entries.get(rel);
        if (!e) continue; // not on the allow-list
        if (st.isSymbolicLink()) {
          expect(e.type, rel).toBe("SymbolicLink");
          expect(e.linkpath, rel).toBe(fs.readlinkSync(path.join(dir, rel)));
        } else if (st.isFile()) {
          expect(e.data.equals(fs.readFileSync(path.join(dir, rel))), rel).toBe(true);
        }
        compared++;
      }
      expect(compared).toBeGreaterThan(spec.pci.length * 10);
      // Every PCI function's config space, all of it, is there.
      for (const f of spec.pci) {
        const link = entries.get(`sys/bus/pci/devices/${f.address}`)!;
        const target = path.posix.normalize(path.posix.join("sys/bus/pci/devices", link.linkpath));
        expect(entries.get(`${target}/config`)?.data.length, f.address).toBe(
          spec.configSize ?? 4096,
        );
      }
    });
  },
);

describe("snapshot capture safety", () => {
  const gpu = "sys/devices/pci0000:00/0000:00:01.1/0000:01:00.0";

  it("never reads rom, resourceN, remove, reset, rescan, or write-only attributes", async () => {
    const { dir, cleanup } = writeSpec(seedAfter);
    try {
      for (const f of ["rom", "resource0", "resource1_wc", "remove", "reset", "rescan", "new_id"])
        fs.writeFileSync(path.join(dir, gpu, f), "MUST-NOT-BE-READ\n");
      // An allow-listed name that is write-only here: its bits say "do not read", so it is not opened.
      fs.rmSync(path.join(dir, gpu, "driver_override"));
      fs.writeFileSync(path.join(dir, gpu, "driver_override"), "MUST-NOT-BE-READ\n", {
        mode: 0o200,
      });
      const c = await captureSnapshot(dir, { version: "test", now: NOW });
      for (const [p, e] of c.entries) {
        if (e.type === "file")
          expect(e.data.toString("latin1").includes("MUST-NOT-BE-READ"), p).toBe(false);
      }
      expect(c.entries.has(`${gpu}/rom`)).toBe(false);
      expect(c.entries.has(`${gpu}/vendor`)).toBe(true);
    } finally {
      cleanup();
    }
  });

  it("a hung read costs one timeout: the rest of that folder is skipped, everything else is captured", async () => {
    const { dir, cleanup } = writeSpec(seedAfter);
    try {
      // A FIFO with no writer blocks open(2) forever, like a wedged device's attribute.
      fs.rmSync(path.join(dir, gpu, "vendor"));
      const { execFileSync } = await import("node:child_process");
      execFileSync("mkfifo", [path.join(dir, gpu, "vendor")]);
      // readdir reports it as a FIFO, so the allow-list skips it; make the capture believe it is
      // a regular file by reading it through a link the spec allows (etc/modules -> FIFO).
      fs.rmSync(path.join(dir, "etc/modules"));
      fs.symlinkSync(`../${gpu}/vendor`, path.join(dir, "etc/modules"));
      const t0 = Date.now();
      const c = await captureSnapshot(dir, { version: "test", now: NOW, readTimeoutMs: 300 });
      expect(Date.now() - t0).toBeLessThan(10_000);
      expect(c.manifest.skipped).toContainEqual({ path: "etc/modules", reason: "read timed out" });
      expect(
        c.manifest.notes.some((n) => n.startsWith("etc/modules: read timed out after 300 ms")),
      ).toBe(true);
      // Other devices and files are all there.
      expect(c.entries.text("sys/devices/pci0000:00/0000:00:01.2/0000:02:00.0/vendor")).toBe(
        "0x1c5c\n",
      );
      expect(c.entries.text("etc/default/grub")).toContain("GRUB_CMDLINE_LINUX_DEFAULT");
    } finally {
      cleanup();
    }
  }, 20_000);

  it("never follows a link out of the source folder", async () => {
    const { dir, cleanup } = writeSpec(seedAfter);
    const outside = fs.mkdtempSync(path.join(os.tmpdir(), "passthrough-outside-"));
    try {
      fs.writeFileSync(path.join(outside, "secret.conf"), "options OUTSIDE-THE-ROOT\n");
      fs.symlinkSync(path.join(outside, "secret.conf"), path.join(dir, "etc/modprobe.d/evil.conf"));
      fs.rmSync(path.join(dir, "etc/os-release"));
      fs.symlinkSync(
        "../../../../../../../../../../etc/os-release",
        path.join(dir, "etc/os-release"),
      );
      const c = await captureSnapshot(dir, { version: "test", now: NOW });
      expect(c.entries.has("etc/modprobe.d/evil.conf")).toBe(false);
      expect(c.entries.has("etc/os-release")).toBe(false);
      for (const [p, e] of c.entries)
        if (e.type === "file")
          expect(e.data.toString("latin1"), p).not.toContain("OUTSIDE-THE-ROOT");
    } finally {
      cleanup();
      fs.rmSync(outside, { recursive: true, force: true });
    }
  });

  it("records tools the way HostRoot.hasTool looks for them, and the manifest fields", async () => {
    const { dir, cleanup } = writeSpec(seedAfter);
    try {
      const w = await snapshotToFile({ source: dir, output: path.join(out, "m.tar.gz"), now: NOW });
      const m = JSON.parse(
        readArchive(w.file)
          .find((e) => e.path === "m/manifest.json")!
          .data.toString(),
      );
      expect(m).toMatchObject({
        tool: "passthrough",
        capturedAt: "2026-02-03T04:05:06.000Z",
        hostname: "pve",
        redacted: [],
        skipped: [],
      });
      expect(m.tools).toEqual([...seedAfter.tools].sort());
      expect(m.notes).toContain(
        "lib/modules/6.5.13-5-pve/modules.alias: 12 of 12 aliases kept (those matching the present PCI and USB devices)",
      );
    } finally {
      cleanup();
    }
  });

  it("tracks every tool the code asks about (hasTool and captured commands)", () => {
    const asked = new Set<string>();
    const walk = (d: string) => {
      for (const e of fs.readdirSync(d, { withFileTypes: true })) {
        const p = path.join(d, e.name);
        if (e.isDirectory()) walk(p);
        else if (p.endsWith(".ts"))
          for (const m of fs.readFileSync(p, "utf8").matchAll(/hasTool\("([^"]+)"\)/g))
            asked.add(m[1]!);
      }
    };
    walk(path.join(REPO, "src"));
    expect(asked.size).toBeGreaterThan(5);
    // The programs behind captured commands count too: a snapshot's cmd/NAME needs them installed.
    for (const spec of Object.values(CAPTURED_COMMANDS))
      for (const argv of spec.argv) asked.add(argv[0]!);
    for (const t of asked) expect(TRACKED_TOOLS, t).toContain(t);
  });
});

describe("snapshot -o", () => {
  it.each([
    [
      ["-o", "/nonexistent-folder-xyz/s.tar.gz"],
      /^error: -o \/nonexistent-folder-xyz\/s\.tar\.gz: folder \/nonexistent-folder-xyz does not exist; create it or choose another place\n$/,
    ],
    [
      ["-o", "snap.zip"],
      /^error: -o snap\.zip: a snapshot is a \.tar\.gz; give a name ending in \.tar\.gz, e\.g\. passthrough-snapshot-.*\.tar\.gz\n$/,
    ],
    [
      ["-o", "/proc/self/s.tar.gz"],
      /^error: -o \/proc\/self\/s\.tar\.gz: passthrough never writes inside \/sys, \/proc or \/dev; choose another folder\n$/,
    ],
  ])("refuses %j with one line, exit 2", async (args, message) => {
    const r = await cli(["snapshot", ...args]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stdout).toBe("");
  });

  it("never overwrites an existing file", async () => {
    const f = path.join(out, "exists.tar.gz");
    fs.writeFileSync(f, "keep me");
    const r = await cli(["snapshot", "-o", f]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      `error: -o ${f} already exists; snapshots are never overwritten: remove it or choose another name\n`,
    );
    expect(fs.readFileSync(f, "utf8")).toBe("keep me");
  });

  it("writes the default name inside a folder given as -o", async () => {
    const { dir, cleanup } = writeSpec(seedAfter);
    try {
      const w = await snapshotToFile({ source: dir, output: out, now: NOW });
      expect(w.file).toBe(
        path.join(fs.realpathSync(out), "passthrough-snapshot-pve-20260203-040506.tar.gz"),
      );
      const r = await snapshotToFile({ source: dir, output: out, now: NOW, redact: true });
      expect(path.basename(r.file)).toBe("passthrough-snapshot-redacted-20260203-040506.tar.gz");
    } finally {
      cleanup();
    }
  });
});
