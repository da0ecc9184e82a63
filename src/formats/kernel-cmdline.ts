// The kernel command line: /proc/cmdline, /etc/kernel/cmdline, GRUB_CMDLINE_LINUX*.
//
// Splitting follows the kernel's own next_arg() (lib/cmdline.c): whitespace separates
// parameters except inside double quotes; the first "=" splits name and value; a quoted
// value has its quotes removed. Parameter names compare with "-" and "_" as equal
// (parameq() in kernel/params.c), so "vfio-pci.ids" and "vfio_pci.ids" are the same.

export interface CmdlineParam {
  key: string;
  value: string | null;
  raw: string;
  /** Where a configured parameter was written (file and 1-based line), when known. */
  origin?: { file: string; line: number | null };
}

export function parseCmdline(line: string): CmdlineParam[] {
  return tokenSpans(line.replace(/\n+$/, "")).map((t) => splitParam(t.raw));
}

function splitParam(raw: string): CmdlineParam {
  // The first "=" splits, even inside quotes; a leading quote belongs to the whole parameter.
  const eq = raw.indexOf("=");
  if (eq === -1) return { key: stripQuotes(raw), value: null, raw };
  return { key: raw.slice(0, eq).replace(/^"/, ""), value: stripQuotes(raw.slice(eq + 1)), raw };
}

function stripQuotes(v: string): string {
  let r = v;
  if (r.startsWith('"')) r = r.slice(1);
  if (r.endsWith('"')) r = r.slice(0, -1);
  return r;
}

function isSpace(c: string): boolean {
  return c === " " || c === "\t" || c === "\n" || c === "\r" || c === "\f" || c === "\v";
}

/** Canonical name for comparisons: dashes and underscores are the same to the kernel. */
export function normalizeParamName(key: string): string {
  return key.replace(/-/g, "_");
}

/** Render one parameter the way a person writes it, quoting a value that has spaces. */
export function formatParam(key: string, value: string | null): string {
  if (value === null) return key;
  return /\s/.test(value) ? `${key}="${value}"` : `${key}=${value}`;
}

export function param(key: string, value: string | null = null): CmdlineParam {
  return { key, value, raw: formatParam(key, value) };
}

export function findParams(params: readonly CmdlineParam[], key: string): CmdlineParam[] {
  const k = normalizeParamName(key);
  return params.filter((p) => normalizeParamName(p.key) === k);
}

/** The value the kernel uses for `key`: the last occurrence wins for ordinary parameters. */
export function lastValue(params: readonly CmdlineParam[], key: string): string | null | undefined {
  const found = findParams(params, key);
  if (found.length === 0) return undefined;
  return found[found.length - 1]!.value;
}

/** True when `wanted` is present: same name, and same value when one is given. */
export function hasParam(params: readonly CmdlineParam[], wanted: CmdlineParam): boolean {
  return findParams(params, wanted.key).some((p) => wanted.value === null || sameValue(p, wanted));
}

/** Values compare exactly, except list-valued ids, which compare as sets. */
export function sameValue(a: CmdlineParam, b: CmdlineParam): boolean {
  if (a.value === b.value) return true;
  if (a.value === null || b.value === null) return false;
  if (/\.ids$/.test(normalizeParamName(a.key))) {
    const sa = new Set(a.value.toLowerCase().split(","));
    const sb = b.value.toLowerCase().split(",");
    return sb.length === sa.size && sb.every((x) => sa.has(x));
  }
  return false;
}

export function printCmdline(params: readonly CmdlineParam[]): string {
  return params.map((p) => p.raw).join(" ");
}

/**
 * Edit a command line string in place: drop parameters matched by `remove` (by raw text)
 * and append `add` at the end, keeping every other byte as the user wrote it.
 */
export function editCmdline(
  line: string,
  edit: { add?: readonly CmdlineParam[]; remove?: readonly string[] },
): string {
  const remove = new Set(edit.remove ?? []);
  let text = line;
  if (remove.size > 0) {
    // Rebuild from spans so spacing between kept parameters is preserved.
    const spans = tokenSpans(line);
    let result = "";
    let cursor = 0;
    for (const sp of spans) {
      if (!remove.has(sp.raw)) continue;
      // Remove the token and the whitespace before it (or after, at the start).
      let from = sp.start;
      while (from > 0 && isSpace(line[from - 1]!) && from > cursor) from--;
      let to = sp.end;
      if (from === 0 || from === cursor) while (to < line.length && isSpace(line[to]!)) to++;
      result += line.slice(cursor, from);
      cursor = to;
    }
    result += line.slice(cursor);
    text = result;
  }
  const add = edit.add ?? [];
  if (add.length > 0) {
    const trailing = /\s*$/.exec(text)![0];
    const body = text.slice(0, text.length - trailing.length);
    const addition = add.map((p) => p.raw).join(" ");
    text = (body.length > 0 ? `${body} ${addition}` : addition) + trailing.replace(/[ \t]+/g, "");
  }
  return text;
}

/** Where each parameter starts and ends: whitespace separates, except inside double quotes. */
function tokenSpans(s: string): Array<{ start: number; end: number; raw: string }> {
  const spans: Array<{ start: number; end: number; raw: string }> = [];
  let i = 0;
  while (i < s.length) {
    while (i < s.length && isSpace(s[i]!)) i++;
    if (i >= s.length) break;
    const start = i;
    let inQuote = false;
    while (i < s.length) {
      const c = s[i]!;
      if (!inQuote && isSpace(c)) break;
      if (c === '"') inQuote = !inQuote;
      i++;
    }
    spans.push({ start, end: i, raw: s.slice(start, i) });
  }
  return spans;
}
