// An in-memory snapshot as a .tar.gz: one top folder, entries sorted (folders before their
// contents), no owner names, one modification time. Built in memory with node-tar's own
// header encoders (ustar, plus a PAX record when a path or link text is longer than ustar
// holds: deep sysfs paths are), so capture never stages files anywhere on disk. The file is
// written with write-file-atomic: a temporary file beside the target, fsync, rename, so an
// interrupted capture never leaves a half-written archive under the user's name.

import * as zlib from "node:zlib";
import { Header, Pax } from "tar";
import writeFileAtomic from "write-file-atomic";
import type { SnapshotEntries } from "./entries.js";

const BLOCK = 512;

export function encodeSnapshotArchive(entries: SnapshotEntries, topFolder: string, mtime: Date): Buffer {
  const parts: Buffer[] = [];
  const add = (rel: string, type: "Directory" | "File" | "SymbolicLink", data: Buffer | null, linkpath?: string) => {
    const p = rel === "" ? `${topFolder}/` : `${topFolder}/${rel}${type === "Directory" ? "/" : ""}`;
    const fields = {
      path: p,
      mode: type === "Directory" ? 0o755 : type === "SymbolicLink" ? 0o777 : 0o644,
      uid: 0,
      gid: 0,
      size: data?.length ?? 0,
      mtime,
      type,
      linkpath: linkpath ?? "",
      uname: "",
      gname: "",
    };
    const block = Buffer.alloc(BLOCK);
    const needPax = new Header(fields).encode(block);
    if (needPax) parts.push(new Pax({ path: p, linkpath: linkpath || undefined, mtime }).encode());
    parts.push(block);
    if (data && data.length) {
      parts.push(data);
      const pad = (BLOCK - (data.length % BLOCK)) % BLOCK;
      if (pad) parts.push(Buffer.alloc(pad));
    }
  };
  add("", "Directory", null);
  for (const rel of entries.paths()) {
    const e = entries.get(rel)!;
    if (e.type === "dir") add(rel, "Directory", null);
    else if (e.type === "link") add(rel, "SymbolicLink", null, e.target);
    else add(rel, "File", e.data);
  }
  parts.push(Buffer.alloc(BLOCK * 2)); // end-of-archive marker
  return zlib.gzipSync(Buffer.concat(parts), { level: 9 });
}

/** Write atomically; the file is readable by its owner only (a snapshot describes the machine). */
export function writeArchiveFile(outFile: string, data: Buffer): void {
  writeFileAtomic.sync(outFile, data, { mode: 0o600, fsync: true });
}
