// modprobe.d(5) configuration, as kmod reads it.
//
// Facts that decide behaviour (docs/domain-facts.md §3):
// - Only files ending in ".conf" are read, from /etc/modprobe.d, /run/modprobe.d,
//   /usr/local/lib/modprobe.d, /lib/modprobe.d and /usr/lib/modprobe.d; a file in /etc (or
//   /run) shadows a file of the same name further down the list.
// - Module names treat "-" and "_" as the same (kmod's underscores()).
// - `blacklist` takes an exact module name: kmod compares with streq(), so "nvidia*" is a
//   module literally named "nvidia*" and blacklists nothing. Only `alias` takes wildcards.
// - A line ending in "\" continues on the next line; a line whose first non-blank char is
//   "#" is a comment.

export type ModprobeCommand =
  "alias" | "blacklist" | "install" | "remove" | "options" | "softdep" | "softdeps" | "unknown";

export interface ModprobeDirective {
  file: string;
  line: number;
  command: ModprobeCommand;
  /** First argument: a module name (normalised: "-" -> "_") or, for alias, the wildcard. */
  module: string;
  args: string[];
  raw: string;
}

/** Folders kmod reads, highest priority first. */
export const MODPROBE_DIRS = [
  "etc/modprobe.d",
  "run/modprobe.d",
  "usr/local/lib/modprobe.d",
  "lib/modprobe.d",
  "usr/lib/modprobe.d",
];

const COMMANDS = new Set([
  "alias",
  "blacklist",
  "install",
  "remove",
  "options",
  "softdep",
  "softdeps",
]);

export function normalizeModuleName(name: string): string {
  return name.replace(/-/g, "_");
}

export function parseModprobeConf(file: string, text: string): ModprobeDirective[] {
  const out: ModprobeDirective[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const startLine = i + 1;
    let l = lines[i]!;
    // Continuation lines.
    while (l.endsWith("\\") && i + 1 < lines.length) {
      l = l.slice(0, -1) + lines[++i];
    }
    const trimmed = l.trim();
    if (trimmed === "" || trimmed.startsWith("#")) continue;
    const words = trimmed.split(/\s+/);
    const cmd = words[0]!;
    const command = (COMMANDS.has(cmd) ? cmd : "unknown") as ModprobeCommand;
    const first = words[1] ?? "";
    // alias: the first argument is a wildcard pattern, kept verbatim; everything else a module.
    const module =
      command === "alias" || command === "unknown" ? first : normalizeModuleName(first);
    out.push({ file, line: startLine, command, module, args: words.slice(2), raw: trimmed });
  }
  return out;
}

/** Module names a `softdep` line pulls in before ("pre:") and after ("post:"). */
export function softdepTargets(d: ModprobeDirective): { pre: string[]; post: string[] } {
  const pre: string[] = [];
  const post: string[] = [];
  let into: string[] | null = null;
  for (const a of d.args) {
    if (a === "pre:") into = pre;
    else if (a === "post:") into = post;
    else if (into) into.push(normalizeModuleName(a));
  }
  return { pre, post };
}

/** `options MOD a=1 b=2` as a map. */
export function optionsOf(d: ModprobeDirective): Record<string, string> {
  const r: Record<string, string> = {};
  for (const a of d.args) {
    const eq = a.indexOf("=");
    if (eq === -1) r[a] = "";
    else r[a.slice(0, eq)] = a.slice(eq + 1).replace(/^"|"$/g, "");
  }
  return r;
}

/**
 * Order the files kmod would read: by file name across all folders, a name found in a
 * higher-priority folder shadowing the same name in lower ones (kmod conf_files_list).
 */
export function effectiveConfFiles(
  filesByDir: ReadonlyArray<{ dir: string; names: readonly string[] }>,
): string[] {
  const chosen = new Map<string, string>();
  for (const dir of MODPROBE_DIRS) {
    const entry = filesByDir.find((f) => f.dir === dir);
    if (!entry) continue;
    for (const name of entry.names) {
      if (!name.endsWith(".conf")) continue;
      if (!chosen.has(name)) chosen.set(name, `${dir}/${name}`);
    }
  }
  return [...chosen.keys()].sort().map((n) => chosen.get(n)!);
}

/** Characters that make a pattern: kmod matches them only in `alias`. */
export function hasWildcard(name: string): boolean {
  return /[*?[\]]/.test(name);
}

/** Format a file we own: a header naming the tool, then directives, one per line. */
export function printModprobeConf(header: readonly string[], lines: readonly string[]): string {
  return [...header.map((h) => `# ${h}`), ...lines].join("\n") + "\n";
}
