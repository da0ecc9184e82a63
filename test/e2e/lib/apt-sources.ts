// The Debian mirror the guest image is built from, taken from this machine's own apt
// configuration (never a host name written into the repository): the first `deb` source whose
// suites include the release itself (not -security/-updates/-backports) and whose components
// include `main`. Both formats apt reads are understood: deb822 `*.sources` stanzas and
// one-line `sources.list` entries (sources.list(5)).
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";

export interface AptSourceFile {
  path: string;
  text: string;
}

interface Source {
  uris: string[];
  suites: string[];
  components: string[];
  types: string[];
}

function parseDeb822(text: string): Source[] {
  const out: Source[] = [];
  // Stanzas are separated by blank lines; continuation lines start with white space.
  for (const stanza of text.split(/\n\s*\n/)) {
    const fields = new Map<string, string>();
    let last: string | null = null;
    for (const line of stanza.split("\n")) {
      if (/^\s*#/.test(line) || line.trim() === "") continue;
      const m = /^([A-Za-z0-9-]+):\s*(.*)$/.exec(line);
      if (m) {
        last = m[1]!.toLowerCase();
        fields.set(last, m[2]!.trim());
      } else if (last && /^\s/.test(line)) {
        fields.set(last, `${fields.get(last) ?? ""} ${line.trim()}`);
      }
    }
    if (fields.get("enabled")?.toLowerCase() === "no") continue;
    const words = (k: string) => (fields.get(k) ?? "").split(/\s+/).filter(Boolean);
    if (!fields.has("uris")) continue;
    out.push({
      types: words("types"),
      uris: words("uris"),
      suites: words("suites"),
      components: words("components"),
    });
  }
  return out;
}

function parseOneLine(text: string): Source[] {
  const out: Source[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.replace(/#.*$/, "").trim();
    if (!line) continue;
    // deb [ option=value ... ] uri suite [component ...]
    const m = /^(deb|deb-src)\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)\s*(.*)$/.exec(line);
    if (!m) continue;
    out.push({
      types: [m[1]!],
      uris: [m[2]!],
      suites: [m[3]!],
      components: m[4]!.split(/\s+/).filter(Boolean),
    });
  }
  return out;
}

/** The mirror URL (no trailing slash) serving `suite` main, or null when none is configured. */
export function debianMirror(files: readonly AptSourceFile[], suite: string): string | null {
  for (const f of files) {
    const sources = f.path.endsWith(".sources") ? parseDeb822(f.text) : parseOneLine(f.text);
    for (const s of sources) {
      if (!s.types.includes("deb")) continue;
      if (!s.suites.includes(suite) || !s.components.includes("main")) continue;
      const uri = s.uris.find((u) => /^(https?|file):\/\//.test(u));
      if (uri) return uri.replace(/\/+$/, "");
    }
  }
  return null;
}

/** Reads /etc/apt/sources.list and /etc/apt/sources.list.d/*.{list,sources} (under `root`). */
export function readAptSources(root = "/"): AptSourceFile[] {
  const files: AptSourceFile[] = [];
  const add = (path: string) => {
    try {
      files.push({ path, text: readFileSync(path, "utf8") });
    } catch {
      // absent or unreadable: apt skips it too
    }
  };
  add(join(root, "etc/apt/sources.list"));
  const dir = join(root, "etc/apt/sources.list.d");
  let names: string[];
  try {
    names = readdirSync(dir).sort();
  } catch {
    names = [];
  }
  for (const n of names) if (n.endsWith(".list") || n.endsWith(".sources")) add(join(dir, n));
  return files;
}
