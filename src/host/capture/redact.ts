// `snapshot --redact`: take out what identifies the machine or its owner before a snapshot is
// posted in public, and keep everything the diagnosis needs.
//
// Removed (each replaced by a stable placeholder, so two devices stay two devices):
//   - serial numbers: USB `serial` (not root hubs, whose "serial" is their controller's PCI
//     address), NVMe controller `serial`, DMI serials/UUID/asset tags, the serials and
//     WWN/EUI ids in dev/disk/by-id names, nvidia-smi's serial and GPU UUID, and the PCIe
//     Device Serial Number capability inside config space (NICs often put their MAC there);
//   - MAC addresses (sys/class/net/*/address), everywhere they appear (the kernel log prints them);
//   - host names: etc/hostname, proc/sys/kernel/hostname, the etc/pve/nodes/<name> folder and
//     the links into it, and lines of command output (dmesg, uname, pveversion) that name the
//     host. The host name is replaced only where it stands as a word in those files, because
//     short names ("pve") are also parts of kernel versions and paths ("6.8.12-4-pve", "/etc/pve").
// Serials and MACs are replaced in every file, path and link target; values shorter than six
// characters or generic firmware fillers ("Default string") are only blanked where read, since
// replacing them everywhere would corrupt unrelated text.

import { DMI_SERIAL_FILES } from "./capture.js";
import { SnapshotEntries, type SnapshotEntry } from "./entries.js";

export const REDACTED_HOST = "redacted-host";

export interface RedactionResult {
  entries: SnapshotEntries;
  /** Categories, for manifest.json "redacted". */
  redacted: string[];
  notes: string[];
  /**
   * The same replacements for any other text drawn from this host (`report --redact`: journal
   * entries, file contents in diffs): serials and MACs everywhere, host names as whole words.
   */
  replaceText(text: string): string;
}

const MAC = /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/i;
const PCI_ADDRESS = /^[0-9a-f]{4,}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$/i;
const FILLER =
  /^(0+|0123456789|1234567890|none|n\/a|not specified|not applicable|default string|to be filled by o\.e\.m\.|system serial number|chassis serial number|base board serial number|serial|unknown|x+|f+)$/i;

/** Files where a host name is replaced (as a whole word); everything else is left alone. */
function mayNameHost(p: string): boolean {
  return (
    p === "etc/hostname" ||
    p === "proc/sys/kernel/hostname" ||
    p === "proc/cmdline" ||
    p.startsWith("cmd/") ||
    p.startsWith("etc/pve/")
  );
}

class Secrets {
  /** value -> placeholder, replaced everywhere. */
  readonly global = new Map<string, string>();
  private serials = 0;
  private macs = 0;

  serial(value: string): string {
    const v = value.trim();
    const existing = this.global.get(v);
    if (existing) return existing;
    const placeholder = `REDACTED-SERIAL-${++this.serials}`;
    if (v.length >= 6 && !FILLER.test(v) && !PCI_ADDRESS.test(v)) this.global.set(v, placeholder);
    return placeholder;
  }

  mac(value: string): string {
    const v = value.trim().toLowerCase();
    const existing = this.global.get(v);
    if (existing) return existing;
    // RFC 7042 §2.1.2: 00-00-5E-00-53-00 .. FF are for documentation.
    const placeholder = `00:00:5e:00:53:${(++this.macs % 256).toString(16).padStart(2, "0")}`;
    this.global.set(v, placeholder);
    return placeholder;
  }
}

export function redactSnapshot(input: SnapshotEntries): RedactionResult {
  const secrets = new Secrets();
  const found = new Set<string>();

  // 1. Find the values.
  for (const [p, e] of input) {
    if (e.type !== "file") continue;
    const text = e.data.toString("utf8").trim();
    const base = p.slice(p.lastIndexOf("/") + 1);
    const folder = p.slice(0, p.lastIndexOf("/"));
    const folderName = folder.slice(folder.lastIndexOf("/") + 1);
    if (base === "serial" && text) {
      if (/^usb\d+$/.test(folderName)) continue; // a root hub's "serial" is its controller's address
      found.add(
        /\/nvme\/nvme\d+$/.test(folder) || folder.startsWith("sys/class/nvme/")
          ? "nvme-serial"
          : "usb-serial",
      );
      secrets.serial(text);
    } else if (folder.endsWith("dmi/id") && DMI_SERIAL_FILES.includes(base) && text) {
      found.add("dmi-serial");
      secrets.serial(text);
    } else if (
      base === "address" &&
      /\/net\/[^/]+$/.test(folder) &&
      MAC.test(text) &&
      !/^(00:){5}00$|^(ff:){5}ff$/i.test(text)
    ) {
      found.add("mac-address");
      secrets.mac(text);
    } else if (p === "cmd/nvidia-smi-q") {
      for (const m of text.matchAll(
        /^\s*(?:Serial Number|GPU UUID|Board Id)\s*:\s*(\S.*?)\s*$/gm,
      )) {
        if (m[1] && m[1] !== "N/A") {
          found.add("gpu-serial");
          secrets.serial(m[1]);
        }
      }
    }
  }
  for (const p of input.paths()) {
    const m = /^dev\/disk\/by-id\/(.+)$/.exec(p);
    if (!m) continue;
    const id = diskIdSecret(m[1]!);
    if (id) {
      found.add("disk-id");
      secrets.serial(id);
    }
  }
  const hostNames = new Map<string, string>();
  const local = [input.text("etc/hostname"), input.text("proc/sys/kernel/hostname")]
    .map((h) => h?.trim())
    .filter((h): h is string => !!h);
  for (const h of local) {
    hostNames.set(h, REDACTED_HOST);
    const short = h.split(".")[0]!;
    if (short) hostNames.set(short, REDACTED_HOST);
  }
  let otherNodes = 0;
  for (const p of input.paths()) {
    const m = /^etc\/pve\/nodes\/([^/]+)$/.exec(p);
    if (m && !hostNames.has(m[1]!)) hostNames.set(m[1]!, `redacted-node-${++otherNodes}`);
  }
  if (hostNames.size) found.add("hostname");

  // 2. Rewrite contents, paths and link targets.
  const globalRe = buildRegExp([...secrets.global.keys()], "gi", false);
  const lower = new Map([...secrets.global].map(([k, v]) => [k.toLowerCase(), v]));
  const hostRe = buildRegExp([...hostNames.keys()], "g", true);
  const replaceGlobal = (s: string) =>
    globalRe
      ? s.replace(globalRe, (v) => secrets.global.get(v) ?? lower.get(v.toLowerCase()) ?? v)
      : s;
  // Path components: serials anywhere (dev/disk/by-id names); a host name only as the
  // Proxmox node folder (etc/pve/nodes/NAME), never as any other component ("etc/pve").
  const replacePath = (p: string, where = p) => {
    const underPve = where.startsWith("etc/pve/");
    const parts = p.split("/");
    return parts
      .map((c, i) =>
        underPve && parts[i - 1] === "nodes" && hostNames.has(c)
          ? hostNames.get(c)!
          : replaceGlobal(c),
      )
      .join("/");
  };

  const out = new SnapshotEntries();
  for (const p of input.paths()) {
    const e = input.get(p)!;
    const np = replacePath(p);
    const ne = rewrite(p, e, { secrets, replaceGlobal, hostRe, hostNames, replacePath });
    if (ne.type === "dir") out.dir(np);
    else if (ne.type === "link") out.link(np, ne.target);
    else out.file(np, ne.data);
  }
  const replaceText = (s: string) => {
    const t = replaceGlobal(s);
    return hostRe ? t.replace(hostRe, (h) => hostNames.get(h) ?? h) : t;
  };
  const notes: string[] = [];
  if (found.size)
    notes.push(
      `redacted (--redact): ${[...found].sort().join(", ")}; placeholders REDACTED-SERIAL-N, 00:00:5e:00:53:NN (MACs), ${REDACTED_HOST}`,
    );
  return {
    entries: out,
    redacted: [
      "hostname",
      "usb-serial",
      "nvme-serial",
      "dmi-serial",
      "disk-id",
      "gpu-serial",
      "pci-dsn",
      "mac-address",
    ],
    notes,
    replaceText,
  };
}

interface RewriteContext {
  secrets: Secrets;
  replaceGlobal(s: string): string;
  hostRe: RegExp | null;
  hostNames: Map<string, string>;
  replacePath(p: string, where?: string): string;
}

function rewrite(p: string, e: SnapshotEntry, ctx: RewriteContext): SnapshotEntry {
  if (e.type === "dir") return e;
  if (e.type === "link") return { type: "link", target: ctx.replacePath(e.target, p) };
  const base = p.slice(p.lastIndexOf("/") + 1);
  const folder = p.slice(0, p.lastIndexOf("/"));
  if (base === "config" && p.startsWith("sys/devices/"))
    return { type: "file", data: zeroDeviceSerialNumber(e.data) };
  if (p.startsWith("sys/firmware/efi/efivars/")) return e;
  const raw = e.data.toString("utf8");
  const trimmed = raw.trim();
  // The files that hold a serial get its placeholder even when it is too short to replace elsewhere.
  if (
    (base === "serial" && !/^usb\d+$/.test(folder.slice(folder.lastIndexOf("/") + 1))) ||
    (folder.endsWith("dmi/id") && DMI_SERIAL_FILES.includes(base))
  ) {
    return trimmed ? { type: "file", data: Buffer.from(`${ctx.secrets.serial(trimmed)}\n`) } : e;
  }
  let text = ctx.replaceGlobal(raw);
  if (ctx.hostRe && mayNameHost(p))
    text = text.replace(ctx.hostRe, (h) => ctx.hostNames.get(h) ?? h);
  return text === raw ? e : { type: "file", data: Buffer.from(text) };
}

/** One alternation of the values, longest first; `word`: not inside a longer name or path. */
function buildRegExp(values: string[], flags: string, word: boolean): RegExp | null {
  if (values.length === 0) return null;
  const alt = values
    .sort((a, b) => b.length - a.length)
    .map((v) => v.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&"))
    .join("|");
  return word
    ? new RegExp(`(?<![\\w.\\-/])(?:${alt})(?![\\w\\-/])`, flags)
    : new RegExp(alt, flags);
}

/**
 * The identifying part of a dev/disk/by-id name. udev names disks `BUS-MODEL_SERIAL` (ata-,
 * nvme-, scsi-, usb-...-0:0) and by world-wide ids (`wwn-0x...`, `nvme-eui.`, `nvme-nvme.`);
 * partitions add `-partN`.
 */
export function diskIdSecret(name: string): string | null {
  const n = name.replace(/-part\d+$/, "");
  if (/^(dm-|lvm-|md-)/.test(n)) return null; // device-mapper, LVM and md names and uuids: not hardware ids
  const wwid = /^(?:wwn-|nvme-eui\.|nvme-nvme\.|scsi-(?=[0-9a-f]{8,}$))(.+)$/i.exec(n);
  if (wwid) return wwid[1]!;
  const body = n.replace(/^usb-/, "").replace(/-\d+:\d+$/, "");
  const i = body.lastIndexOf("_");
  if (i === -1) return null;
  const serial = body.slice(i + 1);
  return serial.length >= 4 ? serial : null;
}

/** Zero the PCIe Device Serial Number extended capability (id 0x0003) in a config space image. */
export function zeroDeviceSerialNumber(config: Buffer): Buffer {
  if (config.length < 0x104) return config;
  let out: Buffer | null = null;
  let off = 0x100;
  for (let hops = 0; off >= 0x100 && off + 12 <= config.length && hops < 64; hops++) {
    const header = config.readUInt32LE(off);
    if (header === 0 || header === 0xffffffff) break;
    if ((header & 0xffff) === 0x0003) {
      out ??= Buffer.from(config);
      out.fill(0, off + 4, off + 12);
    }
    off = (header >>> 20) & 0xffc;
  }
  return out ?? config;
}
