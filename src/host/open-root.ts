// Opening what the user pointed at: nothing (the live host), a snapshot folder, or a
// snapshot .tar.gz (read in place, in memory: archive-root.ts). An archive entry that would
// land outside the snapshot is refused with an error, not skipped.

import * as fs from "node:fs";
import * as path from "node:path";
import { InputError, describeFsError, errorMessage } from "../errors.js";
import { fileTypeName, readInputText } from "../input-file.js";
import { ArchiveRoot } from "./archive-root.js";
import { DirectoryRoot, type HostRoot } from "./root.js";

export interface SnapshotManifest {
  tool?: string;
  version?: string;
  capturedAt?: string;
  hostname?: string;
  redacted?: string[];
  tools?: string[];
  notes?: string[];
  /** Files and folders the capture could not read (permission denied, timed out). */
  skipped?: Array<{ path: string; reason: string }>;
}

export interface OpenedRoot {
  root: HostRoot;
  manifest: SnapshotManifest | null;
}

export function openLiveRoot(): OpenedRoot {
  return { root: new DirectoryRoot("/", { kind: "live" }), manifest: null };
}

/** `--root DIR` when given, else the live host (commands that change a host take no snapshot). */
export function openLiveOrTree(rootDir: string | undefined): OpenedRoot {
  return rootDir !== undefined ? openRootTree(rootDir) : openLiveRoot();
}

export function openHostRoot(snapshot: string | undefined): OpenedRoot {
  if (snapshot === undefined) return openLiveRoot();
  return openSnapshot(snapshot);
}

export function openSnapshot(snapshotPath: string): OpenedRoot {
  let st: fs.Stats;
  try {
    st = fs.statSync(snapshotPath);
  } catch (err) {
    throw new InputError(
      `snapshot ${snapshotPath}: ${describeFsError(err)}; give a snapshot folder or .tar.gz made by \`passthrough snapshot\``,
    );
  }
  if (!st.isDirectory() && !st.isFile()) {
    // Opening a FIFO would wait for a writer forever; a device would be read without end.
    throw new InputError(
      `snapshot ${snapshotPath} is ${fileTypeName(st)}, not a snapshot; give a snapshot folder or .tar.gz made by \`passthrough snapshot\``,
    );
  }
  if (!st.isDirectory()) {
    assertGzip(snapshotPath);
    const archive = ArchiveRoot.load(snapshotPath);
    const m = archive.readText("manifest.json");
    const manifest = m.ok ? parseManifest(m.value, snapshotPath) : null;
    return { root: archive.withTools(manifest?.tools ?? []), manifest };
  }
  const dir = findSnapshotTop(snapshotPath);
  const mp = path.join(dir, "manifest.json");
  const manifest = fs.existsSync(mp) ? parseManifest(readManifestFile(mp), snapshotPath) : null;
  const root = new DirectoryRoot(dir, {
    kind: "snapshot",
    label: snapshotPath,
    tools: manifest?.tools,
  });
  return { root, manifest };
}

/**
 * `--root DIR`: a host's tree (a mounted image, a chroot) read like a snapshot folder, never
 * with the live command runner; `/` is the live host itself.
 */
export function openRootTree(rootDir: string): OpenedRoot {
  const dir = path.resolve(rootDir);
  let st: fs.Stats;
  try {
    st = fs.statSync(dir);
  } catch (err) {
    throw new InputError(
      `--root ${rootDir}: ${describeFsError(err)}; give the folder that holds the host's etc/, sys/ and proc/`,
    );
  }
  if (!st.isDirectory())
    throw new InputError(`--root ${rootDir} is not a folder; for a .tar.gz use --snapshot`);
  if (dir === "/") return openLiveRoot();
  const mp = path.join(dir, "manifest.json");
  let manifest: SnapshotManifest | null = null;
  if (fs.existsSync(mp)) {
    try {
      manifest = parseManifest(readManifestFile(mp), rootDir);
    } catch {
      manifest = null; // a tree is not a snapshot: a broken manifest is not its problem
    }
  }
  return {
    root: new DirectoryRoot(dir, { kind: "snapshot", label: rootDir, tools: manifest?.tools }),
    manifest,
  };
}

/** A folder snapshot's manifest.json: a regular file of reasonable size, never a FIFO. */
function readManifestFile(file: string): string {
  return readInputText(file, { what: "snapshot manifest", maxBytes: 1024 * 1024 });
}

function assertGzip(file: string): void {
  const head = Buffer.alloc(2);
  try {
    const fd = fs.openSync(file, "r");
    fs.readSync(fd, head, 0, 2, 0);
    fs.closeSync(fd);
  } catch (err) {
    throw new InputError(`snapshot ${file}: ${describeFsError(err)}`);
  }
  if (head[0] !== 0x1f || head[1] !== 0x8b) {
    throw new InputError(
      `snapshot ${file} is not a gzip file; give a snapshot folder or a .tar.gz made by \`passthrough snapshot\``,
    );
  }
}

/** A tarball of a folder holds one top folder; a snapshot may also be rooted directly. */
function findSnapshotTop(dir: string): string {
  const markers = ["sys", "proc", "etc", "cmd", "manifest.json"];
  let entries: string[];
  try {
    entries = fs.readdirSync(dir);
  } catch (err) {
    throw new InputError(`snapshot ${dir}: ${describeFsError(err)}`);
  }
  if (entries.some((e) => markers.includes(e))) return dir;
  if (entries.length === 1) {
    const only = path.join(dir, entries[0]!);
    if (fs.statSync(only).isDirectory()) {
      const inner = fs.readdirSync(only);
      if (inner.some((e) => markers.includes(e))) return only;
    }
  }
  throw new InputError(
    `snapshot ${dir} has no sys/, proc/ or etc/ folder; it does not look like a host snapshot`,
  );
}

function parseManifest(text: string, label: string): SnapshotManifest {
  try {
    const m = JSON.parse(text) as unknown;
    if (typeof m !== "object" || m === null || Array.isArray(m)) throw new Error("not an object");
    return m as SnapshotManifest;
  } catch (err) {
    throw new InputError(
      `snapshot ${label}: manifest.json is not valid JSON (${oneLine(errorMessage(err))}); remove it or capture again`,
    );
  }
}

function oneLine(s: string): string {
  return s.split("\n")[0]!.trim();
}
