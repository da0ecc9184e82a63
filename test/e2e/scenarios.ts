// The end-to-end scenarios (issue 5). Each runs in its own guest from a fresh overlay and
// asserts on what the guest kernel reports (/proc/cmdline, sysfs driver links and IOMMU
// groups, /dev/vfio, dmesg), not on what passthrough says about itself; passthrough's own
// output is checked as well, against those kernel facts.
import { copyFileSync, existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Boot, Machine } from "./lib/machine.js";
import type { Iommu } from "./lib/qemu.js";
import type { Variant } from "./lib/image.js";
import type { Verdict } from "./lib/verdict.js";

export const SLOT = "0000:01:00";
export const FN_DISPLAY = "0000:01:00.0";
export const FN_AUDIO = "0000:01:00.1";
/** The functions' native drivers in the guest (sysfs names) and their modules. */
const NATIVE: Record<string, { driver: string; module: string }> = {
  [FN_DISPLAY]: { driver: "bochs-drm", module: "bochs" },
  [FN_AUDIO]: { driver: "snd_hda_intel", module: "snd_hda_intel" },
};

export interface Scenario {
  id: string;
  title: string;
  image: Variant;
  iommu: Iommu;
  /**
   * Run only when named (`--only`) or with `--all`, for the reason given: what keeps the default
   * run (and CI) within its time.
   */
  optIn?: string;
  /** Runs on the machine (and state) the scenario with this id left behind, after it passed. */
  continues?: string;
  run(m: Machine, v: Verdict, state: ChainState): Promise<void>;
}

/** What one scenario hands to the scenario that continues it on the same disk. */
export interface ChainState {
  /** Capture `passthrough snapshot` of the pristine guest (scenario 1) into this file. */
  captureSnapshotTo?: string;
  before?: Boot;
  after?: Boot;
  plan?: PlanJson;
}

interface PlanJson {
  steps: Array<{
    kind: string;
    path?: string;
    before?: string | null;
    after?: string | null;
    argv?: string[];
  }>;
  findings?: Array<{ id: string; status: string }>;
  expect?: { cmdline?: string[]; boundToVfio?: string[]; modulesLoaded?: string[] };
  phase?: string;
}

interface CheckJson {
  host?: { bootloader?: string; cpuVendor?: string };
  iommu?: { enabled?: boolean; interruptRemapping?: boolean | null; vendor?: string | null };
  candidates?: Array<{
    address: string;
    functions?: Array<string | { address: string }>;
    iommuGroup?: number | string;
    isolated?: boolean;
    groupMates?: string[];
  }>;
  findings?: Array<{ id: string; status: string; subject?: string; summary?: string }>;
}

// --- guest scripts --------------------------------------------------------------------------

// The plan is read back from apply's journal (what apply carried out), not from a separate
// `plan` run: each passthrough run costs 5-30 s of Node.js start-up and discovery under
// emulation.
const CHECK_APPLY = `
facts before
pt check check --json
pt apply apply --device "$SLOT" --yes
`;

// Each passthrough run costs ~5-10 s of Node.js start-up under emulation: run what is asserted.
const AFTER_REBOOT = `
facts after
pt verify verify --device "$SLOT"
`;

// Issue 15: the test card's own option ROM (QEMU's bochs-display carries SeaBIOS's
// vgabios-bochs-display.bin), dumped through sysfs while vfio-pci holds the card, then inspected.
const ROM_DUMP = `
pt rom_dump rom dump --device 0000:01:00.0 -o "$OUT/vbios.rom"
pt rom_inspect rom inspect "$OUT/vbios.rom" --json
`;

/** The dump starts with 0x55AA and \`rom inspect\` reads the card's own ids from it. */
function romDumped(v: Verdict, b: Boot): void {
  const d = b.run("rom_dump");
  v.check(!!d && d.rc === 0, "rom dump --device 0000:01:00.0 exits 0", d && d.stderr.slice(-400));
  const file = join(b.dir, "vbios.rom");
  const head = existsSync(file) ? readFileSync(file).subarray(0, 2) : Buffer.alloc(0);
  v.eq(head.toString("hex"), "55aa", "the dumped ROM starts with 0x55AA");
  const j = b.json<{ ok: boolean; images: Array<{ vendorId: string; deviceId: string }> }>(
    "rom_inspect",
  );
  v.check(!!j && j.images.length > 0, "rom inspect --json lists the ROM's images", j);
  v.eq(j?.images[0]?.vendorId, "1234", "rom inspect: PCI data structure vendor 1234");
  v.eq(j?.images[0]?.deviceId, "1111", "rom inspect: PCI data structure device 1111");
  v.eq(b.run("rom_inspect")?.rc, 0, "rom inspect exits 0 (no problems)");
}

// --- shared assertions --------------------------------------------------------------------

/** The lab's premise, from the kernel: IOMMU and interrupt remapping on, the slot alone in its group, native drivers. */
function kernelBaseline(v: Verdict, b: Boot, iommu: Iommu): string | null {
  const units = (b.text("iommu-units") ?? "").split("\n").filter(Boolean);
  if (iommu === "intel") {
    v.check(
      units.some((u) => u.startsWith("dmar")),
      "kernel: an Intel IOMMU unit in /sys/class/iommu",
      units,
    );
    v.check(
      /DMAR-IR: Enabled IRQ remapping/.test(b.dmesg),
      "kernel log: DMAR-IR: Enabled IRQ remapping",
    );
  } else {
    v.check(
      units.some((u) => u.startsWith("ivhd")),
      "kernel: an AMD IOMMU unit in /sys/class/iommu",
      units,
    );
    v.check(
      /AMD-Vi: Interrupt remapping enabled/.test(b.dmesg),
      "kernel log: AMD-Vi: Interrupt remapping enabled",
    );
  }
  const d = b.fn(FN_DISPLAY);
  const a = b.fn(FN_AUDIO);
  v.must(!!d && !!a, "kernel: both functions of 0000:01:00 are present", b.functions);
  v.check(
    d!.iommuGroup !== null && d!.iommuGroup === a!.iommuGroup,
    "kernel: both functions share one IOMMU group",
    b.functions,
  );
  const members = b.iommuGroups.get(d!.iommuGroup ?? "") ?? [];
  v.eq([...members].sort(), [FN_DISPLAY, FN_AUDIO], "kernel: members of that group");
  for (const f of [FN_DISPLAY, FN_AUDIO])
    v.eq(b.fn(f)?.driver ?? null, NATIVE[f]!.driver, `kernel: ${f} driver before apply`);
  return d!.iommuGroup;
}

/** check --json agrees with the kernel. */
function checkSeesSlot(v: Verdict, b: Boot, kernelGroup: string | null): CheckJson | null {
  const r = b.run("check");
  const c = b.json<CheckJson>("check");
  v.check(
    !!r && (r.rc === 0 || r.rc === 1),
    "check --json exits 0 or 1",
    r && { rc: r.rc, stderr: r.stderr.slice(0, 400) },
  );
  if (!v.check(c !== null, "check --json prints JSON", r?.stdout.slice(0, 200))) return null;
  v.eq(c!.iommu?.enabled, true, "check: iommu.enabled");
  v.eq(c!.iommu?.interruptRemapping, true, "check: iommu.interruptRemapping");
  const cand = c!.candidates?.find((x) => x.address === SLOT);
  if (
    !v.check(
      !!cand,
      `check: candidate ${SLOT}`,
      c!.candidates?.map((x) => x.address),
    )
  )
    return c;
  const fns = (cand!.functions ?? []).map((f) => (typeof f === "string" ? f : f.address));
  v.eq(fns.sort(), [FN_DISPLAY, FN_AUDIO], "check: candidate functions");
  v.eq(
    String(cand!.iommuGroup),
    String(kernelGroup),
    "check: candidate iommuGroup (kernel's group)",
  );
  v.eq(cand!.isolated, true, "check: candidate isolated");
  v.eq(cand!.groupMates ?? null, [], "check: candidate groupMates");
  return c;
}

/** The plan apply carried out, from its journal as the boot `b` found it. */
function planOf(v: Verdict, b: Boot): PlanJson {
  const j = b.journalPlan<PlanJson>();
  v.must(
    j !== null,
    "apply recorded its plan in /var/lib/passthrough/journal/<id>/plan.json",
    b.journalFiles(),
  );
  const p = j!.plan;
  v.note(`journal ${j!.id}`);
  v.must(Array.isArray(p.steps) && p.steps.length > 0, "plan: has steps", p.steps?.length);
  v.must(
    Array.isArray(p.expect?.cmdline) && p.expect!.cmdline!.length > 0,
    "plan: expect.cmdline lists the planned parameters",
    p.expect,
  );
  v.note(`planned parameters: ${p.expect!.cmdline!.join(" ")}`);
  v.note(
    `planned steps: ${p.steps.map((s) => (s.kind === "file" ? `file ${s.path}` : s.kind === "command" ? s.argv?.join(" ") : s.kind)).join("; ")}`,
  );
  return p;
}

function applied(v: Verdict, b: Boot): void {
  const r = b.run("apply");
  v.must(
    !!r && r.rc === 0,
    `apply --device ${SLOT} --yes exits 0`,
    r && { rc: r.rc, stderr: r.stderr.slice(-600) },
  );
}

/** Boot 2 of an apply: the kernel runs with the planned parameters and both functions on vfio-pci. */
function boundAfterReboot(
  v: Verdict,
  before: Boot,
  after: Boot,
  plan: PlanJson,
  group: string | null,
): void {
  const have = new Set(after.cmdlineTokens);
  for (const t of plan.expect!.cmdline!)
    v.check(have.has(t), `kernel: /proc/cmdline carries ${t}`, after.cmdline);
  v.check(
    after.cmdline !== before.cmdline,
    "kernel: /proc/cmdline changed across the reboot",
    after.cmdline,
  );
  for (const f of [FN_DISPLAY, FN_AUDIO])
    v.eq(after.fn(f)?.driver ?? null, "vfio-pci", `kernel: ${f} driver`);
  const inUse = after.lspci
    .split("\n")
    .filter((l) => /Kernel driver in use: vfio-pci/.test(l)).length;
  v.eq(inUse, 2, "lspci -k: functions with 'Kernel driver in use: vfio-pci'");
  v.check(
    group !== null && after.devVfio.includes(group),
    `kernel: /dev/vfio/${group} exists`,
    after.devVfio,
  );
  v.check(/vfio_pci/.test(after.text("lsmod") ?? ""), "kernel: vfio_pci module loaded");
  const r = after.run("verify");
  v.check(
    !!r && r.rc === 0,
    `verify --device ${SLOT} exits 0`,
    r && { rc: r.rc, out: (r.stdout + r.stderr).slice(0, 600) },
  );
}

// --- scenarios ------------------------------------------------------------------------------

function applyScenario(
  id: string,
  title: string,
  iommu: Iommu,
  extra?: (v: Verdict, s: ChainState) => void,
): Scenario {
  return {
    id,
    title,
    image: "bios",
    iommu,
    async run(m, v, state) {
      const capture = id === "1" ? state.captureSnapshotTo : undefined;
      const snap = capture ? `pt snapshot snapshot --output "$OUT/snapshot.tar.gz"\n` : "";
      const before = await m.boot("check, apply", `${snap}${CHECK_APPLY}`);
      if (capture) {
        v.must(
          before.run("snapshot")?.rc === 0 && existsSync(join(before.dir, "snapshot.tar.gz")),
          "snapshot --output wrote the guest's snapshot",
          before.run("snapshot"),
        );
        copyFileSync(join(before.dir, "snapshot.tar.gz"), capture);
        v.note(`snapshot of the pristine guest saved as ${capture}`);
      }
      const group = kernelBaseline(v, before, iommu);
      const check = checkSeesSlot(v, before, group);
      if (check) v.eq(check.host?.bootloader, "grub", "check: host.bootloader");
      applied(v, before);
      const after = await m.boot("verify after reboot", AFTER_REBOOT);
      const plan = planOf(v, after);
      boundAfterReboot(v, before, after, plan, group);
      Object.assign(state, { before, after, plan });
      extra?.(v, state);
    },
  };
}

function noAmdIommuOn(v: Verdict, s: ChainState): void {
  const after = s.after!;
  v.check(
    !after.cmdlineTokens.some((t) => /^amd_iommu=on$/.test(t)),
    "kernel: no amd_iommu=on in /proc/cmdline",
    after.cmdline,
  );
  v.check(!/amd_iommu=on/.test(JSON.stringify(s.plan)), "plan: no amd_iommu=on anywhere");
  const files = [
    "/etc/default/grub",
    "/boot/grub/grub.cfg",
    ...[...after.fileHashes.keys()].filter((p) => p.startsWith("/etc/default/grub.d/")),
  ];
  for (const f of files)
    v.check(!/amd_iommu=on/.test(after.file(f) ?? ""), `${f}: no amd_iommu=on`);
  v.check(!/AMD-Vi: Unknown option/.test(after.dmesg), "kernel log: no 'AMD-Vi: Unknown option'");
}

const grubIntel = applyScenario(
  "1",
  "GRUB/BIOS, Intel vIOMMU: check, apply, reboot, verify",
  "intel",
);
const grubAmd = applyScenario(
  "2",
  "GRUB/BIOS, AMD vIOMMU: apply without amd_iommu=on",
  "amd",
  noAmdIommuOn,
);

const rollbackAfter1: Scenario = {
  id: "4",
  title: "rollback after scenario 1: original command line and drivers back",
  image: "bios",
  iommu: "intel",
  continues: "1",
  async run(m, v, state) {
    const first = state.before!;
    const r3 = await m.boot("rollback", `facts applied\npt rollback rollback --yes`);
    const rb = r3.run("rollback");
    v.must(
      !!rb && rb.rc === 0,
      "rollback --yes exits 0",
      rb && { rc: rb.rc, stderr: rb.stderr.slice(-600) },
    );
    const back = await m.boot(
      "after rollback",
      `facts rolled-back\npt verify verify --device "$SLOT"`,
    );
    restoredLike(v, first, back);
  },
};

/** After a rollback: the kernel and every config file are as they were before apply. */
function restoredLike(v: Verdict, original: Boot, back: Boot): void {
  v.eq(back.cmdline, original.cmdline, "kernel: /proc/cmdline is the original");
  for (const f of [FN_DISPLAY, FN_AUDIO])
    v.eq(back.fn(f)?.driver ?? null, NATIVE[f]!.driver, `kernel: ${f} driver`);
  v.eq(
    back.devVfio.filter((x) => x !== "vfio"),
    [],
    "kernel: no VFIO group nodes in /dev/vfio",
  );
  const a = original.fileHashes;
  const b = back.fileHashes;
  v.eq(
    [...b.keys()].sort(),
    [...a.keys()].sort(),
    "config files present (same set as before apply)",
  );
  for (const [path, hash] of a)
    v.check(b.get(path) === hash, `${path}: byte-identical to before apply`);
  const r = back.run("verify");
  v.check(
    !!r && r.rc === 1,
    `verify --device ${SLOT} exits 1 (nothing bound any more)`,
    r && { rc: r.rc, out: (r.stdout + r.stderr).slice(0, 400) },
  );
}

const systemdBoot: Scenario = {
  id: "3",
  title: "UEFI (OVMF), systemd-boot, /etc/kernel/cmdline through kernel-install",
  image: "uefi",
  iommu: "intel",
  async run(m, v, state) {
    const before = await m.boot("check, apply", CHECK_APPLY);
    v.eq(
      before.text("firmware")?.trim(),
      "uefi",
      "kernel: booted through UEFI (/sys/firmware/efi)",
    );
    v.check(
      /systemd-boot/.test(before.text("bootctl-status") ?? ""),
      "bootctl status: booted by systemd-boot",
      before.text("bootctl-status")?.slice(0, 300),
    );
    v.check(before.file("/etc/default/grub") === null, "no /etc/default/grub on this host");
    const group = kernelBaseline(v, before, "intel");
    const check = checkSeesSlot(v, before, group);
    if (check) v.eq(check.host?.bootloader, "systemd-boot", "check: host.bootloader");
    applied(v, before);
    const after = await m.boot("verify after reboot", `${AFTER_REBOOT}${ROM_DUMP}`);
    romDumped(v, after);
    const plan = planOf(v, after);
    v.check(
      plan.steps.some((s) => s.kind === "file" && s.path === "/etc/kernel/cmdline"),
      "plan: edits /etc/kernel/cmdline",
    );
    v.check(
      !plan.steps.some((s) => s.kind === "file" && /^\/etc\/default\/grub/.test(s.path ?? "")),
      "plan: does not touch /etc/default/grub*",
    );
    boundAfterReboot(v, before, after, plan, group);
    const kc = (after.file("/etc/kernel/cmdline") ?? "").split(/\s+/);
    for (const t of plan.expect!.cmdline!)
      v.check(kc.includes(t), `/etc/kernel/cmdline carries ${t}`);
    const entries = [...after.fileHashes.keys()].filter((p) =>
      p.startsWith("/boot/efi/loader/entries/"),
    );
    v.check(
      entries.length > 0 &&
        entries.every((e) => plan.expect!.cmdline!.every((t) => (after.file(e) ?? "").includes(t))),
      "the systemd-boot entries on the ESP carry the parameters",
      entries,
    );
    Object.assign(state, { before, after, plan });
  },
};

/** The write-up's own steps, adapted to the lab's device (docs/seed-writeup.md). */
const SEED_MISTAKES = `
facts pristine
# "I added iommu=pt to the GRUB_CMDLINE_LINUX_DEFAULT variable in /etc/default/grub" (no update-grub)
sed -i 's/^GRUB_CMDLINE_LINUX_DEFAULT="\\(.*\\)"/GRUB_CMDLINE_LINUX_DEFAULT="\\1 iommu=pt"/' /etc/default/grub
grep -n GRUB_CMDLINE_LINUX_DEFAULT /etc/default/grub | sed 's/^/e2e: /'
# "/etc/modules: vfio vfio_iommu_type1 vfio_pci"
printf '%s\\n' vfio vfio_iommu_type1 vfio_pci >>/etc/modules
# "blacklist nouveau", "blacklist nvidia*" - and the same wildcard for this card's driver
printf '%s\\n' 'blacklist nouveau' 'blacklist nvidia*' 'blacklist bochs*' >>/etc/modprobe.d/blacklist.conf
# "I ran update-initramfs -u -k all to load this changes."
sh_step user_update_initramfs update-initramfs -u -k all
`;

const seedMistakes: Scenario = {
  id: "5",
  title: "the write-up's mistakes for real: iommu=pt without update-grub, blacklist wildcards",
  image: "bios",
  iommu: "intel",
  async run(m, v) {
    const pristine = await m.boot("the user's steps", SEED_MISTAKES);
    const group = kernelBaseline(v, pristine, "intel");
    v.eq(
      pristine.run("user_update_initramfs")?.rc,
      0,
      "update-initramfs -u -k all (the user's step) exits 0",
    );
    const mistaken = await m.boot("check, apply on the mistaken host", CHECK_APPLY);
    // What the kernel did with the mistakes.
    v.check(
      !mistaken.cmdlineTokens.includes("iommu=pt"),
      "kernel: iommu=pt is NOT active (no update-grub was run)",
      mistaken.cmdline,
    );
    v.check(
      /iommu=pt/.test(mistaken.file("/etc/default/grub") ?? ""),
      "/etc/default/grub has iommu=pt (the user's edit)",
    );
    v.eq(
      mistaken.fn(FN_DISPLAY)?.driver ?? null,
      NATIVE[FN_DISPLAY]!.driver,
      `kernel: ${FN_DISPLAY} still on its driver despite 'blacklist bochs*'`,
    );
    v.check(
      /^vfio_pci\b/m.test(mistaken.text("lsmod") ?? ""),
      "kernel: vfio_pci loaded from /etc/modules (the user's lsmod check)",
    );
    // What check says about them.
    const c = checkSeesSlot(v, mistaken, group);
    const bad = (c?.findings ?? []).filter((f) => f.status === "fail" || f.status === "warn");
    v.note(`check findings (fail/warn): ${bad.map((f) => `${f.id}:${f.status}`).join(", ")}`);
    v.check(
      bad.some((f) => /wildcard/i.test(f.id)),
      "check: flags the blacklist wildcard",
      bad.map((f) => f.id),
    );
    v.check(
      bad.some((f) => /pending/i.test(f.id) && /cmdline|grub|iommu/i.test(f.id)),
      "check: flags the command line edit that was never applied",
      bad.map((f) => f.id),
    );
    applied(v, mistaken);
    const after = await m.boot("verify after reboot", `${AFTER_REBOOT}\npt check check --json`);
    const plan = planOf(v, after);
    boundAfterReboot(v, mistaken, after, plan, group);
    v.check(after.cmdlineTokens.includes("iommu=pt"), "kernel: iommu=pt active now", after.cmdline);
    v.check(
      /Default domain type: Passthrough/.test(after.dmesg),
      "kernel log: iommu: Default domain type: Passthrough",
    );
    const c2 = after.json<CheckJson>("check");
    const still = (c2?.findings ?? []).filter(
      (f) =>
        (f.status === "fail" || f.status === "warn") &&
        (/wildcard/i.test(f.id) || /pending/i.test(f.id)),
    );
    v.eq(
      still.map((f) => f.id),
      [],
      "check after apply: no wildcard or pending-command-line findings left",
    );
  },
};

const badMoment: Scenario = {
  id: "6",
  title:
    "power cut in the middle of apply (before update-grub): the host boots, rollback restores it",
  image: "bios",
  iommu: "intel",
  async run(m, v) {
    const first = await m.boot(
      "apply, power cut before update-grub",
      `facts before\nhang_at update-grub grub-mkconfig\npt apply apply --device "$SLOT" --yes\nsay "apply returned without reaching update-grub"`,
      { powerCutOn: "hung-at" },
    );
    kernelBaseline(v, first, "intel");
    v.must(
      first.text("hung-at") !== null,
      "apply reached update-grub and the power was cut there",
      first.outputs(),
    );
    v.note(`cut at: ${first.text("hung-at")?.trim()}`);
    const second = await m.boot(
      "after the power cut: rollback",
      `facts after-cut\npt rollback rollback --yes`,
    );
    v.check(second.cmdline.length > 0, "kernel: the host boots after the power cut");
    v.note(
      `after the cut: cmdline "${second.cmdline}", drivers ${second.functions.map((f) => `${f.address}=${f.driver}`).join(" ")}`,
    );
    v.check(
      second.journalFiles().some((f) => f.startsWith("./journal/")),
      "a journal under /var/lib/passthrough/journal survived the cut",
      second.journalFiles(),
    );
    const rb = second.run("rollback");
    v.must(
      !!rb && rb.rc === 0,
      "rollback --yes exits 0",
      rb && { rc: rb.rc, stderr: rb.stderr.slice(-600) },
    );
    const back = await m.boot(
      "after rollback",
      `facts rolled-back\npt verify verify --device "$SLOT"`,
    );
    restoredLike(v, first, back);
  },
};

const driverRace: Scenario = {
  id: "7",
  title: "the driver race: the plan wins it; ids= alone loses it and verify says so",
  image: "bios",
  iommu: "intel",
  async run(m, v) {
    // A host whose display driver is in the initramfs (early KMS, as many GPU hosts have it).
    // Then the race is decided early: udev in the initramfs loads bochs for the display before
    // init's load_modules loads vfio-pci (initramfs-tools' init: init-top/udev, then
    // load_modules), unless a softdep makes every load of bochs load vfio-pci first. Without
    // the display driver in the initramfs there is no race to see: vfio-pci, loaded there,
    // claims both functions before the root filesystem's udev loads any native driver.
    const before = await m.boot(
      "early KMS for the display, then apply",
      `facts before
echo bochs >>/etc/initramfs-tools/modules
pt apply apply --device "$SLOT" --yes`,
    );
    const group = kernelBaseline(v, before, "intel");
    applied(v, before);
    // Boot 2: the plan won the race. Then remove the softdeps by hand, leaving ids= only.
    const won = await m.boot(
      "verify, then remove the softdeps by hand",
      `${AFTER_REBOOT}
for f in /etc/modprobe.d/*.conf; do sed -i '/^[[:space:]]*softdep[[:space:]]/d' "$f"; done
grep -rh '^options vfio.pci' /etc/modprobe.d/ | sed 's/^/e2e: left: /'
grep -rqh '^options vfio.pci.*ids=' /etc/modprobe.d/ || echo "options vfio-pci ids=1234:1111,8086:293e" >>/etc/modprobe.d/vfio.conf
sh_step hand_update_initramfs update-initramfs -u -k all
`,
    );
    const plan = planOf(v, won);
    const conf = plan.steps.filter(
      (s) => s.kind === "file" && (s.path ?? "").startsWith("/etc/modprobe.d/"),
    );
    v.check(
      conf.some((s) => /^softdep\s+bochs\s+pre:.*vfio[-_]pci/m.test(s.after ?? "")),
      "plan: softdep bochs pre: vfio-pci (module name, not bochs-drm)",
    );
    boundAfterReboot(v, before, won, plan, group);
    v.eq(
      won.run("hand_update_initramfs")?.rc,
      0,
      "update-initramfs after removing the softdeps exits 0",
    );
    const lost = await m.boot(
      "verify with ids= only",
      `facts ids-only\npt verify verify --device "$SLOT"`,
    );
    const modprobe = [...lost.fileHashes.keys()]
      .filter((p) => p.startsWith("/etc/modprobe.d/"))
      .map((p) => lost.file(p) ?? "")
      .join("\n");
    v.check(
      /^options vfio.pci.*ids=/m.test(modprobe) && !/^\s*softdep\s/m.test(modprobe),
      "modprobe.d: ids= left, no softdep",
    );
    v.check(
      /^bochs$/m.test(lost.file("/etc/initramfs-tools/modules") ?? ""),
      "the display driver is still in the initramfs (/etc/initramfs-tools/modules)",
    );
    v.eq(
      lost.fn(FN_DISPLAY)?.driver ?? null,
      NATIVE[FN_DISPLAY]!.driver,
      `kernel: ${FN_DISPLAY} lost the race to its native driver`,
    );
    v.note(`${FN_AUDIO} with ids= only: ${lost.fn(FN_AUDIO)?.driver}`);
    const r = lost.run("verify");
    v.check(!!r && r.rc === 1, "verify exits 1", r && { rc: r.rc });
    v.check(
      !!r && (r.stdout + r.stderr).includes(FN_DISPLAY),
      `verify names ${FN_DISPLAY}`,
      r && (r.stdout + r.stderr).slice(0, 600),
    );
  },
};

// The nested VM (L2): started inside the guest (L1) from passthrough's own outputs, by QEMU and by
// libvirt, on the functions apply bound to vfio-pci. L1 runs under TCG with QEMU's Intel vIOMMU
// and caching-mode=on (lib/qemu.ts), which nested device assignment needs: QEMU in L1 maps L2's
// RAM through the vIOMMU, and caching-mode makes L0's QEMU see those mappings.
//
// What the lab cannot have, and only that, is replaced (README "End-to-end tests"):
// - accel=kvm -> accel=tcg, -cpu host -> -cpu max, libvirt type="kvm" -> "qemu" and cpu
//   mode="host-passthrough" -> "maximum": L1 has no usable KVM (docs/e2e-lab.md);
// - the bridge NIC (-nic bridge,br=vmbr0; libvirt's "default" network): L1 has no bridge, and
//   the image has no dnsmasq for libvirt's network;
// - L2's RAM and cores (--memory 256 --cores 1, passthrough's own options): VFIO pins all of
//   L2's RAM in L1, which has 1.5 GiB.
// QEMU runs with -S (devices realised, CPUs stopped) and an HMP monitor on a local TCP port
// that bash's /dev/tcp talks to; libvirt starts its domain for real and is asked through
// `virsh qemu-monitor-command`. Both show L2 the card's own ROM, dumped in L1 (issue 15):
// `--romfile`, QEMU's vfio-pci romfile= and libvirt's <rom file=.../>.
const L2_CREATE = `vm create --device "$SLOT" --name l2 --disk default:1 --memory 256 --cores 1`;
/** The card's ROM for L2, on L1's disk (scenario 14 boots L2 with it after a reboot). */
const L2_ROM = "/var/tmp/l2-vbios.rom";

const NESTED_BEFORE = `source /mnt/lab/nested.sh
facts before
pt check check --json
# The fault: before apply both functions are on their host drivers. vm create refuses, naming
# them; forced, QEMU itself must fail to open the group, and verify names the cause.
pt vm_refused ${L2_CREATE} --emit qemu --json
pt vm_forced ${L2_CREATE} --emit qemu --json --force
l2_qemu l2_forced "$OUT/vm_forced.stdout"
drivers after-forced
pt verify_before verify --device "$SLOT"
pt apply apply --device "$SLOT" --yes
`;

const NESTED_AFTER = `source /mnt/lab/nested.sh
facts after
pt verify verify --device "$SLOT"
${ROM_DUMP.trim()}
cp "$OUT/vbios.rom" ${L2_ROM}
pt vm_qemu ${L2_CREATE} --romfile ${L2_ROM} --emit qemu --json
l2_qemu l2_qemu "$OUT/vm_qemu.stdout"
drivers after-qemu
pt vm_libvirt ${L2_CREATE} --romfile ${L2_ROM} --emit libvirt
l2_libvirt "$OUT/vm_libvirt.stdout"
`;

interface VmCreateJson {
  argv?: string[];
  refused?: string[];
  warnings?: string[];
}

/** "address driver" lines written by the guest's `drivers LABEL`. */
function driversAt(b: Boot, label: string): Record<string, string> {
  const m: Record<string, string> = {};
  for (const l of (b.text(`drivers-${label}`) ?? "").split("\n")) {
    const [a, d] = l.trim().split(" ");
    if (a && d) m[a] = d;
  }
  return m;
}

/**
 * QEMU's device tree (HMP "info qtree") has both functions as vfio-pci on their host addresses,
 * the display function with the ROM file passthrough was given (romfile = "PATH").
 */
function vfioInQtree(v: Verdict, qtree: string, who: string): void {
  const devs = vfioDevices(qtree);
  const hosts = devs.map((d) => d.host);
  for (const f of [FN_DISPLAY, FN_AUDIO])
    v.check(
      hosts.includes(f),
      `${who}: info qtree has vfio-pci with host = "${f}"`,
      `vfio-pci hosts in info qtree: ${hosts.join(", ") || "none"}`,
    );
  v.eq(
    devs.find((d) => d.host === FN_DISPLAY)?.romfile ?? null,
    L2_ROM,
    `${who}: info qtree: vfio-pci ${FN_DISPLAY} has romfile = "${L2_ROM}"`,
  );
}

/**
 * Every vfio-pci device in HMP `info qtree` with its host and romfile properties, read line by
 * line: each "dev: TYPE, id ..." line opens a device, whose properties follow on
 * deeper-indented lines.
 */
export function vfioDevices(qtree: string): Array<{ host: string; romfile: string | null }> {
  const devs: Array<{ host: string; romfile: string | null }> = [];
  let cur: { host: string; romfile: string | null } | null = null;
  for (const line of qtree.split(/\r?\n/)) {
    const dev = /^\s*dev: ([^,]+),/.exec(line);
    if (dev) cur = dev[1] === "vfio-pci" ? { host: "", romfile: null } : null;
    if (!cur) continue;
    const prop = /^\s*(host|romfile) = "([^"]*)"/.exec(line);
    if (prop?.[1] === "host" && !cur.host) devs.push(Object.assign(cur, { host: prop[2]! }));
    else if (prop?.[1] === "romfile") cur.romfile = prop[2]!;
  }
  return devs;
}

function nestedVm(id: string, image: Variant, release: string): Scenario {
  return {
    id,
    title: `${release}: a nested VM started by QEMU and by libvirt with both functions`,
    image,
    iommu: "intel",
    async run(m, v) {
      const before = await m.boot("the fault, check, apply", NESTED_BEFORE);
      const group = kernelBaseline(v, before, "intel");
      checkSeesSlot(v, before, group);
      nestedFault(v, before);
      applied(v, before);
      const after = await m.boot("verify, L2 by QEMU and by libvirt", NESTED_AFTER);
      const plan = planOf(v, after);
      boundAfterReboot(v, before, after, plan, group);
      romDumped(v, after);
      nestedQemu(v, after);
      nestedLibvirt(v, after);
    },
  };
}

/** Before apply: vm create refuses with the reason; forced, QEMU's own error is kept; verify names it. */
function nestedFault(v: Verdict, b: Boot): void {
  const r = b.run("vm_refused");
  const j = b.json<VmCreateJson>("vm_refused");
  v.eq(r?.rc, 3, "vm create --emit qemu before apply exits 3 (refused for safety)");
  const why = (j?.refused ?? []).join(" ");
  v.check(
    why.includes(FN_DISPLAY) && why.includes(FN_AUDIO) && /not on vfio-pci/.test(why),
    "vm create: refused, naming both functions not on vfio-pci",
    j?.refused,
  );
  v.eq(b.run("vm_forced")?.rc, 0, "vm create --force exits 0 (the argv, with a warning)");
  const q = b.run("l2_forced");
  v.check(!!q && q.rc !== 0, "forced: QEMU fails to start L2", q?.rc);
  const err = q?.stderr ?? "";
  v.check(
    /vfio/i.test(err) && err.includes(FN_DISPLAY),
    `forced: QEMU's own error names vfio and ${FN_DISPLAY}`,
    err.slice(0, 400),
  );
  v.note(`QEMU said: ${err.trim().split("\n")[0] ?? ""}`);
  const d = driversAt(b, "after-forced");
  for (const f of [FN_DISPLAY, FN_AUDIO])
    v.eq(
      d[f] ?? null,
      NATIVE[f]!.driver,
      `kernel: ${f} still on its driver after the failed start`,
    );
  const ver = b.run("verify_before");
  v.eq(ver?.rc, 1, "verify before apply exits 1");
  v.check(
    !!ver && (ver.stdout + ver.stderr).includes(FN_DISPLAY),
    `verify before apply names ${FN_DISPLAY}`,
    ver && (ver.stdout + ver.stderr).slice(0, 400),
  );
}

/** After apply: QEMU realises both functions as vfio-pci from passthrough's argv. */
function nestedQemu(v: Verdict, b: Boot): void {
  const j = b.json<VmCreateJson>("vm_qemu");
  v.eq(b.run("vm_qemu")?.rc, 0, "vm create --emit qemu --json exits 0 after apply");
  v.eq(j?.refused ?? null, [], "vm create: nothing refused after apply");
  for (const f of [FN_DISPLAY, FN_AUDIO])
    v.check(
      (j?.argv ?? []).some((a) => a.startsWith(`vfio-pci,host=${f},`)),
      `argv: -device vfio-pci,host=${f}`,
      j?.argv,
    );
  romfileInArgv(v, j);
  const q = b.run("l2_qemu");
  v.eq(q?.rc, 0, "L2 QEMU: started (-S), answered the monitor and quit, exit 0");
  vfioInQtree(v, b.text("l2_qemu.monitor") ?? "", "L2 QEMU");
  const d = driversAt(b, "after-qemu");
  for (const f of [FN_DISPLAY, FN_AUDIO])
    v.eq(d[f] ?? null, "vfio-pci", `kernel: ${f} on vfio-pci after QEMU quit`);
}

/** --romfile made it into the argv: romfile= on the display function's vfio-pci device. */
function romfileInArgv(v: Verdict, j: VmCreateJson | null): void {
  v.check(
    (j?.argv ?? []).some(
      (a) => a.startsWith(`vfio-pci,host=${FN_DISPLAY},`) && a.endsWith(`,romfile=${L2_ROM}`),
    ),
    `argv: vfio-pci,host=${FN_DISPLAY} with romfile=${L2_ROM}`,
    j?.argv,
  );
}

/** libvirt: define, start (managed hostdevs), the monitor, dumpxml, destroy. */
function nestedLibvirt(v: Verdict, b: Boot): void {
  v.eq(b.run("vm_libvirt")?.rc, 0, "vm create --emit libvirt exits 0");
  for (const step of ["lv_pool_define", "lv_pool_start", "lv_vol", "lv_define", "lv_start"]) {
    const r = b.run(step);
    v.must(!!r && r.rc === 0, `virsh ${step.slice(3)} exits 0`, r && r.stderr.slice(0, 400));
  }
  const running = driversAt(b, "lv-running");
  for (const f of [FN_DISPLAY, FN_AUDIO])
    v.eq(running[f] ?? null, "vfio-pci", `kernel: ${f} on vfio-pci while the domain runs`);
  vfioInQtree(v, b.run("lv_qtree")?.stdout ?? "", "libvirt");
  const xml = b.run("lv_dumpxml")?.stdout ?? "";
  v.eq(
    (xml.match(/<hostdev mode=.subsystem. type=.pci. managed=.yes.>/g) ?? []).length,
    2,
    "virsh dumpxml: two managed PCI hostdevs",
  );
  v.check(
    new RegExp(`<rom file=.${L2_ROM.replace(/\./g, "\\.")}./>`).test(xml),
    `virsh dumpxml: <rom file="${L2_ROM}"/> (--romfile)`,
    xml.match(/<hostdev[\s\S]*?<\/hostdev>/g),
  );
  v.eq(b.run("lv_destroy")?.rc, 0, "virsh destroy exits 0");
  // managed='yes' gives back what libvirt took: it found both functions on vfio-pci already
  // (apply bound them), so its detach was a no-op that did not mark them for unbinding from
  // the stub, and destroy leaves them on vfio-pci (libvirt src/util/virpci.c,
  // virPCIDeviceBindToStub / virPCIDeviceUnbindFromStub) — ready for the next start.
  const back = driversAt(b, "lv-destroyed");
  for (const f of [FN_DISPLAY, FN_AUDIO])
    v.eq(back[f] ?? null, "vfio-pci", `kernel: ${f} back on vfio-pci after virsh destroy`);
}

// L2 booted for real (issue 14), on the machine scenario 8 left (functions on vfio-pci, the ROM
// dump in /var/tmp): L1's own kernel with an initramfs L1 builds (guest/nested.sh l2_initramfs;
// its /init is guest/l2-init.sh), from the argv of `vm create --emit qemu --json` with the
// card's ROM (--romfile) and without -S. Inside, the kernel binds the passed functions to
// their drivers and `passthrough guest check --expect 1234:1111 --json` runs; everything comes
// back on L2's serial console. L2 gets 768 MiB: the initramfs (~130 MiB, uncompressed, as
// inflating it inside emulation inside emulation would cost minutes) is unpacked into RAM,
// and passthrough needs its own; with 512 MiB passthrough died of SIGBUS and, in one try, the
// kernel's EFI stub could not load the initrd. Opt-in: software emulation inside software
// emulation makes this one boot take longer than the default run can afford (README
// "End-to-end tests").
const L2_BOOT_CREATE = `vm create --device "$SLOT" --name l2 --disk default:1 --memory 768 --cores 1 --romfile ${L2_ROM}`;
const L2_INITRD = "/var/tmp/l2-initrd.cpio";
/**
 * L2's limit inside the guest (its boot gets 10 minutes more): on 2 busy cores its /init started
 * ~13 min after QEMU did (OVMF loading the initrd ~7 min, the kernel ~6 min) and had loaded
 * the drivers at ~17 min, when the first limit (1000 s) stopped it.
 */
const L2_BOOT_LIMIT_S = 2700;

const NESTED_BOOT = `source /mnt/lab/nested.sh
facts l2-boot
pt vm_boot ${L2_BOOT_CREATE} --emit qemu --json
l2_initramfs ${L2_INITRD}
L2_BOOT_TIMEOUT=${L2_BOOT_LIMIT_S} l2_boot l2_boot "$OUT/vm_boot.stdout" ${L2_INITRD}
drivers after-l2
`;

/** The "l2: ..." lines of L2's serial console (its /init's reports), without the prefix. */
export function l2Lines(serial: string): string[] {
  return serial
    .split("\n")
    .map((l) => l.replace(/\r$/, ""))
    .filter((l) => l.startsWith("l2: "))
    .map((l) => l.slice(4));
}

interface GuestCheckJson {
  ok?: boolean;
  gpus?: Array<{ address: string; vendorId: string; deviceId: string; driver: string | null }>;
  findings?: Array<{ id: string; status: string; summary: string }>;
}

/** guest check's JSON, which /init prints as "l2: gc LINE" lines between gc-begin and gc-end. */
export function l2GuestCheck(lines: string[]): GuestCheckJson | null {
  const begin = lines.indexOf("gc-begin");
  const end = lines.indexOf("gc-end");
  if (begin < 0 || end < begin) return null;
  const text = lines
    .slice(begin + 1, end)
    .filter((l) => l.startsWith("gc "))
    .map((l) => l.slice(3))
    .join("\n");
  try {
    return JSON.parse(text) as GuestCheckJson;
  } catch {
    return null;
  }
}

function nestedBoot(id: string, continues: string): Scenario {
  return {
    id,
    title: "the nested VM (L2) boots a kernel with the card and runs guest check inside",
    image: "bios-nested",
    iommu: "intel",
    continues,
    optIn: `L2 boots under software emulation inside software emulation (slow); scenario ${continues} starts L2 without booting it`,
    async run(m, v) {
      const b = await m.boot("L2 boots with the card, guest check inside", NESTED_BOOT, {
        timeoutS: L2_BOOT_LIMIT_S + 600,
      });
      l2Booted(v, b);
    },
  };
}

/** From L2's serial console: the functions on their drivers, guest check's verdict; L1 after. */
function l2Booted(v: Verdict, b: Boot): void {
  const j = b.json<VmCreateJson>("vm_boot");
  v.eq(b.run("vm_boot")?.rc, 0, "vm create --memory 768 --romfile --emit qemu --json exits 0");
  romfileInArgv(v, j);
  const q = b.run("l2_boot");
  const lines = l2Lines(q?.stdout ?? "");
  v.note(`L2: ${b.text("l2_boot.seconds")?.trim() ?? "?"} s from QEMU's start to its exit in L1`);
  for (const l of lines.filter((x) => /^(init|drivers loaded|guest check rc|poweroff) /.test(x)))
    v.note(`L2 ${l}`);
  v.must(
    lines.some((l) => l.startsWith("poweroff at ")),
    "L2: /init ran to its end and powered off",
    (q?.stdout ?? "").slice(-1500),
  );
  v.eq(q?.rc, 0, "L2 QEMU exits 0 after L2 powers off");
  const pci = lines.filter((l) => l.startsWith("pci "));
  // L2's own addresses: behind the argv's root port, the card is 0000:01:00.x there too.
  for (const [ids, driver] of [
    ["0x1234 0x1111", NATIVE[FN_DISPLAY]!.driver],
    ["0x8086 0x293e", NATIVE[FN_AUDIO]!.driver],
  ] as const)
    v.check(
      pci.some((l) => l.includes(` ${ids} `) && l.endsWith(` driver=${driver}`)),
      `L2 kernel (sysfs): ${ids.replace(" ", ":").replace(/0x/g, "")} bound to ${driver}`,
      pci,
    );
  v.check(
    lines.some((l) => /^dri \/dev\/dri\/card\d/.test(l)),
    "L2: the display driver made /dev/dri/cardN",
    lines.filter((l) => l.startsWith("dri")),
  );
  const gc = l2GuestCheck(lines);
  v.check(
    lines.some((l) => /^guest check rc=0 /.test(l)),
    "L2: guest check --expect 1234:1111 exits 0",
    lines.filter((l) => l.startsWith("guest check")),
  );
  v.eq(gc?.ok ?? null, true, "L2: guest check --json: ok");
  v.eq(
    gc?.gpus?.map((g) => `${g.vendorId}:${g.deviceId} ${g.driver}`) ?? null,
    [`1234:1111 ${NATIVE[FN_DISPLAY]!.driver}`],
    "L2: guest check's GPU is 1234:1111 on bochs-drm",
  );
  v.eq(
    gc?.findings?.find((f) => f.id === "guest.gpu.present")?.status ?? null,
    "pass",
    "L2: guest check guest.gpu.present passes",
  );
  const after = driversAt(b, "after-l2");
  for (const f of [FN_DISPLAY, FN_AUDIO])
    v.eq(after[f] ?? null, "vfio-pci", `kernel (L1): ${f} on vfio-pci after L2 powered off`);
}

// --- issue 14: other images, and a VM started with the functions ---------------------------

function bootedUefi(v: Verdict, s: ChainState): void {
  for (const b of [s.before!, s.after!])
    v.eq(
      b.text("firmware")?.trim(),
      "uefi",
      `kernel: boot ${b.n} through UEFI (/sys/firmware/efi)`,
    );
}

const trixieGrub: Scenario = {
  ...applyScenario(
    "9",
    "Debian 13: GRUB/BIOS, Intel vIOMMU: check, apply, reboot, verify",
    "intel",
  ),
  image: "trixie-bios",
};
const trixieSystemdBoot: Scenario = {
  ...systemdBoot,
  id: "10",
  title: "Debian 13: UEFI (OVMF), systemd-boot, /etc/kernel/cmdline through kernel-install",
  image: "trixie-uefi",
};
const uefiGrub: Scenario = {
  ...applyScenario(
    "12",
    "UEFI (OVMF) + GRUB for EFI on ext4: check, apply, reboot, verify",
    "intel",
    bootedUefi,
  ),
  image: "uefi-grub",
};

/** Debian 13's nested VM: scenario 8 covers it on Debian 12 by default. */
const NESTED_OPT_IN = "a second nested-VM image (Debian 13); scenario 8 runs by default";

// --- issue 16: mode host|vm live, and a container's nodes from the same card ---------------
// One boot, no reboot: the card moves host -> vm -> host through driver_override/unbind/
// drivers_probe, then a process holding its DRM node blocks the move. What each step did is
// read from sysfs and /dev by the script (mode_state), never from passthrough's output. The
// container part is `ct plan` only: the image has neither pct nor lxc, so there is no container
// to configure or check; a hand-written /etc/pve/lxc/100.conf and the container's /etc/group
// under /var/lib/lxc/100/rootfs are enough for plan to read.
/** mode_state NAME (scenarios 13 and 15). */
const MODE_STATE = `
# NAME: each function's driver link, /dev/dri and /dev/vfio, once udev has made the nodes.
mode_state() {
  udevadm settle -t 30
  local d
  for d in /sys/bus/pci/devices/"$SLOT".*; do
    if [ -e "$d/driver" ]; then echo "$(basename "$d") $(basename "$(readlink "$d/driver")")"
    else echo "$(basename "$d") -"; fi
  done >"$OUT/drivers-$1"
  ls -1 /dev/dri >"$OUT/dri-$1" 2>/dev/null
  ls -1 /dev/vfio >"$OUT/vfio-$1" 2>/dev/null
  say "$1: drivers $(tr '\\n' ' ' <"$OUT/drivers-$1")| /dev/dri: $(tr '\\n' ' ' <"$OUT/dri-$1")| /dev/vfio: $(tr '\\n' ' ' <"$OUT/vfio-$1")"
}
`;
/** Both boots of scenario 13: mode_state, and the display function's DRM nodes in drm-sysfs. */
const MODE_PRELUDE = `
facts before
${MODE_STATE}# The display function's DRM nodes as the kernel names them, with their device numbers (card*
# and renderD*: Linux 6.1 also lists controlD*, a compatibility name with no /dev node).
for n in /sys/bus/pci/devices/"$SLOT".0/drm/card[0-9]*/dev /sys/bus/pci/devices/"$SLOT".0/drm/renderD*/dev; do
  [ -e "$n" ] || continue
  echo "$(basename "$(dirname "$n")") $(cat "$n")"
done >"$OUT/drm-sysfs"
say "drm in sysfs: $(tr '\\n' ' ' <"$OUT/drm-sysfs")"
`;

const MODE_SWITCH = `${MODE_PRELUDE}
mkdir -p /etc/pve/lxc /var/lib/lxc/100/rootfs/etc
printf '%s\\n' 'arch: amd64' 'hostname: media' 'memory: 512' 'ostype: debian' \\
  'rootfs: local-lvm:vm-100-disk-0,size=8G' 'unprivileged: 1' >/etc/pve/lxc/100.conf
printf '%s\\n' 'root:x:0:' 'video:x:44:' 'render:x:993:' >/var/lib/lxc/100/rootfs/etc/group
mode_state host0
pt ct_plan_host ct plan --ctid 100 --device "$SLOT.0"
pt mode_vm mode vm --device "$SLOT" --yes
mode_state vm
pt verify_vm verify --device "$SLOT" --json
pt ct_plan_vm ct plan --ctid 100 --device "$SLOT.0"
pt mode_host mode host --device "$SLOT" --yes
mode_state host1
card=$(awk '/^card/ {print $1; exit}' "$OUT/drm-sysfs")
sleep 600 <"/dev/dri/$card" &
echo $! >"$OUT/holder-pid"
say "holder: pid $! has /dev/dri/$card open"
pt mode_refused mode vm --device "$SLOT" --yes
mode_state refused
kill "$(cat "$OUT/holder-pid")"
`;

// Boot 2 of 13 (issue 16 without Proxmox): a plain LXC container given the card's DRM node by
// ct configure, started, probed by ct check and from inside, the config rolled back; then the
// hookscript round trip. The image has LXC (lxc, busybox-static: LXC's own busybox template,
// no network) but no Proxmox: pvesm and qm are lab stand-ins for the install only (the
// snippet's volume path, and the VM config's hookscript line), and the snippet is then run as
// qemu-server runs it, SCRIPT VMID PHASE.
const LXC_AND_HOOK = `${MODE_PRELUDE}
# Boot 1's hand-written /etc/pve made this look like a Proxmox host; plain LXC is the subject now.
rm -rf /etc/pve /var/lib/lxc/100
mode_state lxc0
card=$(awk '/^card/ {print $1; exit}' "$OUT/drm-sysfs")
getent group video render >"$OUT/host-groups"
printf '%s\\n' 'lxc.idmap = u 0 100000 65536' 'lxc.idmap = g 0 100000 65536' \\
  'lxc.net.0.type = empty' 'lxc.apparmor.profile = unconfined' >/root/media.conf
sh_step lxc_create lxc-create -n media -t busybox -f /root/media.conf
printf '%s\\n' 'video:x:44:' 'render:x:107:' >>/var/lib/lxc/media/rootfs/etc/group
cp /var/lib/lxc/media/config "$OUT/lxc-config-before"
# Running: LXC reads its config at start, so ct configure refuses and changes nothing.
sh_step lxc_start0 systemctl start lxc@media
lxc-wait -n media -s RUNNING -t 60
pt lxc_refused ct configure --name media --device "$SLOT.0" --yes
cp /var/lib/lxc/media/config "$OUT/lxc-config-refused"
lxc-stop -n media -k; systemctl stop lxc@media; systemctl reset-failed lxc@media 2>/dev/null
pt lxc_plan ct plan --name media --device "$SLOT.0"
pt lxc_configure ct configure --name media --device "$SLOT.0" --yes --json
cp /var/lib/lxc/media/config "$OUT/lxc-config-after"
sh_step lxc_start systemctl start lxc@media
lxc-wait -n media -s RUNNING -t 60
lxc-attach -n media -- stat -c '%n %t:%T %g %a' "/dev/dri/$card" >"$OUT/lxc-inside" 2>&1
# An ordinary user (uid 1000) of the container's video group opens the node read-write.
sh_step lxc_open lxc-attach -n media -u 1000 -g 44 -- sh -c "exec 3<>/dev/dri/$card && echo opened"
pt lxc_check ct check --name media --json
lxc-stop -n media -k; systemctl stop lxc@media; systemctl reset-failed lxc@media 2>/dev/null
id=$(grep -o '"journal": "[0-9a-f-]*"' "$OUT/lxc_configure.stdout" | cut -d'"' -f4)
pt lxc_rollback rollback "$id" --yes
cp /var/lib/lxc/media/config "$OUT/lxc-config-rolled-back"

mkdir -p /root/pve-bin /var/lib/vz/snippets
printf '%s\\n' '#!/bin/sh' '# lab stand-in for pvesm(1): storage local keeps snippets in /var/lib/vz/snippets' \\
  'case "$1" in' \\
  '  status) echo "Name Type Status Total Used Available %"; echo "local dir active 1 0 1 0%" ;;' \\
  '  path) echo "/var/lib/vz/snippets/\${2#local:snippets/}" ;;' \\
  '  *) exit 2 ;;' 'esac' >/root/pve-bin/pvesm
printf '%s\\n' '#!/bin/sh' '# lab stand-in for qm(1): set VMID --hookscript VOLUME, config VMID' \\
  'case "$1" in' '  set) echo "hookscript: $4" >"/root/qm-$2.conf" ;;' \\
  '  config) cat "/root/qm-$2.conf" ;;' '  *) exit 2 ;;' 'esac' >/root/pve-bin/qm
chmod 755 /root/pve-bin/pvesm /root/pve-bin/qm
export PATH="/root/pve-bin:$PATH"
pt hook_install mode vm --device "$SLOT.0" --hookscript --vmid 100 --yes
hook=/var/lib/vz/snippets/passthrough-\${SLOT//:/-}.sh
stat -c '%A %U' "$hook" >"$OUT/hook-file" 2>&1
for round in 1 2; do
  sh_step hook_pre$round "$hook" 100 pre-start
  mode_state hook-vm$round
  sh_step hook_again$round "$hook" 100 pre-start
  sh_step hook_post$round "$hook" 100 post-stop
  mode_state hook-host$round
done
journalctl -t passthrough-hook --no-pager -o cat >"$OUT/hook-journal"
`;

/** "ADDR DRIVER" lines a mode_state step wrote, as address -> driver (null: none). */
function modeDriversAt(b: Boot, step: string): Map<string, string | null> {
  const m = new Map<string, string | null>();
  for (const l of (b.text(`drivers-${step}`) ?? "").split("\n").filter(Boolean)) {
    const [a = "", d = "-"] = l.split(" ");
    m.set(a, d === "-" ? null : d);
  }
  return m;
}

const lines = (b: Boot, name: string) => (b.text(name) ?? "").split("\n").filter(Boolean);

function onDrivers(v: Verdict, b: Boot, step: string, want: (f: string) => string): void {
  const seen = modeDriversAt(b, step);
  v.note(`${step}: ${[...seen].map(([a, d]) => `${a} on ${d ?? "no driver"}`).join(", ")}`);
  for (const f of [FN_DISPLAY, FN_AUDIO])
    v.eq(seen.get(f) ?? null, want(f), `sysfs after ${step}: ${f} driver`);
}

function stepOk(v: Verdict, b: Boot, name: string, what: string): void {
  const r = b.run(name);
  v.must(
    !!r && r.rc === 0,
    `${what} exits 0`,
    r && { rc: r.rc, out: (r.stdout + r.stderr).slice(-600) },
  );
}

const modeSwitch: Scenario = {
  id: "13",
  title:
    "mode vm, mode host without a reboot (sysfs shows each driver); a held node refuses; plain LXC; the hookscript",
  // bios-nested: the image with LXC (the plain-LXC container round trip).
  image: "bios-nested",
  iommu: "intel",
  async run(m, v) {
    const b = await m.boot("mode vm, mode host, refusal", MODE_SWITCH);
    const group = kernelBaseline(v, b, "intel");
    const native = (f: string) => NATIVE[f]!.driver;
    onDrivers(v, b, "host0", native);
    const drm = lines(b, "drm-sysfs").map((l) => l.split(" ") as [string, string]);
    v.must(
      drm.some(([n]) => n.startsWith("card")),
      "sysfs: the display function has a DRM card",
      drm,
    );
    const dri0 = lines(b, "dri-host0");
    for (const [n] of drm) v.check(dri0.includes(n), `/dev/dri/${n} exists before the switch`);

    // host -> vm
    stepOk(v, b, "mode_vm", `mode vm --device ${SLOT} --yes`);
    onDrivers(v, b, "vm", () => "vfio-pci");
    v.check(
      group !== null && lines(b, "vfio-vm").includes(group),
      `/dev/vfio/${group} exists after mode vm`,
      lines(b, "vfio-vm"),
    );
    const driVm = lines(b, "dri-vm");
    for (const [n] of drm) v.check(!driVm.includes(n), `/dev/dri/${n} is gone after mode vm`);
    verifyAgrees(v, b);
    const refusedCt = b.run("ct_plan_vm");
    v.check(
      !!refusedCt && refusedCt.rc === 3 && /mode host/.test(refusedCt.stderr),
      "ct plan while the card is on vfio-pci: exit 3, pointing at mode host",
      refusedCt && { rc: refusedCt.rc, stderr: refusedCt.stderr.slice(0, 400) },
    );

    // vm -> host
    stepOk(v, b, "mode_host", `mode host --device ${SLOT} --yes`);
    onDrivers(v, b, "host1", native);
    v.eq(lines(b, "dri-host1"), dri0, "/dev/dri after mode host (card* and renderD* as before)");
    v.check(
      group !== null && !lines(b, "vfio-host1").includes(group),
      `/dev/vfio/${group} is gone after mode host`,
      lines(b, "vfio-host1"),
    );

    // A process holds the card's node: refused, nothing moves.
    const pid = (b.text("holder-pid") ?? "").trim();
    const r = b.run("mode_refused");
    v.check(
      !!r && r.rc === 3,
      "mode vm while a process holds the card: exit 3",
      r && { rc: r.rc, stderr: r.stderr.slice(0, 400) },
    );
    v.check(
      pid !== "" && !!r && new RegExp(`\\b${pid}\\b`).test(r.stderr),
      `the refusal names the holder, pid ${pid}`,
      r?.stderr.slice(0, 400),
    );
    v.note(`refusal: ${r?.stderr.trim().split("\n")[0]}`);
    onDrivers(v, b, "refused", native);

    ctPlanFromSysfs(v, b, drm);

    const b2 = await m.boot("plain LXC container, hookscript round trip", LXC_AND_HOOK);
    lxcRoundTrip(v, b2);
    hookRoundTrip(v, b2, native);
  },
};

/** Plain LXC: refused while running, configured (journal), the node inside, ct check, rollback. */
function lxcRoundTrip(v: Verdict, b: Boot): void {
  stepOk(v, b, "lxc_create", "lxc-create -n media -t busybox (unprivileged: lxc.idmap)");
  const [card, dev] = (lines(b, "drm-sysfs").find((l) => l.startsWith("card")) ?? "").split(" ");
  const video = /^video:x:(\d+):/m.exec(b.text("host-groups") ?? "")?.[1];
  v.note(`boot 2: ${card} ${dev}, host video gid ${video}`);
  const before = b.text("lxc-config-before");
  const refused = b.run("lxc_refused");
  v.check(
    refused?.rc === 3 &&
      /is running, and LXC reads its config only when it starts/.test(refused.stderr),
    "ct configure --name media while it runs: exit 3, saying LXC reads its config at start",
    refused && { rc: refused.rc, stderr: refused.stderr.slice(0, 300) },
  );
  v.eq(b.text("lxc-config-refused"), before, "the refused configure left the config as it was");
  const plan = b.run("lxc_plan")?.stdout ?? "";
  v.check(
    plan.includes(`+lxc.cgroup2.devices.allow = c ${dev} rwm`),
    `ct plan --name media: cgroup rule c ${dev} rwm (sysfs dev)`,
    plan.slice(0, 800),
  );
  stepOk(v, b, "lxc_configure", "ct configure --name media --yes");
  const cfg = b.json<{ applied: boolean; journal: string }>("lxc_configure");
  v.check(
    !!cfg?.applied && /^\d{8}-\d{6}-[0-9a-f]{4}$/.test(cfg.journal),
    "configure: applied, with a journal id",
    cfg,
  );
  const after = b.text("lxc-config-after") ?? "";
  for (const line of [
    `lxc.mount.entry = /dev/dri/${card} dev/dri/${card} none bind,optional,create=file`,
    `lxc.idmap = g ${video} ${video} 1`,
  ])
    v.check(after.split("\n").includes(line), `config after configure has "${line}"`, after);
  stepOk(v, b, "lxc_start", "systemctl start lxc@media (configured)");
  // stat inside: %t:%T are hex; the sysfs dev file is decimal.
  const hex = (dev ?? "")
    .split(":")
    .map((n) => Number(n).toString(16))
    .join(":");
  // lxc-attach's own warnings share the file (2>&1): the line stat wrote.
  v.eq(
    lines(b, "lxc-inside").find((l) => l.startsWith("/dev/")) ?? null,
    `/dev/dri/${card} ${hex} ${video} 660`,
    "inside the container: the node with the host's major:minor, group video (mapped), mode 0660",
  );
  const open = b.run("lxc_open");
  v.check(
    open?.rc === 0 && open.stdout.includes("opened"),
    `uid 1000 of the container's video group opens /dev/dri/${card} read-write`,
    open && { rc: open.rc, out: (open.stdout + open.stderr).slice(0, 300) },
  );
  const check = b.json<{ ok: boolean; findings: Array<{ id: string; status: string }> }>(
    "lxc_check",
  );
  v.check(
    b.run("lxc_check")?.rc === 0 && !!check?.ok,
    "ct check --name media exits 0 (lxc-attach probes)",
    check ?? b.run("lxc_check")?.stderr,
  );
  for (const id of ["ct.node", "ct.node-access"])
    v.check(
      !!check?.findings.some((f) => f.id === id && f.status === "pass"),
      `ct check: ${id} PASS`,
      check?.findings,
    );
  stepOk(v, b, "lxc_rollback", `rollback ${cfg?.journal ?? "ID"} --yes`);
  v.eq(b.text("lxc-config-rolled-back"), before, "rollback: the config byte for byte as before");
}

/** The hookscript as qemu-server calls it: pre-start puts the slot on vfio-pci, post-stop back; twice. */
function hookRoundTrip(v: Verdict, b: Boot, native: (f: string) => string): void {
  stepOk(v, b, "hook_install", "mode vm --hookscript --vmid 100 --yes (pvesm, qm: lab stand-ins)");
  v.eq((b.text("hook-file") ?? "").trim(), "-rwx------ root", "the snippet is 0700, root's");
  for (const round of [1, 2]) {
    stepOk(v, b, `hook_pre${round}`, `round ${round}: SNIPPET 100 pre-start`);
    onDrivers(v, b, `hook-vm${round}`, () => "vfio-pci");
    const again = b.run(`hook_again${round}`);
    v.check(
      again?.rc === 0 && /in mode vm already/.test(again.stdout),
      `round ${round}: pre-start again changes nothing (exit 0, "in mode vm already")`,
      again && { rc: again.rc, out: again.stdout.slice(0, 300) },
    );
    stepOk(v, b, `hook_post${round}`, `round ${round}: SNIPPET 100 post-stop`);
    onDrivers(v, b, `hook-host${round}`, native);
  }
  const log = lines(b, "hook-journal");
  v.note(`hook journal: ${log.length} lines`);
  const count = (re: RegExp) => log.filter((l) => re.test(l)).length;
  v.eq(
    count(/^VM 100 pre-start: \/usr\/bin\/passthrough mode vm --device 0000:01:00\.0 --yes$/),
    4,
    "journal: 4 pre-start lines (logger -t passthrough-hook)",
  );
  v.eq(
    count(/^VM 100 post-stop: \/usr\/bin\/passthrough mode host --device 0000:01:00\.0 --yes$/),
    2,
    "journal: 2 post-stop lines",
  );
}

interface VerifyJson {
  ok: boolean;
  source?: unknown;
  findings: Array<{ id: string; status: string; subject?: string | null }>;
  functions: Array<{ address: string; driver: string | null; ok: boolean }>;
}

/** verify without a journal plans afresh for --device: the binding part must agree with sysfs. */
function verifyAgrees(v: Verdict, b: Boot): void {
  const r = b.run("verify_vm");
  const j = b.json<VerifyJson>("verify_vm");
  if (!v.check(j !== null, "verify --json after mode vm prints JSON", r && r.stdout.slice(0, 300)))
    return;
  v.note(
    `verify after mode vm: exit ${r?.rc}, ok ${j!.ok}, findings ${j!.findings.map((f) => `${f.id}:${f.status}${f.subject ? `(${f.subject})` : ""}`).join(", ")}`,
  );
  for (const f of [FN_DISPLAY, FN_AUDIO]) {
    const seen = j!.functions.find((x) => x.address === f);
    v.check(
      seen?.driver === "vfio-pci" && seen.ok,
      `verify: ${f} on vfio-pci, ok`,
      seen ?? j!.functions,
    );
  }
  // No journal: the expectation is a fresh plan, whose boot-time part mode vm does not make.
  v.check(
    r?.rc === 1 && j!.findings.some((f) => f.id === "verify.cmdline" && f.status === "fail"),
    "verify exits 1 on verify.cmdline: the planned boot parameters are not there (mode vm lasts until the reboot)",
    r && { rc: r.rc, findings: j!.findings },
  );
  v.check(
    !j!.findings.some((f) => f.id === "verify.binding" && f.status === "fail"),
    "verify: no verify.binding failure",
    j!.findings.filter((f) => f.id === "verify.binding"),
  );
}

/** ct plan names the card's DRM nodes with the device numbers the kernel gave them. */
function ctPlanFromSysfs(v: Verdict, b: Boot, drm: Array<[string, string]>): void {
  const r = b.run("ct_plan_host");
  v.check(
    !!r && r.rc === 0,
    "ct plan --ctid 100 --device 0000:01:00.0 (card on its host driver) exits 0",
    r && { rc: r.rc, out: (r.stdout + r.stderr).slice(0, 400) },
  );
  const out = r?.stdout ?? "";
  v.note(`ct plan: ${out.trim().split("\n").join(" | ").slice(0, 600)}`);
  for (const [n, dev] of drm) {
    v.check(out.includes(`/dev/dri/${n}`), `ct plan gives /dev/dri/${n}`);
    v.check(out.includes(`c ${dev} rwm`), `ct plan: cgroup rule c ${dev} rwm (sysfs dev)`, out);
  }
}

// --- issue 16: mode vm|host --persist across reboots -----------------------------------------
// --persist writes the boot-time binding through apply's flow (plan, journal); alone it moves
// nothing now. Each reboot must land in the mode written, and verify (reading the newest
// journal: the persist's own) must agree with sysfs.
/** A boot of scenario 15: facts LABEL, mode_state STATE, then the steps. */
const persistBoot = (label: string, state: string, ...steps: string[]) =>
  [`facts ${label}`, MODE_STATE, `mode_state ${state}`, ...steps, ""].join("\n");
const VERIFY_JSON = `pt verify verify --device "$SLOT" --json`;

const PERSIST_VM = persistBoot(
  "pristine",
  "native",
  `pt persist_vm mode vm --device "$SLOT" --persist --yes`,
  "mode_state persisted-vm",
);
const PERSIST_HOST = persistBoot(
  "vm-at-boot",
  "boot-vm",
  VERIFY_JSON,
  `pt persist_host mode host --device "$SLOT" --persist --yes`,
  "mode_state persisted-host",
);
const HOST_AT_BOOT = persistBoot("host-at-boot", "boot-host", VERIFY_JSON);

/** A --persist step exits 0 and names its journal ("Journal ID: PATH"). */
function persisted(v: Verdict, b: Boot, name: string, what: string): string | null {
  stepOk(v, b, name, what);
  const id = /Journal (\d{8}-\d{6}-[0-9a-f]{4}): /.exec(b.run(name)?.stdout ?? "")?.[1] ?? null;
  v.check(id !== null, `${what}: names its journal`, b.run(name)?.stdout.slice(-600));
  v.note(`${what}: journal ${id}`);
  return id;
}

/** verify --json after a persist: exit 0, from that journal, verify.binding PASS on each function. */
function verifyFromJournal(
  v: Verdict,
  b: Boot,
  journal: string | null,
  driver: (f: string) => string,
): void {
  const r = b.run("verify");
  const j = b.json<VerifyJson & { source?: { kind?: string; id?: string } }>("verify");
  v.note(
    `verify: exit ${r?.rc}, findings ${(j?.findings ?? []).map((f) => `${f.id}:${f.status}${f.subject ? `(${f.subject})` : ""}`).join(", ")}`,
  );
  v.check(
    r?.rc === 0 && !!j?.ok,
    `verify --device ${SLOT} --json exits 0, ok`,
    r && { rc: r.rc, out: (r.stdout + r.stderr).slice(0, 800) },
  );
  v.eq(j?.source?.id ?? null, journal, "verify: the expectation comes from the persist's journal");
  for (const f of [FN_DISPLAY, FN_AUDIO]) {
    v.check(
      !!j?.findings.some(
        (x) => x.id === "verify.binding" && x.status === "pass" && x.subject === f,
      ),
      `verify: verify.binding PASS for ${f}`,
      j?.findings.filter((x) => x.id === "verify.binding"),
    );
    const seen = j?.functions.find((x) => x.address === f);
    v.check(
      seen?.driver === driver(f) && seen.ok,
      `verify: ${f} on ${driver(f)}, ok`,
      seen ?? j?.functions,
    );
  }
}

const persistSwitch: Scenario = {
  id: "15",
  title:
    "mode vm --persist, reboot, verify; mode host --persist, reboot, verify: the switch survives reboots",
  image: "bios",
  iommu: "intel",
  async run(m, v) {
    const native = (f: string) => NATIVE[f]!.driver;
    const first = await m.boot("mode vm --persist", PERSIST_VM);
    const group = kernelBaseline(v, first, "intel");
    onDrivers(v, first, "native", native);
    const vmJournal = persisted(v, first, "persist_vm", `mode vm --device ${SLOT} --persist --yes`);
    // --persist alone writes the configuration only: nothing moves before the reboot.
    onDrivers(v, first, "persisted-vm", native);
    v.note(`mode vm --persist printed:\n${first.run("persist_vm")?.stdout.trim()}`);

    const second = await m.boot("vm at boot: verify, mode host --persist", PERSIST_HOST);
    const plan = planOf(v, second);
    v.eq(second.journalPlan()?.id ?? null, vmJournal, "the journal read back is mode vm's");
    onDrivers(v, second, "boot-vm", () => "vfio-pci");
    boundAfterReboot(v, first, second, plan, group);
    for (const f of [...second.fileHashes.keys()].filter((p) => p.startsWith("/etc/modprobe.d/")))
      v.note(`${f} after mode vm --persist:\n${second.file(f)?.trim()}`);
    v.note(
      `/etc/default/grub: ${(second.file("/etc/default/grub") ?? "")
        .split("\n")
        .filter((l) => l.startsWith("GRUB_CMDLINE_LINUX"))
        .join(" | ")}`,
    );
    verifyFromJournal(v, second, vmJournal, () => "vfio-pci");
    const hostJournal = persisted(
      v,
      second,
      "persist_host",
      `mode host --device ${SLOT} --persist --yes`,
    );
    onDrivers(v, second, "persisted-host", () => "vfio-pci");

    const third = await m.boot("host driver at boot: verify", HOST_AT_BOOT);
    v.eq(third.journalPlan()?.id ?? null, hostJournal, "the newest journal is mode host's");
    onDrivers(v, third, "boot-host", native);
    v.check(
      group !== null && !third.devVfio.includes(group),
      `kernel: no /dev/vfio/${group} after the reboot`,
      third.devVfio,
    );
    v.check(
      !third.cmdlineTokens.some((t) => t.startsWith("vfio-pci.ids=")),
      "kernel: no vfio-pci.ids= in /proc/cmdline",
      third.cmdline,
    );
    v.note(`/proc/cmdline at boot 3: ${third.cmdline}`);
    // mode host releases the card, not the IOMMU settings mode vm will need again.
    for (const t of plan.expect!.cmdline!)
      v.check(
        third.cmdlineTokens.includes(t),
        `kernel: /proc/cmdline still carries ${t}`,
        third.cmdline,
      );
    verifyFromJournal(v, third, hostJournal, native);
  },
};

export const SCENARIOS: Scenario[] = [
  grubIntel,
  grubAmd,
  systemdBoot,
  rollbackAfter1,
  seedMistakes,
  badMoment,
  driverRace,
  nestedVm("8", "bios-nested", "Debian 12"),
  trixieGrub,
  trixieSystemdBoot,
  { ...nestedVm("11", "trixie-bios-nested", "Debian 13"), optIn: NESTED_OPT_IN },
  uefiGrub,
  modeSwitch,
  nestedBoot("14", "8"),
  persistSwitch,
];
