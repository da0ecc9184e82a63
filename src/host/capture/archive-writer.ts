// An in-memory snapshot as a .tar.gz: one top folder, entries sorted (folders before their
// contents), no owner names, one modification time. Built in memory (tar-format.ts: ustar,
// plus a pax record when a path or link text is longer than ustar holds, as deep sysfs paths
// are), so capture never stages files anywhere on disk. The command writes the result with
// apply's FileWriter (temporary file beside the target, fsync, rename), so an interrupted
// capture never leaves a half-written archive under the user's name.

import { encodeTar, zlib, type TarInput } from "../tar-format.js";
import type { SnapshotEntries } from "./entries.js";

export function encodeSnapshotArchive(
  entries: SnapshotEntries,
  topFolder: string,
  mtime: Date,
): Buffer {
  const items: TarInput[] = [{ path: `${topFolder}/`, type: "Directory", mode: 0o755, mtime }];
  for (const rel of entries.paths()) {
    const e = entries.get(rel)!;
    const p = `${topFolder}/${rel}`;
    if (e.type === "dir") items.push({ path: `${p}/`, type: "Directory", mode: 0o755, mtime });
    else if (e.type === "link")
      items.push({ path: p, type: "SymbolicLink", linkpath: e.target, mode: 0o777, mtime });
    else items.push({ path: p, type: "File", data: e.data, mode: 0o644, mtime });
  }
  return zlib().gzipSync(encodeTar(items), { level: 9 });
}
