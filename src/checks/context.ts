// What every check gets: the host, its candidates, and which of them to judge.
//
// Host findings (CPU, IOMMU, configuration) always apply. Candidate findings (isolation,
// drivers, reset, ...) are about the devices a user would pass: the one named by
// `check --device`, or else the GPUs a host would give to a VM. Judging every USB or SATA
// controller with fail/warn would bury the answer, so the other candidates are listed with
// their isolation verdict only (candidates[] in --json, "Other passable devices" in text).

import type { HostState, PciAddress, PciDevice } from "../host/types.js";
import type { DeviceRef } from "../formats/device-selection.js";
import { slotOf } from "../formats/pci-address.js";
import { classShortName } from "../formats/pci-ids.js";
import { findCandidates, isGpu } from "./candidates.js";
import { lintConfiguration } from "./config-lint.js";
import type { Candidate, ConfigProblem } from "./types.js";

export interface CheckContext {
  state: HostState;
  candidates: Candidate[];
  /** Candidates the candidate checks judge (see the header). */
  targets: Candidate[];
  /** Functions `--device` named one by one: a target with some of these is judged on those only. */
  functionFilter: ReadonlySet<PciAddress> | null;
  /** `--device` was given. */
  selected: boolean;
  problems: ConfigProblem[];
  byAddress: Map<PciAddress, PciDevice>;
}

/**
 * Display adapters of server management controllers (ASPEED, Matrox G200 on iDRAC/iLO/IPMI
 * boards): the host's console, never what anyone passes to a VM.
 */
export function isManagementGpu(d: Pick<PciDevice, "vendorId" | "classCode">): boolean {
  return isGpu(d) && (d.vendorId === "1a03" || d.vendorId === "102b");
}

/** A candidate `--device` named: the whole slot (fn null) or one of its functions. */
export interface CheckSelection {
  candidate: Candidate;
  fn: PciAddress | null;
}

export type DeviceSelection = ({ ok: true } & CheckSelection) | { ok: false; reason: string };

/** Resolve one `--device` address (formats/device-selection.ts) to a candidate, or say why not. */
export function selectDevice(
  state: HostState,
  candidates: readonly Candidate[],
  ref: DeviceRef,
): DeviceSelection {
  const { address: norm, isFunction } = ref;
  for (const c of candidates) {
    if (c.address === norm) return { ok: true, candidate: c, fn: null };
    if (isFunction && c.functions.some((f) => f.address === norm))
      return { ok: true, candidate: c, fn: norm };
  }
  const dev = state.pci.find(
    (d) => d.address === norm || (!isFunction && slotOf(d.address) === norm),
  );
  if (dev) {
    return {
      ok: false,
      reason: `${dev.address} is a ${classShortName(dev.classCode)} [${dev.classCode.slice(0, 4)}], not a device that can be passed to a VM (bridges and platform functions stay with the host)`,
    };
  }
  return { ok: false, reason: `no PCI device ${norm} on this host` };
}

/** Candidates judged when no --device is given: the GPUs a VM would get. */
export function defaultTargets(state: HostState, candidates: readonly Candidate[]): Candidate[] {
  // A guest without a virtual IOMMU cannot pass anything on; its GPU is what the
  // hypervisor passed in, which host.virtual-machine reports.
  if (state.system.virtualMachine && !state.iommu.enabled) return [];
  const gpus = candidates.filter((c) => c.functions.some((f) => isGpu(f) && !isManagementGpu(f)));
  // The boot GPU usually stays with the host (its console); when there is another GPU, that
  // one is the VM's. A host with a single GPU can only pass that one.
  const others = gpus.filter((c) => !c.bootVga);
  return others.length > 0 ? others : gpus;
}

export function makeCheckContext(
  state: HostState,
  selections: readonly CheckSelection[] | null = null,
): CheckContext {
  const candidates = findCandidates(state);
  const targets = selections
    ? uniqueBy(
        selections.map(
          (s) => candidates.find((c) => c.address === s.candidate.address) ?? s.candidate,
        ),
        (c) => c.address,
      )
    : defaultTargets(state, candidates);
  const fns = selections?.flatMap((s) => (s.fn === null ? [] : [s.fn])) ?? [];
  return {
    state,
    candidates,
    targets,
    functionFilter: fns.length > 0 ? new Set(fns) : null,
    selected: selections !== null,
    problems: lintConfiguration(state),
    byAddress: new Map(state.pci.map((d) => [d.address, d])),
  };
}

/** Host path for people: "etc/default/grub" -> "/etc/default/grub", with ":line" when known. */
export function hostPath(file: string, line?: number | null): string {
  const p = file.startsWith("/") ? file : `/${file}`;
  return line ? `${p}:${line}` : p;
}

/** "NVIDIA Corporation" -> "NVIDIA", "Advanced Micro Devices, Inc. [AMD/ATI]" -> "AMD/ATI". */
export function shortVendor(name: string | null, id: string): string {
  if (!name) return `vendor ${id}`;
  const bracket = /\[([^\]]+)\]\s*$/.exec(name);
  if (bracket) return bracket[1]!;
  return (
    name
      .replace(
        /,?\s+(Corporation|Corp\.?|Inc\.|Co\.,? Ltd\.?|Technology|Technologies|Semiconductor|Electronics|Systems|Ltd\.?|International|GmbH|Limited|and subsidiaries).*$/i,
        "",
      )
      .trim() || name
  );
}

/** "NVIDIA GA102 [GeForce RTX 3080]" for a PCI function. */
export function deviceLabel(
  d: Pick<PciDevice, "vendorName" | "vendorId" | "deviceName" | "deviceId">,
): string {
  const vendor = shortVendor(d.vendorName, d.vendorId);
  const device = d.deviceName ?? `device ${d.deviceId}`;
  // "ASPEED Graphics Family" already names its vendor.
  return device.toLowerCase().startsWith(vendor.toLowerCase()) ? device : `${vendor} ${device}`;
}

/** The candidate's main function (the GPU function of a GPU), for its name. */
export function primaryFunction(
  ctx: Pick<CheckContext, "byAddress">,
  c: Candidate,
): PciDevice | undefined {
  const devs = c.functions
    .map((f) => ctx.byAddress.get(f.address))
    .filter((d): d is PciDevice => d !== undefined);
  return devs.find(isGpu) ?? devs[0];
}

export function candidateLabel(ctx: Pick<CheckContext, "byAddress">, c: Candidate): string {
  const f = primaryFunction(ctx, c);
  return f ? deviceLabel(f) : c.title;
}

/** Functions of a target candidate that function-level checks look at. */
export function targetFunctions(ctx: CheckContext, c: Candidate): PciDevice[] {
  const named = namedFunctions(ctx, c);
  return c.functions
    .filter((f) => named.length === 0 || named.includes(f.address))
    .map((f) => ctx.byAddress.get(f.address))
    .filter((d): d is PciDevice => d !== undefined);
}

/** The functions of `c` that `--device` named one by one (none: the whole slot was named). */
export function namedFunctions(
  ctx: Pick<CheckContext, "functionFilter">,
  c: Candidate,
): PciAddress[] {
  const filter = ctx.functionFilter;
  return filter ? c.functions.map((f) => f.address).filter((a) => filter.has(a)) : [];
}

function uniqueBy<T>(items: readonly T[], key: (t: T) => string): T[] {
  return [...new Map(items.map((t) => [key(t), t])).values()];
}

/** ".1" for a function of a slot, the full address otherwise. */
export function shortFunction(address: PciAddress): string {
  return address.slice(address.lastIndexOf("."));
}

/** "0000:01:00.0, 0000:01:00.1" -> "0000:01:00.0 and 0000:01:00.1". */
export function joinList(items: readonly string[], last = "and"): string {
  if (items.length <= 1) return items.join("");
  return `${items.slice(0, -1).join(", ")} ${last} ${items[items.length - 1]}`;
}
