// Malformed or hostile snapshot archives: refused with one line and exit 2, or (a link that
// points outside) read as absent. Never a stack trace, never a file read outside the snapshot.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readArchive, writeRawArchive, type RawEntry } from "../helpers/archive.js";
import { cli, cliJson } from "../helpers/cli.js";
import { fixturePath } from "../helpers/fixtures.js";

let tmp: string;
let base: RawEntry[];
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "passthrough-hostile-"));
  // A real snapshot's entries, as the starting point for every crafted archive.
  base = readArchive(fixturePath("seed-after")).map((e) => ({
    path: e.path,
    type: e.type as RawEntry["type"],
    data: e.data,
    linkpath: e.linkpath || undefined,
  }));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function craft(
  name: string,
  extra: RawEntry[],
  drop: (p: string) => boolean = () => false,
): string {
  const f = path.join(tmp, name);
  writeRawArchive(f, [...base.filter((e) => !drop(e.path)), ...extra]);
  return f;
}

describe("hostile snapshot archives", () => {
  it("the crafted archives are otherwise valid (control)", async () => {
    const f = craft("control.tar.gz", []);
    const { code, json } = await cliJson(["list", "--snapshot", f]);
    expect(code).toBe(0);
    expect(json.devices).toHaveLength(39);
  });

  it.each([
    [
      "dotdot.tar.gz",
      { path: "seed-after/../../evil.conf", type: "File", data: "x" },
      /^error: snapshot .*dotdot\.tar\.gz refused: entry seed-after\/\.\.\/\.\.\/evil\.conf climbs out of the snapshot with "\.\."\n$/,
    ],
    [
      "absolute.tar.gz",
      { path: "/etc/cron.d/evil", type: "File", data: "x" },
      /^error: snapshot .*absolute\.tar\.gz refused: entry \/etc\/cron\.d\/evil has an absolute path\n$/,
    ],
    [
      "hardlink.tar.gz",
      { path: "seed-after/etc/evil", type: "Link", linkpath: "../../etc/shadow" },
      /^error: snapshot .*hardlink\.tar\.gz refused: hard link seed-after\/etc\/evil points outside the snapshot \(\.\.\/\.\.\/etc\/shadow\)\n$/,
    ],
  ] as Array<[string, RawEntry, RegExp]>)(
    "%s: one-line error, exit 2",
    async (name, entry, message) => {
      const r = await cli(["list", "--snapshot", craft(name, [entry])]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(r.stderr.split("\n")).toHaveLength(2);
      expect(r.stdout).toBe("");
    },
  );

  it("a truncated archive is a one-line error, exit 2", async () => {
    const good = fs.readFileSync(fixturePath("seed-after"));
    const f = path.join(tmp, "truncated.tar.gz");
    fs.writeFileSync(f, good.subarray(0, Math.floor(good.length / 2)));
    const r = await cli(["list", "--snapshot", f]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      /^error: snapshot .*truncated\.tar\.gz is not a valid \.tar\.gz \(.*\); capture it again with `passthrough snapshot`\n$/,
    );
  });

  it("not gzip at all: one-line error, exit 2", async () => {
    const f = path.join(tmp, "plain.tar.gz");
    fs.writeFileSync(f, "hello");
    const r = await cli(["list", "--snapshot", f]);
    expect(r).toMatchObject({ code: 2, stdout: "" });
    expect(r.stderr).toMatch(
      /^error: snapshot .*plain\.tar\.gz is not a gzip file; give a snapshot folder or a \.tar\.gz made by `passthrough snapshot`\n$/,
    );
  });

  it("a symlink escaping the root reads as absent, in an archive", async () => {
    // os-release and a modprobe file pointing at this machine's /etc: absolute and via "..".
    const f = craft(
      "escape.tar.gz",
      [
        { path: "seed-after/etc/os-release", type: "SymbolicLink", linkpath: "/etc/os-release" },
        {
          path: "seed-after/etc/modprobe.d/evil.conf",
          type: "SymbolicLink",
          linkpath: "../../../../../../../etc/modprobe.d/x.conf",
        },
        {
          path: "seed-after/sys/bus/pci/devices/0000:09:00.0",
          type: "SymbolicLink",
          linkpath: "../../../../../sys/bus/pci/devices/0000:00:00.0",
        },
      ],
      (p) => p === "seed-after/etc/os-release",
    );
    const { code, json } = await cliJson(["list", "--snapshot", f]);
    expect(code).toBe(0);
    expect(json.host.distro).toBeNull();
    expect(json.unknowns).toContainEqual({
      field: "system.distro",
      reason: "etc/os-release is missing",
    });
    expect(json.devices.map((d: { address: string }) => d.address)).not.toContain("0000:09:00.0");
    expect(json.unknowns).toContainEqual({
      field: "pci.0000:09:00.0",
      reason: "sys/bus/pci/devices/0000:09:00.0 does not resolve inside the root",
    });
  });

  it("a symlink escaping the root reads as absent, in a folder", async () => {
    const dir = path.join(tmp, "folder");
    fs.mkdirSync(dir);
    const { execFileSync } = await import("node:child_process");
    execFileSync("tar", ["-xzf", fixturePath("seed-after"), "-C", dir]);
    const root = path.join(dir, "seed-after");
    fs.rmSync(path.join(root, "etc/os-release"));
    fs.symlinkSync("/etc/os-release", path.join(root, "etc/os-release"));
    fs.symlinkSync(
      "../../../../../../../../../../../etc/passwd",
      path.join(root, "etc/modprobe.d/evil.conf"),
    );
    const { code, json } = await cliJson(["list", "--snapshot", root]);
    expect(code).toBe(0);
    expect(json.host.distro).toBeNull();
    expect(json.unknowns.find((u: { field: string }) => u.field === "system.distro")).toBeDefined();
  });
});
