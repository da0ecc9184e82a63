// Reading and crafting .tar.gz files in tests, entry by entry.
import * as zlib from "node:zlib";
import * as fs from "node:fs";
import * as tar from "tar";

export interface RawEntry {
  path: string;
  type: "File" | "Directory" | "SymbolicLink" | "Link";
  data?: Buffer | string;
  linkpath?: string;
}

/** Every entry of an archive, as stored (paths include the top folder). */
export function readArchive(
  file: string,
): Array<{ path: string; type: string; linkpath: string; data: Buffer }> {
  const out: Array<{ path: string; type: string; linkpath: string; data: Buffer }> = [];
  tar.t({
    file,
    sync: true,
    onReadEntry: (e: tar.ReadEntry) => {
      const chunks: Buffer[] = [];
      const item = {
        path: e.path,
        type: e.type,
        linkpath: e.linkpath ?? "",
        data: Buffer.alloc(0),
      };
      out.push(item);
      e.on("data", (c: Buffer) => chunks.push(c));
      e.on("end", () => (item.data = Buffer.concat(chunks)));
    },
  });
  return out;
}

/** Write a .tar.gz with exactly these entries: no path checks, so tests can craft hostile archives. */
export function writeRawArchive(file: string, entries: RawEntry[]): void {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const data = e.data === undefined ? Buffer.alloc(0) : Buffer.from(e.data);
    const block = Buffer.alloc(512);
    const h = new tar.Header({
      path: e.path,
      mode: e.type === "Directory" ? 0o755 : 0o644,
      size: e.type === "File" ? data.length : 0,
      type: e.type,
      linkpath: e.linkpath ?? "",
      mtime: new Date(0),
      uid: 0,
      gid: 0,
      uname: "",
      gname: "",
    });
    if (h.encode(block)) parts.push(new tar.Pax({ path: e.path, linkpath: e.linkpath }).encode());
    parts.push(block);
    if (e.type === "File" && data.length)
      parts.push(data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  parts.push(Buffer.alloc(1024));
  fs.writeFileSync(file, zlib.gzipSync(Buffer.concat(parts)));
}
