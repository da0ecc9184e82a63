// A plain LXC container's config file (/var/lib/lxc/NAME/config), as lxc.container.conf(5)
// defines it: "key = value" lines, "#" comments, blank lines; a key may repeat
// (lxc.mount.entry, lxc.cgroup2.devices.allow, lxc.idmap) and every line counts in file
// order. Edits here are line edits of the text, so the user's comments, order and spacing
// stay as they were and a diff shows only what changed.

/** One "key = value" line (0-based line number in the text). */
export interface LxcEntry {
  key: string;
  value: string;
  line: number;
}

/** LXC's default lxcpath (lxc.system.conf(5), lxc.lxcpath). */
export const DEFAULT_LXC_PATH = "/var/lib/lxc";

const ENTRY = /^\s*(lxc\.[A-Za-z0-9_.-]+)\s*=\s*(.*?)\s*$/;

export function parseLxcConfig(text: string): LxcEntry[] {
  const out: LxcEntry[] = [];
  text.split("\n").forEach((raw, line) => {
    const m = ENTRY.exec(raw.replace(/\r$/, ""));
    if (m) out.push({ key: m[1]!, value: m[2]!, line });
  });
  return out;
}

export function valuesOf(entries: LxcEntry[], key: string): string[] {
  return entries.filter((e) => e.key === key).map((e) => e.value);
}

/** lxc.lxcpath from /etc/lxc/lxc.conf (lxc.system.conf(5)), else the default. */
export function lxcPathFrom(systemConf: string | null): string {
  const set = systemConf === null ? [] : valuesOf(parseLxcConfig(systemConf), "lxc.lxcpath");
  const last = set[set.length - 1];
  return last && last.startsWith("/") ? last.replace(/\/+$/, "") || "/" : DEFAULT_LXC_PATH;
}

/**
 * The host folder of a directory-backed root file system: lxc.rootfs.path is "dir:/path" or a
 * plain path (lxc.container.conf(5)); other backends (lvm:, zfs:, overlay:, nbd:) are not a
 * folder to read. Null then.
 */
export function rootfsFolder(entries: LxcEntry[]): string | null {
  const v = valuesOf(entries, "lxc.rootfs.path").pop();
  if (v === undefined) return null;
  const p = v.startsWith("dir:") ? v.slice(4) : v;
  return p.startsWith("/") ? p : null;
}

/** One lxc.idmap line: "g 0 100000 65536" maps container ids 0.. to host ids 100000.. */
export interface IdMap {
  kind: "u" | "g";
  nsid: number;
  hostid: number;
  range: number;
}

export function parseIdMap(value: string): IdMap | null {
  const m = /^([ug])\s+(\d+)\s+(\d+)\s+(\d+)$/.exec(value.trim());
  if (!m) return null;
  return { kind: m[1] as "u" | "g", nsid: Number(m[2]), hostid: Number(m[3]), range: Number(m[4]) };
}

export function printIdMap(m: IdMap): string {
  return `${m.kind} ${m.nsid} ${m.hostid} ${m.range}`;
}

/** The container's group id maps, in file order. */
export function groupMaps(entries: LxcEntry[]): IdMap[] {
  return valuesOf(entries, "lxc.idmap")
    .map(parseIdMap)
    .filter((m): m is IdMap => m !== null && m.kind === "g");
}

/** The host gid a container gid runs as; null when unmapped (it shows as the overflow gid). */
export function hostIdOf(maps: IdMap[], nsid: number): number | null {
  const m = maps.find((x) => nsid >= x.nsid && nsid < x.nsid + x.range);
  return m ? m.hostid + (nsid - m.nsid) : null;
}

/** The container gid a host gid shows as inside; null when no map covers it. */
export function containerIdOf(maps: IdMap[], hostid: number): number | null {
  const m = maps.find((x) => hostid >= x.hostid && hostid < x.hostid + x.range);
  return m ? m.nsid + (hostid - m.hostid) : null;
}

/**
 * The maps with container id `nsid` mapped to host id `hostid` alone: the range holding it
 * is split around it, the way the Jellyfin/Plex guides map a host render group into an
 * unprivileged container. Sorted by container id.
 */
export function mapOne(maps: IdMap[], nsid: number, hostid: number): IdMap[] {
  const out: IdMap[] = [];
  for (const m of maps) {
    if (nsid < m.nsid || nsid >= m.nsid + m.range) {
      out.push(m);
      continue;
    }
    const below = nsid - m.nsid;
    if (below > 0) out.push({ ...m, range: below });
    const above = m.range - below - 1;
    if (above > 0) out.push({ ...m, nsid: nsid + 1, hostid: m.hostid + below + 1, range: above });
  }
  out.push({ kind: "g", nsid, hostid, range: 1 });
  return out.sort((a, b) => a.nsid - b.nsid);
}

/**
 * The text with every line of `key` that `drop` selects replaced by `lines` (placed where the
 * first of them was, else at the end); other lines as they were.
 */
export function replaceEntries(
  text: string,
  entries: LxcEntry[],
  drop: (e: LxcEntry) => boolean,
  lines: string[],
): string {
  const dropped = new Set(entries.filter(drop).map((e) => e.line));
  const rows = text.split("\n");
  const out: string[] = [];
  let placed = false;
  rows.forEach((row, i) => {
    if (!dropped.has(i)) return void out.push(row);
    if (!placed) out.push(...lines);
    placed = true;
  });
  return placed ? out.join("\n") : appendLines(text, lines);
}

/** The text with `lines` after its last line (a final newline kept or added). */
export function appendLines(text: string, lines: string[]): string {
  if (lines.length === 0) return text;
  const base = text === "" || text.endsWith("\n") ? text : `${text}\n`;
  return `${base}${lines.join("\n")}\n`;
}
