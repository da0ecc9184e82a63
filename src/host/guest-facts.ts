// What `guest check` needs beyond HostState, read through the same HostRoot (so a guest's
// snapshot works as well as the live guest): DRM device nodes and the PCI function behind
// each, `nvidia-smi -L`, TCP sockets in LISTEN state (proc/net/tcp, tcp6), sshd's configured
// ports, and `tailscale status --json`. Read-only; a missing file is `null` with a reason.

import type { HostRoot } from "./root.js";
import type { PciAddress } from "./types.js";

export interface DrmNode {
  /** "card0", "renderD128". */
  name: string;
  /** PCI function behind it (sys/class/drm/NAME/device), null when not a PCI device. */
  device: PciAddress | null;
  /** dev/dri/NAME exists. */
  devNode: boolean;
}

export interface ListeningSocket {
  family: "ipv4" | "ipv6";
  address: string;
  port: number;
}

export type ToolOutput<T> =
  | { installed: false }
  | { installed: true; ok: true; value: T }
  | { installed: true; ok: false; reason: string }
  /** Installed, but a snapshot without its output: unknown, not a failure. */
  | { installed: true; ok: null; reason: string };

export interface TailscaleStatus {
  backendState: string | null;
  dnsName: string | null;
  ips: string[];
}

export interface GuestFacts {
  /** null when sys/class/drm is absent (no DRM driver loaded at all, or not captured). */
  drm: DrmNode[] | null;
  /** Whether device nodes could be seen at all: the live guest, or a snapshot that kept dev/. */
  devNodesVisible: boolean;
  /** `nvidia-smi -L` lines "GPU 0: NVIDIA GeForce RTX 3080 (UUID: GPU-...)". */
  nvidiaSmi: ToolOutput<string[]>;
  /** TCP sockets in LISTEN state; null when proc/net/tcp could not be read. */
  listening: ListeningSocket[] | null;
  ssh: { installed: boolean; ports: number[]; portSource: string };
  tailscale: ToolOutput<TailscaleStatus>;
}

export function readGuestFacts(root: HostRoot): GuestFacts {
  return {
    drm: readDrm(root),
    devNodesVisible: root.kind === "live" || root.isDir("dev"),
    nvidiaSmi: readNvidiaSmi(root),
    listening: readListening(root),
    ssh: readSshd(root),
    tailscale: readTailscale(root),
  };
}

function readDrm(root: HostRoot): DrmNode[] | null {
  const names = root.list("sys/class/drm");
  if (names === null) return null;
  return names
    .filter((n) => /^(card|renderD)\d+$/.test(n))
    .map((name) => {
      const dev = root.resolve(`sys/class/drm/${name}/device`);
      const last = dev?.split("/").pop() ?? "";
      return {
        name,
        device: /^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$/.test(last) ? last : null,
        devNode: root.exists(`dev/dri/${name}`),
      };
    });
}

/** A tool counts as installed when its program is there, or (snapshots) its output was saved. */
function toolOutput<T>(
  root: HostRoot,
  tool: string,
  cmd: "nvidia-smi-L" | "tailscale-status-json",
  parse: (text: string) => T | string,
): ToolOutput<T> {
  const saved = root.kind === "snapshot" && root.exists(`cmd/${cmd}`);
  if (!root.hasTool(tool) && !saved) return { installed: false };
  if (root.kind === "snapshot" && !saved)
    return {
      installed: true,
      ok: null,
      reason: `${tool} is installed, but cmd/${cmd} is not in the snapshot`,
    };
  const r = root.command(cmd);
  if (!r.ok) return { installed: true, ok: false, reason: r.reason };
  const parsed = parse(r.value);
  return typeof parsed === "string"
    ? { installed: true, ok: false, reason: parsed }
    : { installed: true, ok: true, value: parsed };
}

export function parseNvidiaSmiList(text: string): string[] | string {
  const gpus = text
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => /^GPU \d+:/.test(l));
  if (gpus.length === 0)
    return `nvidia-smi -L listed no GPU: ${text.trim().split("\n")[0] ?? ""}`.trim();
  return gpus;
}

function readNvidiaSmi(root: HostRoot): ToolOutput<string[]> {
  return toolOutput(root, "nvidia-smi", "nvidia-smi-L", parseNvidiaSmiList);
}

export function parseTailscaleStatus(text: string): TailscaleStatus | string {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return "tailscale status --json printed something that is not JSON";
  }
  const o = json as {
    BackendState?: unknown;
    Self?: { DNSName?: unknown; TailscaleIPs?: unknown };
  };
  const ips = Array.isArray(o.Self?.TailscaleIPs)
    ? o.Self!.TailscaleIPs.filter((x): x is string => typeof x === "string")
    : [];
  return {
    backendState: typeof o.BackendState === "string" ? o.BackendState : null,
    dnsName:
      typeof o.Self?.DNSName === "string" && o.Self.DNSName !== ""
        ? o.Self.DNSName.replace(/\.$/, "")
        : null,
    ips,
  };
}

function readTailscale(root: HostRoot): ToolOutput<TailscaleStatus> {
  return toolOutput(root, "tailscale", "tailscale-status-json", parseTailscaleStatus);
}

/**
 * proc/net/tcp{,6}: "sl local_address rem_address st ...", addresses as hex in the kernel's
 * byte order (IPv4: one little-endian 32-bit word; IPv6: four of them), state 0A = LISTEN.
 */
export function parseProcNetTcp(text: string, family: "ipv4" | "ipv6"): ListeningSocket[] {
  const out: ListeningSocket[] = [];
  for (const line of text.split("\n").slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 4 || f[3] !== "0A") continue;
    const [addrHex, portHex] = f[1]!.split(":");
    if (!addrHex || !portHex) continue;
    out.push({
      family,
      address: family === "ipv4" ? ipv4(addrHex) : ipv6(addrHex),
      port: parseInt(portHex, 16),
    });
  }
  return out;
}

function words(hex: string): number[][] {
  const out: number[][] = [];
  for (let i = 0; i < hex.length; i += 8) {
    const w = hex.slice(i, i + 8);
    out.push([6, 4, 2, 0].map((j) => parseInt(w.slice(j, j + 2), 16)));
  }
  return out;
}

function ipv4(hex: string): string {
  return words(hex)[0]!.join(".");
}

function ipv6(hex: string): string {
  const bytes = words(hex).flat();
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i]! << 8) | bytes[i + 1]!).toString(16));
  const joined = groups.join(":");
  // Shorten the longest run of zero groups, as people write addresses.
  const runs = joined.match(/(^|:)0(:0)+(:|$)/g);
  if (!runs) return joined;
  const longest = runs.reduce((a, b) => (b.length > a.length ? b : a));
  return joined.replace(longest, "::");
}

function readListening(root: HostRoot): ListeningSocket[] | null {
  const v4 = root.readText("proc/net/tcp");
  const v6 = root.readText("proc/net/tcp6");
  if (!v4.ok && !v6.ok) return null;
  return [
    ...(v4.ok ? parseProcNetTcp(v4.value, "ipv4") : []),
    ...(v6.ok ? parseProcNetTcp(v6.value, "ipv6") : []),
  ];
}

/** sshd's `Port` lines (sshd_config and its drop-ins; several are allowed and all apply); 22 when none. */
function readSshd(root: HostRoot): GuestFacts["ssh"] {
  const installed = root.hasTool("sshd");
  const files = [
    "etc/ssh/sshd_config",
    ...(root.list("etc/ssh/sshd_config.d") ?? [])
      .filter((n) => n.endsWith(".conf"))
      .map((n) => `etc/ssh/sshd_config.d/${n}`),
  ];
  const ports: number[] = [];
  const from: string[] = [];
  for (const f of files) {
    const r = root.readText(f);
    if (!r.ok) continue;
    for (const line of r.value.split("\n")) {
      // A Match block's settings apply to some connections only; Port may not appear there.
      if (/^\s*Match\s/i.test(line)) break;
      const m = /^\s*Port\s+(\d+)\s*$/i.exec(line);
      if (m) {
        ports.push(parseInt(m[1]!, 10));
        if (!from.includes(f)) from.push(f);
      }
    }
  }
  return ports.length
    ? { installed, ports: [...new Set(ports)], portSource: from.map((f) => `/${f}`).join(", ") }
    : { installed, ports: [22], portSource: "sshd default" };
}
