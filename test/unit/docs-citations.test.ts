// Code comments, README and ARCHITECTURE cite the design notes as `docs/<note>.md §N` (or with
// a quoted section title). Every such citation must name a note that exists in docs/ and a
// section that exists in it, so a note edited or renamed later cannot leave a comment pointing
// at nothing.

import { readFileSync, readdirSync, statSync, existsSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";
import { REPO } from "../helpers/fixtures.js";

const SCANNED = ["src", "test", "tools", "docs", "README.md", "ARCHITECTURE.md"];
const SKIPPED = ["test/fixtures/hosts", "test/golden", "node_modules"];

function files(path: string): string[] {
  const abs = join(REPO, path);
  if (SKIPPED.some((s) => path === s || path.startsWith(`${s}/`))) return [];
  if (!statSync(abs).isDirectory()) return [path];
  return readdirSync(abs).flatMap((n) => files(`${path}/${n}`));
}

// Not a docs/ folder inside some other path or URL (".../docs/getting_started.md").
const CITATION =
  /(?<![\w/.:-])docs\/([\w/.-]+?\.md)((?:,? ?§ ?[0-9][0-9a-z.]*)*)(?:,? "([^"\n]+)")?/g;

const NOTE_STEMS = [
  "domain-fact",
  "anchor",
  "proxmox-api",
  "snapshot",
  "e2e",
  "design",
  "style",
  "seed",
];

interface Citation {
  where: string;
  note: string;
  sections: string[];
  /** A quoted section title after the path (`docs/design.md "Public interfaces"`). */
  title?: string;
}

function citations(): Citation[] {
  const out: Citation[] = [];
  for (const f of SCANNED.flatMap(files)) {
    if (!/\.(ts|mjs|cjs|sh|md)$/.test(f)) continue;
    const text = readFileSync(join(REPO, f), "utf8");
    for (const m of text.matchAll(CITATION)) {
      const line = text.slice(0, m.index).split("\n").length;
      const sections = [...m[2]!.matchAll(/§ ?([0-9][0-9a-z.]*)/g)].map((s) =>
        s[1]!.replace(/\.+$/, ""),
      );
      // Other projects' docs/ folders ("sunshine: docs/getting_started.md") are not ours: a
      // citation has a section, or names one of our notes (possibly misspelled).
      if (sections.length === 0 && !NOTE_STEMS.some((stem) => m[1]!.includes(stem))) continue;
      out.push({ where: `${f}:${line}`, note: m[1]!, sections, title: m[3] });
    }
  }
  return out;
}

/** The lines of one `## N.` section of a note. */
function sectionBody(lines: string[], top: string): string[] | null {
  const start = lines.findIndex((l) => new RegExp(`^## ${top}\\.? `).test(l));
  if (start < 0) return null;
  const end = lines.findIndex((l, i) => i > start && /^## /.test(l));
  return lines.slice(start, end < 0 ? undefined : end);
}

/** §3 is a `## 3.` heading, §1.9 a `### 1.9` heading (or item 9 of §1's list), §4b the
 * bold "(b)" paragraph of §4. */
export function hasSection(text: string, section: string): boolean {
  const lines = text.split("\n");
  const sub = /^(\d+)\.(\d+)$/.exec(section);
  if (sub) {
    if (lines.some((l) => new RegExp(`^### ${sub[1]}\\.${sub[2]}[ .]`).test(l))) return true;
    return (sectionBody(lines, sub[1]!) ?? []).some((l) => new RegExp(`^${sub[2]}\\. `).test(l));
  }
  const lettered = /^(\d+)([a-z])$/.exec(section);
  if (lettered)
    return (sectionBody(lines, lettered[1]!) ?? []).some((l) => l.includes(`**(${lettered[2]})`));
  return /^\d+$/.test(section) && sectionBody(lines, section) !== null;
}

describe("citations of docs/", () => {
  const all = citations();

  it("finds the citations (the scan itself works)", () => {
    expect(all.length).toBeGreaterThan(5);
    expect(all.map((c) => c.note)).toContain("domain-facts.md");
  });

  it("name notes that exist and sections that exist in them", () => {
    const broken: string[] = [];
    for (const c of all) {
      const path = join(REPO, "docs", c.note);
      if (!existsSync(path)) {
        broken.push(`${c.where}: docs/${c.note} does not exist`);
        continue;
      }
      const text = readFileSync(path, "utf8");
      for (const s of c.sections)
        if (!hasSection(text, s)) broken.push(`${c.where}: docs/${c.note} has no §${s}`);
      if (c.title && !text.split("\n").some((l) => /^#+ /.test(l) && l.includes(c.title!)))
        broken.push(`${c.where}: docs/${c.note} has no section "${c.title}"`);
    }
    expect(broken).toEqual([]);
  });

  it("always carry the docs/ path (a bare note name is a citation the check above cannot see)", () => {
    const bare =
      /(?<![\w/.-])(?:research\/)?(domain-facts|anchors|e2e-lab|proxmox-api|snapshot-format)\.md/;
    const own = ["test/unit/docs-citations.test.ts", "test/unit/finding-sources.test.ts"];
    const found = ["src", "test", "tools"]
      .flatMap(files)
      .filter((f) => /\.(ts|mjs|cjs|sh)$/.test(f) && !own.includes(f))
      .flatMap((f) =>
        readFileSync(join(REPO, f), "utf8")
          .split("\n")
          .flatMap((l, i) => (bare.test(l) ? [`${f}:${i + 1}: ${l.trim()}`] : [])),
      );
    expect(found).toEqual([]);
  });

  it("resolve sections the way the notes number them", () => {
    const note = (p: string) => readFileSync(join(REPO, "docs", p), "utf8");
    expect(hasSection(note("domain-facts.md"), "3")).toBe(true);
    expect(hasSection(note("domain-facts.md"), "8")).toBe(false);
    expect(hasSection(note("proxmox-api.md"), "1.9")).toBe(true);
    expect(hasSection(note("proxmox-api.md"), "4.9")).toBe(false);
    expect(hasSection(note("research/anchors.md"), "0.2")).toBe(true);
    expect(hasSection(note("research/anchors.md"), "4b")).toBe(true);
    expect(hasSection(note("research/anchors.md"), "4z")).toBe(false);
    expect(relative(REPO, join(REPO, "docs"))).toBe("docs");
  });
});
