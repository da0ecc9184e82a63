// `passthrough plan` as a user runs it: flags, --root, exit codes, colour, help.

import { describe, expect, it } from "vitest";
import { FIXTURE_SPECS } from "../fixtures/specs/index.js";
import { cli } from "../helpers/cli.js";
import { fixturePath, writeSpec } from "../helpers/fixtures.js";
import { planHost } from "../../src/plan/plan.js";
import { applyToTree, planOpts, readTree, rebootTree } from "../helpers/plan.js";

const spec = (name: string) => FIXTURE_SPECS.find((s) => s.name === name)!;

describe("plan command", () => {
  it("--root DIR reads a host tree like a snapshot and keeps host paths in the plan", async () => {
    const { dir, cleanup } = writeSpec(spec("debian-grub-intel"));
    try {
      const viaRoot = await cli(["plan", "--device", "0000:01:00", "--root", dir, "--json"]);
      const viaSnapshot = await cli([
        "plan",
        "--device",
        "0000:01:00",
        "--snapshot",
        fixturePath("debian-grub-intel"),
        "--json",
      ]);
      expect(viaRoot.code).toBe(0);
      expect(JSON.parse(viaRoot.stdout)).toEqual(JSON.parse(viaSnapshot.stdout));
      expect(viaRoot.stdout).not.toContain(dir);
      expect(JSON.parse(viaRoot.stdout).steps[0].path).toBe("/etc/default/grub.d/passthrough.cfg");
    } finally {
      cleanup();
    }
  });

  it("says so when the host is already in the desired state", async () => {
    const s = spec("seed-after");
    const { dir, cleanup } = writeSpec(s);
    try {
      const first = planHost(readTree(dir), planOpts({ devices: ["0000:01:00"] }));
      applyToTree(dir, first);
      rebootTree(dir, first, `${s.cmdline} iommu=pt`);
      const r = await cli(["plan", "--device", "0000:01:00", "--root", dir]);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(
        "Nothing to do: this host is already in the desired state for 0000:01:00.0, 0000:01:00.1.",
      );
      expect(r.stdout).toContain("Next: passthrough verify");
      const j = await cli(["plan", "--device", "0000:01:00", "--root", dir, "--json"]);
      expect(JSON.parse(j.stdout).steps).toEqual([]);
    } finally {
      cleanup();
    }
  });

  it("exits 1 when part of the plan cannot be made (a FAIL note)", async () => {
    const s = spec("arch-booster");
    const files = Object.fromEntries(
      Object.entries(s.files).filter(([k]) => !k.startsWith("boot/loader/entries")),
    );
    const { dir, cleanup } = writeSpec({ ...s, files });
    try {
      const r = await cli(["plan", "--device", "0000:01:00", "--root", dir]);
      expect(r.code).toBe(1);
      expect(r.stdout).toContain("FAIL  no systemd-boot entries were visible");
    } finally {
      cleanup();
    }
  });

  it("rejects bad input with one line and exit 2", async () => {
    const snap = fixturePath("seed-after");
    const cases: Array<[string[], RegExp]> = [
      [
        ["plan", "--device", "zz:00", "--snapshot", snap],
        /^error: --device zz:00: not a PCI address; write a slot like 0000:01:00 \(every function\) or a function like 0000:01:00\.1\n$/,
      ],
      [
        ["plan", "--group", "twelve", "--snapshot", snap],
        /^error: --group twelve: not an IOMMU group number/,
      ],
      [
        ["plan", "--device", "01:00", "--snapshot", snap, "--root", "/tmp"],
        /^error: give --root or --snapshot, not both\n$/,
      ],
      [
        ["plan", "--snapshot", snap],
        /^error: nothing selected: give --device with a slot like 0000:01:00 .* or --group N/,
      ],
      [
        ["plan", "--device", "01:00", "--root", "/nonexistent/host"],
        /^error: --root \/nonexistent\/host: does not exist; give the folder that holds the host's etc\/, sys\/ and proc\/\n$/,
      ],
    ];
    for (const [argv, re] of cases) {
      const r = await cli(argv);
      expect(r.code, argv.join(" ")).toBe(2);
      expect(r.stderr).toMatch(re);
    }
  });

  it("--group selects by IOMMU group", async () => {
    const r = await cli([
      "plan",
      "--group",
      "12",
      "--snapshot",
      fixturePath("seed-after"),
      "--json",
    ]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).selection).toEqual({
      requested: ["group 12"],
      functions: ["0000:01:00.0", "0000:01:00.1"],
      groups: [12],
    });
  });

  it("colours diffs only on a terminal, never with NO_COLOR", async () => {
    const argv = ["plan", "--device", "01:00", "--snapshot", fixturePath("seed-after")];
    const tty = await cli(argv, {}, { tty: true });
    expect(tty.stdout).toContain("\u001b[31m-blacklist nvidia*\u001b[39m");
    expect(tty.stdout).toContain("\u001b[32m+options vfio-pci ids=10de:2206,10de:1aef\u001b[39m");
    const noColor = await cli(argv, { NO_COLOR: "1" }, { tty: true });
    expect(noColor.stdout).not.toContain("\u001b[");
    expect((await cli(argv)).stdout).not.toContain("\u001b[");
  });

  it("--help teaches: what it does, examples, exit codes", async () => {
    const r = await cli(["plan", "--help"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("passthrough plan --device 0000:01:00");
    expect(r.stdout).toContain("--no-iommu-pt");
    expect(r.stdout).toContain("3 refused for safety");
  });
});
