// Files a user points passthrough at (--token-file, --ca-file, --domain-xml, SSH keys, a
// snapshot's manifest): outside input. Opened non-blocking, so a FIFO cannot hang the open;
// only a regular file is read; and no more than the caller's cap, so /dev/zero or a huge file
// costs nothing. Every refusal is one line naming the flag and the file.

import * as fs from "node:fs";
import { describeFsError, InputError } from "./errors.js";

/** "a FIFO", "a socket", ... for something that is not a regular file. */
export function fileTypeName(st: fs.Stats): string {
  if (st.isFIFO()) return "a FIFO";
  if (st.isSocket()) return "a socket";
  if (st.isCharacterDevice()) return "a character device";
  if (st.isBlockDevice()) return "a block device";
  if (st.isDirectory()) return "a folder";
  return "not a regular file";
}

export interface InputFileOptions {
  /** What the file is for, as the user gave it: "--token-file", "--domain-xml". */
  what: string;
  /** The most bytes a sensible such file has. */
  maxBytes: number;
}

/** The whole file, or an InputError that says why not (missing, not a regular file, too large). */
export function readInputFile(file: string, opts: InputFileOptions): Buffer {
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK | fs.constants.O_NOCTTY);
  } catch (err) {
    throw new InputError(`${opts.what} ${file}: ${describeFsError(err)}`);
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile())
      throw new InputError(`${opts.what} ${file}: ${fileTypeName(st)}, not a regular file`);
    const tooLarge = () =>
      new InputError(
        `${opts.what} ${file}: larger than ${formatBytes(opts.maxBytes)}; that is not such a file`,
      );
    if (st.size > opts.maxBytes) throw tooLarge();
    // Read one byte more than allowed: a file that grew since fstat is caught too.
    const buf = Buffer.alloc(opts.maxBytes + 1);
    let n = 0;
    for (let r = -1; r !== 0 && n < buf.length; n += r)
      r = fs.readSync(fd, buf, n, buf.length - n, null);
    if (n > opts.maxBytes) throw tooLarge();
    return buf.subarray(0, n);
  } catch (err) {
    if (err instanceof InputError) throw err;
    throw new InputError(`${opts.what} ${file}: ${describeFsError(err)}`);
  } finally {
    fs.closeSync(fd);
  }
}

/** readInputFile as UTF-8 text. */
export function readInputText(file: string, opts: InputFileOptions): string {
  return readInputFile(file, opts).toString("utf8");
}

function formatBytes(n: number): string {
  return n >= 2 ** 20 ? `${n / 2 ** 20} MiB` : n >= 1024 ? `${n / 1024} KiB` : `${n} bytes`;
}
