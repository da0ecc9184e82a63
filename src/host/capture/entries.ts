// A snapshot held in memory: root-relative path -> file bytes, folder, or link text.
// Capture fills one, redaction rewrites one, and the archive writer turns one into a .tar.gz.

export type SnapshotEntry =
  { type: "file"; data: Buffer } | { type: "dir" } | { type: "link"; target: string };

export class SnapshotEntries {
  private readonly map = new Map<string, SnapshotEntry>();

  /** Add a folder and every folder above it. */
  dir(rel: string): void {
    const parts = rel.split("/").filter(Boolean);
    for (let i = 1; i <= parts.length; i++) {
      const p = parts.slice(0, i).join("/");
      if (!this.map.has(p)) this.map.set(p, { type: "dir" });
    }
  }

  file(rel: string, data: Buffer | string): void {
    this.parent(rel);
    this.map.set(rel, { type: "file", data: typeof data === "string" ? Buffer.from(data) : data });
  }

  link(rel: string, target: string): void {
    this.parent(rel);
    this.map.set(rel, { type: "link", target });
  }

  get(rel: string): SnapshotEntry | undefined {
    return this.map.get(rel);
  }

  has(rel: string): boolean {
    return this.map.has(rel);
  }

  delete(rel: string): void {
    this.map.delete(rel);
  }

  text(rel: string): string | null {
    const e = this.map.get(rel);
    return e?.type === "file" ? e.data.toString("utf8") : null;
  }

  get size(): number {
    return this.map.size;
  }

  /** Sorted: every folder comes before what it contains. */
  paths(): string[] {
    return [...this.map.keys()].sort();
  }

  [Symbol.iterator](): IterableIterator<[string, SnapshotEntry]> {
    return this.map.entries();
  }

  private parent(rel: string): void {
    const i = rel.lastIndexOf("/");
    if (i > 0) this.dir(rel.slice(0, i));
  }
}
