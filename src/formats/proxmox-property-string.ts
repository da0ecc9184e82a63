// Proxmox property strings ("0000:01:00,pcie=1,x-vga=1"), as pve-common's
// parse_property_string reads them: comma-separated `key=value` parts, where the single part
// without "=" fills the format's default key (`host` for hostpciN, `type` for vga/machine,
// `cputype` for cpu, `file` for disks). Order is kept so printing gives back what was read.

export interface PropertyString {
  /** Ordered key/value pairs; the default key appears under its own name. */
  entries: Array<[string, string]>;
}

export function parsePropertyString(value: string, defaultKey: string | null): PropertyString {
  const entries: Array<[string, string]> = [];
  for (const part of value.split(",")) {
    if (part === "") continue;
    const eq = part.indexOf("=");
    if (eq === -1) {
      if (defaultKey === null) throw new Error(`value without key in property string: ${part}`);
      entries.push([defaultKey, part]);
    } else entries.push([part.slice(0, eq), part.slice(eq + 1)]);
  }
  return { entries };
}

export function getProperty(ps: PropertyString, key: string): string | undefined {
  return ps.entries.find(([k]) => k === key)?.[1];
}

export function setProperty(ps: PropertyString, key: string, value: string | null): PropertyString {
  const entries = ps.entries
    .filter(([k]) => k !== key || value !== null)
    .map(([k, v]): [string, string] => (k === key ? [k, value!] : [k, v]));
  if (value !== null && !entries.some(([k]) => k === key)) entries.push([key, value]);
  return { entries };
}

/** Print; the default key's value goes first and bare, as Proxmox writes it. */
export function printPropertyString(ps: PropertyString, defaultKey: string | null): string {
  const first = defaultKey === null ? undefined : ps.entries.find(([k]) => k === defaultKey);
  const rest = ps.entries.filter((e) => e !== first);
  return [...(first ? [first[1]] : []), ...rest.map(([k, v]) => `${k}=${v}`)].join(",");
}

/** Proxmox booleans inside property strings: 1|on|yes|true / 0|off|no|false (parse_boolean). */
export function propertyBoolean(v: string | undefined): boolean | null {
  if (v === undefined) return null;
  if (/^(1|on|yes|true)$/i.test(v)) return true;
  if (/^(0|off|no|false)$/i.test(v)) return false;
  return null;
}
