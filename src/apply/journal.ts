// The journal: everything needed to undo one `apply`, written *before* the change it
// describes, so that a crash, a kill or a power cut at any point leaves enough on disk for
// `rollback`. Format (README "Journal"; version 1):
//
//   /var/lib/passthrough/journal/<id>/      (<root>/var/lib/... with --root)
//     meta.json        id, time, tool version, root, how commands ran
//     plan.json        the plan exactly as confirmed (src/plan/types.ts)
//     before/NNN.json  step NNN's file before it was touched: path, existed, mode, uid, gid,
//                      size, sha256, folders the write creates
//     before/NNN.bytes its exact bytes (absent when the file did not exist)
//     steps.log        one JSON object per line, each flushed before the next action:
//                      start (before a step), command (argv, exit code, output), done,
//                      read-back (`ct configure`: the container config after), failed, end
//     rollback.log     the same for `rollback` of this journal
//     displaced/       files `rollback --force` overwrote (what someone else had written)
//
// The folder is assembled as `.<id>.partial` and renamed into place once every before-image
// is flushed: a journal folder either exists complete, or not at all (and then nothing on
// the host was changed yet).

import type * as Crypto from "node:crypto";
import * as os from "node:os";
import { InputError, errorMessage } from "../errors.js";
import { quoteInput } from "../formats/device-selection.js";
import type { HostRoot } from "../host/root.js";
import type { Plan } from "../plan/types.js";
import { errnoOf, type FileState, type FileWriter } from "./file-writer.js";

export const JOURNAL_ROOT = "/var/lib/passthrough/journal";
export const JOURNAL_FORMAT = 1;

export interface JournalMeta {
  format: number;
  id: string;
  createdAt: string;
  tool: string;
  version: string;
  /** "/" for the live host, else the --root folder. */
  root: string;
  /** How commands were run: "this host", "chroot DIR", "listed, not run ...". */
  commands: string;
  hostname: string | null;
  pid: number;
  /**
   * When the host (or --root tree) last booted, as apply saw it (/proc/stat btime): applies
   * made in one boot form a chain that `rollback` undoes together. Absent in older journals.
   */
  bootedAt?: string | null;
}

export interface BeforeRecord {
  step: number;
  path: string;
  existed: boolean;
  mode: number | null;
  uid: number | null;
  gid: number | null;
  size: number | null;
  sha256: string | null;
  /** Folders (host paths, outermost first) that did not exist and the write creates. */
  createdDirs: string[];
}

export interface BeforeImage extends BeforeRecord {
  bytes: Buffer | null;
}

interface CommandFields {
  argv: string[];
  ran: boolean;
  exitCode: number | null;
  signal: string | null;
  error: string | null;
  durationMs: number;
  stdout: string;
  stderr: string;
}

export type StepEvent =
  | { at: string; event: "start"; step: number; kind: "file" | "command" | "reboot"; what: string }
  | ({ at: string; event: "command"; step: number } & CommandFields)
  | { at: string; event: "done"; step: number; result: string }
  /** `ct configure`: the container config as read back after its step (plan.container). */
  | { at: string; event: "read-back"; step: number; path: string; digest: string; text: string }
  | { at: string; event: "failed"; step: number; error: string }
  | { at: string; event: "end"; status: "ok" | "failed" };

export type RollbackEvent =
  | { at: string; event: "start"; force: boolean; commands: string }
  | {
      at: string;
      event: "file";
      path: string;
      action: "restored" | "removed" | "unchanged" | "overwritten" | "temp-removed" | "dir-removed";
      displaced?: string;
    }
  | ({ at: string; event: "command" } & CommandFields)
  | { at: string; event: "end"; status: "ok" | "failed"; error?: string };

export interface LoadedJournal {
  id: string;
  /** Host path of the folder. */
  dir: string;
  meta: JournalMeta;
  plan: Plan;
  before: BeforeImage[];
  events: StepEvent[];
  rollbackEvents: RollbackEvent[];
  /** The last line of a log was cut short (a kill while appending): ignored. */
  tornTail: boolean;
}

/** Reading journals: from the apply root (FileWriter) or from a host/snapshot root (verify). */
export interface JournalSource {
  list(hostDir: string): string[] | null;
  read(hostPath: string): Buffer | null;
  /** For messages: the folder on this machine. */
  where(hostPath: string): string;
}

export function writerSource(writer: FileWriter): JournalSource {
  return {
    list: (d) => writer.list(d),
    read: (p) => {
      try {
        return writer.fsl.readFileSync(writer.resolve(p));
      } catch (err) {
        if (errnoOf(err) === "ENOENT" || errnoOf(err) === "ENOTDIR") return null;
        throw err;
      }
    },
    where: (p) => writer.resolve(p),
  };
}

export function hostRootSource(root: HostRoot): JournalSource {
  return {
    list: (d) => root.list(d.replace(/^\//, "")),
    read: (p) => {
      const r = root.readBytes(p.replace(/^\//, ""));
      if (r.ok) return r.value;
      if (/permission denied/.test(r.reason))
        throw Object.assign(new Error(r.reason), { code: "EACCES" });
      return null;
    },
    where: (p) => (root.kind === "live" ? p : `${root.label}:${p}`),
  };
}

export function sha256(b: Buffer): string {
  // node:crypto on first use: only journals hash, and loading it is start-up time otherwise.
  return (require("node:crypto") as typeof Crypto).createHash("sha256").update(b).digest("hex");
}

const pad = (n: number) => String(n).padStart(3, "0");

/** Sortable by time, unique enough for one host: "20250301-142233-9f3a". */
export function newJournalId(now: Date): string {
  const iso = now.toISOString(); // 2025-03-01T14:22:33.123Z
  const stamp = `${iso.slice(0, 10).replace(/-/g, "")}-${iso.slice(11, 19).replace(/:/g, "")}`;
  return `${stamp}-${Math.random().toString(16).slice(2, 6).padEnd(4, "0")}`;
}

export const ID_PATTERN = /^\d{8}-\d{6}-[0-9a-f]{4}$/;

export interface FileSnapshot {
  step: number;
  path: string;
  state: FileState;
  createdDirs: string[];
}

/** An open journal that a run appends to. */
export class JournalWriter {
  constructor(
    readonly writer: FileWriter,
    readonly id: string,
    private readonly now: () => Date,
  ) {}

  get dir(): string {
    return `${JOURNAL_ROOT}/${this.id}`;
  }

  /** Flushed before returning: the next action may be killed, this line survives. */
  step(e: DistributiveOmit<StepEvent, "at">): void {
    this.writer.appendLine(
      `${this.dir}/steps.log`,
      JSON.stringify({ at: this.now().toISOString(), ...e }),
    );
  }

  rollback(e: DistributiveOmit<RollbackEvent, "at">): void {
    this.writer.appendLine(
      `${this.dir}/rollback.log`,
      JSON.stringify({ at: this.now().toISOString(), ...e }),
    );
  }

  /** Keep what `rollback --force` is about to overwrite; returns the journal-relative name. */
  displace(path: string, bytes: Buffer): string {
    const name = `displaced/${Date.now()}-${path.replace(/^\//, "").replace(/\//g, "_")}`;
    this.writer.write(`${this.dir}/${name}`, bytes, { mode: 0o600 });
    return name;
  }
}

type DistributiveOmit<T, K extends keyof T> = T extends unknown ? Omit<T, K> : never;

/**
 * Write a complete journal for `plan` (plan, meta, every file's before-image) and make it
 * visible with one rename. Nothing on the host has changed when this returns.
 */
export function createJournal(
  writer: FileWriter,
  args: {
    plan: Plan;
    snapshots: FileSnapshot[];
    version: string;
    root: string;
    commands: string;
    now: () => Date;
    bootedAt?: Date | null;
  },
): JournalWriter {
  writer.makeDirs(JOURNAL_ROOT);
  removePartials(writer);
  const id = newJournalId(args.now());
  const partial = `${JOURNAL_ROOT}/.${id}.partial`;
  writer.makeDirs(`${partial}/before`);
  const meta: JournalMeta = {
    format: JOURNAL_FORMAT,
    id,
    createdAt: args.now().toISOString(),
    tool: "passthrough",
    version: args.version,
    root: args.root,
    commands: args.commands,
    hostname: safeHostname(),
    pid: process.pid,
    bootedAt: args.bootedAt ? args.bootedAt.toISOString() : null,
  };
  writer.write(`${partial}/meta.json`, `${JSON.stringify(meta, null, 2)}\n`, { mode: 0o600 });
  writer.write(`${partial}/plan.json`, `${JSON.stringify(args.plan, null, 2)}\n`, { mode: 0o600 });
  for (const s of args.snapshots) {
    const rec: BeforeRecord = s.state.exists
      ? {
          step: s.step,
          path: s.path,
          existed: true,
          mode: s.state.mode,
          uid: s.state.uid,
          gid: s.state.gid,
          size: s.state.bytes.length,
          sha256: sha256(s.state.bytes),
          createdDirs: s.createdDirs,
        }
      : {
          step: s.step,
          path: s.path,
          existed: false,
          mode: null,
          uid: null,
          gid: null,
          size: null,
          sha256: null,
          createdDirs: s.createdDirs,
        };
    // Bytes first, then the record that vouches for them.
    if (s.state.exists)
      writer.write(`${partial}/before/${pad(s.step)}.bytes`, s.state.bytes, { mode: 0o600 });
    writer.write(`${partial}/before/${pad(s.step)}.json`, `${JSON.stringify(rec, null, 2)}\n`, {
      mode: 0o600,
    });
  }
  writer.write(`${partial}/steps.log`, "", { mode: 0o600 });
  writer.rename(partial, `${JOURNAL_ROOT}/${id}`);
  return new JournalWriter(writer, id, args.now);
}

/** A journal folder a kill left half-assembled holds nothing the host depends on: remove it. */
function removePartials(writer: FileWriter): void {
  for (const n of writer.list(JOURNAL_ROOT) ?? []) {
    if (n.startsWith(".") && n.endsWith(".partial")) removeTree(writer, `${JOURNAL_ROOT}/${n}`);
  }
}

function removeTree(writer: FileWriter, hostDir: string): void {
  for (const n of writer.list(hostDir) ?? []) {
    const p = `${hostDir}/${n}`;
    const st = writer.fsl.lstatSync(writer.resolve(p));
    if (st.isDirectory()) removeTree(writer, p);
    else writer.fsl.unlinkSync(writer.resolve(p));
  }
  writer.fsl.rmdirSync(writer.resolve(hostDir));
}

function safeHostname(): string | null {
  try {
    return os.hostname();
  } catch {
    return null;
  }
}

/** Journal ids present, oldest first. */
export function listJournalIds(source: JournalSource): string[] {
  return (source.list(JOURNAL_ROOT) ?? []).filter((n) => ID_PATTERN.test(n)).sort();
}

function parseJson<T>(source: JournalSource, hostPath: string, required: true): T;
function parseJson<T>(source: JournalSource, hostPath: string, required: false): T | null;
function parseJson<T>(source: JournalSource, hostPath: string, required: boolean): T | null {
  const b = source.read(hostPath);
  if (b === null) {
    if (required)
      throw new InputError(
        `journal file ${source.where(hostPath)} is missing; the journal is damaged — restore its files by hand from the before/ folder`,
      );
    return null;
  }
  try {
    return JSON.parse(b.toString("utf8")) as T;
  } catch (err) {
    throw new InputError(
      `journal file ${source.where(hostPath)} is not valid JSON (${errorMessage(err).split("\n")[0]}); the journal is damaged`,
    );
  }
}

function parseLog<T>(source: JournalSource, hostPath: string): { events: T[]; torn: boolean } {
  const b = source.read(hostPath);
  if (b === null) return { events: [], torn: false };
  const text = b.toString("utf8");
  const lines = text.split("\n");
  const events: T[] = [];
  let torn = false;
  lines.forEach((line, i) => {
    if (line === "") return;
    try {
      events.push(JSON.parse(line) as T);
    } catch {
      // Only the last line can be cut short by a kill (every line is flushed before the next one starts).
      if (i === lines.length - 1) torn = true;
      else
        throw new InputError(
          `journal log ${source.where(hostPath)} line ${i + 1} is not valid JSON; the journal is damaged`,
        );
    }
  });
  return { events, torn };
}

export function readJournal(source: JournalSource, id: string): LoadedJournal {
  if (!ID_PATTERN.test(id))
    throw new InputError(
      `${quoteInput(id)} is not a journal id (like 20250301-142233-9f3a); run \`passthrough history\` to list them`,
    );
  const dir = `${JOURNAL_ROOT}/${id}`;
  if (source.list(dir) === null)
    throw new InputError(
      `no journal ${id} in ${source.where(JOURNAL_ROOT)}; run \`passthrough history\` to list them`,
    );
  const meta = parseJson<JournalMeta>(source, `${dir}/meta.json`, true);
  if (meta.format !== JOURNAL_FORMAT)
    throw new InputError(
      `journal ${id} has format ${meta.format}; this passthrough reads format ${JOURNAL_FORMAT} — use the version that wrote it (${meta.version})`,
    );
  const plan = parseJson<Plan>(source, `${dir}/plan.json`, true);
  const before: BeforeImage[] = [];
  for (const n of (source.list(`${dir}/before`) ?? [])
    .filter((x) => /^\d+\.json$/.test(x))
    .sort()) {
    const rec = parseJson<BeforeRecord>(source, `${dir}/before/${n}`, true);
    let bytes: Buffer | null = null;
    if (rec.existed) {
      const bytesPath = `${dir}/before/${n.replace(/\.json$/, ".bytes")}`;
      bytes = source.read(bytesPath);
      if (bytes === null || sha256(bytes) !== rec.sha256) {
        throw new InputError(
          `journal ${id}: the saved copy of ${rec.path} (${source.where(bytesPath)}) is missing or does not match its checksum; the journal is damaged`,
        );
      }
    }
    before.push({ ...rec, bytes });
  }
  const steps = parseLog<StepEvent>(source, `${dir}/steps.log`);
  const rb = parseLog<RollbackEvent>(source, `${dir}/rollback.log`);
  return {
    id,
    dir,
    meta,
    plan,
    before,
    events: steps.events,
    rollbackEvents: rb.events,
    tornTail: steps.torn || rb.torn,
  };
}
