// `passthrough vm plan|configure|create`: the VM that gets the device. One flow for every
// backend (src/vm/backend.ts): read the host (live or --snapshot), pick the backend
// (src/vm/select-backend.ts), read the VM and plan its change, show it, and on
// `configure`/`create` ask (or --yes), apply, and show what was read back. Options and their
// checks are vm-options.ts; the change as text is render/vm-change.ts.

import type { Command } from "commander";
import { EXIT, InputError, RefusedError } from "../../errors.js";
import { ProcessRunner } from "../../process/run.js";
import {
  applyVmChange,
  planVmChange,
  type VmBackend,
  type VmPlan,
  type VmRequest,
} from "../../vm/backend.js";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { OpenedRoot } from "../../host/open-root.js";
import { readHostState } from "../../host/read-host.js";
import { DirectoryRoot } from "../../host/root.js";
import type { HostState } from "../../host/types.js";
import type { ApiBackend } from "../../vm/proxmox/api-backend.js";
import { apiConnector } from "../../vm/proxmox/connect.js";
import { nodeHostState, remoteAssumptions } from "../../vm/proxmox/remote-host.js";
import { selectBackend, type BackendChoice } from "../../vm/select-backend.js";
import { refusalMessage } from "../../vm/spec.js";
import { apiOptions } from "../api-options.js";
import { confirm } from "../confirm.js";
import { selectDevices } from "../options.js";
import { loadHost, printJson, writeDocument, type CommandContext } from "../context.js";
import type { RunAction } from "../registration.js";
import { vmReportLines } from "../render/vm-change.js";
import { vmCommand } from "./vm-group.js";
import {
  addVmOptions,
  backendChoice,
  nextCommand,
  vmOptions,
  vmRequest,
  type VmFlags,
} from "./vm-options.js";

export function registerVm(program: Command, run: RunAction): void {
  const vm = vmCommand(program);
  addVmOptions(
    vm
      .command("plan")
      .description(
        "show what `vm configure` would change in a VM's config, as a diff; changes nothing",
      )
      .addHelpText(
        "after",
        `
The VM gets: machine q35, bios ovmf with an efidisk0 (4m), hostpciN with the slot address
(all functions) and pcie=1, vga none when the GPU is the display, cpu host, balloon 0 (guest
RAM is pinned for DMA), onboot 0, usbN for --usb. x-vga=1 only with --primary-gpu; cpu
hidden=1 / hv-vendor-id only when asked. Refused, with reasons: a VM that is not q35 when
pcie is wanted, a device another VM has, a device that is not isolated (\`passthrough check\`),
and a device not on vfio-pci without an applied host plan (unless --force).

Examples:
  passthrough vm plan --vmid 100 --device 0000:01:00
  passthrough vm plan --vmid 100 --device 01:00 --usb 046d:c31c --usb 046d:c092 --json
  passthrough vm plan --vmid 100 --device 01:00 --snapshot pve.tar.gz     a node's snapshot
  passthrough vm plan --libvirt win11 --device 01:00                      libvirt domain XML diff
  passthrough vm plan --device 01:00 --emit qemu --memory 16384           a QEMU command line`,
      ),
    "plan",
  ).action(run<VmFlags>((ctx, opts) => vmAction("plan", ctx, opts)));

  addVmOptions(
    vm
      .command("configure")
      .description(
        "give a VM the device: show the change, ask, apply it (qm, REST API, or virsh define)",
      )
      .addHelpText(
        "after",
        `
Shows the same diff as \`vm plan\`, asks on a terminal (--yes answers it; required without
one), applies it in one step (qm set --digest: a concurrent edit makes it fail, not overwrite),
and reads the config back. Hardware changes take effect at the VM's next start.

Examples:
  passthrough vm configure --vmid 100 --device 0000:01:00 --usb 046d:c31c
  passthrough vm configure --vmid 100 --device 01:00 --yes --json
  passthrough vm configure --libvirt win11 --device 01:00 --dry-run > win11.xml   complete XML
  passthrough vm configure --api https://pve:8006 --node pve --vmid 100 --device 01:00`,
      ),
    "configure",
  ).action(run<VmFlags>((ctx, opts) => vmAction("configure", ctx, opts)));

  addVmOptions(
    vm
      .command("create")
      .description(
        "create a new VM set up for passthrough (q35, OVMF, cpu host, no balloon, the devices)",
      )
      .addHelpText(
        "after",
        `
Creates the VM with: machine q35, bios ovmf + efidisk0 (4m) on the disk's storage, cpu host,
balloon 0, onboot 0, VirtIO SCSI disk, the ISO as CD-ROM, a VirtIO NIC, the guest agent, a TPM
for Windows 11, and --device/--usb as in \`vm configure\`.

Examples:
  passthrough vm create --vmid 101 --name gpu --memory 16384 --cores 8 \\
      --disk local-lvm:64 --iso local:iso/debian-12.10.0-amd64-netinst.iso --device 01:00
  passthrough vm create --backend libvirt --name gpu --disk default:64 \\
      --iso /var/lib/libvirt/images/debian-12.iso --device 01:00 --dry-run > gpu.xml`,
      ),
    "create",
  ).action(run<VmFlags>((ctx, opts) => vmAction("create", ctx, opts)));
}

async function vmAction(
  mode: VmRequest["mode"],
  ctx: CommandContext,
  flags: VmFlags,
): Promise<number> {
  const api = apiOptions(flags);
  const options = vmOptions(flags);
  const choice = backendChoice(flags);
  const remote = remoteNode(flags, choice);
  let connected: ApiBackend | null = null;
  const connectApi = async () =>
    (connected ??= await apiConnector(api, ctx.io.env, (l) => ctx.err(l)));
  const host: { opened: OpenedRoot; state: HostState; cleanup?: () => void } = remote
    ? await readRemoteHost(ctx, await connectApi())
    : loadHost(flags);
  try {
    const backend = await selectBackend(choice, {
      state: host.state,
      runner: new ProcessRunner(ctx.io.env),
      env: ctx.io.env,
      connectApi,
    });
    if (options.hookscript && (backend.kind === "libvirt" || backend.kind === "qemu"))
      throw new InputError(
        `--hookscript is a Proxmox VE hookscript (qm(1) "Hookscripts"); the ${backend.kind} backend has none: leave it out`,
      );
    // The whole-slot rule (host/whole-slot.ts), on the host the devices are read from.
    const devices = selectDevices(ctx, host.state.pci, flags.device).map((d) => d.address);
    const request = vmRequest(mode, flags, { ...options, devices }, backend.defaultBridge);
    const plan = await planVmChange(backend, request, {
      state: host.state,
      root: host.opened.root,
      remote,
    });
    return await showAndApply(ctx, flags, backend, request, plan, () =>
      nextCommand(flags, options, api),
    );
  } finally {
    (connected as ApiBackend | null)?.client.close();
    host.cleanup?.();
  }
}

/**
 * --api without --snapshot (and no libvirt or QEMU target): the node is another machine than
 * this one, so its devices come from its REST API, never from this machine's sysfs.
 */
function remoteNode(flags: VmFlags, choice: BackendChoice): boolean {
  if (flags.api === undefined || flags.snapshot !== undefined) return false;
  const other = choice.emit !== null || choice.libvirtDomain !== null || choice.domainXmlFile;
  return !other && (choice.backend === null || choice.backend === "api");
}

/** The node's host model from GET /nodes/{node}/hardware/pci, on an empty root (nothing else known). */
async function readRemoteHost(
  ctx: CommandContext,
  backend: ApiBackend,
): Promise<{ opened: OpenedRoot; state: HostState; cleanup: () => void }> {
  const hardware = await backend.hardwarePci(backend.node);
  const dir = mkdtempSync(join(tmpdir(), "passthrough-node-"));
  const label = `node ${backend.node} (REST API)`;
  const root = new DirectoryRoot(dir, { kind: "snapshot", label, tools: [] });
  const base = readHostState(root);
  ctx.err(remoteAssumptions(backend.node));
  return {
    opened: { root, manifest: null },
    state: nodeHostState(base, backend.node, hardware, label),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** A dry run's output: the report, or the artefact (domain XML, argv) on stdout and the report on stderr. */
function showResult(ctx: CommandContext, plan: VmPlan, mode: VmRequest["mode"]): void {
  const artefact = plan.artefact;
  const report =
    !plan.report || (artefact !== null && mode === "create")
      ? []
      : vmReportLines(plan.report, mode, ctx.style);
  if (artefact !== null) {
    ctx.err(...report);
    writeDocument(ctx, artefact);
  } else ctx.out(report);
}

/**
 * Warnings, refusals, the change; then, unless only showing, ask, apply and read back. A dry run
 * whose backend has an artefact (domain XML, a QEMU command line) prints that on stdout and
 * everything else on stderr, so it can be redirected into a file.
 */
async function showAndApply(
  ctx: CommandContext,
  flags: VmFlags,
  backend: VmBackend,
  request: VmRequest,
  plan: VmPlan,
  next: () => string,
): Promise<number> {
  const { mode } = request;
  const json = flags.json === true;
  if (!json) for (const w of plan.warnings) ctx.err(`${ctx.style.yellow("WARN")}  ${w}`);
  if (plan.refusals.length > 0) {
    if (json) {
      printJson(ctx, { ...plan.json, refused: plan.refusals, applied: false });
      return EXIT.refused;
    }
    if (!request.dryRun)
      throw new RefusedError(refusalMessage(plan.action, plan.refusals), plan.refusals);
    // --dry-run: the whole result anyway, so the user sees what the refusals block.
    showResult(ctx, plan, mode);
    ctx.err(`error: ${refusalMessage(plan.action, plan.refusals)}`.split("\n"));
    return EXIT.refused;
  }
  const ask = plan.confirm;
  const dryRun = request.dryRun || ask === null;
  const artefact = dryRun ? plan.artefact : null;
  // A new VM's diff is its whole artefact: shown once.
  const report =
    json || !plan.report || (artefact !== null && mode === "create")
      ? []
      : vmReportLines(plan.report, mode, ctx.style);
  if (mode === "plan" || dryRun || ask === null || plan.empty) {
    if (artefact !== null) ctx.err(...report);
    else ctx.out(report);
    if (json) printJson(ctx, { ...plan.json, refused: [], applied: false });
    else if (artefact !== null) writeDocument(ctx, artefact);
    else if (!plan.empty)
      ctx.out("", mode === "plan" ? `Next: ${next()}` : "--dry-run: nothing was changed.");
    return EXIT.ok;
  }
  ctx.out(report);
  if (plan.readOnly) throw new InputError(plan.readOnly);
  if (json && !flags.yes)
    throw new InputError("--json cannot ask for confirmation; add --yes to apply, or --dry-run");
  if (!json) ctx.out("");
  if (!(await confirm(ctx.io, ask.question, flags, ask.doing))) {
    ctx.out("Nothing was changed.");
    return EXIT.ok;
  }
  const back = await applyVmChange(backend, plan);
  if (json) printJson(ctx, { ...plan.json, ...back.json, refused: [], applied: true });
  else ctx.out(back.message);
  return EXIT.ok;
}
