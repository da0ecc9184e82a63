// The few read-only commands discovery may run on a live host, and that `snapshot` saves
// under cmd/NAME. Each runs from an argv array (never a shell, src/process/run.ts), with a
// short timeout, C locale, and no stdin. Anything that changes state (proxmox-boot-tool status
// mounts ESPs) is deliberately not here.

import { ProcessRunner } from "../process/run.js";

export interface CommandSpec {
  /** Candidate argv lists, tried in order until one succeeds. */
  argv: string[][];
  /** Discovery reads it (true) or it is only kept for people reading a snapshot (false). */
  usedByDiscovery: boolean;
  why: string;
}

export const CAPTURED_COMMANDS = {
  dmesg: {
    argv: [["dmesg"], ["journalctl", "-k", "-b", "--no-pager", "-q", "-o", "short-monotonic"]],
    usedByDiscovery: true,
    why: "IOMMU, interrupt remapping and default domain messages from the kernel log",
  },
  uname: { argv: [["uname", "-a"]], usedByDiscovery: false, why: "running kernel" },
  pveversion: { argv: [["pveversion"]], usedByDiscovery: true, why: "Proxmox VE version" },
  "efibootmgr-v": {
    argv: [["efibootmgr", "-v"]],
    usedByDiscovery: true,
    why: "UEFI boot entries: which loader the firmware starts",
  },
  "zpool-status": {
    argv: [["zpool", "status", "-P"]],
    usedByDiscovery: true,
    why: "disks under a ZFS root pool",
  },
  "proxmox-boot-tool-status": {
    argv: [],
    usedByDiscovery: true,
    why: "ESPs managed by proxmox-boot-tool (only in snapshots users add by hand; it mounts ESPs, so we never run it)",
  },
  // Reads the pin files and the kernel lists only (proxmox-kernel-helper list_kernels).
  "proxmox-boot-tool-kernel-list": {
    argv: [["proxmox-boot-tool", "kernel", "list"]],
    usedByDiscovery: true,
    why: "kernels proxmox-boot-tool keeps, the pinned kernel and a next-boot pin",
  },
  "lspci-nnk": {
    argv: [["lspci", "-nnk"]],
    usedByDiscovery: false,
    why: "for people reading the snapshot",
  },
  "nvidia-smi-q": {
    argv: [["nvidia-smi", "-q"]],
    usedByDiscovery: false,
    why: "for people reading the snapshot",
  },
  // `guest check` (src/host/guest-facts.ts): proof from inside a VM.
  "nvidia-smi-L": {
    argv: [["nvidia-smi", "-L"]],
    usedByDiscovery: true,
    why: "guest check: the NVIDIA driver answers for the passed GPU",
  },
  "tailscale-status-json": {
    // --peers=false: a snapshot should not carry the names and addresses of the whole tailnet.
    argv: [["tailscale", "status", "--json", "--peers=false"]],
    usedByDiscovery: true,
    why: "guest check: Tailscale connected (BackendState, own name and addresses)",
  },
} satisfies Record<string, CommandSpec>;

export type CapturedCommand = keyof typeof CAPTURED_COMMANDS;

export const COMMAND_TIMEOUT_MS = 3000;

/** process.env as it is at each run (tests change PATH), in the C locale (ProcessRunner). */
const runner = new ProcessRunner(process.env, { timeoutMs: COMMAND_TIMEOUT_MS });

export function runCapturedCommand(
  name: CapturedCommand,
  hasTool: (tool: string) => boolean,
): { ok: true; value: string } | { ok: false; reason: string } {
  const spec: CommandSpec = CAPTURED_COMMANDS[name];
  const reasons: string[] = [];
  for (const argv of spec.argv) {
    const file = argv[0]!;
    if (!hasTool(file)) {
      reasons.push(`${file} is not installed`);
      continue;
    }
    const r = runner.run(argv);
    if (r.exitCode === 0 && r.error === null) return { ok: true, value: r.stdout };
    if (r.timedOut) reasons.push(`${argv.join(" ")} timed out after ${COMMAND_TIMEOUT_MS} ms`);
    else if (r.exitCode !== null) {
      const first = r.stderr.trim().split("\n")[0] ?? "";
      reasons.push(`${argv.join(" ")} exited ${r.exitCode}${first ? `: ${first}` : ""}`);
    } else reasons.push(`${argv.join(" ")}: ${r.error ?? `killed by ${r.signal}`}`);
  }
  return { ok: false, reason: reasons.join("; ") || `${name} is not run on a live host` };
}
