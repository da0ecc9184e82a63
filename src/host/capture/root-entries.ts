// A snapshot that is already on disk (a folder or a .tar.gz, opened as a HostRoot) as the
// in-memory entries capture makes, so `report --redact` can run the snapshot redaction
// (redact.ts) over it exactly as `snapshot --redact` does over a fresh capture.

import type { HostRoot } from "../root.js";
import { SnapshotEntries } from "./entries.js";

/** The most read of one file; discovery never needs more (host/root.ts reads are bounded too). */
const MAX_FILE_BYTES = 64 * 1024 * 1024;

/** Every folder, link and file of the root, links kept as links (their raw target). */
export function entriesOfRoot(root: HostRoot): SnapshotEntries {
  const out = new SnapshotEntries();
  const walk = (dir: string) => {
    for (const name of root.list(dir) ?? []) {
      const rel = dir ? `${dir}/${name}` : name;
      const target = root.isLink(rel) ? root.readLink(rel) : null;
      if (target !== null) {
        out.link(rel, target);
        continue;
      }
      if (root.isDir(rel)) {
        out.dir(rel);
        walk(rel);
        continue;
      }
      const r = root.readBytes(rel, MAX_FILE_BYTES);
      if (r.ok) out.file(rel, r.value);
    }
  };
  walk("");
  return out;
}
