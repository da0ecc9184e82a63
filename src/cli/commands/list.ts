// `passthrough list`: every PCI function by IOMMU group, with ids, names and drivers: what
// `pvesh get /nodes/X/hardware/pci --pci-class-blacklist ""` and `lspci -nnk` show together.

import type { Command } from "commander";
import { EXIT } from "../../errors.js";
import { classShortName } from "../../formats/pci-ids.js";
import type { HostState } from "../../host/types.js";
import {
  addHostOptions,
  loadHost,
  printJson,
  type CommandContext,
  type HostOptions,
} from "../context.js";
import type { RunAction } from "../registration.js";
import { deviceJson, groupsJson, hostJson, iommuJson } from "../render/host-json.js";
import { buildPciTree, deviceTitle, pciTreeJson, renderPciTree } from "../render/pci-tree.js";
import { renderTable } from "../render/table.js";
import { isRootHub, renderUsb, usbControllersJson, usbJson } from "../render/usb-list.js";

interface ListOptions extends HostOptions {
  tree?: boolean;
  usb?: boolean;
}

export function registerList(program: Command, run: RunAction): void {
  const cmd = program
    .command("list")
    .description("list PCI devices by IOMMU group, with ids, names and the driver in use")
    .addHelpText(
      "after",
      `
Each row is one PCI function: its IOMMU group (what must be passed together), address,
class, vendor:device ids, the driver bound now, and its name from pci.ids.

--tree draws the PCI topology instead (root buses, bridges, the functions behind each
bridge), with the same columns, and lists the groups that hold several functions.
--usb lists USB devices (keyboards, mice, hubs ...) with the two ways Proxmox takes them
(\`usbN: host=VID:PID\` or \`host=BUS-PORT\`) and the controller and IOMMU group each
hangs off, which is what passing the whole controller would take.

Examples:
  passthrough list                       this host
  passthrough list --tree                where each card sits (CPU lanes or chipset)
  passthrough list --usb                 keyboard and mouse for the VM
  passthrough list --json | jq '.groups[] | select(.devices | length > 1)'
  passthrough list --usb --json | jq -r '.usb[] | select(.kinds | index("keyboard")) | .proxmox.byId'
  passthrough list --snapshot host.tar.gz`,
    );
  cmd.option("--tree", "draw the PCI topology: bridges with the functions behind them");
  cmd.option(
    "--usb",
    "list USB devices with their Proxmox host= forms, controller and IOMMU group",
  );
  addHostOptions(cmd).action(run<ListOptions>(listCommand));
}

export { deviceTitle };

function listCommand(ctx: CommandContext, opts: ListOptions): number {
  // list shows ids, names, drivers, groups and topology: the per-function summary, not the
  // config space, BARs and link state the checks read (a tenth of the files on a big host).
  const { state } = loadHost(opts, { pciDetail: "summary" });
  if (opts.json) {
    printJson(ctx, {
      ...listJson(state),
      ...(opts.tree ? { tree: pciTreeJson(buildPciTree(state.pci)) } : {}),
      ...(opts.usb ? { usb: usbJson(state), usbControllers: usbControllersJson(state) } : {}),
    });
    return EXIT.ok;
  }
  if (!opts.tree && !opts.usb) {
    ctx.out(renderList(state, ctx));
    return EXIT.ok;
  }
  const { style } = ctx;
  const parts = [`passthrough list — ${state.system.hostname ?? "host"}`];
  if (opts.tree)
    parts.push(
      state.iommu.enabled ? `${state.iommu.groups.length} IOMMU groups` : "IOMMU off: no groups",
      `${state.pci.length} PCI functions`,
    );
  if (opts.usb) parts.push(`${state.usb.filter((u) => !isRootHub(u)).length} USB devices`);
  ctx.out(style.bold(parts.join(" · ")), "");
  if (opts.tree) ctx.out(renderPciTree(state, style));
  if (opts.tree && opts.usb) ctx.out("");
  if (opts.usb) ctx.out(renderUsb(state, style));
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
    state.iommu.enabled
      ? `${groups} IOMMU group${groups === 1 ? "" : "s"}`
      : "IOMMU off: no groups",
    `${state.pci.length} PCI functions`,
  ];
  lines.push(style.bold(headline.join(" · ")), "");
  const sorted = [...state.pci].sort(
    (a, b) =>
      (a.iommuGroup ?? Infinity) - (b.iommuGroup ?? Infinity) || (a.address < b.address ? -1 : 1),
  );
  const rows: string[][] = [
    ["GROUP", "ADDRESS", "CLASS", "IDS", "DRIVER", "DEVICE"].map(style.dim),
  ];
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
  if (!state.iommu.enabled)
    lines.push("", "No IOMMU groups: run `passthrough check` to see why and what to change.");
  if (state.unknowns.some((u) => u.field === "pci.names"))
    lines.push(
      "",
      style.dim("Names: no pci.ids database here (install hwdata or pciutils); ids only."),
    );
  return lines;
}
