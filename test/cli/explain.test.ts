import { describe, expect, it } from "vitest";
import { VERIFY_CATALOG } from "../../src/findings/verify-catalog.js";
import { CHECK_CATALOG, CHECK_IDS } from "../../src/findings/check-catalog.js";
import { FINDINGS, FINDING_IDS } from "../../src/findings/all-catalogs.js";
import { GUEST_CATALOG } from "../../src/findings/guest-catalog.js";
import { closeIds } from "../../src/cli/commands/explain.js";
import { cli, cliJson } from "../helpers/cli.js";

describe("explain", () => {
  it("explains a finding: meaning, why, fix, sources", async () => {
    const r = await cli(["explain", "cmdline.pending"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(
      /^cmdline\.pending — Command line change not applied\nReported by: passthrough check\n/,
    );
    for (const head of ["What it means", "Why it matters", "How to fix it", "Sources"])
      expect(r.stdout).toContain(`\n${head}\n`);
    expect(r.stdout).toContain("update-grub");
    for (const l of r.stdout.split("\n")) expect(l.length).toBeLessThanOrEqual(90);
  });

  it("explains plan's, verify's and guest check's findings too", async () => {
    const p = await cli(["explain", "plan.partial-group"]);
    expect(p.code).toBe(0);
    expect(p.stdout).toMatch(
      /^plan\.partial-group — Group passed only in part \(--allow-partial-group\)\nReported by: passthrough plan and apply\n/,
    );
    expect(p.stdout).toContain("group N is not viable");
    const v = await cli(["explain", "verify.cmdline"]);
    expect(v.code).toBe(0);
    expect(v.stderr).toBe("");
    expect(v.stdout).toMatch(
      /^verify\.cmdline — Kernel parameters in effect\nReported by: passthrough verify\n\nWhat it means\n {2}Whether every kernel parameter/,
    );
    for (const head of ["Why it matters", "How to fix it", "Sources"])
      expect(v.stdout).toContain(`\n${head}\n`);
    expect(v.stdout).toContain("/proc/cmdline");
    expect(v.stdout).toContain("proxmox-boot-tool");
    const g = await cli(["explain", "guest.gpu.driver"]);
    expect(g.code).toBe(0);
    expect(g.stdout).toMatch(
      /^guest\.gpu\.driver — GPU driven inside the guest\nReported by: passthrough guest check\n/,
    );
    expect(g.stdout).toContain("ubuntu-drivers install");
    for (const l of [...v.stdout.split("\n"), ...g.stdout.split("\n")])
      expect(l.length).toBeLessThanOrEqual(90);
  });

  it("lists every id with its title, under the command that prints it", async () => {
    const r = await cli(["explain", "--list"]);
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split("\n");
    const ids = lines.filter((l) => l.startsWith("  ")).map((l) => l.trim().split(/\s+/)[0]);
    expect(ids).toEqual(FINDING_IDS);
    expect(lines.filter((l) => l && !l.startsWith("  "))).toEqual([
      "passthrough check",
      "passthrough plan and apply",
      "passthrough verify",
      "passthrough guest check",
      "passthrough ct check",
    ]);
    expect(lines[lines.indexOf("passthrough plan and apply") + 1]).toMatch(
      /^ {2}iommu\.off +IOMMU off: the plan only turns it on$/,
    );
    expect(lines[lines.indexOf("passthrough verify") + 1]).toMatch(
      /^ {2}verify\.reboot +Rebooted since the apply$/,
    );
    expect(lines[lines.indexOf("passthrough guest check") - 1]).toBe("");
    const j = await cliJson(["explain", "--list"]);
    expect(j.json.map((e: { id: string }) => e.id)).toEqual(FINDING_IDS);
    expect(
      j.json
        .filter((e: { command: string }) => e.command === "check")
        .map((e: { id: string }) => e.id),
    ).toEqual(CHECK_IDS);
    expect(j.json).toEqual(FINDINGS);
  });

  it("prints an entry as JSON", async () => {
    const { code, json } = await cliJson(["explain", "gpu.identical-ids"]);
    expect(code).toBe(0);
    expect(json).toEqual({
      id: "gpu.identical-ids",
      command: "check",
      ...CHECK_CATALOG["gpu.identical-ids"],
    });
    expect((await cliJson(["explain", "verify.binding"])).json).toEqual({
      id: "verify.binding",
      command: "verify",
      ...VERIFY_CATALOG["verify.binding"],
    });
    expect((await cliJson(["explain", "guest.ssh"])).json).toEqual({
      id: "guest.ssh",
      command: "guest check",
      ...GUEST_CATALOG["guest.ssh"],
    });
  });

  it("answers an unknown id with exit 2 and the close ids", async () => {
    const r = await cli(["explain", "iommu.enabld"]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(/^error: unknown finding id iommu\.enabld; close: iommu\.enabled, /);
    expect(r.stderr).toContain("passthrough explain --list");
    const v = await cli(["explain", "verify.cmdlin"]);
    expect(v.code).toBe(2);
    expect(v.stderr).toMatch(/^error: unknown finding id verify\.cmdlin; close: verify\.cmdline, /);
    const none = await cli(["explain"]);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/^error: give a finding id/);
  });

  it("finds close ids by typo, by group and by name", () => {
    expect(closeIds("iommu.enabld")[0]).toBe("iommu.enabled");
    expect(closeIds("pending")).toContain("cmdline.pending");
    expect(closeIds("gpu.bootvga")).toContain("gpu.boot-vga");
    expect(closeIds("zzzzzzzzzzzzzzzzzzzzzzzz")).toEqual([]);
    // Across commands and nesting levels.
    expect(closeIds("irq-remapping")).toEqual(["iommu.irq-remapping", "verify.irq-remapping"]);
    expect(closeIds("guest.drm")[0]).toBe("guest.gpu.drm");
    expect(closeIds("guest.nvidia-smi")[0]).toBe("guest.gpu.nvidia-smi");
    expect(closeIds("verify.binding-x")[0]).toBe("verify.binding");
    expect(closeIds("tailscale")).toEqual(["guest.tailscale"]);
  });
});
