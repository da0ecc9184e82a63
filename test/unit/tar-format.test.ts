// The in-memory tar reader/writer must agree with the two tar implementations users have:
// node-tar (which writes the fixtures) and GNU tar (what people type), both directions.
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as zlib from "node:zlib";
import * as tar from "tar";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  encodeTar,
  gunzipTar,
  parseTar,
  TarFormatError,
  type TarInput,
} from "../../src/host/tar-format.js";
import { fixturePath } from "../helpers/fixtures.js";

const LONG_DIR =
  "sys/devices/pci0000:00/0000:00:02.1/0000:03:00.0/0000:04:0c.0/0000:0e:00.0/usb1/1-4/1-4:1.0/extra-long-folder-name-to-pass-ustar";
const LONG = `${LONG_DIR}/${"f".repeat(120)}`;
const mtime = new Date("2026-01-01T00:00:00Z");

const INPUT: TarInput[] = [
  { path: "top/", type: "Directory", mode: 0o755, mtime },
  { path: "top/a.txt", type: "File", data: Buffer.from("hello\n"), mode: 0o644, mtime },
  { path: "top/empty", type: "File", data: Buffer.alloc(0), mode: 0o644, mtime },
  {
    path: "top/bin",
    type: "File",
    data: Buffer.from(Array.from({ length: 4096 }, (_, i) => i % 256)),
    mode: 0o644,
    mtime,
  },
  { path: `top/${LONG_DIR}/`, type: "Directory", mode: 0o755, mtime },
  { path: `top/${LONG}`, type: "File", data: Buffer.from("deep\n"), mode: 0o644, mtime },
  {
    path: "top/link",
    type: "SymbolicLink",
    linkpath: "../../../bus/pci/drivers/vfio-pci",
    mode: 0o777,
    mtime,
  },
  {
    path: "top/longlink",
    type: "SymbolicLink",
    linkpath: `../${"x/".repeat(70)}target`,
    mode: 0o777,
    mtime,
  },
  { path: "top/ünïcode", type: "File", data: Buffer.from("u\n"), mode: 0o644, mtime },
];

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "passthrough-tar-"));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe("tar-format", () => {
  it("round-trips through its own reader", () => {
    const got = parseTar(encodeTar(INPUT));
    expect(got.map((e) => [e.path, e.type, e.linkpath, e.data.toString("base64")])).toEqual(
      INPUT.map((e) => [
        e.path,
        e.type,
        e.linkpath ?? "",
        (e.type === "File" ? e.data! : Buffer.alloc(0)).toString("base64"),
      ]),
    );
  });

  it("writes what node-tar and GNU tar read", () => {
    const file = path.join(tmp, "mine.tar.gz");
    fs.writeFileSync(file, zlib.gzipSync(encodeTar(INPUT)));
    const seen: Array<[string, string, string]> = [];
    tar.t({
      file,
      sync: true,
      strict: true,
      onReadEntry: (e: tar.ReadEntry) => seen.push([e.path, e.type, e.linkpath ?? ""]),
    });
    expect(seen).toEqual(INPUT.map((e) => [e.path, e.type, e.linkpath ?? ""]));
    const out = path.join(tmp, "gnu");
    fs.mkdirSync(out);
    execFileSync("tar", ["-xzf", file, "-C", out]);
    expect(fs.readFileSync(path.join(out, "top", LONG), "utf8")).toBe("deep\n");
    expect(fs.readlinkSync(path.join(out, "top/longlink"))).toBe(INPUT[7]!.linkpath);
    expect(fs.readFileSync(path.join(out, "top/bin")).equals(INPUT[3]!.data!)).toBe(true);
  });

  it("reads what GNU tar writes (GNU long names) and what node-tar writes (pax)", () => {
    const src = path.join(tmp, "src");
    fs.mkdirSync(path.join(src, "top", LONG_DIR), { recursive: true });
    fs.writeFileSync(path.join(src, "top", LONG), "deep\n");
    fs.symlinkSync(`../${"y/".repeat(70)}t`, path.join(src, "top/longlink"));
    for (const format of ["gnu", "posix", "ustar"]) {
      const f = path.join(tmp, `gnu-${format}.tar.gz`);
      try {
        execFileSync("tar", ["-czf", f, `--format=${format}`, "-C", src, "top"], { stdio: "pipe" });
      } catch {
        continue; // ustar cannot hold the 141-character link: GNU tar refuses, as it should
      }
      const entries = gunzipTar(fs.readFileSync(f));
      expect(entries.find((e) => e.path === `top/${LONG}`)?.data.toString(), format).toBe("deep\n");
      expect(entries.find((e) => e.path === "top/longlink")?.linkpath, format).toBe(
        `../${"y/".repeat(70)}t`,
      );
    }
    const all = gunzipTar(fs.readFileSync(fixturePath("seed-after")));
    const viaNodeTar: string[] = [];
    tar.t({
      file: fixturePath("seed-after"),
      sync: true,
      onReadEntry: (e: tar.ReadEntry) => viaNodeTar.push(`${e.type} ${e.path} ${e.linkpath ?? ""}`),
    });
    expect(all.map((e) => `${e.type} ${e.path} ${e.linkpath}`)).toEqual(viaNodeTar);
  });

  it("refuses damaged archives with a reason", () => {
    const good = encodeTar(INPUT);
    const bad = Buffer.from(good);
    bad[600] = bad[600]! ^ 0xff; // inside the second header
    expect(() => parseTar(bad)).toThrow(TarFormatError);
    expect(() => parseTar(bad)).toThrow(/bad header checksum at byte 512/);
    expect(() => parseTar(good.subarray(0, 1536 + 100))).toThrow(/truncated/);
    expect(() => gunzipTar(Buffer.from("not gzip"))).toThrow(/^gzip: /);
    expect(() => parseTar(Buffer.from("x".repeat(512)))).toThrow(/bad header checksum/);
  });

  // Header checksums are summed four bytes at a time where the archive is 4-byte aligned.
  it("verifies checksums of headers full of high bytes, aligned or not", () => {
    const h = Buffer.alloc(512, 0xff);
    h.fill(0, 100, 257); // mode .. linkname: no numbers of 0xff
    h.write("0000644\0", 100, "latin1");
    h.write("00000000000\0", 124, "latin1"); // size 0
    h.write("0", 156, "latin1"); // a regular file
    let sum = 8 * 0x20;
    for (let i = 0; i < 512; i++) if (i < 148 || i >= 156) sum += h[i]!;
    h.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148, "latin1");
    const archive = Buffer.concat([h, Buffer.alloc(1024)]);
    for (const offset of [0, 1, 2, 4]) {
      const buf = Buffer.alloc(archive.length + offset).subarray(offset);
      archive.copy(buf);
      expect(parseTar(buf).map((e) => e.type)).toEqual(["File"]);
      buf[511] = 0xfe; // one bit off, in the last word
      expect(() => parseTar(buf)).toThrow(/bad header checksum at byte 0/);
    }
  });
});
