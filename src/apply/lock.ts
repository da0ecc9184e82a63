// One `apply` or `rollback` at a time per root. The lock is a file created with O_EXCL
// (`wx`), holding the owner's pid: creation is atomic, so two runs can never both hold it.
//
// A killed run leaves its lock behind. A lock whose pid no longer runs is stale and is taken
// over: it is first renamed to a private name, and only removed if the renamed file is still
// the stale one read before — so two runs that both find the same stale lock cannot both
// take it (the loser finds the winner's lock renamed, puts it back, and reports it busy).

import { ApplyError, describeFsError, isStorageError, RefusedError, UserError } from "../errors.js";
import { errnoOf, type FileWriter } from "./file-writer.js";

/** Where journals and the lock live (the FHS's /var/lib: state kept across reboots). */
export const STATE_DIR = "/var/lib/passthrough";
export const LOCK_PATH = `${STATE_DIR}/lock`;

export interface LockInfo {
  pid: number;
  command: string;
  startedAt: string;
}

/** A process that exists (EPERM: exists, owned by someone else). */
export function processAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return errnoOf(err) === "EPERM";
  }
}

/** An empty lock younger than this may be one a live run is still writing its pid into. */
const EMPTY_LOCK_GRACE_MS = 10_000;

export class ApplyLock {
  private released = false;

  private constructor(
    private readonly writer: FileWriter,
    readonly info: LockInfo,
    /** Folders this run created for the lock: removed again on release while empty, so a run that wrote nothing leaves nothing. */
    private readonly createdDirs: readonly string[],
  ) {}

  static acquire(
    writer: FileWriter,
    command: string,
    now: () => Date = () => new Date(),
  ): ApplyLock {
    const info: LockInfo = { pid: process.pid, command, startedAt: now().toISOString() };
    let createdDirs: string[];
    try {
      createdDirs = writer.makeDirs(STATE_DIR);
    } catch (err) {
      throw storageFailure(writer, err);
    }
    const abs = writer.resolve(LOCK_PATH);
    for (let attempt = 0; attempt < 3; attempt++) {
      let fd: number | null = null;
      try {
        fd = writer.fsl.openSync(abs, "wx", 0o644);
      } catch (err) {
        if (errnoOf(err) !== "EEXIST") {
          removeEmpty(writer, createdDirs);
          throw storageFailure(writer, err);
        }
      }
      if (fd !== null) {
        writeLockFile(writer, fd, info, createdDirs);
        return new ApplyLock(writer, info, createdDirs);
      }
      const seen = readLock(writer);
      if (seen === "gone") continue;
      if (!isStale(writer, seen)) throw busy(writer, seen);
      takeOverStale(writer, seen);
    }
    throw new RefusedError(`could not take the lock ${abs}: other runs keep taking it; try again`);
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    this.writer.remove(LOCK_PATH);
    removeEmpty(this.writer, this.createdDirs);
  }
}

/** The pid goes in at once; a lock that cannot be written (a full disk) is removed, not left empty. */
function writeLockFile(
  writer: FileWriter,
  fd: number,
  info: LockInfo,
  createdDirs: readonly string[],
): void {
  try {
    const data = Buffer.from(`${JSON.stringify(info)}\n`);
    writer.fsl.writeSync(fd, data, 0, data.length);
    writer.fsl.fsyncSync(fd);
  } catch (err) {
    writer.fsl.closeSync(fd);
    writer.remove(LOCK_PATH);
    removeEmpty(writer, createdDirs);
    throw storageFailure(writer, err);
  }
  writer.fsl.closeSync(fd);
}

function removeEmpty(writer: FileWriter, dirs: readonly string[]): void {
  for (const d of [...dirs].reverse()) writer.removeEmptyDir(d);
}

/** A failed write under the state folder, as one line with the way out (exit 4; nothing was changed). */
export function storageFailure(writer: FileWriter, err: unknown): Error {
  if (err instanceof UserError || errnoOf(err) === undefined)
    return err instanceof Error ? err : new Error(String(err));
  const dir = writer.resolve(STATE_DIR);
  const wayOut = isStorageError(err)
    ? `free space in ${dir} (or make it writable) and run again`
    : errnoOf(err) === "EACCES" || errnoOf(err) === "EPERM"
      ? "run it as root"
      : "fix that and run again";
  return new ApplyError(
    `cannot write in ${dir}: ${describeFsError(err)}; ${wayOut} — nothing was changed`,
  );
}

type Seen = { info: LockInfo | null; raw: string; mtimeMs: number } | "gone";

function readLock(writer: FileWriter): Seen {
  const abs = writer.resolve(LOCK_PATH);
  try {
    const st = writer.fsl.lstatSync(abs);
    const raw = writer.fsl.readFileSync(abs).toString("utf8");
    let info: LockInfo | null = null;
    try {
      const j = JSON.parse(raw) as LockInfo;
      if (typeof j.pid === "number") info = j;
    } catch {
      info = null;
    }
    return { info, raw, mtimeMs: st.mtimeMs };
  } catch (err) {
    if (errnoOf(err) === "ENOENT") return "gone";
    throw err;
  }
}

function isStale(_writer: FileWriter, seen: Exclude<Seen, "gone">): boolean {
  if (seen.info) return !processAlive(seen.info.pid);
  return Date.now() - seen.mtimeMs > EMPTY_LOCK_GRACE_MS;
}

function busy(writer: FileWriter, seen: Exclude<Seen, "gone">): RefusedError {
  const where = writer.resolve(LOCK_PATH);
  if (!seen.info)
    return new RefusedError(
      `another passthrough run is starting (lock ${where} is being written); wait a moment and try again`,
    );
  return new RefusedError(
    `another passthrough ${seen.info.command} (pid ${seen.info.pid}, started ${seen.info.startedAt}) is running; wait for it to finish — if no such process exists, remove ${where}`,
  );
}

function takeOverStale(writer: FileWriter, seen: Exclude<Seen, "gone">): void {
  const abs = writer.resolve(LOCK_PATH);
  const aside = `${abs}.stale-${process.pid}-${Math.random().toString(16).slice(2, 8)}`;
  try {
    writer.fsl.renameSync(abs, aside);
  } catch (err) {
    if (errnoOf(err) === "ENOENT") return; // someone else moved it first: retry from the top
    throw err;
  }
  const moved = writer.fsl.readFileSync(aside).toString("utf8");
  if (moved === seen.raw) {
    writer.fsl.unlinkSync(aside);
    return;
  }
  // We moved a fresh lock another run had just taken: put it back (link fails if a third run
  // has meanwhile created one, which then stands) and report the lock busy.
  try {
    writer.fsl.linkSync(aside, abs);
  } catch {
    // a newer lock is in place; it is the one that counts
  }
  writer.fsl.unlinkSync(aside);
  const again = readLock(writer);
  if (again !== "gone") throw busy(writer, again);
}
