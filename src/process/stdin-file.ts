// A child's stdin as a file of its own rather than a pipe. Node gives a child's "pipe" stdio
// as one end of a socketpair, and a socket cannot be opened by name: `virsh define /dev/stdin`
// fails with "Failed to open file '/dev/stdin': No such device or address" (open(2) ENXIO on
// /proc/self/fd/0). A regular file can be read both ways, from fd 0 and through /dev/stdin.
// It never has a name others could open: O_TMPFILE (open(2), Linux 3.11) makes an unnamed
// file; where a filesystem lacks it, the file is unlinked inside a private folder before any
// program runs.

import { closeSync, constants, mkdtempSync, openSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** Linux's O_TMPFILE (__O_TMPFILE | O_DIRECTORY, include/uapi/asm-generic/fcntl.h); Node has no constant. */
const O_TMPFILE = 0o20000000 | constants.O_DIRECTORY;

/** An open, unnamed file holding `content`, its offset at 0; the caller closes it. */
export function anonymousFile(content: string, dir = tmpdir()): number {
  let fd: number;
  try {
    fd = openSync(dir, O_TMPFILE | constants.O_RDWR, 0o600);
  } catch {
    fd = unlinkedFile(dir);
  }
  try {
    const data = Buffer.from(content, "utf8");
    // pwrite (an explicit position) leaves the offset at 0 for the child's reads from fd 0.
    for (let done = 0; done < data.length;)
      done += writeSync(fd, data, done, data.length - done, done);
  } catch (err) {
    closeSync(fd);
    throw err;
  }
  return fd;
}

/** A new file opened in a private folder, then unlinked with the folder. */
export function unlinkedFile(dir: string): number {
  const folder = mkdtempSync(join(dir, "passthrough-stdin-"));
  try {
    return openSync(join(folder, "input"), "wx+", 0o600);
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
}
