// The catalog documents exactly the ids the checks emit: every id emitted on any fixture host
// (whole host and each device alone, plus the mutations below) is in the catalog, and every
// catalog entry is emitted by at least one of these scenarios, so no entry is stale.

import { describe, expect, it } from "vitest";
import { CHECK_CATALOG, CHECK_IDS } from "../../src/findings/check-catalog.js";
import { parseDeviceArgs } from "../../src/formats/device-selection.js";
import { selectDevice } from "../../src/checks/context.js";
import { runChecks } from "../../src/checks/run-checks.js";
import { parseModprobeConf } from "../../src/formats/modprobe-conf.js";
import type { HostState } from "../../src/host/types.js";
import { FIXTURE_SPECS } from "../fixtures/specs/index.js";
import { fixtureState } from "../helpers/fixtures.js";

function idsOf(state: HostState): Set<string> {
  const ids = new Set<string>();
  const whole = runChecks(state);
  for (const f of whole.findings) ids.add(f.id);
  for (const c of whole.candidates) {
    const sel = selectDevice(state, whole.candidates, parseDeviceArgs(c.address)[0]!);
    if (sel.ok) for (const f of runChecks(state, [sel]).findings) ids.add(f.id);
  }
  return ids;
}

describe("finding catalog", () => {
  it("documents every id the checks emit, and nothing else", () => {
    const emitted = new Set<string>();
    for (const spec of FIXTURE_SPECS)
      for (const id of idsOf(fixtureState(spec.name))) emitted.add(id);
    // Conditions no fixture host has.
    const unsafe = fixtureState("seed-after");
    unsafe.iommu.allowUnsafeInterrupts = true;
    const typo = fixtureState("seed-after");
    typo.modules.modprobe.push(
      ...parseModprobeConf("etc/modprobe.d/blacklist-gpu.conf", "blacklist noveau\n"),
    );
    const hook = fixtureState("seed-after");
    hook.vms[0]!.hookscript = {
      volume: "local:snippets/passthrough-0000-01-00.sh",
      file: "var/lib/vz/snippets/passthrough-0000-01-00.sh",
      present: false,
    };
    for (const s of [unsafe, typo, hook]) for (const id of idsOf(s)) emitted.add(id);

    expect([...emitted].filter((id) => !(id in CHECK_CATALOG))).toEqual([]);
    expect(CHECK_IDS.filter((id) => !emitted.has(id))).toEqual([]);
  });

  it("has a title, meaning, why and fix for every entry", () => {
    for (const id of CHECK_IDS) {
      const e = CHECK_CATALOG[id];
      expect(id).toMatch(/^[a-z]+\.[a-z0-9-]+$/);
      expect(e.title.length, `${id}.title`).toBeGreaterThan(3);
      for (const k of ["meaning", "why", "fix"] as const)
        expect(e[k].length, `${id}.${k}`).toBeGreaterThan(20);
    }
  });
});

describe("README", () => {
  it("lists every finding id in the check section", async () => {
    const fs = await import("node:fs");
    const path = await import("node:path");
    const { REPO } = await import("../helpers/fixtures.js");
    const readme = fs.readFileSync(path.join(REPO, "README.md"), "utf8");
    const section = readme.slice(readme.indexOf("## check"), readme.indexOf("## explain"));
    expect(CHECK_IDS.filter((id) => !section.includes(`\`${id}\``))).toEqual([]);
  });
});
