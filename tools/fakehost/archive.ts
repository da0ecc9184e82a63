// Fixture hosts as snapshot archives: a folder written by write-tree.ts is read into memory
// and encoded with the same archive writer `passthrough snapshot` uses, so fixtures and real
// captures are the same format byte for byte (one top folder, sorted entries, fixed mtime).

import * as fs from "node:fs";
import * as path from "node:path";
import { encodeSnapshotArchive } from "../../src/host/capture/archive-writer.js";
import { SnapshotEntries } from "../../src/host/capture/entries.js";

/** Every path below `dir` (folders before their contents), sorted, relative to `dir`. */
export function listTree(dir: string): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    for (const n of fs.readdirSync(path.join(dir, rel)).sort()) {
      const r = rel ? `${rel}/${n}` : n;
      out.push(r);
      if (fs.lstatSync(path.join(dir, r)).isDirectory()) walk(r);
    }
  };
  walk("");
  return out;
}

export function folderEntries(dir: string): SnapshotEntries {
  const entries = new SnapshotEntries();
  for (const rel of listTree(dir)) {
    const abs = path.join(dir, rel);
    const st = fs.lstatSync(abs);
    if (st.isSymbolicLink()) entries.link(rel, fs.readlinkSync(abs));
    else if (st.isDirectory()) entries.dir(rel);
    else if (st.isFile()) entries.file(rel, fs.readFileSync(abs));
  }
  return entries;
}

/** Write `dir` as `outFile` (a .tar.gz with one top folder), atomically. */
export function writeSnapshotArchive(
  dir: string,
  outFile: string,
  topFolder: string,
  mtime = new Date("2026-01-01T00:00:00Z"),
): void {
  const bytes = encodeSnapshotArchive(folderEntries(dir), topFolder, mtime);
  const tmp = `${outFile}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, bytes);
  fs.renameSync(tmp, outFile);
}
