// The committed fixture archives must be exactly what their specs produce (run
// `npm run fixtures` after changing a spec or the generator).
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { ArchiveRoot } from "../../src/host/archive-root.js";
import { listTree } from "../../tools/fakehost/archive.js";
import { EXAMPLE_SPEC, FIXTURE_SPECS } from "../fixtures/specs/index.js";
import { ROM_FIXTURES } from "../fixtures/specs/roms.js";
import { REPO, fixturePath, writeSpec } from "../helpers/fixtures.js";

function folderEntries(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const rel of listTree(dir)) {
    const st = fs.lstatSync(path.join(dir, rel));
    if (st.isSymbolicLink()) out.set(rel, `link:${fs.readlinkSync(path.join(dir, rel))}`);
    else if (st.isFile())
      out.set(rel, `file:${fs.readFileSync(path.join(dir, rel)).toString("base64")}`);
  }
  return out;
}

function archiveEntries(file: string, rels: Iterable<string>): Map<string, string> {
  const a = ArchiveRoot.load(file);
  const out = new Map<string, string>();
  for (const rel of rels) {
    const link = a.readLink(rel);
    if (link !== null) out.set(rel, `link:${link}`);
    else {
      const r = a.readBytes(rel);
      if (r.ok) out.set(rel, `file:${r.value.toString("base64")}`);
    }
  }
  return out;
}

describe("fixture archives match their specs", () => {
  for (const spec of FIXTURE_SPECS) {
    it(spec.name, () => {
      const { dir, cleanup } = writeSpec(spec);
      try {
        const want = folderEntries(dir);
        const got = archiveEntries(fixturePath(spec.name), want.keys());
        expect([...got.keys()].sort()).toEqual([...want.keys()].sort());
        for (const [k, v] of want) expect(got.get(k), k).toBe(v);
      } finally {
        cleanup();
      }
    });
  }
  it("the bundled example host is the seed host", () => {
    const { dir, cleanup } = writeSpec(EXAMPLE_SPEC);
    try {
      const want = folderEntries(dir);
      const got = archiveEntries(path.join(REPO, "examples/seed-host.tar.gz"), want.keys());
      expect(got.size).toBe(want.size);
    } finally {
      cleanup();
    }
  });
  for (const [name, build] of Object.entries(ROM_FIXTURES)) {
    it(`test/fixtures/roms/${name}`, () => {
      const file = path.join(REPO, "test/fixtures/roms", name);
      expect(fs.readFileSync(file).equals(build()), `${name}: run npm run fixtures`).toBe(true);
    });
  }
});
