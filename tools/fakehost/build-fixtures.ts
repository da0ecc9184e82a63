// Regenerate the fixture snapshots and the bundled example host from their specs:
//   npm run fixtures
import "../esm-require.js"; // first: a `require` for the sources loaded below
import * as fs from "node:fs";
import { createRequire } from "node:module";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { writeSnapshotArchive } from "./archive.js";
import { EXAMPLE_SPEC, FIXTURE_SPECS } from "../../test/fixtures/specs/index.js";
import { ROM_FIXTURES } from "../../test/fixtures/specs/roms.js";
import type { FakeHostSpec } from "./spec.js";
import { writeFakeHost } from "./write-tree.js";

const here = fileURLToPath(import.meta.url);
// src/ loads some Node modules on first use with require() (the bundle is CommonJS); under tsx
// this script is an ES module, which has no require of its own.
(globalThis as { require?: NodeRequire }).require ??= createRequire(import.meta.url);
const repo = path.resolve(path.dirname(here), "../..");

export function buildArchive(spec: FakeHostSpec, outFile: string): void {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "passthrough-fixture-"));
  try {
    const dir = path.join(tmp, spec.name);
    writeFakeHost(spec, dir);
    fs.mkdirSync(path.dirname(outFile), { recursive: true });
    writeSnapshotArchive(dir, outFile, spec.name);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(here)) {
  for (const spec of FIXTURE_SPECS) {
    const out = path.join(repo, "test/fixtures/hosts", `${spec.name}.tar.gz`);
    buildArchive(spec, out);
    console.log(`wrote ${path.relative(repo, out)}`);
  }
  for (const [name, build] of Object.entries(ROM_FIXTURES)) {
    const out = path.join(repo, "test/fixtures/roms", name);
    fs.mkdirSync(path.dirname(out), { recursive: true });
    fs.writeFileSync(out, build());
    console.log(`wrote ${path.relative(repo, out)}`);
  }
  const example = path.join(repo, "examples/seed-host.tar.gz");
  buildArchive(EXAMPLE_SPEC, example);
  console.log(`wrote ${path.relative(repo, example)}`);
}
