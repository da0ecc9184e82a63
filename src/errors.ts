// Errors a user can act on. The CLI prints `error: <message>` on one line and exits with the
// code; anything else is a bug and is reported as such (with a stack only under DEBUG).
//
// Exit codes are a public contract (see README "Exit codes"):
//   0 ready / nothing to do, 1 problems found, 2 usage or input error,
//   3 refused for safety, 4 apply failed.

export const EXIT = {
  ok: 0,
  problems: 1,
  usage: 2,
  refused: 3,
  applyFailed: 4,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

export class UserError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCode = EXIT.usage,
  ) {
    super(message);
    this.name = "UserError";
  }
}

/** Bad flags, bad files, bad snapshots: exit 2. */
export class InputError extends UserError {
  constructor(message: string) {
    super(message, EXIT.usage);
    this.name = "InputError";
  }
}

/** Refused for safety, nothing written: exit 3. */
export class RefusedError extends UserError {
  constructor(
    message: string,
    readonly reasons: string[] = [],
  ) {
    super(message, EXIT.refused);
    this.name = "RefusedError";
  }
}

/** Apply failed: exit 4. */
export class ApplyError extends UserError {
  constructor(message: string) {
    super(message, EXIT.applyFailed);
    this.name = "ApplyError";
  }
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

/** Node's fs errors carry a code; make them one readable clause ("permission denied"). */
export function describeFsError(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case "ENOENT":
      return "does not exist";
    case "EACCES":
    case "EPERM":
      return "permission denied";
    case "ENOTDIR":
      return "a path component is not a folder";
    case "EISDIR":
      return "is a folder, not a file";
    case "ENOSPC":
      return "no space left on device";
    case "EDQUOT":
      return "disk quota exceeded";
    case "EROFS":
      return "read-only file system";
    case "ELOOP":
      return "too many levels of symbolic links";
    case "ETIMEDOUT":
      return "timed out";
    default:
      return code ? `${code}: ${errorMessage(err)}` : errorMessage(err);
  }
}

/** The file system refused to store more: full, over quota or read-only. */
export function isStorageError(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === "ENOSPC" || code === "EDQUOT" || code === "EROFS";
}
