// Which processes hold a device node open: every /proc/PID/fd/N is a link whose target is the
// opened path (proc(5), /proc/pid/fd), so a process with /dev/dri/renderD128 or
// /dev/vfio/12 open shows it there. This is how `fuser` and `lsof` answer; reading other
// processes' fd folders needs root, and a folder that cannot be listed is reported, not
// skipped silently.

import type { HostRoot } from "./root.js";

export interface Holder {
  pid: number;
  /** /proc/PID/comm: the program's name. */
  command: string;
  /** The node it holds. */
  path: string;
}

export interface HolderScan {
  holders: Holder[];
  /** PIDs whose fd folder could not be listed (not root, or the process exited meanwhile). */
  unreadable: number[];
}

export function findHolders(root: HostRoot, paths: readonly string[]): HolderScan {
  const wanted = new Set(paths);
  const holders: Holder[] = [];
  const unreadable: number[] = [];
  const pids = (root.list("proc") ?? []).filter((n) => /^\d+$/.test(n));
  for (const pid of pids) {
    const fds = root.list(`proc/${pid}/fd`);
    if (fds === null) {
      if (root.exists(`proc/${pid}`)) unreadable.push(Number(pid));
      continue;
    }
    const held = new Set<string>();
    for (const fd of fds) {
      const target = root.readLink(`proc/${pid}/fd/${fd}`);
      if (target !== null && wanted.has(target)) held.add(target);
    }
    if (held.size === 0) continue;
    const comm = root.readText(`proc/${pid}/comm`);
    for (const p of held)
      holders.push({ pid: Number(pid), command: comm.ok ? comm.value.trim() : "?", path: p });
  }
  return { holders, unreadable };
}
