// Host memory from /proc/meminfo (a snapshot carries the file as captured), for the
// `vm` commands' warning: with a device passed through, QEMU pins all guest RAM at start
// (vfio maps it for DMA), so a guest bigger than the host's available memory cannot start.

import type { HostRoot } from "./root.js";

export interface HostMemory {
  totalKiB: number;
  /** MemAvailable: what can be given to new allocations without swapping (kernel >= 3.14). */
  availableKiB: number;
  /** Where it was read, for messages. */
  source: string;
}

export function parseMeminfo(text: string): { totalKiB: number; availableKiB: number } | null {
  const field = (name: string): number | null => {
    const m = new RegExp(`^${name}:\\s+(\\d+)\\s*kB\\s*$`, "m").exec(text);
    return m ? Number(m[1]) : null;
  };
  const totalKiB = field("MemTotal");
  const availableKiB = field("MemAvailable");
  if (totalKiB === null || availableKiB === null) return null;
  return { totalKiB, availableKiB };
}

export function readHostMemory(root: HostRoot): HostMemory | null {
  const r = root.readText("proc/meminfo");
  if (!r.ok) return null;
  const m = parseMeminfo(r.value);
  return m
    ? { ...m, source: root.kind === "live" ? "/proc/meminfo" : `${root.label}:/proc/meminfo` }
    : null;
}
