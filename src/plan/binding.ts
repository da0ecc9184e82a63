// Keeping host drivers off the selected functions so vfio-pci claims them at boot
// (docs/domain-facts.md §3, docs/e2e-lab.md "What the real kernel taught").
//
// Default: `options vfio-pci ids=VVVV:DDDD,...` covering every selected function, plus
// `softdep MODULE pre: vfio-pci` for every native module that could claim one of them. The lab
// showed ids= alone loses the race to the native driver; the softdep makes modprobe load
// vfio-pci first, so it owns the devices before the native driver registers.
//
// Per-address: ids= binds EVERY device with that vendor:device id, so when the host keeps a
// device with a selected id (two identical GPUs) we bind by address instead. driver_override
// must be written before the native driver registers: a driver that registers probes every
// unbound device it matches at once, so a udev rule on the device's own "add" event races
// with another identical device's event loading that driver first. We use a modprobe
// `install vfio-pci ...` hook instead: it writes driver_override=vfio-pci for exactly the
// selected addresses and then loads vfio-pci (modprobe.d(5) "install": run the command
// instead of inserting the module; --ignore-install inserts it). The softdeps above make every
// native driver load vfio-pci first, so the hook has always run before any native driver
// registers; a device whose driver_override names vfio-pci matches no other driver
// (drivers/pci/pci-driver.c pci_match_device), and vfio-pci binds it without an id table
// entry. The same file goes into the initramfs, which carries modprobe.d, sh and modprobe.
//
// When vfio-pci is built into the kernel, modprobe.d options never reach it: ids go on the
// kernel command line (`vfio-pci.ids=`), and per-address binding hooks the native modules.

import { nativeModulesOf } from "../checks/candidates.js";
import type { PlanFinding } from "../findings/plan-catalog.js";
import { param } from "../formats/kernel-cmdline.js";
import { normalizeModuleName, optionsOf, softdepTargets } from "../formats/modprobe-conf.js";
import { kernelAtLeast } from "../host/system.js";
import type { CmdlineParam, HostState, PciDevice } from "../host/types.js";
import type { PlanFiles } from "./files.js";
import {
  OWN_MODPROBE,
  effectiveModprobe,
  firstMatching,
  replaceDirective,
} from "./modprobe-view.js";
import type { ResolvedSelection } from "./selection.js";
import type { ModuleParam, PlanOptions } from "./types.js";

/** Native drivers a GPU of this vendor may get later even when none is installed now (proprietary driver, KMS). */
export const VENDOR_GPU_MODULES: Record<string, string[]> = {
  "10de": ["nouveau", "nvidia", "nvidia_drm", "nvidia_modeset"],
  "1002": ["amdgpu", "radeon"],
  "8086": ["i915", "xe"],
};

export interface BindingPlan {
  mode: "ids" | "per-address";
  /** vendor:device ids of the selected functions, in address order. */
  ids: string[];
  /** Ids the host also uses elsewhere: id -> the host's devices with it. */
  shared: Map<string, string[]>;
  /** Modules that get `softdep M pre: vfio-pci` (or an install hook when vfio-pci is built in). */
  nativeModules: string[];
  vfioPciBuiltin: boolean;
  /** VFIO modules to load at boot (and to put in the initramfs), built-in ones left out. */
  vfioModules: string[];
  /** Parameters the command line must carry (vfio-pci.ids= when built in, ...). */
  cmdline: Array<{ param: CmdlineParam; why: string }>;
  /** disable_idle_d3=1 is planned: keep idle devices in D0 (null: not wanted). */
  idleD0: { why: string } | null;
  findings: PlanFinding[];
}

/** vfio-pci's disable_idle_d3 as /sys/module/vfio_pci/parameters shows it when set (a bool). */
export const IDLE_D0_PARAM: ModuleParam = {
  module: "vfio_pci",
  param: "disable_idle_d3",
  value: "Y",
};

/**
 * disable_idle_d3=1 when asked (--disable-idle-d3) or when the kernel log shows a selected
 * device that did not come back from D3cold ("Unable to change power state from D3cold to
 * D0, device inaccessible"): vfio-pci then leaves idle devices in D0, so the platform never
 * cuts their power (drivers/vfio/pci/vfio_pci_core.c, the module parameter's description).
 */
function idleD0Reason(
  state: HostState,
  sel: ResolvedSelection,
  opts: PlanOptions,
): { why: string } | null {
  const stuck = sel.selection.functions.filter((a) => state.kernelLog.d3coldFailures.includes(a));
  if (stuck.length)
    return {
      why: `${stuck.join(", ")} did not come back from D3cold (kernel log), so vfio-pci keeps idle devices powered`,
    };
  return opts.disableIdleD3
    ? { why: "--disable-idle-d3: vfio-pci keeps idle devices powered" }
    : null;
}

/** An `options vfio_pci ... disable_idle_d3=1|Y` line kmod will pass already. */
function idleD0Present(state: HostState, files: PlanFiles): boolean {
  return effectiveModprobe(state, files).some(
    (d) =>
      d.command === "options" &&
      d.module === "vfio_pci" &&
      ["1", "Y", "y"].includes(optionsOf(d).disable_idle_d3 ?? ""),
  );
}

export function isBuiltin(state: HostState, module: string): boolean {
  return (state.modules.builtin ?? []).includes(normalizeModuleName(module));
}

/** vfio, vfio_iommu_type1, vfio_pci, and vfio_virqfd only before 6.2 (merged into vfio then). */
export function vfioModulesFor(state: HostState): {
  modules: string[];
  finding: PlanFinding | null;
} {
  const mods = ["vfio", "vfio_iommu_type1", "vfio_pci"];
  const atLeast62 = kernelAtLeast(state.system.kernelVersion, 6, 2);
  let finding: PlanFinding | null = null;
  if (atLeast62 === false) mods.push("vfio_virqfd");
  if (atLeast62 === null) {
    finding = {
      id: "plan.kernel-version-unknown",
      status: "warn",
      subject: null,
      summary:
        "the running kernel's version is unknown: vfio_virqfd (a separate module only before 6.2) is left out",
      fix: "on a kernel older than 6.2 add vfio_virqfd to /etc/modules-load.d/passthrough.conf",
    };
  }
  return { modules: mods.filter((m) => !isBuiltin(state, m)), finding };
}

export function planBinding(
  state: HostState,
  sel: ResolvedSelection,
  opts: PlanOptions,
): BindingPlan {
  const findings: PlanFinding[] = [];
  const selected = new Set(sel.selection.functions);
  const ids: string[] = [];
  for (const d of sel.devices) {
    const id = `${d.vendorId}:${d.deviceId}`;
    if (!ids.includes(id)) ids.push(id);
  }
  const shared = new Map<string, string[]>();
  for (const d of state.pci) {
    if (selected.has(d.address) || d.isBridge) continue;
    const id = `${d.vendorId}:${d.deviceId}`;
    if (ids.includes(id)) shared.set(id, [...(shared.get(id) ?? []), d.address]);
  }
  const mode = shared.size > 0 ? "per-address" : "ids";

  const natives = new Set<string>();
  for (const d of sel.devices) {
    for (const m of nativeModulesOf(d)) natives.add(m);
    if (d.classCode.startsWith("03"))
      for (const m of VENDOR_GPU_MODULES[d.vendorId] ?? []) natives.add(m);
  }
  const builtinNatives = [...natives].filter((m) => isBuiltin(state, m));
  for (const m of builtinNatives) {
    const who = sel.devices.filter((d) => nativeModulesOf(d).includes(m)).map((d) => d.address);
    if (who.length === 0) continue;
    findings.push({
      id: "binding.native-builtin",
      status: "warn",
      subject: who.join(", "),
      summary: `${m} is built into the kernel, so it can claim ${who.join(", ")} before vfio-pci loads; softdep cannot order a built-in driver`,
      fix: `add initcall_blacklist=${m}_init or use a kernel where ${m} is a module; check the binding with \`passthrough verify\` after the reboot`,
    });
  }
  const nativeModules = [...natives].filter((m) => !isBuiltin(state, m)).sort();
  const vfioPciBuiltin = isBuiltin(state, "vfio_pci");
  const vfio = vfioModulesFor(state);
  if (vfio.finding) findings.push(vfio.finding);

  const cmdline: BindingPlan["cmdline"] = [];
  if (mode === "ids" && (vfioPciBuiltin || state.initramfs.kind === "booster")) {
    cmdline.push({
      param: param("vfio-pci.ids", ids.join(",")),
      why: vfioPciBuiltin
        ? "vfio-pci is built into this kernel (modules.builtin), so /etc/modprobe.d options never reach it: its ids go on the kernel command line"
        : "booster's init loads modules itself and does not read modprobe.d: the ids go on the kernel command line, which the kernel applies whoever loads vfio-pci",
    });
  }
  if (
    opts.allowUnsafeInterrupts &&
    state.iommu.interruptRemapping === false &&
    isBuiltin(state, "vfio_iommu_type1")
  ) {
    cmdline.push({
      param: param("vfio_iommu_type1.allow_unsafe_interrupts", "1"),
      why: "--allow-unsafe-interrupts: vfio_iommu_type1 is built in, so the option goes on the command line",
    });
  }

  const idleD0 = idleD0Reason(state, sel, opts);
  if (idleD0) {
    findings.push({
      id: "binding.disable-idle-d3",
      status: "info",
      subject: sel.selection.functions.join(", "),
      summary: `vfio-pci disable_idle_d3=1: ${idleD0.why}; the devices draw idle power while no VM uses them`,
      fix: null,
    });
    if (vfioPciBuiltin)
      cmdline.push({
        param: param("vfio_pci.disable_idle_d3", "1"),
        why: "vfio-pci is built into this kernel, so its disable_idle_d3 option goes on the command line",
      });
  }

  if (mode === "per-address") {
    const list = [...shared].flatMap(([id, devs]) => devs.map((d) => `${d} (${id})`)).join(", ");
    findings.push({
      id: "binding.per-address",
      status: "info",
      subject: sel.selection.functions.join(", "),
      summary: `binding ${sel.selection.functions.join(", ")} by address, not by id: the host keeps ${list}, which ids= would take too`,
      fix: null,
      detail: [
        vfioPciBuiltin
          ? "mechanism: a modprobe install hook on each native driver writes driver_override=vfio-pci for the selected addresses before that driver loads (vfio-pci is built in, so it binds them at once)"
          : "mechanism: a modprobe `install vfio-pci` hook writes driver_override=vfio-pci for exactly these addresses before vfio-pci loads, and `softdep DRIVER pre: vfio-pci` runs it before any native driver registers; a udev rule would race with the identical device's driver loading",
      ],
    });
    if (state.initramfs.kind === "booster") {
      findings.push({
        id: "binding.booster-per-address",
        status: "warn",
        subject: null,
        summary:
          "booster's init does not run modprobe install hooks or softdeps: keep the GPU drivers out of the booster image (modules_force_load) so they load only after the root filesystem is mounted",
        fix: "grep modules /etc/booster.yaml",
      });
    }
  }
  return {
    mode,
    ids,
    shared,
    nativeModules,
    vfioPciBuiltin,
    vfioModules: vfio.modules,
    cmdline,
    idleD0,
    findings,
  };
}

const HEADER = (sel: ResolvedSelection) => [
  `# Written by passthrough for PCI passthrough of ${sel.selection.functions.join(" ")}.`,
  "# It keeps host drivers off those functions so vfio-pci claims them at boot; the initramfs",
  "# carries a copy. Undo with `passthrough rollback` (or delete this file and rebuild the initramfs).",
];

function splitIds(v: string | undefined): string[] {
  return (v ?? "")
    .split(",")
    .map((x) => x.trim().toLowerCase())
    .filter(Boolean);
}

/** Rewrite `options MOD a=b ...` with the ids= argument replaced (null = drop it). */
function optionsLineWithIds(raw: string, ids: string[] | null): string | null {
  const words = raw.trim().split(/\s+/);
  const out = words.filter((w, i) => i < 2 || !w.startsWith("ids="));
  if (ids && ids.length) out.splice(2, 0, `ids=${ids.join(",")}`);
  return out.length > 2 ? out.join(" ") : null;
}

/**
 * Plan /etc/modprobe.d/passthrough.conf (ours) and the minimal edits to other /etc/modprobe.d
 * files that would otherwise defeat it. Returns nothing; steps land in `files`.
 */
export function writeModprobe(
  state: HostState,
  files: PlanFiles,
  sel: ResolvedSelection,
  opts: PlanOptions,
  b: BindingPlan,
  findings: PlanFinding[],
): void {
  const lines: string[] = [];
  const idsList = b.ids.join(",");
  const existing = () => effectiveModprobe(state, files);

  // ids= (modular vfio-pci): kmod concatenates every `options vfio_pci` line and the kernel
  // keeps the last ids= it parses, so one line must carry them all.
  if (!b.vfioPciBuiltin) {
    const idsLines = existing().filter(
      (d) => d.command === "options" && d.module === "vfio_pci" && optionsOf(d).ids !== undefined,
    );
    if (b.mode === "ids") {
      const last = idsLines[idsLines.length - 1];
      const have = splitIds(last ? optionsOf(last).ids : undefined);
      if (!last) {
        lines.push(`options vfio-pci ids=${idsList}`);
      } else if (b.ids.every((id) => have.includes(id))) {
        findings.push({
          id: "binding.ids-present",
          status: "info",
          subject: `/${last.file}:${last.line}`,
          summary: `"${last.raw}" already names ${idsList}`,
          fix: null,
        });
      } else {
        const union = [...have, ...b.ids.filter((id) => !have.includes(id))];
        if (last.file.startsWith("etc/")) {
          const text = files.read(last.file)!;
          files.write(
            last.file,
            replaceDirective(text, last.line, optionsLineWithIds(last.raw, union)),
            `"${last.raw}" is the ids= vfio-pci uses (the last one wins), so the ids of ${sel.selection.functions.join(", ")} join it rather than a second line that one of them would override`,
          );
        } else {
          lines.push(`options vfio-pci ids=${union.join(",")}`);
          findings.push({
            id: "binding.ids-outside-etc",
            status: "warn",
            subject: `/${last.file}:${last.line}`,
            summary: `/${last.file} also sets vfio-pci ids=; kmod keeps the last ids= it reads, which may be that file's`,
            fix: `check \`modprobe -c | grep vfio.pci\` after applying`,
          });
        }
      }
    } else {
      // Per-address: an existing ids= that names a shared id would take the host's own card too.
      for (const d of idsLines) {
        const have = splitIds(optionsOf(d).ids);
        const keep = have.filter((id) => !b.shared.has(id));
        if (keep.length === have.length) continue;
        const dropped = have.filter((id) => b.shared.has(id));
        if (!d.file.startsWith("etc/")) {
          findings.push({
            id: "binding.ids-outside-etc",
            status: "fail",
            subject: `/${d.file}:${d.line}`,
            summary: `/${d.file} binds ${dropped.join(", ")} by id, which takes the host's own identical device too`,
            fix: `override it with an /etc/modprobe.d file of the same name without those ids`,
          });
          continue;
        }
        const text = files.read(d.file)!;
        const fresh = existing().find((x) => x.file === d.file && x.raw === d.raw) ?? d;
        files.write(
          d.file,
          replaceDirective(text, fresh.line, optionsLineWithIds(d.raw, keep.length ? keep : null)),
          `"${d.raw}" binds every device with ${dropped.join(", ")}, including ${dropped.flatMap((id) => b.shared.get(id) ?? []).join(", ")} which the host keeps; those functions are bound by address instead`,
        );
      }
      const hook = firstMatching(existing(), "install", "vfio_pci");
      if (hook && !b.vfioPciBuiltin) {
        findings.push({
          id: "binding.install-conflict",
          status: "fail",
          subject: `/${hook.file}:${hook.line}`,
          summary: `"${hook.raw}" is the install command kmod uses for vfio-pci (the first one wins), so ours would be ignored`,
          fix: `remove that line, then run passthrough plan again`,
        });
      }
      const devs = sel.selection.functions.join(" ");
      lines.push(
        "# Per-address binding: set driver_override for these functions, then load vfio-pci.",
        `install vfio-pci for dev in ${devs}; do echo vfio-pci > /sys/bus/pci/devices/$dev/driver_override; done; /sbin/modprobe --ignore-install vfio-pci $CMDLINE_OPTS`,
      );
    }
  } else if (b.mode === "per-address") {
    const devs = sel.selection.functions.join(" ");
    for (const m of b.nativeModules) {
      lines.push(
        `install ${m} for dev in ${devs}; do echo vfio-pci > /sys/bus/pci/devices/$dev/driver_override; echo $dev > /sys/bus/pci/drivers_probe; done; /sbin/modprobe --ignore-install ${m} $CMDLINE_OPTS`,
      );
    }
  }

  // allow_unsafe_interrupts (explicit opt-in, refused otherwise).
  if (
    opts.allowUnsafeInterrupts &&
    state.iommu.interruptRemapping === false &&
    !isBuiltin(state, "vfio_iommu_type1")
  ) {
    const have = existing().some(
      (d) =>
        d.command === "options" &&
        d.module === "vfio_iommu_type1" &&
        ["1", "Y", "y"].includes(optionsOf(d).allow_unsafe_interrupts ?? ""),
    );
    if (!have) lines.push("options vfio_iommu_type1 allow_unsafe_interrupts=1");
  }

  if (b.idleD0 && !b.vfioPciBuiltin && !idleD0Present(state, files))
    lines.push(
      "# Keep idle devices in D0: some do not come back from D3cold (vfio-pci disable_idle_d3).",
      "options vfio-pci disable_idle_d3=1",
    );

  // softdeps: kmod reads only the first softdep line of a module, so an existing one must
  // carry vfio-pci itself; ours is written only where none exists.
  if (!b.vfioPciBuiltin) {
    const softdeps: string[] = [];
    for (const m of b.nativeModules) {
      const first = firstMatching(existing(), "softdep", m);
      if (!first) {
        softdeps.push(`softdep ${m} pre: vfio-pci`);
        continue;
      }
      if (softdepTargets(first).pre.includes("vfio_pci")) continue;
      if (first.file.startsWith("etc/")) {
        const words = first.raw.split(/\s+/);
        const at = words.indexOf("pre:");
        if (at === -1) words.splice(2, 0, "pre:", "vfio-pci");
        else words.splice(at + 1, 0, "vfio-pci");
        files.write(
          first.file,
          replaceDirective(files.read(first.file)!, first.line, words.join(" ")),
          `"${first.raw}" is the softdep kmod uses for ${m} (only the first one counts), so vfio-pci is added to it instead of a second line kmod would ignore`,
        );
      } else {
        softdeps.push(`softdep ${m} pre: vfio-pci`);
        findings.push({
          id: "binding.softdep-outside-etc",
          status: "warn",
          subject: `/${first.file}:${first.line}`,
          summary: `/${first.file} already has a softdep for ${m}; kmod uses only the first one it reads, which may not be ours`,
          fix: `check \`modprobe -c | grep "softdep ${m}"\` after applying`,
        });
      }
    }
    if (softdeps.length)
      lines.push(
        "# Load vfio-pci before any driver that could claim these functions.",
        ...softdeps,
      );
  }

  // --blacklist: never a module another host device uses (docs/domain-facts.md §3).
  if (opts.blacklist) {
    const selected = new Set(sel.selection.functions);
    const others = state.pci.filter((d) => !selected.has(d.address) && !d.isBridge);
    const bl: string[] = [];
    for (const m of b.nativeModules) {
      const users = others.filter(
        (d: PciDevice) =>
          nativeModulesOf(d).includes(m) ||
          normalizeModuleName(d.driverModule ?? d.driver ?? "") === m,
      );
      if (users.length) {
        findings.push({
          id: "binding.blacklist-skipped",
          status: "info",
          subject: m,
          summary: `not blacklisting ${m}: the host also uses it for ${users.map((u) => u.address).join(", ")}`,
          fix: null,
        });
        continue;
      }
      if (existing().some((d) => d.command === "blacklist" && d.module === m)) continue;
      bl.push(`blacklist ${m}`);
    }
    if (bl.length) {
      lines.push(
        "# --blacklist: stop automatic loading of drivers no other host device needs.",
        ...bl,
      );
      findings.push({
        id: "binding.blacklist",
        status: "warn",
        subject: null,
        summary:
          "--blacklist: blacklist only stops automatic (alias) loading, host-wide; the ids/softdep binding is what keeps the devices on vfio-pci",
        fix: null,
      });
    }
  }

  const content = lines.length ? [...HEADER(sel), ...lines].join("\n") + "\n" : null;
  files.write(
    OWN_MODPROBE,
    content,
    content === null
      ? "nothing left for passthrough's own modprobe file to say: the host's other files already bind these functions"
      : b.mode === "ids"
        ? `bind ${sel.selection.functions.join(", ")} to vfio-pci by id (${idsList}) and load vfio-pci before ${b.nativeModules.join(", ") || "their drivers"}`
        : `bind ${sel.selection.functions.join(", ")} to vfio-pci by address (the host keeps devices with the same ids) and load vfio-pci before ${b.nativeModules.join(", ") || "their drivers"}`,
  );
}
