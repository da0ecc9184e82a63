// Every read-only command this suite owns (check, check --json, check --device, explain, list,
// list --json) against every fixture host in FIXTURE_SPECS, with assertions that hold for any
// host: the JSON contract (README "JSON output"), exit codes, the text layout, the catalog.
// Fixtures other helpers add are covered automatically; per-fixture expectations live in
// check-fixture-findings.test.ts.

import { describe, expect, it } from "vitest";
import { CHECK_CATALOG, isCheckId } from "../../src/findings/check-catalog.js";
import { parseDeviceArgs } from "../../src/formats/device-selection.js";
import { selectDevice } from "../../src/checks/context.js";
import { runChecks } from "../../src/checks/run-checks.js";
import { FIXTURE_SPECS } from "../fixtures/specs/index.js";
import { cli, cliJson } from "../helpers/cli.js";
import { fixturePath, fixtureState } from "../helpers/fixtures.js";

const STATUSES = ["pass", "warn", "fail", "info", "skip"];

describe.each(FIXTURE_SPECS.map((s) => [s.name]))("fixture %s", (name) => {
  const snap = fixturePath(name);

  it("check --json follows the contract and exits 1 exactly when a finding fails or a part was unreadable", async () => {
    const { code, json, stderr } = await cliJson(["check", "--snapshot", snap]);
    expect(stderr).toBe("");
    const failed = json.findings.some((f: { status: string }) => f.status === "fail");
    const incomplete = json.findings.some((f: { id: string }) => f.id === "host.unreadable");
    expect(json.summary.complete).toBe(!incomplete);
    expect(code).toBe(failed || incomplete ? 1 : 0);
    expect(json.summary.ready).toBe(!failed && !incomplete);
    // host / iommu contract fields
    expect(["amd", "intel", "other", null]).toContain(json.host.cpuVendor);
    expect(typeof json.host.virtualMachine).toBe("boolean");
    expect(typeof json.host.proxmox).toBe("boolean");
    expect(typeof json.host.bootloader).toBe("string");
    expect(typeof json.iommu.enabled).toBe("boolean");
    expect([true, false, null]).toContain(json.iommu.interruptRemapping);
    const state = fixtureState(name);
    expect(json.devices.map((d: { address: string }) => d.address)).toEqual(
      state.pci.map((d) => d.address),
    );
    for (const d of json.devices)
      for (const k of ["address", "vendorId", "deviceId", "classCode", "driver", "iommuGroup"])
        expect(d).toHaveProperty(k);
    expect(json.groups.map((g: { id: number }) => g.id)).toEqual(
      state.iommu.groups.map((g) => g.id),
    );
    // findings
    expect(json.findings.length).toBeGreaterThan(0);
    for (const f of json.findings) {
      expect(isCheckId(f.id), f.id).toBe(true);
      expect(STATUSES).toContain(f.status);
      expect(f.summary).toMatch(/\S/);
      expect(f.summary).not.toContain("\n");
      if (f.status === "warn" || f.status === "fail")
        expect(f.fix, `${f.id} needs a fix`).toMatch(/\S/);
      expect(f).toHaveProperty("subject");
    }
    // candidates: GPUs first; group-mates are never the device's own functions or bridges
    const kinds = json.candidates.map((c: { kind: string }) => c.kind);
    expect(
      kinds
        .slice(0, kinds.filter((k: string) => k === "gpu").length)
        .every((k: string) => k === "gpu"),
    ).toBe(true);
    const bridges = new Set(state.pci.filter((d) => d.isBridge).map((d) => d.address));
    for (const c of json.candidates) {
      const own = new Set(c.functions.map((f: { address: string }) => f.address));
      for (const m of c.groupMates) {
        expect(own.has(m)).toBe(false);
        expect(bridges.has(m)).toBe(false);
      }
      if (c.isolated) expect(c.groupMates).toEqual([]);
      if (!json.iommu.enabled) expect(c.isolated).toBe(false);
      for (const f of c.functions)
        expect(f).toMatchObject({
          address: expect.stringMatching(/^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$/),
        });
    }
    expect(typeof json.next).toBe("string");
  });

  it("check prints the aligned report: header, Host, every problem with its fix, result, next step", async () => {
    const r = await cli(["check", "--snapshot", snap]);
    const { json } = await cliJson(["check", "--snapshot", snap]);
    expect(r.code).toBe(json.summary.ready ? 0 : 1);
    const lines = r.stdout.split("\n");
    expect(lines[0]).toMatch(/^passthrough check — \S+ · .+ · kernel \S+ · /);
    expect(r.stdout).toContain("\nHost\n");
    expect(r.stdout).not.toContain("\u001b["); // no colour without a terminal
    for (const l of lines) expect(l).not.toMatch(/\s$/);
    for (const f of json.findings.filter(
      (x: { status: string }) => x.status === "warn" || x.status === "fail",
    )) {
      const at = lines.findIndex(
        (l) => l.includes(`${f.status.toUpperCase()}  ${f.id}`) && l.includes(f.summary),
      );
      expect(at, `${f.id}: ${f.summary}`).toBeGreaterThan(0);
      expect(lines[at + 1]).toContain(`fix: ${f.fix}`);
    }
    expect(r.stdout).toMatch(/\nResult: (ready|not ready)/);
    expect(r.stdout).toContain(`Next: ${json.next}`);
  });

  it("every finding it reports can be explained", async () => {
    const { json } = await cliJson(["check", "--snapshot", snap]);
    for (const id of new Set<string>(json.findings.map((f: { id: string }) => f.id))) {
      const r = await cli(["explain", id]);
      expect(r.code, id).toBe(0);
      expect(r.stdout).toContain(
        `${id} — ${CHECK_CATALOG[id as keyof typeof CHECK_CATALOG].title}`,
      );
    }
  });

  it("judges each candidate alone with --device", () => {
    const state = fixtureState(name);
    const whole = runChecks(state);
    for (const c of whole.candidates) {
      const sel = selectDevice(state, whole.candidates, parseDeviceArgs(c.address)[0]!);
      expect(sel.ok, c.address).toBe(true);
      if (!sel.ok) continue;
      const r = runChecks(state, [sel]);
      expect(r.targets).toEqual([c.address]);
      const mine = new Set([c.address, ...c.functions.map((f) => f.address)]);
      for (const f of r.findings) {
        if (
          f.id.startsWith("candidate.") ||
          f.id.startsWith("driver.") ||
          f.id.startsWith("reset.") ||
          f.id.startsWith("gpu.")
        ) {
          if (f.id === "candidate.no-gpu") continue;
          expect(mine.has(f.subject ?? ""), `${f.id} ${f.subject}`).toBe(true);
        }
      }
    }
  });

  it("list and list --json read it", async () => {
    const r = await cli(["list", "--snapshot", snap]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^passthrough list — /);
    const j = await cliJson(["list", "--snapshot", snap]);
    expect(j.code).toBe(0);
    expect(j.json.devices.length).toBe(fixtureState(name).pci.length);
  });
});
