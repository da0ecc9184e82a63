// Golden plans: the expected `plan` output (text and JSON) for every fixture host of the boot
// loader x initramfs x vendor matrix. They are the spec: review each by eye when it changes.
// Regenerate with UPDATE_GOLDEN=1 npx vitest run test/unit/plan-golden.test.ts
//
// Then idempotence: carry the plan's file steps out on the host's files, read the host again
// and plan again: no file step is left. After a simulated reboot (the kernel gets what its
// boot loader is configured with, vfio-pci holds the functions) the plan is empty.

import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { parseCmdline } from "../../src/formats/kernel-cmdline.js";
import { satisfied } from "../../src/plan/cmdline.js";
import type { Plan } from "../../src/plan/types.js";
import { FIXTURE_SPECS } from "../fixtures/specs/index.js";
import { cli } from "../helpers/cli.js";
import { planHost } from "../../src/plan/plan.js";
import { REPO, fixturePath, writeSpec } from "../helpers/fixtures.js";
import { applyToTree, planOpts, readTree, rebootTree } from "../helpers/plan.js";

const GOLDEN = path.join(REPO, "test/golden/plans");
const UPDATE = process.env.UPDATE_GOLDEN === "1";

interface Case {
  name: string;
  fixture: string;
  args: string[];
}

/** One case per row of the matrix; the case name is the golden file name. */
export const PLAN_CASES: Case[] = [
  { name: "seed-before", fixture: "seed-before", args: ["--device", "0000:01:00"] },
  { name: "seed-after", fixture: "seed-after", args: ["--device", "0000:01:00"] },
  {
    name: "seed-after-no-iommu-pt",
    fixture: "seed-after",
    args: ["--device", "01:00", "--no-iommu-pt"],
  },
  { name: "debian-grub-intel", fixture: "debian-grub-intel", args: ["--device", "0000:01:00"] },
  { name: "pve-grub-on-esp", fixture: "pve-grub-on-esp", args: ["--device", "0000:01:00"] },
  {
    name: "plan-pve-sdboot",
    fixture: "plan-pve-sdboot",
    args: ["--device", "0000:01:00", "--headless-ok"],
  },
  {
    name: "fedora-grubby-dracut",
    fixture: "fedora-grubby-dracut",
    args: ["--device", "0000:01:00"],
  },
  {
    name: "arch-grub-mkinitcpio",
    fixture: "arch-grub-mkinitcpio",
    args: ["--device", "0000:01:00"],
  },
  { name: "arch-booster", fixture: "arch-booster", args: ["--device", "0000:01:00"] },
  { name: "popos-kernelstub", fixture: "popos-kernelstub", args: ["--device", "0000:01:00"] },
  { name: "plan-two-gpus", fixture: "plan-two-gpus", args: ["--device", "0000:05:00"] },
  { name: "plan-two-gpus-intel", fixture: "plan-two-gpus-intel", args: ["--device", "0000:01:00"] },
];

function golden(file: string, actual: string): void {
  const p = path.join(GOLDEN, file);
  if (UPDATE || !fs.existsSync(p)) {
    fs.mkdirSync(GOLDEN, { recursive: true });
    fs.writeFileSync(p, actual);
    if (!UPDATE)
      throw new Error(`${file} did not exist and was written: review it, then run the test again`);
    return;
  }
  expect(actual).toBe(fs.readFileSync(p, "utf8"));
}

function optsFromArgs(args: string[]) {
  const devices: string[] = [];
  for (let i = 0; i < args.length; i++) if (args[i] === "--device") devices.push(args[++i]!);
  return planOpts({
    devices,
    iommuPt: !args.includes("--no-iommu-pt"),
    headlessOk: args.includes("--headless-ok"),
  });
}

describe("golden plans", () => {
  for (const c of PLAN_CASES) {
    it(`${c.name}: text and JSON match test/golden/plans/${c.name}.*`, async () => {
      const text = await cli(["plan", ...c.args, "--snapshot", fixturePath(c.fixture)]);
      expect(text.stderr).toBe("");
      expect(text.code).toBe(0);
      golden(`${c.name}.txt`, text.stdout);
      const json = await cli(["plan", ...c.args, "--snapshot", fixturePath(c.fixture), "--json"]);
      expect(json.code).toBe(0);
      const plan = JSON.parse(json.stdout) as Plan;
      expect(Object.keys(plan)).toEqual(
        expect.arrayContaining(["steps", "findings", "selection", "expect", "phase"]),
      );
      golden(`${c.name}.json`, json.stdout);
    });
  }
});

describe("idempotence: apply the file steps, read the host again, plan again", () => {
  for (const c of PLAN_CASES) {
    it(`${c.name}`, () => {
      const spec = FIXTURE_SPECS.find((s) => s.name === c.fixture)!;
      const opts = optsFromArgs(c.args);
      const { dir, cleanup } = writeSpec(spec);
      try {
        const first = planHost(readTree(dir), opts);
        expect(first.steps.length).toBeGreaterThan(0);
        applyToTree(dir, first);
        const applied = readTree(dir);
        const again = planHost(applied, opts);
        expect(again.steps.filter((s) => s.kind === "file")).toEqual([]);
        if (first.phase !== "complete") return;

        // The boot loader's configuration now carries every wanted parameter, where this host reads it.
        const configured = applied.cmdline.configured!.params;
        for (const raw of first.expect.cmdline)
          expect(satisfied(configured, parseCmdline(raw)[0]!), `${raw} configured`).toBe(true);
        // Reboot: the kernel gets the configured parameters, vfio-pci the functions.
        const running = parseCmdline(spec.cmdline);
        const extra = first.expect.cmdline.filter(
          (raw) => !satisfied(running, parseCmdline(raw)[0]!),
        );
        rebootTree(dir, first, [spec.cmdline, ...extra].join(" "));
        const settled = planHost(readTree(dir), opts);
        expect(settled.steps).toEqual([]);
        expect([...settled.expect.cmdline].sort()).toEqual([...first.expect.cmdline].sort());
        expect(settled.expect.boundToVfio).toEqual(first.expect.boundToVfio);
        expect(settled.expect.modulesLoaded).toEqual(first.expect.modulesLoaded);
      } finally {
        cleanup();
      }
    });
  }
});
