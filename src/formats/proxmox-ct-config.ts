// Proxmox container configs (/etc/pve/lxc/<ctid>.conf), read and written as pve-container's
// parse_pct_config and write_pct_config do (PVE/LXC/Config.pm): "key: value" lines, "#" lines
// are the description (URI-escaped), raw "lxc.*" keys keep their order and may repeat (they
// come after the sorted keys when written), "[pve:pending]" holds pending changes and any
// other "[name]" starts a snapshot. Blank lines separate sections and mean nothing else.

import type * as Crypto from "node:crypto";

export interface CtConfigSection {
  /** "key" -> "value", one per key (a later line replaces an earlier one, as in Perl). */
  keys: Record<string, string>;
  /** Raw LXC keys in file order: ["lxc.cgroup2.devices.allow", "c 226:128 rwm"]. */
  lxc: Array<[string, string]>;
  /** Decoded "#" lines, in order. */
  description: string[];
}

export interface CtConfigFile {
  main: CtConfigSection;
  pending: CtConfigSection | null;
  /** Snapshot sections by name. */
  snapshots: Record<string, CtConfigSection>;
  /** Lines pve-container would warn about and skip ("unable to parse config"). */
  unparsed: string[];
}

const KEY_LINE = /^([a-z][a-z_]*\d*):\s*(.+?)\s*$/;
const LXC_LINE = /^(lxc\.[a-z0-9_\-.]+)(?::|\s*=)\s*(.*?)\s*$/;
const SECTION = /^\[([a-z][a-z0-9_-]+|pve:pending)\]\s*$/i;

export function emptySection(): CtConfigSection {
  return { keys: {}, lxc: [], description: [] };
}

export function parseCtConfig(text: string): CtConfigFile {
  const result: CtConfigFile = { main: emptySection(), pending: null, snapshots: {}, unparsed: [] };
  let current = result.main;
  for (const raw of text.split("\n")) {
    const line = raw.replace(/\r$/, "");
    if (line.trim() === "") continue;
    const sec = SECTION.exec(line);
    if (sec) {
      current = emptySection();
      if (sec[1]!.toLowerCase() === "pve:pending") result.pending = current;
      else result.snapshots[sec[1]!] = current;
      continue;
    }
    if (line.startsWith("#")) {
      current.description.push(decodeText(line.slice(1)));
      continue;
    }
    const lxc = LXC_LINE.exec(line);
    if (lxc) {
      current.lxc.push([lxc[1]!, lxc[2]!]);
      continue;
    }
    const m = KEY_LINE.exec(line);
    if (m) current.keys[m[1]!] = m[2]!;
    else result.unparsed.push(line);
  }
  return result;
}

/** The file as write_pct_config writes it: description, sorted keys, lxc keys; then pending and snapshots. */
export function printCtConfig(config: CtConfigFile): string {
  let out = printSection(config.main);
  if (config.pending && Object.keys(config.pending.keys).length > 0)
    out += `\n[pve:pending]\n${printSection(config.pending)}`;
  for (const name of Object.keys(config.snapshots).sort())
    out += `\n[${name}]\n${printSection(config.snapshots[name]!)}`;
  return out;
}

function printSection(s: CtConfigSection): string {
  const lines = s.description.map((d) => `#${encodeText(d)}`);
  for (const key of Object.keys(s.keys).sort()) lines.push(`${key}: ${s.keys[key]}`);
  for (const [k, v] of s.lxc) lines.push(`${k}: ${v}`);
  return lines.map((l) => `${l}\n`).join("");
}

/** PVE::Tools::encode_text: control characters, ':' and anything outside ASCII as %XX of its UTF-8 bytes. */
function encodeText(text: string): string {
  return [...text]
    .map((ch) => (/^[\x20-\x39\x3b-\x7e]$/.test(ch) ? ch : encodeURIComponent(ch)))
    .join("")
    .replace(/%[0-9a-f]{2}/g, (h) => h.toUpperCase());
}

function decodeText(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** The lowest devN index neither in the section nor taken; -1 when all 256 are used (pve-container: MAX_DEVICES). */
export function freeDevIndex(
  section: CtConfigSection,
  taken: ReadonlySet<number> = new Set(),
): number {
  for (let i = 0; i < 256; i++) if (!(`dev${i}` in section.keys) && !taken.has(i)) return i;
  return -1;
}

/** PVE's config digest: SHA-1 of the file's bytes (parse_pct_config's "digest", what `--digest` compares). */
export function ctConfigDigest(text: string): string {
  // node:crypto on first use, as journal.ts: loading it costs every command's start-up.
  return (require("node:crypto") as typeof Crypto)
    .createHash("sha1")
    .update(text, "utf8")
    .digest("hex");
}
