// The verify and guest check catalogs document exactly the ids those commands emit: every id
// `verify` prints on the verify-* fixture hosts, and `guest check` on the guest-* fixtures and
// a bare-metal host, is in its command's catalog, and every catalog entry is printed on at
// least one of them, so no entry is stale. The merged catalog `explain` reads holds them all
// once. (checks-catalog.test.ts does the same for `check`.)

import { describe, expect, it } from "vitest";
import { VERIFY_CATALOG } from "../../src/apply/verify-catalog.js";
import { CATALOG } from "../../src/checks/catalog.js";
import { FINDINGS, FINDING_IDS, findingEntry } from "../../src/cli/finding-catalog.js";
import { GUEST_CATALOG } from "../../src/guest/guest-catalog.js";
import { FIXTURE_SPECS } from "../fixtures/specs/index.js";
import { cliJson } from "../helpers/cli.js";
import { fixturePath } from "../helpers/fixtures.js";

const named = (prefix: string) => FIXTURE_SPECS.map((s) => s.name).filter((n) => n.startsWith(prefix));

async function emitted(argv: (fixture: string) => string[], fixtures: string[]): Promise<Map<string, string[]>> {
  const where = new Map<string, string[]>();
  for (const name of fixtures) {
    const { json, stderr } = await cliJson(argv(name));
    expect(stderr, name).toBe("");
    expect(json.findings.length, name).toBeGreaterThan(0);
    for (const f of json.findings as Array<{ id: string }>) where.set(f.id, [...(where.get(f.id) ?? []), name]);
  }
  return where;
}

function wellFormed(catalog: Readonly<Record<string, { title: string; meaning: string; why: string; fix: string; sources: readonly string[] }>>, prefix: string) {
  for (const [id, e] of Object.entries(catalog)) {
    expect(id).toMatch(new RegExp(`^${prefix}\\.[a-z0-9-]+(\\.[a-z0-9-]+)?$`));
    expect(e.title.length, `${id}.title`).toBeGreaterThan(3);
    for (const k of ["meaning", "why", "fix"] as const) expect(e[k].length, `${id}.${k}`).toBeGreaterThan(40);
    expect(e.sources.length, `${id}.sources`).toBeGreaterThan(0);
  }
}

describe("verify catalog", () => {
  it("documents every id verify emits on the verify fixtures, and nothing else", async () => {
    const fixtures = named("verify-");
    expect(fixtures.length).toBeGreaterThanOrEqual(9);
    const ids = await emitted((n) => ["verify", "--snapshot", fixturePath(n)], fixtures);
    expect([...ids.keys()].filter((id) => !(id in VERIFY_CATALOG))).toEqual([]);
    expect(Object.keys(VERIFY_CATALOG).filter((id) => !ids.has(id))).toEqual([]);
  });

  it("has a title, meaning, why, fix and sources for every entry", () => {
    wellFormed(VERIFY_CATALOG, "verify");
  });
});

describe("guest check catalog", () => {
  it("documents every id guest check emits on the guest fixtures and on bare metal, and nothing else", async () => {
    const fixtures = [...named("guest-"), "seed-before"];
    expect(fixtures.length).toBeGreaterThanOrEqual(6);
    const ids = await emitted((n) => ["guest", "check", "--snapshot", fixturePath(n)], fixtures);
    expect([...ids.keys()].filter((id) => !(id in GUEST_CATALOG))).toEqual([]);
    expect(Object.keys(GUEST_CATALOG).filter((id) => !ids.has(id))).toEqual([]);
    // Bare metal: the hypervisor failure and the skip note, nothing else.
    expect(ids.get("guest.skipped")).toEqual(["seed-before"]);
  });

  it("has a title, meaning, why, fix and sources for every entry", () => {
    wellFormed(GUEST_CATALOG, "guest");
  });
});

describe("merged catalog", () => {
  it("holds every check, verify and guest check entry once, grouped in that order", () => {
    const all = [...Object.keys(CATALOG), ...Object.keys(VERIFY_CATALOG), ...Object.keys(GUEST_CATALOG)];
    expect(FINDING_IDS).toEqual(all);
    expect(new Set(FINDING_IDS).size).toBe(all.length);
    expect(FINDINGS.map((f) => f.command)).toEqual([
      ...Object.keys(CATALOG).map(() => "check"),
      ...Object.keys(VERIFY_CATALOG).map(() => "verify"),
      ...Object.keys(GUEST_CATALOG).map(() => "guest check"),
    ]);
  });

  it("looks up each command's entries, and nothing that is not an id", () => {
    expect(findingEntry("verify.cmdline")).toEqual({ id: "verify.cmdline", command: "verify", ...VERIFY_CATALOG["verify.cmdline"] });
    expect(findingEntry("guest.gpu.driver")).toEqual({ id: "guest.gpu.driver", command: "guest check", ...GUEST_CATALOG["guest.gpu.driver"] });
    expect(findingEntry("cmdline.pending")).toEqual({ id: "cmdline.pending", command: "check", ...CATALOG["cmdline.pending"] });
    for (const bad of ["verify", "guest.gpu", "toString", "__proto__", ""]) expect(findingEntry(bad), bad).toBeNull();
  });
});

describe("README", () => {
  it("names every verify id in the verify paragraph and every guest id in the guest check table", async () => {
    const fs = await import("node:fs");
    const path = await import("node:path");
    const { REPO } = await import("../helpers/fixtures.js");
    const readme = fs.readFileSync(path.join(REPO, "README.md"), "utf8");
    const verify = readme.slice(readme.indexOf("`verify` takes what to expect"), readme.indexOf("### Journal"));
    expect(Object.keys(VERIFY_CATALOG).filter((id) => !verify.includes(`\`${id}\``))).toEqual([]);
    const guest = readme.slice(readme.indexOf("### `guest check`"), readme.indexOf("## Exit codes"));
    expect(Object.keys(GUEST_CATALOG).filter((id) => !guest.includes(`\`${id}\``))).toEqual([]);
  });
});
