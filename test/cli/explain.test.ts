import { describe, expect, it } from "vitest";
import { CATALOG, CHECK_IDS } from "../../src/checks/catalog.js";
import { closeIds } from "../../src/cli/commands/explain.js";
import { cli, cliJson } from "../helpers/cli.js";

describe("explain", () => {
  it("explains a finding: meaning, why, fix, sources", async () => {
    const r = await cli(["explain", "cmdline.pending"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^cmdline\.pending — Command line change not applied\n/);
    for (const head of ["What it means", "Why it matters", "How to fix it", "Sources"]) expect(r.stdout).toContain(`\n${head}\n`);
    expect(r.stdout).toContain("update-grub");
    for (const l of r.stdout.split("\n")) expect(l.length).toBeLessThanOrEqual(90);
  });

  it("lists every id with its title", async () => {
    const r = await cli(["explain", "--list"]);
    expect(r.code).toBe(0);
    const ids = r.stdout.trim().split("\n").map((l) => l.split(/\s+/)[0]);
    expect(ids).toEqual(CHECK_IDS);
    const j = await cliJson(["explain", "--list"]);
    expect(j.json.map((e: { id: string }) => e.id)).toEqual(CHECK_IDS);
  });

  it("prints an entry as JSON", async () => {
    const { code, json } = await cliJson(["explain", "gpu.identical-ids"]);
    expect(code).toBe(0);
    expect(json).toEqual({ id: "gpu.identical-ids", ...CATALOG["gpu.identical-ids"] });
  });

  it("answers an unknown id with exit 2 and the close ids", async () => {
    const r = await cli(["explain", "iommu.enabld"]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(/^error: unknown finding id "iommu\.enabld"; close: iommu\.enabled, /);
    expect(r.stderr).toContain("passthrough explain --list");
    const none = await cli(["explain"]);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/^error: give a finding id/);
  });

  it("finds close ids by typo, by group and by name", () => {
    expect(closeIds("iommu.enabld")[0]).toBe("iommu.enabled");
    expect(closeIds("pending")).toContain("cmdline.pending");
    expect(closeIds("gpu.bootvga")).toContain("gpu.boot-vga");
    expect(closeIds("zzzzzzzzzzzzzzzzzzzzzzzz")).toEqual([]);
  });
});
