// A snapshot .tar.gz read in place: every entry is held in memory (a host snapshot is a few
// hundred KB) and links are resolved by walking the archive's own tree. Nothing is written
// to disk, and nothing outside the archive can be reached: a link whose target leaves the
// archive (absolute, or too many "..") resolves to nothing, as docs/snapshot-format.md requires.

import { readInputFile } from "../input-file.js";
import * as path from "node:path";
import { InputError, errorMessage } from "../errors.js";
import type { CapturedCommand } from "./commands.js";
import { normalizeRel, type HostRoot, type ReadResult } from "./root.js";
import type { SnapshotEntries } from "./capture/entries.js";
import { gunzipTar, MAX_UNPACKED_BYTES, type TarEntry } from "./tar-format.js";
import { decodeHostText } from "../formats/host-text.js";

type Node =
  | { type: "file"; data: Buffer }
  | { type: "dir"; children: Set<string> }
  | { type: "link"; target: string };

const MAX_LINK_HOPS = 40;

export class ArchiveRoot implements HostRoot {
  readonly kind = "snapshot" as const;
  readonly dir: string;
  private readonly nodes = new Map<string, Node>([["", { type: "dir", children: new Set() }]]);
  private readonly tools: Set<string>;

  private constructor(
    readonly label: string,
    tools: readonly string[] = [],
  ) {
    this.dir = label;
    this.tools = new Set(tools);
  }

  /** Read an archive; entries are re-rooted below its single top folder when it has one. */
  static load(file: string, label = file): ArchiveRoot {
    const raw = new Map<string, Node>();
    const refused: string[] = [];
    let entries: TarEntry[];
    // The compressed file is bounded too: gzip cannot shrink a snapshot below ~1/1000 of itself.
    const gz = readInputFile(file, { what: "snapshot", maxBytes: MAX_UNPACKED_BYTES });
    try {
      entries = gunzipTar(gz);
    } catch (err) {
      throw new InputError(
        `snapshot ${label} is not a valid .tar.gz (${errorMessage(err).split("\n")[0]}); capture it again with \`passthrough snapshot\``,
      );
    }
    for (const e of entries) {
      const p = e.path.endsWith("/") ? e.path.replace(/\/+$/, "") : e.path;
      const problem = archiveEntryProblem(e.path, e);
      if (problem) {
        refused.push(problem);
        continue;
      }
      if (e.type === "Directory") raw.set(p, { type: "dir", children: new Set() });
      else if (e.type === "SymbolicLink") raw.set(p, { type: "link", target: e.linkpath });
      else if (e.type === "Link") {
        // A hard link shares the bytes of an earlier entry.
        const src = raw.get(e.linkpath.replace(/\/+$/, ""));
        if (src?.type === "file") raw.set(p, src);
      } else raw.set(p, { type: "file", data: e.data });
    }
    if (refused.length > 0) {
      throw new InputError(
        `snapshot ${label} refused: ${refused[0]}${refused.length > 1 ? ` (and ${refused.length - 1} more)` : ""}`,
      );
    }
    const prefix = topFolderPrefix(raw);
    if (prefix === null)
      throw new InputError(
        `snapshot ${label} has no sys/, proc/ or etc/ folder; it does not look like a host snapshot`,
      );
    const root = new ArchiveRoot(label);
    for (const [p, node] of raw) {
      if (prefix && !p.startsWith(prefix)) continue;
      const rel = prefix ? p.slice(prefix.length) : p;
      if (rel === "" || rel === ".") continue;
      root.add(rel.startsWith("./") ? rel.slice(2) : rel, node);
    }
    return root;
  }

  /** A snapshot held in memory (capture's entries, e.g. after redaction) read like an archive. */
  static fromEntries(
    entries: SnapshotEntries,
    label: string,
    tools: readonly string[],
  ): ArchiveRoot {
    const root = new ArchiveRoot(label, tools);
    for (const rel of entries.paths()) {
      const e = entries.get(rel)!;
      if (e.type === "dir") root.add(rel, { type: "dir", children: new Set() });
      else if (e.type === "link") root.add(rel, { type: "link", target: e.target });
      else root.add(rel, { type: "file", data: e.data });
    }
    return root;
  }

  /** Tools recorded in the manifest count as installed. */
  withTools(tools: readonly string[]): this {
    for (const t of tools) this.tools.add(t);
    return this;
  }

  private add(rel: string, node: Node): void {
    const slash = rel.lastIndexOf("/");
    const parentPath = slash === -1 ? "" : rel.slice(0, slash);
    const known = this.nodes.get(parentPath);
    if (known?.type === "dir") {
      // The usual case (archives list folders before their contents): no walk from the top.
      const existing = this.nodes.get(rel);
      if (existing?.type === "dir" && node.type === "dir") return;
      this.nodes.set(rel, node);
      known.children.add(rel.slice(slash + 1));
      return;
    }
    const parts = rel.split("/");
    let cur = "";
    for (let i = 0; i < parts.length - 1; i++) {
      const next = cur ? `${cur}/${parts[i]}` : parts[i]!;
      if (!this.nodes.has(next)) {
        this.nodes.set(next, { type: "dir", children: new Set() });
        (this.nodes.get(cur) as { children: Set<string> } | undefined)?.children?.add(parts[i]!);
      }
      cur = next;
    }
    const existing = this.nodes.get(rel);
    if (existing?.type === "dir" && node.type === "dir") return;
    this.nodes.set(rel, node);
    const parent = this.nodes.get(cur);
    if (parent?.type === "dir") parent.children.add(parts[parts.length - 1]!);
  }

  /**
   * Resolve a path, following links in every component (and the last one when
   * `followLast`). Returns the canonical in-archive path, or null when absent/escaping.
   */
  private walk(rel: string, followLast: boolean, hops = { n: 0 }): string | null {
    const n = normalizeRel(rel);
    if (n === null) return null;
    if (n === "") return "";
    const parts = n.split("/");
    let cur = "";
    for (let i = 0; i < parts.length; i++) {
      const candidate = cur ? `${cur}/${parts[i]}` : parts[i]!;
      const node = this.nodes.get(candidate);
      if (!node) return null;
      const last = i === parts.length - 1;
      if (node.type === "link" && (!last || followLast)) {
        if (++hops.n > MAX_LINK_HOPS) return null;
        if (node.target.startsWith("/")) return null; // absolute: points outside the snapshot
        const joined = path.posix.join(cur, node.target);
        if (joined === ".." || joined.startsWith("../")) return null;
        const resolved = this.walk(joined, true, hops);
        if (resolved === null) return null;
        cur = resolved;
      } else {
        cur = candidate;
      }
    }
    return cur;
  }

  readText(rel: string): ReadResult<string> {
    const r = this.readBytes(rel);
    return r.ok ? { ok: true, value: decodeHostText(r.value) } : r;
  }

  readBytes(rel: string, maxBytes?: number): ReadResult<Buffer> {
    const p = this.walk(rel, true);
    const node = p === null ? undefined : this.nodes.get(p);
    if (!node) return { ok: false, reason: `${rel}: does not exist` };
    if (node.type !== "file") return { ok: false, reason: `${rel}: is a folder, not a file` };
    return {
      ok: true,
      value: maxBytes === undefined ? node.data : node.data.subarray(0, maxBytes),
    };
  }

  readLink(rel: string): string | null {
    const p = this.walk(rel, false);
    const node = p === null ? undefined : this.nodes.get(p);
    return node?.type === "link" ? node.target : null;
  }

  resolve(rel: string): string | null {
    const p = this.walk(rel, true);
    return p !== null && this.nodes.has(p) ? p : null;
  }

  /** An archive has no permissions: every folder it holds can be listed. */
  listProblems(): readonly { field: string; reason: string }[] {
    return [];
  }

  list(rel: string): string[] | null {
    const p = this.walk(rel, true);
    const node = p === null ? undefined : this.nodes.get(p);
    return node?.type === "dir" ? [...node.children].sort() : null;
  }

  exists(rel: string): boolean {
    return this.walk(rel, false) !== null;
  }

  isDir(rel: string): boolean {
    const p = this.walk(rel, true);
    return p !== null && this.nodes.get(p)?.type === "dir";
  }

  isLink(rel: string): boolean {
    const p = this.walk(rel, false);
    return p !== null && this.nodes.get(p)?.type === "link";
  }

  command(name: CapturedCommand): ReadResult<string> {
    const r = this.readText(`cmd/${name}`);
    return r.ok ? r : { ok: false, reason: `cmd/${name} is not in the snapshot` };
  }

  hasTool(name: string): boolean {
    if (this.tools.has(name)) return true;
    return ["usr/sbin", "usr/bin", "sbin", "bin", "usr/local/sbin", "usr/local/bin"].some((d) =>
      this.exists(`${d}/${name}`),
    );
  }
}

const SNAPSHOT_TOP = new Set(["sys", "proc", "etc", "cmd", "manifest.json"]);

/**
 * "" when snapshot folders sit at the top; "top/" when every entry sits below one folder that
 * holds them; null when neither. One pass over the paths with indexOf (a snapshot has a
 * thousand entries or more, and this runs on every start).
 */
function topFolderPrefix(raw: Map<string, Node>): string | null {
  const firsts = new Set<string>();
  let snapshotBelow = false;
  for (const k of raw.keys()) {
    const key = k.startsWith("./") ? k.slice(2) : k;
    const slash = key.indexOf("/");
    const first = slash === -1 ? key : key.slice(0, slash);
    if (SNAPSHOT_TOP.has(first)) return "";
    if (first !== "" && first !== ".") firsts.add(first);
    if (slash !== -1 && !snapshotBelow) {
      const end = key.indexOf("/", slash + 1);
      snapshotBelow = SNAPSHOT_TOP.has(key.slice(slash + 1, end === -1 ? undefined : end));
    }
  }
  return firsts.size === 1 && snapshotBelow ? `${[...firsts][0]!}/` : null;
}

/** Why an archive entry is unsafe to read, or null when it is fine. */
export function archiveEntryProblem(
  p: string,
  entry: { type: string; linkpath?: string },
): string | null {
  if (p.startsWith("/") || /^[A-Za-z]:/.test(p)) return `entry ${p} has an absolute path`;
  if (p.includes("..") && p.split("/").includes(".."))
    return `entry ${p} climbs out of the snapshot with ".."`;
  switch (entry.type) {
    case "File":
    case "OldFile":
    case "ContiguousFile":
    case "Directory":
      return null;
    case "SymbolicLink":
      // Link targets are kept as they are; reads resolve them inside the archive and
      // treat a target outside it as absent (docs/snapshot-format.md, "Rules").
      return null;
    case "Link": {
      const lp = entry.linkpath ?? "";
      if (lp.startsWith("/") || lp.split("/").includes(".."))
        return `hard link ${p} points outside the snapshot (${lp})`;
      return null;
    }
    default:
      return `entry ${p} is a ${entry.type}, which a snapshot never contains`;
  }
}
