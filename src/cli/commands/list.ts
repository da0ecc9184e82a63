// `passthrough list`: every PCI function by IOMMU group, with ids, names and drivers: what
// `pvesh get /nodes/X/hardware/pci --pci-class-blacklist ""` and `lspci -nnk` show together.

import type { Command } from "commander";
import { EXIT } from "../../errors.js";
import { classShortName } from "../../formats/pci-ids.js";
import type { HostState, PciDevice } from "../../host/types.js";
import { addHostOptions, loadHost, printJson, type CommandContext, type HostOptions } from "../context.js";
import type { RunAction } from "../program.js";
import { deviceJson, groupsJson, hostJson, iommuJson } from "../render/host-json.js";
import { renderTable } from "../render/table.js";

interface ListOptions extends HostOptions {}

export function registerList(program: Command, run: RunAction): void {
  const cmd = program
    .command("list")
    .description("list PCI devices by IOMMU group, with ids, names and the driver in use")
    .addHelpText(
      "after",
      `
Each row is one PCI function: its IOMMU group (what must be passed together), address,
class, vendor:device ids, the driver bound now, and its name from pci.ids.

Examples:
  passthrough list                       this host
  passthrough list --json | jq '.groups[] | select(.devices | length > 1)'
  passthrough list --snapshot host.tar.gz`,
    );
  addHostOptions(cmd).action(run<ListOptions>(listCommand));
}

export function deviceTitle(d: PciDevice): string {
  const vendor = d.vendorName ?? `Vendor ${d.vendorId}`;
  const device = d.deviceName ?? `Device ${d.deviceId}`;
  return `${vendor} ${device}`;
}

function listCommand(ctx: CommandContext, opts: ListOptions): number {
  const { state } = loadHost(opts);
  if (opts.json) {
    printJson(ctx, listJson(state));
    return EXIT.ok;
  }
  ctx.out(...renderList(state, ctx));
  return EXIT.ok;
}

export function listJson(state: HostState) {
  return {
    host: hostJson(state),
    iommu: iommuJson(state),
    devices: state.pci.map(deviceJson),
    groups: groupsJson(state),
    unknowns: state.unknowns,
  };
}

function renderList(state: HostState, ctx: CommandContext): string[] {
  const { style } = ctx;
  const lines: string[] = [];
  const groups = state.iommu.groups.length;
  const headline = [
    `passthrough list — ${state.system.hostname ?? "host"}`,
    state.iommu.enabled ? `${groups} IOMMU group${groups === 1 ? "" : "s"}` : "IOMMU off: no groups",
    `${state.pci.length} PCI functions`,
  ];
  lines.push(style.bold(headline.join(" · ")), "");
  const sorted = [...state.pci].sort((a, b) => (a.iommuGroup ?? Infinity) - (b.iommuGroup ?? Infinity) || (a.address < b.address ? -1 : 1));
  const rows: string[][] = [["GROUP", "ADDRESS", "CLASS", "IDS", "DRIVER", "DEVICE"].map(style.dim)];
  for (const d of sorted) {
    rows.push([
      d.iommuGroup === null ? "-" : String(d.iommuGroup),
      d.address,
      `${classShortName(d.classCode)} [${d.classCode.slice(0, 4)}]`,
      `${d.vendorId}:${d.deviceId}`,
      d.driver ?? "-",
      deviceTitle(d),
    ]);
  }
  lines.push(...renderTable(rows));
  if (!state.iommu.enabled) lines.push("", "No IOMMU groups: run `passthrough check` to see why and what to change.");
  if (state.unknowns.some((u) => u.field === "pci.names")) lines.push("", style.dim("Names: no pci.ids database here (install hwdata or pciutils); ids only."));
  return lines;
}
