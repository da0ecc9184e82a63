// Reading through roots: snapshots are confined, links resolve like sysfs, archives are checked.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as zlib from "node:zlib";
import * as tar from "tar";
import { afterAll, describe, expect, it } from "vitest";
import { ArchiveRoot } from "../../src/host/archive-root.js";
import { openSnapshot } from "../../src/host/open-root.js";
import { DirectoryRoot } from "../../src/host/root.js";
import { encodeTar, type TarInput } from "../../src/host/tar-format.js";
import { InputError } from "../../src/errors.js";

const base = fs.mkdtempSync(path.join(os.tmpdir(), "passthrough-roots-"));
afterAll(() => fs.rmSync(base, { recursive: true, force: true }));

function makeTree(name: string): string {
  const dir = path.join(base, name);
  fs.mkdirSync(path.join(dir, "sys/devices/pci0000:00/0000:00:01.0"), { recursive: true });
  fs.mkdirSync(path.join(dir, "sys/bus/pci/devices"), { recursive: true });
  fs.mkdirSync(path.join(dir, "etc"), { recursive: true });
  fs.writeFileSync(path.join(dir, "sys/devices/pci0000:00/0000:00:01.0/vendor"), "0x8086\n");
  fs.symlinkSync(
    "../../../devices/pci0000:00/0000:00:01.0",
    path.join(dir, "sys/bus/pci/devices/0000:00:01.0"),
  );
  fs.writeFileSync(path.join(base, "secret"), "outside\n");
  fs.symlinkSync("../../secret", path.join(dir, "etc/escape"));
  fs.symlinkSync("/etc/hostname", path.join(dir, "etc/absolute"));
  return dir;
}

describe("DirectoryRoot over a snapshot folder", () => {
  const dir = makeTree("folder");
  const root = new DirectoryRoot(dir, { kind: "snapshot" });
  it("follows links inside the root", () => {
    expect(root.resolve("sys/bus/pci/devices/0000:00:01.0")).toBe(
      "sys/devices/pci0000:00/0000:00:01.0",
    );
    expect(root.readText("sys/bus/pci/devices/0000:00:01.0/vendor")).toEqual({
      ok: true,
      value: "0x8086\n",
    });
    expect(root.readLink("sys/bus/pci/devices/0000:00:01.0")).toBe(
      "../../../devices/pci0000:00/0000:00:01.0",
    );
  });
  it("treats links leaving the root as absent", () => {
    expect(root.readText("etc/escape").ok).toBe(false);
    expect(root.readText("etc/absolute").ok).toBe(false);
    expect(root.readText("../secret").ok).toBe(false);
    expect(root.resolve("etc/escape")).toBeNull();
  });
});

describe("ArchiveRoot over a .tar.gz", () => {
  it("reads the same tree in memory, with the same confinement", () => {
    const dir = makeTree("arch");
    const file = path.join(base, "arch.tar.gz");
    tar.c({ file, cwd: base, gzip: true, sync: true, portable: true }, ["arch"]);
    const root = ArchiveRoot.load(file);
    expect(root.resolve("sys/bus/pci/devices/0000:00:01.0")).toBe(
      "sys/devices/pci0000:00/0000:00:01.0",
    );
    expect(root.readText("sys/bus/pci/devices/0000:00:01.0/vendor")).toEqual({
      ok: true,
      value: "0x8086\n",
    });
    expect(root.list("sys/bus/pci/devices")).toEqual(["0000:00:01.0"]);
    expect(root.readText("etc/escape").ok).toBe(false);
    expect(root.readText("etc/absolute").ok).toBe(false);
    expect(root.isLink("etc/escape")).toBe(true);
    fs.rmSync(dir, { recursive: true });
  });

  it("refuses archives with .. or absolute entries, in one line", () => {
    const file = path.join(base, "evil.tar.gz");
    const src = path.join(base, "evilsrc");
    fs.mkdirSync(path.join(src, "sys"), { recursive: true });
    fs.writeFileSync(path.join(src, "sys/x"), "x");
    // Write an entry whose name climbs out, bypassing tar's own sanitising on create.
    const h = new tar.Header({
      path: "sys/../../evil",
      type: "File",
      size: 1,
      mode: 0o644,
      mtime: new Date(0),
    });
    const header = Buffer.alloc(512);
    h.encode(header, 0);
    const body = Buffer.concat([header, Buffer.from("x"), Buffer.alloc(511), Buffer.alloc(1024)]);
    fs.writeFileSync(file, zlib.gzipSync(body));
    expect(() => openSnapshot(file)).toThrow(InputError);
    expect(() => openSnapshot(file)).toThrow(/climbs out of the snapshot/);
  });

  // Links are followed inside the archive up to 40 of them per read, as the kernel's
  // path walk allows (path_resolution(7)): loops end, long chains past the limit are absent.
  it("resolves link loops, chains and the link limit alike on repeated reads", () => {
    const mtime = new Date(0);
    const entries: TarInput[] = [
      { path: "sys/", type: "Directory", mode: 0o755, mtime },
      { path: "sys/real/", type: "Directory", mode: 0o755, mtime },
      { path: "sys/real/attr", type: "File", data: Buffer.from("1\n"), mode: 0o644, mtime },
      { path: "sys/loop-a", type: "SymbolicLink", linkpath: "loop-b", mode: 0o777, mtime },
      { path: "sys/loop-b", type: "SymbolicLink", linkpath: "loop-a", mode: 0o777, mtime },
      // c0 -> c1 -> ... -> c30 -> real: 31 links to the folder
      ...Array.from({ length: 31 }, (_, i) => ({
        path: `sys/c${i}`,
        type: "SymbolicLink" as const,
        linkpath: i === 30 ? "real" : `c${i + 1}`,
        mode: 0o777,
        mtime,
      })),
      // f0 -> ... -> f9 -> attr inside real: 10 links to a file
      ...Array.from({ length: 10 }, (_, i) => ({
        path: `sys/real/f${i}`,
        type: "SymbolicLink" as const,
        linkpath: i === 9 ? "attr" : `f${i + 1}`,
        mode: 0o777,
        mtime,
      })),
    ];
    const file = path.join(base, "links.tar.gz");
    fs.writeFileSync(file, zlib.gzipSync(encodeTar(entries)));
    const root = ArchiveRoot.load(file);
    for (let round = 0; round < 2; round++) {
      expect(root.readText("sys/loop-a/attr").ok).toBe(false);
      expect(root.resolve("sys/loop-b")).toBeNull();
      expect(root.readText("sys/c0/attr")).toEqual({ ok: true, value: "1\n" }); // 31 links
      expect(root.readText("sys/c20/f0")).toEqual({ ok: true, value: "1\n" }); // 11 + 10
      expect(root.readText("sys/c0/f0").ok).toBe(false); // 31 + 10 = 41: over the limit
      expect(root.readText("sys/c0/f1")).toEqual({ ok: true, value: "1\n" }); // 31 + 9 = 40
      expect(root.isLink("sys/c0/f0")).toBe(true); // the last link not followed: 31
      expect(root.list("sys/c0")).toContain("attr");
    }
  });

  it("refuses something that is not a snapshot", () => {
    const file = path.join(base, "notsnap.tar.gz");
    const src = path.join(base, "notsnap");
    fs.mkdirSync(path.join(src, "photos"), { recursive: true });
    fs.writeFileSync(path.join(src, "photos/a.jpg"), "x");
    tar.c({ file, cwd: base, gzip: true, sync: true }, ["notsnap"]);
    expect(() => openSnapshot(file)).toThrow(/does not look like a host snapshot/);
  });
});
