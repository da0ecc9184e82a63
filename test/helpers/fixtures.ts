// Fixture hosts: the committed snapshot archives, and fresh trees written from specs.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import type { FakeHostSpec } from "../../tools/fakehost/spec.js";
import { writeFakeHost } from "../../tools/fakehost/write-tree.js";
import { openSnapshot } from "../../src/host/open-root.js";
import { readHostState } from "../../src/host/read-host.js";
import type { HostState } from "../../src/host/types.js";

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

/** test/fixtures/hosts/<name>.tar.gz */
export function fixturePath(name: string): string {
  return path.join(REPO, "test/fixtures/hosts", `${name}.tar.gz`);
}

const stateCache = new Map<string, HostState>();

/** HostState of a committed fixture (names from the fixture's own pci.ids only). */
export function fixtureState(name: string): HostState {
  let s = stateCache.get(name);
  if (!s) {
    const { root, manifest } = openSnapshot(fixturePath(name));
    s = readHostState(root, { manifest, systemPciIds: false });
    stateCache.set(name, s);
  }
  return structuredClone(s);
}

/** Write a spec to a fresh temporary folder (removed by the caller via `cleanup`). */
export function writeSpec(spec: FakeHostSpec): { dir: string; cleanup: () => void } {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), "passthrough-test-"));
  const dir = path.join(base, spec.name);
  writeFakeHost(spec, dir);
  return { dir, cleanup: () => fs.rmSync(base, { recursive: true, force: true }) };
}

/** HostState of a spec, read from a freshly written tree. */
export function specState(spec: FakeHostSpec): HostState {
  const { dir, cleanup } = writeSpec(spec);
  try {
    const { root, manifest } = openSnapshot(dir);
    return readHostState(root, { manifest, systemPciIds: false });
  } finally {
    cleanup();
  }
}
