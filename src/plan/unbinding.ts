// The reverse of binding.ts, for `mode host --persist`: take a card's boot-time binding out of
// the configuration so that after the reboot its own driver claims it again.
//
//   - its vendor:device ids leave every `options vfio-pci ids=` line in /etc/modprobe.d (other
//     cards' ids stay; an empty ids= is dropped) and the kernel command line's vfio-pci.ids=;
//   - its addresses leave our per-address `install` hook (binding.ts);
//   - in our own file only (/etc/modprobe.d/passthrough.conf), the `softdep M pre: vfio-pci`
//     and `blacklist M` lines for its drivers go, unless a card still bound needs that driver
//     kept off too; blacklists the user wrote elsewhere are reported, never edited;
//   - the initramfs is rebuilt (it carries a copy of modprobe.d) and the boot loader refreshed.
//
// Pure: HostState + the selection in, Plan out, like planHost.

import { nativeModulesOf } from "../checks/candidates.js";
import type { PlanFinding } from "../findings/plan-catalog.js";
import { affectsInitramfs } from "../boot/initramfs.js";
import { InputError } from "../errors.js";
import { normalizeParamName, param } from "../formats/kernel-cmdline.js";
import { normalizeModuleName, optionsOf } from "../formats/modprobe-conf.js";
import type { HostState, PciDevice } from "../host/types.js";
import { NOTHING_SELECTED } from "../formats/device-selection.js";
import { VENDOR_GPU_MODULES } from "./binding.js";
import { planBootloader, type CmdlineEdit } from "./bootloaders/index.js";
import { PlanFiles } from "./files.js";
import { rebuildCommand } from "./initramfs/index.js";
import { OWN_MODPROBE, effectiveModprobe, replaceDirective } from "./modprobe-view.js";
import { resolveSelection } from "./selection.js";
import type { CommandStep, Plan, PlanOptions, Step } from "./types.js";

const KEPT = "kept as configured";

function splitIds(v: string | null | undefined): string[] {
  return (v ?? "")
    .split(",")
    .map((x) => x.trim().toLowerCase())
    .filter(Boolean);
}

/** The drivers that could claim these functions (their own, and a GPU vendor's usual ones). */
function driversOf(devices: readonly PciDevice[]): Set<string> {
  const out = new Set<string>();
  for (const d of devices) {
    for (const m of nativeModulesOf(d)) out.add(m);
    if (d.classCode.startsWith("03"))
      for (const m of VENDOR_GPU_MODULES[d.vendorId] ?? []) out.add(m);
  }
  return out;
}

/** Take `ids` out of every /etc `options vfio_pci ids=` line; report those outside /etc. */
function dropModprobeIds(
  state: HostState,
  files: PlanFiles,
  ids: readonly string[],
  findings: PlanFinding[],
): boolean {
  let released = false;
  const lines = () =>
    effectiveModprobe(state, files, null).filter(
      (d) => d.command === "options" && d.module === "vfio_pci" && optionsOf(d).ids !== undefined,
    );
  for (const d of lines()) {
    const have = splitIds(optionsOf(d).ids);
    const keep = have.filter((id) => !ids.includes(id));
    if (keep.length === have.length) continue;
    released = true;
    if (!d.file.startsWith("etc/")) {
      findings.push({
        id: "binding.ids-outside-etc",
        status: "fail",
        subject: `/${d.file}:${d.line}`,
        summary: `/${d.file} binds ${have.filter((id) => ids.includes(id)).join(", ")} to vfio-pci by id, and it is not ours to edit`,
        fix: `override it with an /etc/modprobe.d file of the same name without those ids`,
      });
      continue;
    }
    // Line numbers shift as lines go: find the directive again in the planned text.
    const fresh = lines().find((x) => x.file === d.file && x.raw === d.raw) ?? d;
    const words = d.raw.trim().split(/\s+/);
    const rest = words.filter((w, i) => i < 2 || !w.startsWith("ids="));
    if (keep.length) rest.splice(2, 0, `ids=${keep.join(",")}`);
    files.write(
      d.file,
      replaceDirective(files.read(d.file)!, fresh.line, rest.length > 2 ? rest.join(" ") : null),
      `"${d.raw}" binds ${ids.join(", ")} to vfio-pci at boot; ${keep.length ? `the other ids (${keep.join(",")}) stay` : "nothing else is left on it"}`,
    );
  }
  return released;
}

/**
 * Our own file: the install hook loses these addresses, and softdep/blacklist lines for drivers
 * that only the released card needed go. Comment lines left without a directive go too.
 */
function pruneOwnFile(
  files: PlanFiles,
  addresses: readonly string[],
  drivers: ReadonlySet<string>,
): void {
  const text = files.read(OWN_MODPROBE);
  if (text === null) return;
  const out: string[] = [];
  for (const line of text.split("\n")) {
    const words = line.trim().split(/\s+/);
    const module = normalizeModuleName(words[1] ?? "");
    if ((words[0] === "softdep" || words[0] === "blacklist") && drivers.has(module)) continue;
    const hook = /^(install \S+ for dev in )([^;]*)(;.*)$/.exec(line);
    if (hook) {
      const left = hook[2]!.split(/\s+/).filter((a) => a && !addresses.includes(a));
      if (left.length) out.push(`${hook[1]}${left.join(" ")}${hook[3]}`);
      continue;
    }
    out.push(line);
  }
  // A comment is the heading of the directives below it: drop headings left with none.
  const kept = out.filter((line, i) => {
    if (!line.startsWith("# ") || i < 3) return true;
    const next = out.slice(i + 1).find((l) => !l.startsWith("#"));
    return next !== undefined && next.trim() !== "";
  });
  const directives = kept.filter((l) => l.trim() && !l.startsWith("#"));
  files.write(
    OWN_MODPROBE,
    directives.length ? kept.join("\n") : null,
    directives.length
      ? `its softdep/blacklist lines for ${[...drivers].sort().join(", ")} and the hook's addresses ${addresses.join(" ")} go; the lines other cards need stay`
      : `nothing is left for passthrough's own modprobe file to say once ${addresses.join(", ")} ${addresses.length === 1 ? "is" : "are"} released`,
  );
}

/**
 * A function none of whose drivers will load on their own: every one is blacklisted by a file
 * passthrough did not write (kmod compares blacklist names exactly, libkmod-config.c).
 */
function foreignBlacklists(
  state: HostState,
  files: PlanFiles,
  devices: readonly PciDevice[],
): PlanFinding[] {
  const lines = effectiveModprobe(state, files, null).filter(
    (d) => d.command === "blacklist" && d.file !== OWN_MODPROBE,
  );
  return devices.flatMap((dev) => {
    const drivers = nativeModulesOf(dev);
    const hits = lines.filter((l) => drivers.includes(normalizeModuleName(l.module)));
    if (
      !drivers.length ||
      !drivers.every((m) => hits.some((l) => normalizeModuleName(l.module) === m))
    )
      return [];
    return [
      {
        id: "binding.host-driver-blacklisted" as const,
        status: "warn" as const,
        subject: dev.address,
        summary: `every driver of ${dev.address} is blacklisted by a file passthrough did not write (${hits.map((l) => `/${l.file}:${l.line} "${l.raw}"`).join(", ")}), so after the reboot none loads on its own`,
        fix: `remove those lines if the host should use it, then rebuild the initramfs; or load the driver by hand (modprobe ${drivers[0]})`,
      },
    ];
  });
}

/**
 * The command line's vfio-pci.ids= loses these ids (replaced by the rest, if any). The boot
 * loader planners write `add` as the whole set passthrough keeps (GRUB's drop-in is rewritten
 * from it), so every other configured parameter is carried as it is.
 */
function cmdlineIds(state: HostState, ids: readonly string[], edit: CmdlineEdit): void {
  const configured = state.cmdline.configured?.params ?? [];
  for (const p of configured) {
    if (normalizeParamName(p.key) !== "vfio_pci.ids") continue;
    const have = splitIds(p.value);
    const keep = have.filter((id) => !ids.includes(id));
    if (keep.length === have.length) continue;
    edit.remove.push({ raw: p.raw, why: `${p.raw} binds ${ids.join(", ")} to vfio-pci at boot` });
    if (keep.length)
      edit.add.push({
        param: param(p.key, keep.join(",")),
        why: `the other cards' ids stay bound at boot`,
      });
  }
  if (edit.remove.length === 0) return;
  const kept = configured.filter((p) => !edit.remove.some((r) => r.raw === p.raw));
  edit.add.push(...kept.map((p) => ({ param: p, why: KEPT })));
}

/** Identical devices the host has: an ids= binding released for one releases them all. */
function sharedIds(twins: readonly PciDevice[], ids: readonly string[]): PlanFinding {
  const list = twins.map((d) => d.address).join(", ");
  const it = twins.length === 1 ? "it" : "them";
  return {
    id: "binding.ids-shared",
    status: "warn",
    subject: list,
    summary: `${list} ${twins.length === 1 ? "has" : "have"} the same ids (${ids.join(", ")}): releasing the ids= binding releases ${it} too`,
    fix: `to keep ${it} on vfio-pci, bind by address: \`passthrough apply --device ${twins.map((d) => d.address).join(" --device ")}\``,
  };
}

/** Plan the release of the selected functions from their boot-time vfio-pci binding. */
export function planUnbind(state: HostState, opts: Pick<PlanOptions, "devices" | "groups">): Plan {
  const sel = resolveSelection(state, opts);
  if (sel.selection.functions.length === 0) throw new InputError(NOTHING_SELECTED);
  const selected = new Set(sel.selection.functions);
  const ids = [...new Set(sel.devices.map((d) => `${d.vendorId}:${d.deviceId}`))];
  // A card that stays bound (on vfio-pci now, or with one of these ids) keeps its drivers off.
  const staying = state.pci.filter(
    (d) => !selected.has(d.address) && !d.isBridge && d.driver === "vfio-pci",
  );
  const twins = state.pci.filter(
    (d) => !selected.has(d.address) && !d.isBridge && ids.includes(`${d.vendorId}:${d.deviceId}`),
  );
  const stillNeeded = driversOf(staying);
  const drivers = new Set([...driversOf(sel.devices)].filter((m) => !stillNeeded.has(m)));

  const findings: PlanFinding[] = [];
  const files = new PlanFiles(state.configFiles);
  const edit: CmdlineEdit = { add: [], remove: [], repaired: [] };
  const released = dropModprobeIds(state, files, ids, findings);
  pruneOwnFile(files, sel.selection.functions, drivers);
  findings.push(...foreignBlacklists(state, files, sel.devices));
  cmdlineIds(state, ids, edit);
  if (twins.length && (released || edit.remove.length > 0)) findings.push(sharedIds(twins, ids));
  // The boot planners write the whole parameter set passthrough adds: with nothing to take off
  // the command line, an empty edit would drop iommu=pt and the IOMMU switch with the binding.
  const boot = edit.remove.length ? planBootloader(state, files, edit, findings) : { commands: [] };

  const commands: CommandStep[] = [];
  const initramfsFiles = [...files.changed().keys()].filter(affectsInitramfs);
  const onVfio = sel.devices.filter((d) => d.driver === "vfio-pci").map((d) => d.address);
  if (initramfsFiles.length) {
    const cmd = rebuildCommand(
      state.initramfs.kind,
      `the initramfs carries its own copy of ${initramfsFiles.map((f) => `/${f}`).join(", ")}: rebuild it so early boot leaves ${sel.selection.functions.join(", ")} to ${[...driversOf(sel.devices)].sort().join(", ") || "their drivers"}`,
    );
    if (cmd) commands.push(cmd);
  }
  commands.push(...boot.commands);
  const steps: Step[] = [...files.steps, ...commands];
  if (steps.length && onVfio.length)
    steps.push({
      kind: "reboot",
      why: `${onVfio.join(", ")} ${onVfio.length === 1 ? "is" : "are"} on vfio-pci until the next boot (or \`passthrough mode host\` now)`,
    });
  return {
    selection: sel.selection,
    steps,
    findings,
    expect: {
      cmdline: edit.add.filter((w) => w.why !== KEPT).map((w) => w.param.raw),
      modulesLoaded: [],
      boundToVfio: [],
      boundToHost: sel.selection.functions,
    },
    phase: "complete",
    cmdline: edit.add
      .filter((w) => w.why !== KEPT)
      .map((w) => ({ param: w.param.raw, why: w.why })),
  };
}
