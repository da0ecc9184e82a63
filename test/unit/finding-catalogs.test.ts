// The plan, verify and guest check catalogs document exactly the ids those commands emit:
// every id `plan` emits for the fixture hosts (each candidate, with and without the opt-in
// flags, plus the conditions below that no fixture has), `verify` prints on the verify-*
// fixture hosts, and `guest check` on the guest-* fixtures and a bare-metal host, is in its
// command's catalog (plan: or the check catalog, whose ids it shares), and every catalog entry
// is emitted by at least one of them, so no entry is stale. The merged catalog `explain` reads
// holds them all once. (checks-catalog.test.ts does the same for `check`.)

import { describe, expect, it } from "vitest";
import { VERIFY_CATALOG } from "../../src/findings/verify-catalog.js";
import { findCandidates } from "../../src/checks/candidates.js";
import { CHECK_CATALOG } from "../../src/findings/check-catalog.js";
import { FINDINGS, FINDING_IDS, findingEntry } from "../../src/findings/all-catalogs.js";
import { RefusedError } from "../../src/errors.js";
import { parseModprobeConf } from "../../src/formats/modprobe-conf.js";
import { GUEST_CATALOG } from "../../src/findings/guest-catalog.js";
import { CT_CATALOG } from "../../src/findings/ct-catalog.js";
import type { HostState } from "../../src/host/types.js";
import { PLAN_CATALOG } from "../../src/findings/plan-catalog.js";
import { planUnbind } from "../../src/plan/unbinding.js";
import { planHost } from "../../src/plan/plan.js";
import type { PlanOptions } from "../../src/plan/types.js";
import { FIXTURE_SPECS } from "../fixtures/specs/index.js";
import { cliJson } from "../helpers/cli.js";
import { fixturePath, fixtureState } from "../helpers/fixtures.js";
import { planOpts } from "../helpers/plan.js";

const named = (prefix: string) =>
  FIXTURE_SPECS.map((s) => s.name).filter((n) => n.startsWith(prefix));

async function emitted(
  argv: (fixture: string) => string[],
  fixtures: string[],
): Promise<Map<string, string[]>> {
  const where = new Map<string, string[]>();
  for (const name of fixtures) {
    const { json, stderr } = await cliJson(argv(name));
    expect(stderr, name).toBe("");
    expect(json.findings.length, name).toBeGreaterThan(0);
    for (const f of json.findings as Array<{ id: string }>)
      where.set(f.id, [...(where.get(f.id) ?? []), name]);
  }
  return where;
}

function wellFormed(
  catalog: Readonly<
    Record<
      string,
      { title: string; meaning: string; why: string; fix: string; sources: readonly string[] }
    >
  >,
  prefix: string,
) {
  for (const [id, e] of Object.entries(catalog)) {
    expect(id).toMatch(new RegExp(`^${prefix}\\.[a-z0-9-]+(\\.[a-z0-9-]+)?$`));
    expect(e.title.length, `${id}.title`).toBeGreaterThan(3);
    for (const k of ["meaning", "why", "fix"] as const)
      expect(e[k].length, `${id}.${k}`).toBeGreaterThan(40);
    expect(e.sources.length, `${id}.sources`).toBeGreaterThan(0);
  }
}

/** Plan findings' ids, or [] when the plan is refused (refusals are reasons, not findings). */
/** mode host --persist (planUnbind) on a host whose card is bound by ids=. */
function boundByIds(name: string, ids: string): HostState {
  const s = fixtureState(name);
  s.configFiles["etc/modprobe.d/vfio.conf"] = `options vfio-pci ids=${ids}\n`;
  return s;
}

const UNBIND_CASES: Array<{ id: string; state: () => HostState; devices: string[] }> = [
  {
    id: "binding.host-driver-blacklisted",
    state: () => boundByIds("seed-after", "10de:2206,10de:1aef"),
    devices: ["0000:01:00"],
  },
  {
    id: "binding.ids-shared",
    state: () => {
      const s = fixtureState("two-identical-gpus");
      const d = s.pci.find((x) => x.classCode.startsWith("03"))!;
      return boundByIds("two-identical-gpus", `${d.vendorId}:${d.deviceId}`);
    },
    devices: [
      fixtureState("two-identical-gpus").pci.find((x) => x.classCode.startsWith("03"))!.address,
    ],
  },
];

function planIds(state: HostState, over: Partial<PlanOptions>): string[] {
  try {
    return planHost(state, planOpts(over)).findings.map((f) => f.id);
  } catch (err) {
    if (err instanceof RefusedError) return [];
    throw err;
  }
}

const FLAGS: Partial<PlanOptions> = {
  allowPartialGroup: true,
  headlessOk: true,
  allowUnsafeInterrupts: true,
  acsOverride: "downstream",
  blacklist: true,
  disableIdleD3: true,
};

/** A modprobe.d file outside /etc (which passthrough reads but never edits). */
function libModprobe(s: HostState, text: string): HostState {
  s.modules.modprobe.push(...parseModprobeConf("lib/modprobe.d/vendor.conf", text));
  return s;
}

/** Put a device into another IOMMU group (as a board without ACS would). */
function joinGroup(s: HostState, address: string, group: number): HostState {
  const d = s.pci.find((x) => x.address === address)!;
  const from = s.iommu.groups.find((g) => g.id === d.iommuGroup)!;
  from.devices = from.devices.filter((a) => a !== address);
  d.iommuGroup = group;
  s.iommu.groups.find((g) => g.id === group)!.devices.push(address);
  return s;
}

function edit(name: string, change: (s: HostState) => void): HostState {
  const s = fixtureState(name);
  change(s);
  return s;
}

/** Conditions no fixture host has, each with the id it must produce. */
const PLAN_CASES: Array<{ id: string; state: () => HostState; opts: Partial<PlanOptions> }> = [
  {
    id: "plan.partial-group",
    state: () => joinGroup(fixtureState("seed-after"), "0000:07:00.0", 12),
    opts: { devices: ["0000:01:00"], allowPartialGroup: true },
  },
  {
    id: "plan.interrupt-remapping-unknown",
    state: () => edit("seed-after", (s) => (s.iommu.interruptRemapping = null)),
    opts: { devices: ["0000:01:00"] },
  },
  {
    id: "plan.kernel-version-unknown",
    state: () => edit("seed-after", (s) => (s.system.kernelVersion = null)),
    opts: { devices: ["0000:01:00"] },
  },
  {
    id: "binding.booster-per-address",
    state: () => edit("plan-two-gpus", (s) => (s.initramfs.kind = "booster")),
    opts: { devices: ["0000:01:00"] },
  },
  {
    id: "binding.native-builtin",
    state: () =>
      edit(
        "seed-after",
        (s) => (s.modules.builtin = [...(s.modules.builtin ?? []), "snd_hda_intel"]),
      ),
    opts: { devices: ["0000:01:00"] },
  },
  {
    id: "binding.ids-outside-etc",
    state: () => libModprobe(fixtureState("seed-after"), "options vfio-pci ids=8086:1533\n"),
    opts: { devices: ["0000:01:00"] },
  },
  {
    id: "binding.install-conflict",
    state: () => libModprobe(fixtureState("plan-two-gpus"), "install vfio-pci /bin/true\n"),
    opts: { devices: ["0000:01:00"] },
  },
  {
    id: "binding.softdep-outside-etc",
    state: () =>
      libModprobe(fixtureState("seed-after"), "softdep snd_hda_intel pre: snd_hda_codec\n"),
    opts: { devices: ["0000:01:00"] },
  },
  {
    id: "bootloader.unknown",
    state: () =>
      edit(
        "debian-grub-intel",
        (s) =>
          (s.bootloader = { kind: "unknown", grubFlavor: null, cmdlineFiles: [], evidence: [] }),
      ),
    opts: { devices: ["0000:01:00"] },
  },
  {
    id: "bootloader.entries-unseen",
    state: () =>
      edit("arch-booster", (s) =>
        Object.keys(s.configFiles)
          .filter((k) => k.startsWith("boot/"))
          .forEach((k) => delete s.configFiles[k]),
      ),
    opts: { devices: ["0000:01:00"] },
  },
  {
    id: "bootloader.grub-override",
    state: () =>
      edit(
        "seed-before",
        (s) =>
          (s.configFiles["etc/default/grub.d/zz-local.cfg"] =
            'GRUB_CMDLINE_LINUX_DEFAULT="quiet splash"\n'),
      ),
    opts: { devices: ["0000:01:00"] },
  },
  {
    id: "initramfs.unknown",
    state: () => edit("seed-after", (s) => (s.initramfs.kind = "unknown")),
    opts: { devices: ["0000:01:00"] },
  },
  {
    id: "initramfs.mkinitcpio-modconf",
    state: () =>
      edit(
        "arch-grub-mkinitcpio",
        (s) =>
          (s.configFiles["etc/mkinitcpio.conf"] = s.configFiles["etc/mkinitcpio.conf"]!.replace(
            " modconf",
            "",
          )),
      ),
    opts: { devices: ["0000:01:00"] },
  },
  {
    id: "initramfs.mkinitcpio-modules",
    state: () =>
      edit(
        "arch-grub-mkinitcpio",
        (s) =>
          (s.configFiles["etc/mkinitcpio.conf"] = s.configFiles["etc/mkinitcpio.conf"]!.replace(
            "MODULES=()",
            "MODULES=(\n  usbhid\n)",
          )),
      ),
    opts: { devices: ["0000:01:00"] },
  },
  {
    id: "repair.blacklist-wildcard",
    state: () => libModprobe(fixtureState("seed-after"), "blacklist nvidia*\n"),
    opts: { devices: ["0000:01:00"] },
  },
  {
    id: "repair.vfio-virqfd",
    state: () =>
      edit("seed-after", (s) =>
        s.modules.loadAtBoot.push({
          file: "usr/lib/modules-load.d/vfio.conf",
          line: 1,
          module: "vfio_virqfd",
          args: [],
        }),
      ),
    opts: { devices: ["0000:01:00"] },
  },
  {
    id: "repair.amd-iommu-on",
    state: () =>
      edit("seed-after", (s) =>
        s.cmdline.inactive.push({
          source: "kernelstub",
          files: ["etc/kernelstub/configuration"],
          params: [
            {
              key: "amd_iommu",
              value: "on",
              raw: "amd_iommu=on",
              origin: { file: "etc/kernelstub/configuration", line: 9 },
            },
          ],
        }),
      ),
    opts: { devices: ["0000:01:00"] },
  },
  {
    id: "repair.modprobe-not-conf",
    state: () =>
      edit("seed-after", (s) => {
        s.modules.ignoredModprobeFiles.push("etc/modprobe.d/blacklist.conf.bak");
        s.configFiles["etc/modprobe.d/blacklist.conf.bak"] = "blacklist nvidia\n";
      }),
    opts: { devices: ["0000:01:00"] },
  },
  {
    id: "reset.udev-rule",
    state: () =>
      edit("seed-after", (s) => {
        for (const d of s.pci)
          if (d.address.startsWith("0000:01:00.")) d.resetMethods = ["flr", "bus"];
      }),
    opts: { devices: ["0000:01:00"], resetMethod: "bus" },
  },
  {
    id: "modprobe.unknown-module",
    state: () => libModprobe(fixtureState("seed-after"), "blacklist noveau\n"),
    opts: { devices: ["0000:01:00"] },
  },
];

describe("plan catalog", () => {
  it("documents every id plan emits on the fixture hosts and the conditions no fixture has, and nothing else", () => {
    const ids = new Set<string>();
    for (const spec of FIXTURE_SPECS) {
      const s = fixtureState(spec.name);
      for (const c of findCandidates(s))
        for (const over of [{}, FLAGS])
          for (const id of planIds(s, { devices: [c.address], ...over })) ids.add(id);
    }
    for (const c of PLAN_CASES) {
      const got = planIds(c.state(), c.opts);
      expect(got, c.id).toContain(c.id);
      for (const id of got) ids.add(id);
    }
    for (const c of UNBIND_CASES) {
      const got = planUnbind(c.state(), { devices: c.devices, groups: [] }).findings.map(
        (f) => f.id,
      );
      expect(got, c.id).toContain(c.id);
      for (const id of got) ids.add(id);
    }
    expect([...ids].filter((id) => !(id in PLAN_CATALOG) && !(id in CHECK_CATALOG))).toEqual([]);
    expect(Object.keys(PLAN_CATALOG).filter((id) => !ids.has(id))).toEqual([]);
  });

  it("has a title, meaning, why, fix and sources for every entry, and no id of the check catalog", () => {
    for (const [id, e] of Object.entries(PLAN_CATALOG)) {
      expect(id).toMatch(/^[a-z]+\.[a-z0-9-]+$/);
      expect(e.title.length, `${id}.title`).toBeGreaterThan(3);
      for (const k of ["meaning", "why", "fix"] as const)
        expect(e[k].length, `${id}.${k}`).toBeGreaterThan(10);
      expect(e.sources.length, `${id}.sources`).toBeGreaterThan(0);
      expect(id in CHECK_CATALOG, id).toBe(false);
    }
  });
});

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

describe("ct check catalog", () => {
  it("has a title, meaning, why, fix and sources for every entry (test/unit/ct-check.test.ts emits each)", () => {
    wellFormed(CT_CATALOG, "ct");
  });
});

describe("merged catalog", () => {
  it("holds every check, plan, verify, guest check and ct check entry once, grouped in that order", () => {
    const all = [
      ...Object.keys(CHECK_CATALOG),
      ...Object.keys(PLAN_CATALOG),
      ...Object.keys(VERIFY_CATALOG),
      ...Object.keys(GUEST_CATALOG),
      ...Object.keys(CT_CATALOG),
    ];
    expect(FINDING_IDS).toEqual(all);
    expect(new Set(FINDING_IDS).size).toBe(all.length);
    expect(FINDINGS.map((f) => f.command)).toEqual([
      ...Object.keys(CHECK_CATALOG).map(() => "check"),
      ...Object.keys(PLAN_CATALOG).map(() => "plan"),
      ...Object.keys(VERIFY_CATALOG).map(() => "verify"),
      ...Object.keys(GUEST_CATALOG).map(() => "guest check"),
      ...Object.keys(CT_CATALOG).map(() => "ct check"),
    ]);
  });

  it("looks up each command's entries, and nothing that is not an id", () => {
    expect(findingEntry("verify.cmdline")).toEqual({
      id: "verify.cmdline",
      command: "verify",
      ...VERIFY_CATALOG["verify.cmdline"],
    });
    expect(findingEntry("guest.gpu.driver")).toEqual({
      id: "guest.gpu.driver",
      command: "guest check",
      ...GUEST_CATALOG["guest.gpu.driver"],
    });
    expect(findingEntry("cmdline.pending")).toEqual({
      id: "cmdline.pending",
      command: "check",
      ...CHECK_CATALOG["cmdline.pending"],
    });
    expect(findingEntry("plan.partial-group")).toEqual({
      id: "plan.partial-group",
      command: "plan",
      ...PLAN_CATALOG["plan.partial-group"],
    });
    for (const bad of ["verify", "guest.gpu", "toString", "__proto__", ""])
      expect(findingEntry(bad), bad).toBeNull();
  });
});

describe("README", () => {
  it("names every plan id in the plan section, every verify id in the verify paragraph and every guest id in the guest check table", async () => {
    const fs = await import("node:fs");
    const path = await import("node:path");
    const { REPO } = await import("../helpers/fixtures.js");
    const readme = fs.readFileSync(path.join(REPO, "README.md"), "utf8");
    const plan = readme.slice(
      readme.indexOf("## Planning host changes"),
      readme.indexOf("## Changing a host"),
    );
    expect(Object.keys(PLAN_CATALOG).filter((id) => !plan.includes(`\`${id}\``))).toEqual([]);
    const verify = readme.slice(
      readme.indexOf("`verify` takes what to expect"),
      readme.indexOf("### Journal"),
    );
    expect(Object.keys(VERIFY_CATALOG).filter((id) => !verify.includes(`\`${id}\``))).toEqual([]);
    const guest = readme.slice(
      readme.indexOf("### `guest check`"),
      readme.indexOf("## Exit codes"),
    );
    expect(Object.keys(GUEST_CATALOG).filter((id) => !guest.includes(`\`${id}\``))).toEqual([]);
  });
});
