// The tar format snapshots travel in: POSIX ustar headers, pax extended headers for long
// paths and link texts (and GNU 'L'/'K' long names when reading archives GNU tar made),
// inside gzip. Read and written here, in memory, in a few dozen lines, because:
//   - reading: `list --snapshot x.tar.gz` starts cold on every run, and node-tar's streaming
//     parser spent ~60 ms on a 1 300-entry host snapshot (half the cold-start budget) where a
//     direct walk over the gunzipped bytes takes a few milliseconds;
//   - writing: `snapshot` assembles the archive in memory (nothing staged on disk).
// Format: POSIX.1-2001 (pax) / IEEE Std 1003.1 "ustar Interchange Format"; GNU tar manual,
// "Basic Tar Format". Every header's checksum is verified; sizes and offsets are bounded by
// the buffer, so a malformed archive is an error, never an out-of-range read.

import type * as Zlib from "node:zlib";

/** node-tar's names for the typeflags, so messages read the same as before. */
const TYPE_NAMES: Record<string, string> = {
  "0": "File",
  "\0": "OldFile",
  "1": "Link",
  "2": "SymbolicLink",
  "3": "CharacterDevice",
  "4": "BlockDevice",
  "5": "Directory",
  "6": "FIFO",
  "7": "ContiguousFile",
  g: "GlobalExtendedHeader",
  x: "ExtendedHeader",
  A: "SolarisACL",
  D: "GNUDumpDir",
  I: "Inode",
  K: "NextFileHasLongLinkpath",
  L: "NextFileHasLongPath",
  M: "ContinuationFile",
  N: "OldGnuLongPath",
  S: "SparseFile",
  V: "TapeVolumeHeader",
  X: "OldExtendedHeader",
};

export interface TarEntry {
  path: string;
  /** "File", "Directory", "SymbolicLink", "Link", ... (node-tar's names). */
  type: string;
  linkpath: string;
  data: Buffer;
}

export class TarFormatError extends Error {}

/**
 * node:zlib on first use: only snapshot archives need it, and loading it is a large part of the
 * standalone executable's start-up (Bun builds its zlib module when it is first required).
 */
export const zlib = (): typeof Zlib => require("node:zlib") as typeof Zlib;

/**
 * A snapshot is a few MiB unpacked (a 1 000-function server's sysfs with 4 KiB of config space
 * each stays under 50 MiB). Inflating stops at this bound, so a gzip bomb costs at most this
 * much memory before it is refused (a real one: 0.3-5 MiB; this bound leaves 25 times that).
 */
export const MAX_UNPACKED_BYTES = 128 * 2 ** 20;

/**
 * Deflate's theoretical limit: a length/distance pair (at least 2 bits) gives at most 258 bytes,
 * so 1032:1 (zlib's technical details, https://zlib.net/zlib_tech.html, "Maximum Compression
 * Factor"). A gzip file this many times smaller than MAX_UNPACKED_BYTES cannot unpack to more.
 */
const DEFLATE_MAX_RATIO = 1032;

/** The Bun runtime's own gzip, present only in the standalone executable. */
interface BunZlib {
  gunzipSync(data: Uint8Array): Uint8Array;
  hash: { crc32(data: Uint8Array): number };
}

export function gunzipTar(gz: Buffer): TarEntry[] {
  return parseTar(bunGunzip(gz) ?? nodeGunzip(gz));
}

/**
 * Bun.gunzipSync, which the standalone executable has without loading node:zlib (a large part
 * of its start-up, as the Bun runtime builds that module from JavaScript). It takes no output
 * limit, so it is used only where deflate's ratio already bounds the output by
 * MAX_UNPACKED_BYTES. It reads the first gzip member only and ignores what follows it, where
 * node:zlib reads every member and refuses trailing bytes; so its result counts only when the
 * trailer at the end of the file (CRC-32 and length, RFC 1952 section 2.3.1) is that member's
 * own. Anything else (an error included) goes to node:zlib, whose result or message stands.
 */
function bunGunzip(gz: Buffer): Buffer | null {
  const bun = (globalThis as { Bun?: BunZlib }).Bun;
  if (!bun || gz.length < 18 || gz.length * DEFLATE_MAX_RATIO > MAX_UNPACKED_BYTES) return null;
  let out: Uint8Array;
  try {
    out = bun.gunzipSync(gz);
  } catch {
    return null;
  }
  const ownTrailer =
    gz.readUInt32LE(gz.length - 4) === out.length % 2 ** 32 &&
    gz.readUInt32LE(gz.length - 8) === bun.hash.crc32(out) >>> 0;
  return ownTrailer ? Buffer.from(out.buffer, out.byteOffset, out.length) : null;
}

function nodeGunzip(gz: Buffer): Buffer {
  try {
    return zlib().gunzipSync(gz, {
      maxOutputLength: MAX_UNPACKED_BYTES,
      chunkSize: unpackedSizeHint(gz),
    });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ERR_BUFFER_TOO_LARGE")
      throw new TarFormatError(`larger than ${MAX_UNPACKED_BYTES / 2 ** 20} MiB unpacked`);
    throw new TarFormatError(`gzip: ${(err as Error).message}`);
  }
}

/**
 * Output chunk size for gunzip: the size gzip's trailer records (ISIZE, the unpacked length
 * mod 2^32, RFC 1952 section 2.3.1), so the data comes out in one chunk instead of being joined
 * from many 16 KiB ones (the Bun runtime copies them together as it goes: ~20 ms for the example
 * host). Only a hint: a wrong value costs chunks, never correctness; never more than deflate's
 * best ratio (~1032:1) allows, so a forged trailer cannot make a small file allocate much.
 */
function unpackedSizeHint(gz: Buffer): number {
  const isize = gz.length >= 18 ? gz.readUInt32LE(gz.length - 4) : 0;
  return Math.min(Math.max(isize, 16 * 1024), DEFLATE_MAX_RATIO * gz.length, MAX_UNPACKED_BYTES);
}

/** The data of entries that have none (folders, links): one shared, empty. */
const NO_DATA = Buffer.alloc(0);

export function parseTar(buf: Buffer): TarEntry[] {
  const entries: TarEntry[] = [];
  let pax: Record<string, string> | null = null;
  const globalPax: Record<string, string> = {};
  let longPath: string | undefined;
  let longLink: string | undefined;
  let off = 0;
  // One view of the whole archive for checksumByWords, where its start is 4-byte aligned.
  const words =
    buf.byteOffset % 4 === 0 ? new Uint32Array(buf.buffer, buf.byteOffset, buf.length >>> 2) : null;
  // Fields are read at their offsets in `buf` (no view per header: a thousand-odd headers are
  // read on every start, before the JIT has warmed up).
  while (off + 512 <= buf.length) {
    if (buf[off] === 0 && isZeroBlock(buf.subarray(off, off + 512))) return entries; // the end
    const stored = readNumber(buf, off + 148, 8);
    const sum = words ? checksumByWords(words, off >>> 2) : checksum(buf.subarray(off, off + 512));
    if (stored !== sum)
      throw new TarFormatError(
        `bad header checksum at byte ${off}: not a tar archive, or a damaged one`,
      );
    const size = readNumber(buf, off + 124, 12);
    const typeflag = String.fromCharCode(buf[off + 156]!);
    const start = off + 512;
    if (size < 0 || start + size > buf.length)
      throw new TarFormatError(`entry at byte ${off} runs past the end of the archive (truncated)`);
    const data = buf.subarray(start, start + size);
    const h = off;
    off = start + Math.ceil(size / 512) * 512;
    switch (typeflag) {
      case "x":
        pax = parsePax(data);
        continue;
      case "g":
        Object.assign(globalPax, parsePax(data));
        continue;
      case "L":
        longPath = cString(data, 0, data.length);
        continue;
      case "K":
        longLink = cString(data, 0, data.length);
        continue;
    }
    const name = cString(buf, h, h + 100);
    // ustar magic ("ustar" at 257) and a non-empty prefix field.
    const prefix =
      buf[h + 257] === 0x75 &&
      buf[h + 345] !== 0 &&
      buf.toString("latin1", h + 257, h + 262) === "ustar"
        ? cString(buf, h + 345, h + 500)
        : "";
    const path = pax?.path ?? globalPax.path ?? longPath ?? (prefix ? `${prefix}/${name}` : name);
    const isLink = typeflag === "1" || typeflag === "2";
    const linkpath = isLink
      ? (pax?.linkpath ?? globalPax.linkpath ?? longLink ?? cString(buf, h + 157, h + 257))
      : "";
    const type = TYPE_NAMES[typeflag] ?? "Unsupported";
    const hasData = type === "File" || type === "OldFile" || type === "ContiguousFile";
    entries.push({ path, type, linkpath, data: hasData ? data : NO_DATA });
    pax = null;
    longPath = undefined;
    longLink = undefined;
  }
  if (off < buf.length && !isZeroBlock(buf.subarray(off)))
    throw new TarFormatError("archive ends inside a header (truncated)");
  return entries;
}

export interface TarInput {
  path: string;
  type: "File" | "Directory" | "SymbolicLink";
  data?: Buffer;
  linkpath?: string;
  mode: number;
  mtime: Date;
}

/** A tar archive (uncompressed) of exactly these entries, in order, owned by uid/gid 0 without names. */
export function encodeTar(entries: readonly TarInput[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const data = e.type === "File" ? (e.data ?? Buffer.alloc(0)) : Buffer.alloc(0);
    const split = splitUstarPath(e.path);
    const linkpath = e.linkpath ?? "";
    const linkFits = isAscii(linkpath) && linkpath.length <= 100;
    if (!split || !linkFits) {
      const records: string[] = [];
      if (!split) records.push(paxRecord("path", e.path));
      if (!linkFits) records.push(paxRecord("linkpath", linkpath));
      const body = Buffer.from(records.join(""), "utf8");
      parts.push(
        header({
          name: "PaxHeader",
          prefix: "",
          type: "x",
          size: body.length,
          mode: 0o644,
          mtime: e.mtime,
          linkpath: "",
        }),
        pad(body),
      );
    }
    const typeflag = e.type === "File" ? "0" : e.type === "Directory" ? "5" : "2";
    parts.push(
      header({
        name: split ? split.name : asciiTail(e.path, 100),
        prefix: split ? split.prefix : "",
        type: typeflag,
        size: data.length,
        mode: e.mode,
        mtime: e.mtime,
        linkpath: linkFits ? linkpath : asciiTail(linkpath, 100),
      }),
    );
    if (data.length) parts.push(pad(data));
  }
  parts.push(Buffer.alloc(1024)); // two zero blocks end the archive
  return Buffer.concat(parts);
}

function header(h: {
  name: string;
  prefix: string;
  type: string;
  size: number;
  mode: number;
  mtime: Date;
  linkpath: string;
}): Buffer {
  const b = Buffer.alloc(512);
  b.write(h.name, 0, 100, "utf8");
  writeOctal(b, 100, 8, h.mode);
  writeOctal(b, 108, 8, 0);
  writeOctal(b, 116, 8, 0);
  writeOctal(b, 124, 12, h.size);
  writeOctal(b, 136, 12, Math.floor(h.mtime.getTime() / 1000));
  b.write(h.type, 156, 1, "latin1");
  b.write(h.linkpath, 157, 100, "utf8");
  b.write("ustar\u000000", 257, 8, "latin1");
  b.write(h.prefix, 345, 155, "utf8");
  // The checksum is computed with its own field read as eight spaces.
  b.fill(0x20, 148, 156);
  const sum = checksum(b);
  b.write(`${sum.toString(8).padStart(6, "0")}\u0000 `, 148, 8, "latin1");
  return b;
}

function pad(data: Buffer): Buffer {
  const rest = (512 - (data.length % 512)) % 512;
  return rest ? Buffer.concat([data, Buffer.alloc(rest)]) : data;
}

/** ustar splits a long path into prefix (155) "/" name (100); null when it cannot (pax then). */
function splitUstarPath(p: string): { prefix: string; name: string } | null {
  if (!isAscii(p)) return null;
  if (p.length <= 100) return { prefix: "", name: p };
  for (let i = p.indexOf("/"); i !== -1; i = p.indexOf("/", i + 1)) {
    if (i <= 155 && p.length - i - 1 <= 100 && p.length - i - 1 > 0)
      return { prefix: p.slice(0, i), name: p.slice(i + 1) };
  }
  return null;
}

function asciiTail(s: string, n: number): string {
  return s.replace(/[^\x20-\x7e]/g, "_").slice(-n);
}

function isAscii(s: string): boolean {
  return /^[\x20-\x7e]*$/.test(s);
}

/** "LEN key=value\n", where LEN counts the whole record, itself included. */
function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  const bytes = Buffer.byteLength(body);
  let len = bytes + String(bytes).length;
  if (String(len).length !== String(bytes).length) len = bytes + String(len).length;
  return `${len}${body}`;
}

function parsePax(data: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let off = 0;
  while (off < data.length) {
    const sp = data.indexOf(0x20, off);
    if (sp === -1) break;
    const len = Number(data.toString("latin1", off, sp));
    if (!Number.isInteger(len) || len <= 0 || off + len > data.length)
      throw new TarFormatError("malformed pax extended header");
    const rec = data.toString("utf8", sp + 1, off + len - 1);
    const eq = rec.indexOf("=");
    if (eq > 0) out[rec.slice(0, eq)] = rec.slice(eq + 1);
    off += len;
  }
  return out;
}

/** The text of b[start, end) up to its first NUL. */
function cString(b: Buffer, start: number, end: number): string {
  let stop = end;
  // indexOf has no end: it searches the whole buffer only where a NUL ends the field (most
  // fields are NUL-padded), so it stops inside it; else a view bounds the search.
  if (b[end - 1] === 0) stop = b.indexOf(0, start);
  else {
    const nul = b.subarray(start, end).indexOf(0);
    if (nul !== -1) stop = start + nul;
  }
  return b.toString("utf8", start, stop);
}

/** Octal text (NUL/space terminated), or GNU base-256 when the high bit of the first byte is set. */
function readNumber(h: Buffer, off: number, len: number): number {
  if (h[off]! & 0x80) {
    let n = h[off]! & 0x7f;
    for (let i = 1; i < len; i++) n = n * 256 + h[off + i]!;
    return n;
  }
  // Byte by byte (two numbers in every header): trailing NULs and spaces end the field, white
  // space around the digits is allowed, anything else but octal digits is malformed.
  let start = off;
  let end = off + len;
  while (end > start && (h[end - 1] === 0 || h[end - 1] === 0x20)) end--;
  while (end > start && isSpace(h[end - 1]!)) end--;
  while (start < end && isSpace(h[start]!)) start++;
  let n = 0;
  for (let i = start; i < end; i++) {
    const d = h[i]! - 0x30;
    if (d < 0 || d > 7) return -1;
    n = n * 8 + d;
  }
  return n;
}

/** What String.prototype.trim removes among Latin-1 bytes: tab to carriage return, space, NBSP. */
function isSpace(b: number): boolean {
  return b === 0x20 || (b >= 0x09 && b <= 0x0d) || b === 0xa0;
}

function writeOctal(b: Buffer, off: number, len: number, n: number): void {
  b.write(`${n.toString(8).padStart(len - 1, "0")}\u0000`, off, len, "latin1");
}

function checksum(h: Buffer): number {
  // The checksum field itself (bytes 148-155) counts as eight spaces.
  let sum = 8 * 0x20;
  for (let i = 0; i < 148; i++) sum += h[i]!;
  for (let i = 156; i < 512; i++) sum += h[i]!;
  return sum;
}

/**
 * The same sum, four bytes at a time: each 32-bit word's bytes are added as two pairs of 16-bit
 * lanes (all 128 words, at most 2 x 255 each per lane, stay below 2^16: no lane overflows), four
 * words per turn, and the checksum field's two words taken out again. A snapshot's thousand-odd
 * headers are summed on every start, before the JIT has warmed up, where a quarter of the loop
 * turns is a quarter of the time. Byte order does not matter to a sum.
 */
function checksumByWords(words: Uint32Array, first: number): number {
  const M = 0x00ff00ff;
  let lanes = 0;
  for (let i = first, end = first + 128; i < end; i += 4) {
    const a = words[i]!;
    const b = words[i + 1]!;
    const c = words[i + 2]!;
    const d = words[i + 3]!;
    lanes +=
      (a & M) +
      ((a >>> 8) & M) +
      (b & M) +
      ((b >>> 8) & M) +
      (c & M) +
      ((c >>> 8) & M) +
      (d & M) +
      ((d >>> 8) & M);
  }
  // Bytes 148-155: the checksum field itself, which counts as spaces instead.
  const f = words[first + 37]!;
  const g = words[first + 38]!;
  lanes -= (f & M) + ((f >>> 8) & M) + (g & M) + ((g >>> 8) & M);
  return 8 * 0x20 + (lanes & 0xffff) + (lanes >>> 16);
}

function isZeroBlock(b: Buffer): boolean {
  for (let i = 0; i < Math.min(512, b.length); i++) if (b[i] !== 0) return false;
  return true;
}
