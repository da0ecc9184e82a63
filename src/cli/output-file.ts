// Where a command writes a file the user named with -o (snapshot, report): checked before
// anything is read, so a typo costs nothing, and never inside the kernel's own file systems.
import * as fs from "node:fs";
import * as path from "node:path";
import { InputError, describeFsError } from "../errors.js";

/**
 * The real path to write `file` to: its folder must exist (links resolved) and lie outside
 * /sys, /proc and /dev. `shown` is the -o value as the user typed it, for the messages.
 */
export function outputFileIn(file: string, shown: string): string {
  const dir = path.dirname(file);
  let realDir: string;
  try {
    realDir = fs.realpathSync(dir);
    if (!fs.statSync(realDir).isDirectory())
      throw Object.assign(new Error("not a folder"), { code: "ENOTDIR" });
  } catch (err) {
    throw new InputError(
      `-o ${shown}: folder ${dir} ${describeFsError(err)}; create it or choose another place`,
    );
  }
  if (/^\/(sys|proc|dev)(\/|$)/.test(realDir))
    throw new InputError(
      `-o ${shown}: passthrough never writes inside /sys, /proc or /dev; choose another folder`,
    );
  return path.join(realDir, path.basename(file));
}
