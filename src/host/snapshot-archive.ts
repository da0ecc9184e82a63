// Writing a snapshot folder as a .tar.gz: one top folder, entries in sorted order, fixed
// modification times and no owner names, so the same tree always gives the same archive.
// Written to a temporary file beside the target and renamed into place, so a failed or
// interrupted capture never leaves a half-written archive under the user's name.

import * as fs from "node:fs";
import * as path from "node:path";
import * as tar from "tar";

/** Every path below `dir` (folders before their contents), sorted, relative to `dir`. */
export function listTree(dir: string): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    const names = fs.readdirSync(path.join(dir, rel)).sort();
    for (const n of names) {
      const r = rel ? `${rel}/${n}` : n;
      out.push(r);
      const st = fs.lstatSync(path.join(dir, r));
      if (st.isDirectory()) walk(r);
    }
  };
  walk("");
  return out;
}

export function writeSnapshotArchive(dir: string, outFile: string, topFolder: string, mtime = new Date("2026-01-01T00:00:00Z")): void {
  // Stage the top folder name by archiving from a parent that holds a link to `dir`.
  const parent = fs.mkdtempSync(path.join(path.dirname(path.resolve(outFile)), ".passthrough-archive-"));
  const tmp = path.join(path.dirname(path.resolve(outFile)), `.${path.basename(outFile)}.tmp-${process.pid}`);
  try {
    fs.renameSync(dir, path.join(parent, topFolder));
    try {
      const entries = [topFolder, ...listTree(path.join(parent, topFolder)).map((p) => `${topFolder}/${p}`)];
      tar.c({ file: tmp, cwd: parent, gzip: { level: 9 }, portable: true, mtime, noDirRecurse: true, sync: true }, entries);
      const fd = fs.openSync(tmp, "r");
      fs.fsyncSync(fd);
      fs.closeSync(fd);
      fs.renameSync(tmp, outFile);
    } finally {
      fs.renameSync(path.join(parent, topFolder), dir);
    }
  } finally {
    fs.rmSync(parent, { recursive: true, force: true });
    fs.rmSync(tmp, { force: true });
  }
}
