// What `ct plan|configure|check` share for Proxmox (ct.ts) and plain LXC (ct-lxc.ts)
// containers: the options' parsing, the card, the tree to read, and ct check's report.

import { EXIT, InputError } from "../../errors.js";
import { parseSingleDevice, quoteInput } from "../../formats/device-selection.js";
import { readCardNodes, type DeviceNode } from "../../host/device-nodes.js";
import { openHostRoot, openRootTree, type OpenedRoot } from "../../host/open-root.js";
import type { HostRoot } from "../../host/root.js";
import type { HostState, PciDevice } from "../../host/types.js";
import { checkContainer, type ContainerRef, type CtFinding } from "../../vm/container/check.js";
import { probeWith, type ContainerExec } from "../../vm/container/inside.js";
import type { ApiFlags } from "../api-options.js";
import { printJson, type CommandContext } from "../context.js";
import { renderFinding } from "../render/finding-line.js";

export interface CtPlanOptions extends ApiFlags {
  ctid?: string;
  name?: string;
  device?: string[];
  gid?: string;
  snapshot?: string;
  root?: string;
  json?: boolean;
}

export interface CtCheckOptions {
  ctid?: string;
  name?: string;
  device?: string[];
  root?: string;
  json?: boolean;
}

export interface CtConfigureOptions extends CtPlanOptions {
  yes?: boolean;
  dryRun?: boolean;
}

export const NAME_HELP =
  "instead of --ctid, on a host without Proxmox: the plain LXC container's name (lxc-ls)";

export function parseId(value: string, flag: string, max: number): number {
  if (!/^\d+$/.test(value) || Number(value) > max)
    throw new InputError(`${flag} ${quoteInput(value)}: not a number from 0 to ${max}`);
  return Number(value);
}

export function findCard(state: HostState, values: string[] | undefined): PciDevice {
  const ref = parseSingleDevice(values, "ct plan");
  if (!ref) throw new InputError("give --device with the GPU function, e.g. --device 0000:01:00.0");
  const address = ref.isFunction ? ref.address : `${ref.address}.0`;
  const dev = state.pci.find((d) => d.address === address);
  if (!dev)
    throw new InputError(
      `--device ${quoteInput(values!.join(","))}: no PCI function ${address} on this host; \`passthrough list\` shows them`,
    );
  return dev;
}

export function openTree(opts: { root?: string; snapshot?: string }): OpenedRoot {
  if (opts.root !== undefined && opts.snapshot !== undefined)
    throw new InputError("--root and --snapshot: give one of them");
  return opts.root !== undefined ? openRootTree(opts.root) : openHostRoot(opts.snapshot);
}

/** The cards whose nodes the container's config gives it, with those nodes. */
export function cardsGiven(
  root: HostRoot,
  state: HostState,
  ref: ContainerRef,
  given: Set<string>,
  device: string[] | undefined,
): Array<{ card: PciDevice; nodes: DeviceNode[] }> {
  const cards = device
    ? [findCard(state, device)]
    : state.pci.filter((d) => d.classCode.startsWith("03"));
  const out = cards
    .map((card) => ({
      card,
      nodes: readCardNodes(root, card).nodes.filter((n) => given.has(n.path)),
    }))
    .filter((c) => c.nodes.length > 0);
  if (out.length === 0)
    throw new InputError(
      `${ref.label}: its config gives it none of ${device ? `${device.join(",")}'s` : "this host's GPU"} device nodes; \`passthrough ct plan ${ref.flag} --device ADDR\` shows the change that does`,
    );
  return out;
}

/** ct check's findings from the probes, and its output (JSON, or the findings and a verdict); the exit code. */
export function finishCheck(
  ctx: CommandContext,
  o: { root: HostRoot; json?: boolean; id: Record<string, unknown>; headline: string },
  ref: ContainerRef,
  cards: Array<{ card: PciDevice; nodes: DeviceNode[] }>,
  exec: ContainerExec,
): number {
  const nodes = cards.flatMap((c) => c.nodes);
  const nvidia = cards.some((c) => c.card.driver === "nvidia");
  const probe = probeWith(
    exec,
    nodes.map((n) => n.path),
    nvidia,
  );
  const hostVersion = o.root.readText("sys/module/nvidia/version");
  const findings = checkContainer({
    ctid: 0,
    ref,
    nodes,
    stats: probe.stats,
    groups: probe.groups,
    nvidia: nvidia
      ? {
          hostVersion: hostVersion.ok ? hostVersion.value.trim() : null,
          libraries: probe.libraries ?? [],
        }
      : null,
  });
  const ok = !findings.some((f) => f.status === "fail");
  if (o.json) {
    printJson(ctx, {
      ...o.id,
      ok,
      devices: cards.map((c) => ({ address: c.card.address, driver: c.card.driver })),
      findings,
    });
  } else {
    ctx.out(
      `${o.headline}: ${cards.map((c) => `${c.card.address} (driver ${c.card.driver})`).join(", ")}`,
      findings.flatMap((f: CtFinding) => renderFinding(f, ctx.style, 16)),
      ok
        ? "every check passed"
        : `${findings.filter((f) => f.status === "fail").length} problem(s) found`,
    );
  }
  return ok ? EXIT.ok : EXIT.problems;
}

export function nodeLine(n: DeviceNode): string {
  const numbers = n.major === null ? "?:?" : `${n.major}:${n.minor}`;
  return `  ${n.path.padEnd(30)} ${numbers.padEnd(8)} ${n.why}`;
}

/** The plan's notes under the diff, one "note:" line each. */
export function printNotes(ctx: CommandContext, notes: string[]): void {
  if (notes.length)
    ctx.out(
      "",
      notes.map((n) => `note: ${n}`),
    );
}
