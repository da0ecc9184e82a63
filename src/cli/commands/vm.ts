// `passthrough vm plan|configure|create`: the VM that gets the device. One flow for every
// backend: read the host (live or --snapshot) -> VmSpec (src/vm/spec.ts) -> the backend's
// change (Proxmox config keys, libvirt domain XML, a QEMU command line) -> show it -> on
// `configure`/`create` ask (or --yes), apply, and read back what was written.

import { addApiOptions } from "../api-options.js";
import * as fs from "node:fs";
import type { Command } from "commander";
import { ApplyError, EXIT, InputError, RefusedError, describeFsError } from "../../errors.js";
import { readHostMemory } from "../../host/meminfo.js";
import type { HostState } from "../../host/types.js";
import { ProcessRunner } from "../../process/run.js";
import { configDiff, unifiedDiff } from "../../vm/diff.js";
import { findOvmf, ovmfWarning } from "../../vm/firmware.js";
import { readHostPrep } from "../../vm/host-prep.js";
import {
  buildDomainXml,
  diskVolumeName,
  domainMemoryMiB,
  hostdevAddresses,
  modifyDomainXml,
} from "../../vm/libvirt/domain-xml.js";
import { parseXml } from "../../vm/libvirt/xml.js";
import {
  configMemoryMiB,
  isEmptyChange,
  mappingAddresses,
  planProxmoxChange,
  writtenMatches,
  type OtherVm,
} from "../../vm/proxmox/config-change.js";
import {
  apiConnector,
  connectionFlags,
  refuseTokenFlag,
  type ApiOptions,
} from "../../vm/proxmox/connect.js";
import { hardwareMismatches } from "../../vm/proxmox/hardware-check.js";
import { formatCommand, qemuArgv } from "../../vm/qemu/argv.js";
import { selectBackend, type BackendFlags, type VmTarget } from "../../vm/select-backend.js";
import {
  buildVmSpec,
  refusalMessage,
  type CreateOptions,
  type SpecResult,
  type VmOptions,
} from "../../vm/spec.js";
import type { VmConfig } from "../../vm/types.js";
import { confirm } from "../confirm.js";
import {
  addHostOptions,
  loadHost,
  printJson,
  type CommandContext,
  type HostOptions,
} from "../context.js";
import type { RunAction } from "../registration.js";
import { renderTable } from "../render/table.js";
import { vmCommand } from "./vm-group.js";

type Mode = "plan" | "configure" | "create";

interface VmFlags extends HostOptions, BackendFlags, ApiOptions {
  vmid?: string;
  device?: string[];
  usb?: string[];
  pcie: boolean;
  primaryGpu?: boolean;
  keepDisplay?: boolean;
  efidisk?: string;
  preEnrolledKeys?: boolean;
  hideHypervisor?: boolean;
  hvVendorId?: string;
  onboot?: boolean;
  convertQ35?: boolean;
  force?: boolean;
  yes?: boolean;
  dryRun?: boolean;
  name?: string;
  memory?: string;
  cores?: string;
  sockets?: string;
  disk?: string;
  iso?: string;
  bridge?: string;
  ostype?: string;
}

const collect = (v: string, prev: string[] | undefined) => [...(prev ?? []), v];

/** Proxmox ostype values (qemu-server $confdesc ostype enum). */
const OSTYPES = [
  "other",
  "wxp",
  "w2k",
  "w2k3",
  "w2k8",
  "wvista",
  "win7",
  "win8",
  "win10",
  "win11",
  "l24",
  "l26",
  "solaris",
];

function addVmOptions(cmd: Command, mode: Mode): Command {
  addHostOptions(cmd)
    .option("--vmid <id>", "Proxmox VM id (100-999999999)")
    .option(
      "--device <addr>",
      "PCI slot (0000:01:00: every function) or function to pass; repeatable",
      collect,
    )
    .option(
      "--usb <vid:pid>",
      "USB device to pass by id (see `passthrough list --usb`); repeatable",
      collect,
    )
    .option(
      "--no-pcie",
      "pass devices as conventional PCI instead of behind a PCIe root port (no q35 needed)",
    )
    .option("--primary-gpu", "the GPU is the VM's primary display (Proxmox x-vga=1)")
    .option("--keep-display", "keep the emulated display (vga) instead of setting none")
    .option("--efidisk <storage>", "storage for a new efidisk0 (default: the boot disk's storage)")
    .option("--pre-enrolled-keys", "EFI vars with Microsoft keys enrolled: Secure Boot on")
    .option(
      "--hide-hypervisor",
      "cpu hidden=1: hide KVM (only NVIDIA drivers older than R465 need it)",
    )
    .option(
      "--hv-vendor-id <id>",
      "Hyper-V vendor id for Windows guests (same old-driver workaround)",
    )
    .option("--onboot", "start the VM with the host (default: onboot 0 until it is proven)")
    .option("--convert-q35", "allow switching an existing i440fx VM to q35")
    .option(
      "--force",
      "go ahead on an unprepared host (device not on vfio-pci) or with USB devices not plugged in",
    )
    .option(
      "--backend <name>",
      "qm | api | libvirt | qemu (default: qm on a Proxmox node, api with --api)",
    )
    .option(
      "--emit <what>",
      "print libvirt domain XML (libvirt) or a QEMU command line (qemu) instead of changing anything",
    )
    .option("--libvirt <domain>", "the libvirt domain to configure (virsh dumpxml --inactive)")
    .option("--domain-xml <file>", "a libvirt domain's XML from a file instead of virsh");
  addApiOptions(cmd);
  if (mode === "create") {
    cmd
      .option("--name <name>", "the VM's name")
      .option("--memory <mib>", "guest RAM in MiB", "8192")
      .option("--cores <n>", "vCPU cores", "4")
      .option("--sockets <n>", "vCPU sockets", "1")
      .option(
        "--disk <storage:size>",
        "new disk: Proxmox STORAGE:GiB (local-lvm:64) / libvirt POOL:GiB",
      )
      .option(
        "--iso <volume>",
        "installer ISO: Proxmox volume (local:iso/debian-12.iso) / a file path for libvirt and QEMU",
      )
      .option(
        "--bridge <name>",
        "host bridge for the NIC (Proxmox default vmbr0; libvirt default: network 'default')",
      )
      .option("--ostype <type>", `guest OS type: ${OSTYPES.join(", ")}`, "l26");
  } else {
    cmd
      .option("--name <name>", "with --emit qemu: the guest's name")
      .option(
        "--memory <mib>",
        "with --emit qemu and no Proxmox config to read it from: guest RAM in MiB",
      )
      .option("--cores <n>", "with --emit qemu and no Proxmox config: vCPU cores");
  }
  if (mode !== "plan") {
    cmd
      .option("--yes", "apply without asking (required without a terminal)")
      .option("--dry-run", "show the change and stop");
  }
  return cmd;
}

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

function positiveInt(
  v: string | undefined,
  flag: string,
  min = 1,
  max = Number.MAX_SAFE_INTEGER,
): number | null {
  if (v === undefined) return null;
  if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max)
    throw new InputError(`${flag} ${JSON.stringify(v)}: give a whole number from ${min} to ${max}`);
  return Number(v);
}

function vmOptions(flags: VmFlags): VmOptions {
  return {
    vmid: positiveInt(flags.vmid, "--vmid", 100, 999_999_999),
    devices: flags.device ?? [],
    usb: flags.usb ?? [],
    pcie: flags.pcie !== false,
    primaryGpu: flags.primaryGpu === true,
    keepDisplay: flags.keepDisplay === true,
    efidisk: flags.efidisk ?? null,
    preEnrolledKeys: flags.preEnrolledKeys === true,
    hidden: flags.hideHypervisor === true,
    hvVendorId: flags.hvVendorId ?? null,
    onboot: flags.onboot === true,
    convertQ35: flags.convertQ35 === true,
    force: flags.force === true,
  };
}

const NAME = /^[a-zA-Z0-9]([a-zA-Z0-9.-]*[a-zA-Z0-9])?$/;

function createOptions(flags: VmFlags, target: VmTarget): CreateOptions {
  if (!flags.name)
    throw new InputError("vm create needs --name NAME (letters, digits, '-' and '.')");
  if (!NAME.test(flags.name))
    throw new InputError(
      `--name ${JSON.stringify(flags.name)}: use letters, digits, '-' and '.' (a DNS name, as Proxmox requires)`,
    );
  if (!flags.disk)
    throw new InputError(
      "vm create needs --disk STORAGE:SIZE (Proxmox: local-lvm:64; libvirt: POOL:64, size in GiB)",
    );
  const m = /^([a-zA-Z][a-zA-Z0-9._-]*):(\d+)G?$/.exec(flags.disk);
  if (!m || Number(m[2]) < 1)
    throw new InputError(
      `--disk ${JSON.stringify(flags.disk)}: give STORAGE:SIZE with the size in GiB, e.g. local-lvm:64`,
    );
  const ostype = flags.ostype ?? "l26";
  if (!OSTYPES.includes(ostype))
    throw new InputError(`--ostype ${JSON.stringify(ostype)}: choose one of ${OSTYPES.join(", ")}`);
  if (flags.iso !== undefined && (flags.iso === "" || /[,\n]/.test(flags.iso)))
    throw new InputError(
      `--iso ${JSON.stringify(flags.iso)}: give a volume (local:iso/NAME.iso) or a file path without commas`,
    );
  if (flags.bridge !== undefined && !/^[a-zA-Z0-9_.-]+$/.test(flags.bridge))
    throw new InputError(
      `--bridge ${JSON.stringify(flags.bridge)}: give a bridge interface name (vmbr0, br0)`,
    );
  return {
    name: flags.name,
    memoryMiB: positiveInt(flags.memory ?? "8192", "--memory", 16)!,
    cores: positiveInt(flags.cores ?? "4", "--cores", 1, 8192)!,
    sockets: positiveInt(flags.sockets ?? "1", "--sockets", 1, 4)!,
    disk: { storage: m[1]!, sizeGiB: Number(m[2]) },
    iso: flags.iso ?? null,
    bridge: flags.bridge ?? (target.kind === "libvirt" ? null : "vmbr0"),
    ostype,
  };
}

async function vmAction(mode: Mode, ctx: CommandContext, flags: VmFlags): Promise<number> {
  refuseTokenFlag(flags);
  const { opened, state } = loadHost(flags);
  const options = vmOptions(flags);
  const runner = new ProcessRunner(ctx.io.env);
  const target = await selectBackend(flags, {
    state,
    runner,
    env: ctx.io.env,
    connectApi: () => apiConnector(flags, ctx.io.env, (l) => ctx.err(l)),
  });
  const create = mode === "create" ? createOptions(flags, target) : null;
  const common: Common = {
    mode,
    ctx,
    flags,
    options,
    state,
    create,
    specFor: (guestMemoryMiB) =>
      buildVmSpec({
        state,
        options,
        prep: readHostPrep(opened.root),
        memory: readHostMemory(opened.root),
        guestMemoryMiB,
        create,
      }),
    exists: (p) => opened.root.exists(p.replace(/^\//, "")),
  };
  if (target.kind === "qemu") return qemuFlow(common);
  if (target.kind === "libvirt") return libvirtFlow(common, target);
  return proxmoxFlow(common, target);
}

interface Common {
  mode: Mode;
  ctx: CommandContext;
  flags: VmFlags;
  options: VmOptions;
  state: HostState;
  create: CreateOptions | null;
  specFor(guestMemoryMiB: number | null): SpecResult;
  /** A host path exists on the host being read (live or snapshot). */
  exists(hostPath: string): boolean;
}

function warnLines(c: Common, warnings: string[]): string[] {
  return warnings.map((w) => `${c.ctx.style.yellow("WARN")}  ${w}`);
}

/** Refused: JSON gets the whole picture on stdout (exit 3); text gets one error with every reason. */
function refuse(
  c: Common,
  what: string,
  refusals: string[],
  json: Record<string, unknown>,
): number {
  if (c.flags.json) {
    printJson(c.ctx, { ...json, refused: refusals, applied: false });
    return EXIT.refused;
  }
  throw new RefusedError(refusalMessage(what, refusals), refusals);
}

// ---------------------------------------------------------------------------------------------
// Proxmox (qm, REST API, or a snapshot's /etc/pve)

async function proxmoxFlow(
  c: Common,
  target: Extract<VmTarget, { kind: "proxmox" | "snapshot" }>,
): Promise<number> {
  const { ctx, flags, state, mode } = c;
  const vmid = c.options.vmid;
  if (vmid === null)
    throw new InputError(
      `vm ${mode} needs --vmid ID for Proxmox (or --libvirt DOMAIN, --emit qemu)`,
    );
  const backend = target.kind === "proxmox" ? target.backend : null;
  const where =
    target.kind === "proxmox"
      ? `node ${target.backend.node} (${target.backend.kind})`
      : `snapshot ${target.label}`;

  // Every VM's config, for "already assigned": the host's /etc/pve (live or snapshot) and what
  // the backend lists (an API token may not see every VM); the backend's copy is the newer one.
  // Whether the VM itself exists is the backend's word alone.
  let current: { config: VmConfig; digest: string | null } | null;
  let elsewhere: OtherVm | undefined;
  const others = new Map<number, OtherVm>();
  for (const v of state.vms) others.set(v.vmid, { vmid: v.vmid, node: v.node, config: v.config });
  if (backend) {
    current = await backend.getConfig(vmid);
    const listed = await backend.listVms();
    for (const v of listed) others.set(v.vmid, v);
    elsewhere = listed.find((v) => v.vmid === vmid);
  } else {
    const vm = state.vms.find((v) => v.vmid === vmid);
    current = vm ? { config: vm.config, digest: null } : null;
    elsewhere = vm;
  }
  others.delete(vmid);
  if (mode === "create") {
    if (current || elsewhere) {
      throw new RefusedError(
        `VM ${vmid} exists already${elsewhere?.node ? ` on node ${elsewhere.node}` : ""}; pick a free id (\`pvesh get /cluster/nextid\`) or change it with \`passthrough vm configure --vmid ${vmid}\``,
      );
    }
  } else if (!current) {
    if (elsewhere?.node && backend && elsewhere.node !== backend.node) {
      throw new InputError(
        `VM ${vmid} is on node ${elsewhere.node}, not ${backend.node}; run this on ${elsewhere.node} (qm works on local VMs), or use --api with --node ${elsewhere.node}`,
      );
    }
    throw new InputError(
      `there is no VM ${vmid} on ${where}; create one with \`passthrough vm create --vmid ${vmid} --name NAME --disk STORAGE:SIZE\` or pick one from \`qm list\``,
    );
  }

  const result = c.specFor(current ? configMemoryMiB(current.config) : null);
  const present = state.pci.map((d) => d.address);
  let mappings: Array<{ id: string; addresses: string[] }> = [];
  if (backend && !backend.canSetRawHostpci && backend.listPciMappings) {
    mappings = (await backend.listPciMappings()).map((m) => ({
      id: m.id,
      addresses: mappingAddresses(m.map, backend.node, present),
    }));
  }
  // Through the API the node can be another machine than the one read: its devices must match.
  const hwRefusals = backend?.hardwarePci
    ? hardwareMismatches(
        result.spec,
        await backend.hardwarePci(backend.node),
        backend.node,
        state.source.kind === "live" ? "this machine" : state.source.path,
      )
    : [];
  const plan = planProxmoxChange({
    spec: result.spec,
    current: current?.config ?? null,
    others: [...others.values()],
    present,
    rawHostpci: backend?.canSetRawHostpci ?? true,
    mappings,
  });
  const refusals = [...hwRefusals, ...result.refusals, ...plan.refusals];
  const warnings = [...result.warnings, ...plan.warnings];
  const json = {
    backend: backend?.kind ?? "snapshot",
    node: backend?.node ?? null,
    vmid,
    spec: result.spec,
    change: plan.change,
    before: plan.before,
    after: plan.after,
    why: plan.why,
    warnings,
  };
  const verb = mode === "create" ? `create VM ${vmid}` : `configure VM ${vmid}`;
  if (!flags.json) {
    for (const w of warnLines(c, warnings)) ctx.err(w);
  }
  if (refusals.length > 0) return refuse(c, verb, refusals, json);

  const empty = isEmptyChange(plan.change);
  const label = `VM ${vmid}${(current?.config.name ?? c.create?.name) ? ` "${current?.config.name ?? c.create?.name}"` : ""}`;
  if (!flags.json) {
    ctx.out(ctx.style.bold(`passthrough vm ${mode} — ${label} on ${where}`), "");
    if (empty) ctx.out(`${label} is already configured for passthrough: nothing to change.`);
    else {
      ctx.out(...configDiff(`VM ${vmid}`, plan.before, plan.after, ctx.style), "");
      ctx.out(
        ctx.style.bold("Why"),
        ...renderTable(
          Object.keys(plan.why)
            .sort()
            .map((k) => [k, plan.why[k]!]),
          "  ",
        ),
      );
    }
  }
  const readOnly = mode === "plan" || flags.dryRun === true || empty;
  if (readOnly || !backend) {
    if (!readOnly && !backend)
      throw new InputError(
        `a snapshot cannot be changed: run \`passthrough vm ${mode}\` on the node itself (or with --api), or add --dry-run`,
      );
    if (flags.json) printJson(ctx, { ...json, refused: [], applied: false });
    else if (!empty)
      ctx.out(
        "",
        mode === "plan"
          ? `Next: ${nextCommand(c, "configure")}`
          : "--dry-run: nothing was changed.",
      );
    return EXIT.ok;
  }

  if (flags.json && !flags.yes)
    throw new InputError("--json cannot ask for confirmation; add --yes to apply, or --dry-run");
  if (!flags.json) ctx.out("");
  const ok = await confirm(
    ctx.io,
    mode === "create" ? `Create ${label} on ${backend.node}?` : `Apply these changes to ${label}?`,
    flags,
    mode === "create" ? "creating a VM" : "changing the VM",
  );
  if (!ok) {
    ctx.out("Nothing was changed.");
    return EXIT.ok;
  }
  if (mode === "create") await backend.createVm(vmid, plan.change.set);
  else await backend.updateConfig(vmid, plan.change, current!.digest);

  // Read back: every key we set says what we wrote (writtenMatches), every key we deleted is gone.
  const written = await backend.getConfig(vmid);
  const mismatch: string[] = [];
  if (!written) mismatch.push(`VM ${vmid} is not there`);
  else {
    for (const [k, v] of Object.entries(plan.change.set)) {
      if (!writtenMatches(k, v, written.config[k]))
        mismatch.push(`${k}: expected ${v}, found ${written.config[k] ?? "nothing"}`);
    }
    for (const k of plan.change.delete)
      if (written.config[k] !== undefined) mismatch.push(`${k}: still present`);
  }
  if (mismatch.length > 0) {
    const did =
      backend.kind === "qm"
        ? mode === "create"
          ? "qm create"
          : "qm set"
        : mode === "create"
          ? "creating the VM"
          : "the config update";
    throw new ApplyError(
      `${did} reported success, but reading VM ${vmid} back shows ${mismatch.join("; ")}; check it with \`qm config ${vmid}\` on ${backend.node}`,
    );
  }
  if (flags.json) printJson(ctx, { ...json, after: written!.config, refused: [], applied: true });
  else {
    const n = Object.keys(plan.change.set).length;
    ctx.out(
      mode === "create"
        ? `Created ${label} on ${backend.node}. Start it (\`qm start ${vmid}\` on ${backend.node}, or the web UI), install the guest, then run \`passthrough guest setup\`.`
        : `Updated ${label}: ${n} key${n === 1 ? "" : "s"} set, ${plan.change.delete.length} removed (read back and checked). Hardware changes take effect at the VM's next start (stop it, then start it; a reboot inside the guest is not enough).`,
    );
  }
  return EXIT.ok;
}

/** The same request as another `vm` subcommand, for "Next:" lines. */
function nextCommand(c: Common, sub: "configure"): string {
  const f = c.flags;
  const o = c.options;
  const parts = ["passthrough vm", sub];
  if (o.vmid !== null) parts.push("--vmid", String(o.vmid));
  for (const d of o.devices) parts.push("--device", d);
  for (const u of o.usb) parts.push("--usb", u);
  if (!o.pcie) parts.push("--no-pcie");
  if (o.primaryGpu) parts.push("--primary-gpu");
  if (o.keepDisplay) parts.push("--keep-display");
  if (o.efidisk) parts.push("--efidisk", o.efidisk);
  if (o.preEnrolledKeys) parts.push("--pre-enrolled-keys");
  if (o.hidden) parts.push("--hide-hypervisor");
  if (o.hvVendorId) parts.push("--hv-vendor-id", o.hvVendorId);
  if (o.onboot) parts.push("--onboot");
  if (o.convertQ35) parts.push("--convert-q35");
  if (o.force) parts.push("--force");
  if (f.libvirt) parts.push("--libvirt", f.libvirt);
  if (f.node) parts.push("--node", f.node);
  const conn = connectionFlags(f);
  return [...parts, ...(conn ? [conn] : [])].join(" ");
}

// ---------------------------------------------------------------------------------------------
// libvirt

async function libvirtFlow(
  c: Common,
  target: Extract<VmTarget, { kind: "libvirt" }>,
): Promise<number> {
  const { ctx, flags, mode, state } = c;
  const fw = findOvmf(state, c.options.preEnrolledKeys, c.exists);
  const fwWarning = ovmfWarning(fw);
  const dryRun = flags.dryRun === true || target.emitOnly;
  // With --dry-run/--emit the XML is the output: everything else goes to stderr.
  const info = (...lines: string[]) => (dryRun ? ctx.err(...lines) : ctx.out(...lines));

  if (mode === "create") {
    const result = c.specFor(null);
    const name = c.create!.name;
    const xml = buildDomainXml(result.spec, { firmware: fw });
    const warnings = [...result.warnings, ...(fwWarning ? [fwWarning] : [])];
    const json = {
      backend: "libvirt",
      domain: name,
      spec: result.spec,
      before: null,
      after: xml,
      warnings,
    };
    if (!flags.json) for (const w of warnLines(c, warnings)) ctx.err(w);
    if (result.refusals.length > 0)
      return refuse(c, `create libvirt domain ${name}`, result.refusals, json);
    if (dryRun) {
      if (flags.json) printJson(ctx, { ...json, refused: [], applied: false });
      else ctx.io.stdout.write(xml);
      return EXIT.ok;
    }
    if (mode === "create" && (await target.virsh.dumpxml(name)) !== null)
      throw new RefusedError(
        `libvirt domain ${name} exists already; pick another --name or use \`passthrough vm configure --libvirt ${name}\``,
      );
    if (!flags.json)
      info(
        ctx.style.bold(`passthrough vm create — libvirt domain ${name}`),
        "",
        ...unifiedDiff("(no domain)", name, "", xml, ctx.style),
        "",
      );
    if (flags.json && !flags.yes)
      throw new InputError("--json cannot ask for confirmation; add --yes to apply, or --dry-run");
    if (
      !(await confirm(
        ctx.io,
        `Create the ${c.create!.disk.sizeGiB} GiB volume ${diskVolumeName(name)} in pool ${c.create!.disk.storage} and define domain ${name}?`,
        flags,
        "creating a domain",
      ))
    ) {
      ctx.out("Nothing was changed.");
      return EXIT.ok;
    }
    await target.virsh.createVolume(
      c.create!.disk.storage,
      diskVolumeName(name),
      c.create!.disk.sizeGiB,
    );
    await target.virsh.define(xml);
    await checkDefined(
      target,
      name,
      result.spec.pci.flatMap((d) => d.functions.map((f) => f.address)),
    );
    if (flags.json) printJson(ctx, { ...json, refused: [], applied: true });
    else ctx.out(`Defined libvirt domain ${name}. Start it with \`virsh start ${name}\`.`);
    return EXIT.ok;
  }

  // configure / plan: the domain as it is now.
  let xml: string;
  let source: string;
  if (target.domainXmlFile) {
    try {
      xml = fs.readFileSync(target.domainXmlFile, "utf8");
    } catch (err) {
      throw new InputError(`--domain-xml ${target.domainXmlFile}: ${describeFsError(err)}`);
    }
    source = target.domainXmlFile;
  } else if (target.domain) {
    const got = await target.virsh.dumpxml(target.domain);
    if (got === null)
      throw new InputError(`there is no libvirt domain ${target.domain}; see \`virsh list --all\``);
    xml = got;
    source = `virsh dumpxml --inactive --domain ${target.domain}`;
  } else
    throw new InputError(`vm ${mode} with libvirt needs --libvirt DOMAIN (or --domain-xml FILE)`);

  const result = c.specFor(domainMemoryMiB(xml));
  // Other domains can only be listed through virsh; a file on its own has no neighbours.
  const others = target.domain ? await target.virsh.otherDomains(target.domain) : [];
  const mod = modifyDomainXml(xml, result.spec, fw, others);
  const refusals = [...result.refusals, ...mod.refusals];
  const warnings = [
    ...result.warnings,
    ...mod.warnings,
    ...(fwWarning && mod.xml !== mod.before ? [fwWarning] : []),
  ];
  if (!target.domain)
    warnings.push(
      `other libvirt domains were not checked for these devices (the XML came from ${source}); use --libvirt DOMAIN on the host to check them`,
    );
  const json = {
    backend: "libvirt",
    domain: mod.name,
    spec: result.spec,
    before: mod.before,
    after: mod.xml,
    warnings,
  };
  if (!flags.json) for (const w of warnLines(c, warnings)) ctx.err(w);
  if (refusals.length > 0) return refuse(c, `configure libvirt domain ${mod.name}`, refusals, json);
  const diff = unifiedDiff(
    `${mod.name} (now)`,
    `${mod.name} (after)`,
    mod.before,
    mod.xml,
    ctx.style,
  );
  if (!flags.json) {
    info(ctx.style.bold(`passthrough vm ${mode} — libvirt domain ${mod.name} (${source})`), "");
    info(
      ...(diff.length === 0
        ? [`Domain ${mod.name} is already configured for passthrough: nothing to change.`]
        : diff),
    );
  }
  if (mode === "plan" || dryRun || diff.length === 0) {
    if (flags.json) printJson(ctx, { ...json, refused: [], applied: false });
    else if (dryRun) ctx.io.stdout.write(mod.xml);
    else if (mode === "plan" && diff.length > 0)
      ctx.out("", `Next: ${nextCommand(c, "configure")}`);
    return EXIT.ok;
  }
  if (flags.json && !flags.yes)
    throw new InputError("--json cannot ask for confirmation; add --yes to apply, or --dry-run");
  if (!flags.json) ctx.out("");
  if (
    !(await confirm(
      ctx.io,
      `Define domain ${mod.name} with these changes?`,
      flags,
      "changing the domain",
    ))
  ) {
    ctx.out("Nothing was changed.");
    return EXIT.ok;
  }
  await target.virsh.define(mod.xml);
  await checkDefined(
    target,
    mod.name,
    result.spec.pci.flatMap((d) => d.functions.map((f) => f.address)),
  );
  if (flags.json) printJson(ctx, { ...json, refused: [], applied: true });
  else
    ctx.out(
      `Defined ${mod.name} (read back and checked). The changes take effect at the domain's next start.`,
    );
  return EXIT.ok;
}

/** After `virsh define`: the domain is there and has every passed function. */
async function checkDefined(
  target: Extract<VmTarget, { kind: "libvirt" }>,
  name: string,
  functions: string[],
): Promise<void> {
  const back = await target.virsh.dumpxml(name);
  const have = back === null ? [] : hostdevAddresses(parseXml(back, `domain ${name}'s XML`));
  const missing = functions.filter((f) => !have.includes(f));
  if (back === null || missing.length > 0) {
    throw new ApplyError(
      `virsh define reported success, but ${back === null ? `domain ${name} is not there` : `its XML lacks ${missing.join(", ")}`}; check it with \`virsh dumpxml ${name}\``,
    );
  }
}

// ---------------------------------------------------------------------------------------------
// Plain QEMU

function qemuFlow(c: Common): number {
  const { ctx, flags, state } = c;
  const vm = c.options.vmid === null ? undefined : state.vms.find((v) => v.vmid === c.options.vmid);
  const memoryMiB =
    c.create?.memoryMiB ??
    positiveInt(flags.memory, "--memory", 16) ??
    (vm ? configMemoryMiB(vm.config) : 8192);
  const cores =
    c.create?.cores ??
    positiveInt(flags.cores, "--cores", 1, 8192) ??
    (vm?.config.cores ? Number(vm.config.cores) : 4);
  const sockets = c.create?.sockets ?? (vm?.config.sockets ? Number(vm.config.sockets) : 1);
  const name =
    c.create?.name ??
    flags.name ??
    vm?.config.name ??
    (c.options.vmid !== null ? `vm-${c.options.vmid}` : "passthrough-vm");
  const result = c.specFor(memoryMiB);
  const fw = findOvmf(state, c.options.preEnrolledKeys, c.exists);
  const cmd = qemuArgv(result.spec, {
    name,
    memoryMiB,
    cores,
    sockets,
    firmware: fw,
    disk: c.create ? `${name}.qcow2` : null,
    iso: c.create?.iso ?? null,
    bridge: c.create?.bridge ?? null,
  });
  if (c.create)
    cmd.prepare.push([
      "qemu-img",
      "create",
      "-f",
      "qcow2",
      `${name}.qcow2`,
      `${c.create.disk.sizeGiB}G`,
    ]);
  const warnings = [...result.warnings, ...(ovmfWarning(fw) ? [ovmfWarning(fw)!] : [])];
  if (!c.create)
    warnings.push(
      `this command line has no disk: add the guest's own -drive${vm ? ` (\`qm showcmd ${vm.vmid} --pretty\` shows VM ${vm.vmid}'s full command line)` : ""}`,
    );
  const json = {
    backend: "qemu",
    spec: result.spec,
    argv: cmd.argv,
    prepare: cmd.prepare,
    warnings,
  };
  if (!flags.json) for (const w of warnLines(c, warnings)) ctx.err(w);
  if (result.refusals.length > 0)
    return refuse(c, "emit a QEMU command line", result.refusals, json);
  if (flags.json) {
    printJson(ctx, { ...json, refused: [], applied: false });
    return EXIT.ok;
  }
  ctx.out("# once, before the first start:");
  for (const p of cmd.prepare) ctx.out(formatCommand(p));
  ctx.out("", formatCommand(cmd.argv));
  return EXIT.ok;
}
