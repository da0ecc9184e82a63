// `passthrough ct plan`: the change that gives a Proxmox container a host GPU's device nodes,
// shown as a diff of /etc/pve/lxc/<ctid>.conf (vm/container/device-plan.ts), with the
// `pct set` command that makes it. Read-only: nothing on the host is changed.

import type { Command } from "commander";
import { EXIT, InputError } from "../../errors.js";
import { hostpciAddresses } from "../../checks/candidates.js";
import { parseSingleDevice, quoteInput } from "../../formats/device-selection.js";
import { printCtConfig } from "../../formats/proxmox-ct-config.js";
import { readCardNodes, type DeviceNode } from "../../host/device-nodes.js";
import type { HostState, PciDevice } from "../../host/types.js";
import { ProcessRunner } from "../../process/run.js";
import { quoteArgv } from "../../process/quote.js";
import { unifiedDiff } from "../../vm/diff.js";
import { planContainerDevices, type CtPlan } from "../../vm/container/device-plan.js";
import { readContainerConfig, readContainerGroups } from "../../vm/container/read-container.js";
import { loadHost, printJson, type CommandContext } from "../context.js";
import { collect } from "../options.js";
import type { RunAction } from "../registration.js";

interface CtPlanOptions {
  ctid: string;
  device?: string[];
  gid?: string;
  snapshot?: string;
  json?: boolean;
}

export function registerCt(program: Command, run: RunAction): void {
  const ct = program
    .command("ct")
    .description("give a Proxmox container a host GPU's device nodes (the card stays on the host)");
  ct.command("plan")
    .description(
      "show the change to /etc/pve/lxc/CTID.conf that gives the container the card's device nodes",
    )
    .requiredOption("--ctid <n>", "the container's id (pct list)")
    .requiredOption("--device <addr>", "the GPU function, e.g. 0000:01:00.0", collect)
    .option(
      "--gid <n>",
      "group id for the DRM and kfd nodes, instead of the container's render/video group",
    )
    .option(
      "--snapshot <path>",
      "read a snapshot (folder or .tar.gz made by `passthrough snapshot`) instead of this host",
    )
    .option("--json", "print one JSON object instead of text")
    .addHelpText(
      "after",
      `
The nodes come from sysfs: drm/card* and renderD* under the card's PCI folder, /dev/nvidia*
(nvidiactl, nvidia-uvm, nvidia-caps) when the nvidia driver runs it, /dev/kfd for amdgpu.
Proxmox VE 8.1 and later get devN entries whose gid is the container's own render (or video)
group, read from its /etc/group (mounted by \`pct mount CTID\`, or through \`pct exec\` while it
runs); older versions get lxc.cgroup2.devices.allow and lxc.mount.entry lines (pct(1),
"Device Passthrough"; lxc.container.conf(5)).

Refused (exit 3) when the card is bound to vfio-pci: a VM owns it, and it has no nodes.

Examples:
  passthrough ct plan --ctid 101 --device 0000:00:02.0
  passthrough ct plan --ctid 101 --device 01:00.0 --gid 104`,
    )
    .action(run<CtPlanOptions>(ctPlanCommand));
}

function parseId(value: string, flag: string, max: number): number {
  if (!/^\d+$/.test(value) || Number(value) > max)
    throw new InputError(`${flag} ${quoteInput(value)}: not a number from 0 to ${max}`);
  return Number(value);
}

function findCard(state: HostState, values: string[] | undefined): PciDevice {
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

/** "VM 100 hostpci0: 0000:01:00,pcie=1" for each VM config passing this card. */
function vmsUsing(state: HostState, card: PciDevice): string[] {
  const present = state.pci.map((d) => d.address);
  return state.vms.flatMap((vm) =>
    Object.entries(vm.config)
      .filter(
        ([k, v]) => /^hostpci\d+$/.test(k) && hostpciAddresses(v, present).includes(card.address),
      )
      .map(([k, v]) => `VM ${vm.vmid} ${k}: ${v}`),
  );
}

function ctPlanCommand(ctx: CommandContext, opts: CtPlanOptions): number {
  const ctid = parseId(opts.ctid, "--ctid", 999_999_999);
  const gid = opts.gid === undefined ? undefined : parseId(opts.gid, "--gid", 2 ** 32 - 2);
  const { opened, state } = loadHost(opts);
  const root = opened.root;
  const card = findCard(state, opts.device);
  const read = readContainerConfig(root, ctid);
  const nodes = readCardNodes(root, card).nodes;
  const plan = planContainerDevices({
    ctid,
    config: read.config,
    card,
    nodes,
    proxmoxVersion: state.system.proxmox,
    groups:
      gid !== undefined
        ? { ok: false, reason: "not read: --gid given" }
        : readContainerGroups(root, ctid, root.kind === "live" ? new ProcessRunner() : null),
    ...(gid !== undefined ? { gid } : {}),
    vmsUsing: vmsUsing(state, card),
  });
  const diff = unifiedDiff(
    `a/${read.file}`,
    `b/${read.file}`,
    printCtConfig(read.config),
    printCtConfig(plan.after),
    ctx.style,
  );
  const commands = applyCommands(ctid, plan);
  if (opts.json) {
    printJson(ctx, {
      ctid,
      device: card.address,
      driver: card.driver,
      style: plan.style,
      nodes,
      added: plan.added,
      present: plan.present,
      notes: plan.notes,
      commands,
    });
    return EXIT.ok;
  }
  ctx.out(
    `container ${ctid} (${read.config.main.keys["hostname"] ?? "no hostname"}, ${read.config.main.keys["unprivileged"] === "1" ? "unprivileged" : "privileged"}) on ${root.label}: ${card.deviceName ?? `${card.vendorId}:${card.deviceId}`} at ${card.address} (driver ${card.driver})`,
    "device nodes (from sysfs and the driver):",
    nodes.map(nodeLine),
    "",
  );
  if (plan.added.length === 0) ctx.out("nothing to change: the container has every node already");
  else
    ctx.out(diff, "", commands.length ? ["make it with:", ...commands.map((c) => `  ${c}`)] : []);
  if (plan.notes.length)
    ctx.out(
      "",
      plan.notes.map((n) => `note: ${n}`),
    );
  return EXIT.ok;
}

function nodeLine(n: DeviceNode): string {
  const numbers = n.major === null ? "?:?" : `${n.major}:${n.minor}`;
  return `  ${n.path.padEnd(30)} ${numbers.padEnd(8)} ${n.why}`;
}

/** devN entries through `pct set` (which checks them); raw lxc.* keys only by editing the file. */
function applyCommands(ctid: number, plan: CtPlan): string[] {
  if (plan.added.length === 0) return [];
  if (plan.style === "lxc")
    return [
      `add the + lines to /etc/pve/lxc/${ctid}.conf (pct set cannot write lxc.* keys), then restart the container`,
    ];
  const args = plan.added.flatMap((line) => {
    const [key, value] = line.split(": ", 2) as [string, string];
    return [`--${key}`, value];
  });
  return [quoteArgv(["pct", "set", String(ctid), ...args])];
}
