// Proxmox VE as a VmBackend: a VM config changed through a ProxmoxBackend client (local
// qm/pvesh, qm-backend.ts, or the REST API, api-backend.ts), or planned against a snapshot's
// /etc/pve (no client: plan and --dry-run only). The change itself is config-change.ts (pure).

import { ApplyError, InputError, RefusedError } from "../../errors.js";
import {
  specFor,
  type VmBackend,
  type VmHost,
  type VmPlan,
  type VmReadBack,
  type VmRequest,
} from "../backend.js";
import { configText } from "../diff.js";
import type { SpecResult } from "../spec.js";
import type { PciMapping, ProxmoxBackend, PveHardwarePci, VmConfig } from "../types.js";
import { planAutoMappings, plannedMappingLines, type PlannedMapping } from "./auto-mapping.js";
import {
  configMemoryMiB,
  isEmptyChange,
  mappingAddresses,
  planProxmoxChange,
  writtenMatches,
  type OtherVm,
  type ProxmoxPlan,
} from "./config-change.js";
import { hardwareMismatches } from "./hardware-check.js";
import { FileWriter } from "../../apply/file-writer.js";
import { hookscriptSnippet } from "../hookscript.js";
import {
  installRom,
  planRomInstall,
  romInstallBlocker,
  specRom,
  type RomInstall,
} from "./rom-install.js";

/** The VM as it is now, and every other VM's config (for "already assigned"). */
export interface ProxmoxCurrent {
  vmid: number;
  config: VmConfig | null;
  digest: string | null;
  others: OtherVm[];
}

export interface ProxmoxVmPlan extends VmPlan {
  mode: VmRequest["mode"];
  vmid: number;
  label: string;
  change: ProxmoxPlan["change"];
  digest: string | null;
  /** Cluster PCI mappings written before the config (API tokens: no raw hostpci). */
  pciMappings: PlannedMapping[];
  /** --romfile: the copy to /usr/share/kvm made before the config names it. */
  romInstall: { rom: NonNullable<ReturnType<typeof specRom>>; install: RomInstall } | null;
  /** --hookscript: the snippet written on the node before the config names it. */
  hookscript: { storage: string; name: string; text: string } | null;
}

export class ProxmoxVmBackend implements VmBackend<ProxmoxCurrent, ProxmoxVmPlan> {
  readonly kind: "qm" | "api" | "snapshot";
  readonly defaultBridge = "vmbr0";
  /** "node pve (qm)" / "snapshot pve.tar.gz". */
  private readonly where: string;

  /**
   * `client` null: the configs come from a snapshot (`label`), which cannot be changed.
   * `romRoot`: where the node's /usr/share/kvm is ("/"; a temporary folder in tests).
   */
  /** The apply journal of the ROM copy this backend made (installRom), for the message. */
  private romJournal: string | null = null;

  constructor(
    readonly client: ProxmoxBackend | null,
    label = "",
    private readonly romRoot = "/",
  ) {
    this.kind = client?.kind ?? ("snapshot" as const);
    this.where = client ? `node ${client.node} (${client.kind})` : `snapshot ${label}`;
  }

  // Every VM's config, for "already assigned": the host's /etc/pve (live or snapshot) and what
  // the client lists (an API token may not see every VM); the client's copy is the newer one.
  // Whether the VM itself exists is the client's word alone.
  async read(request: VmRequest, host: VmHost): Promise<ProxmoxCurrent> {
    const vmid = request.options.vmid;
    if (vmid === null)
      throw new InputError(
        `vm ${request.mode} needs --vmid ID for Proxmox (or --libvirt DOMAIN, --emit qemu)`,
      );
    const others = new Map<number, OtherVm>();
    for (const v of host.state.vms)
      others.set(v.vmid, { vmid: v.vmid, node: v.node, config: v.config });
    let current: { config: VmConfig; digest: string | null } | null;
    let elsewhere: OtherVm | undefined;
    if (this.client) {
      current = await this.client.getConfig(vmid);
      const listed = await this.client.listVms();
      for (const v of listed) others.set(v.vmid, v);
      elsewhere = listed.find((v) => v.vmid === vmid);
    } else {
      const vm = host.state.vms.find((v) => v.vmid === vmid);
      current = vm ? { config: vm.config, digest: null } : null;
      elsewhere = vm;
    }
    others.delete(vmid);
    this.checkTarget(request.mode, vmid, current !== null, elsewhere);
    return {
      vmid,
      config: current?.config ?? null,
      digest: current?.digest ?? null,
      others: [...others.values()],
    };
  }

  /** create needs a free id; plan and configure need the VM, on this node. */
  private checkTarget(
    mode: VmRequest["mode"],
    vmid: number,
    exists: boolean,
    elsewhere: OtherVm | undefined,
  ): void {
    if (mode === "create") {
      if (exists || elsewhere)
        throw new RefusedError(
          `VM ${vmid} exists already${elsewhere?.node ? ` on node ${elsewhere.node}` : ""}; pick a free id (\`pvesh get /cluster/nextid\`) or change it with \`passthrough vm configure --vmid ${vmid}\``,
        );
      return;
    }
    if (exists) return;
    const node = this.client?.node;
    if (elsewhere?.node && node && elsewhere.node !== node)
      throw new InputError(
        `VM ${vmid} is on node ${elsewhere.node}, not ${node}; run this on ${elsewhere.node} (qm works on local VMs), or use --api with --node ${elsewhere.node}`,
      );
    throw new InputError(
      `there is no VM ${vmid} on ${this.where}; create one with \`passthrough vm create --vmid ${vmid} --name NAME --disk STORAGE:SIZE\` or pick one from \`qm list\``,
    );
  }

  async plan(request: VmRequest, current: ProxmoxCurrent, host: VmHost): Promise<ProxmoxVmPlan> {
    const { vmid, config } = current;
    const result = specFor(request, host, config ? configMemoryMiB(config) : null);
    const present = host.state.pci.map((d) => d.address);
    const listed = await this.listMappings();
    const mappings = this.usableMappings(listed, present);
    const hardware = await this.nodeHardware();
    const hwRefusals = this.hardwareRefusals(result, host, hardware);
    const auto = this.autoMappings(result, listed, hardware, request);
    for (const p of auto.planned) mappings.push({ id: p.id, addresses: p.addresses });
    const plan = planProxmoxChange({
      spec: result.spec,
      current: config,
      others: current.others,
      present,
      rawHostpci: this.client?.canSetRawHostpci ?? true,
      mappings,
    });
    const rom = this.romInstall(result, request);
    const hook = this.hookscript(result, request, config, plan);
    const empty = isEmptyChange(plan.change) && !(rom.planned && !rom.planned.install.present);
    const name = config?.name ?? request.create?.name;
    const label = `VM ${vmid}${name ? ` "${name}"` : ""}`;
    const warnings = [...result.warnings, ...plan.warnings];
    const creating = request.mode === "create";
    return {
      mode: request.mode,
      vmid,
      label,
      change: plan.change,
      digest: current.digest,
      pciMappings: auto.planned,
      romInstall: rom.planned,
      hookscript: hook.planned,
      action: `${creating ? "create" : "configure"} VM ${vmid}`,
      refusals: [
        ...hwRefusals,
        ...auto.refusals,
        ...rom.refusals,
        ...hook.refusals,
        ...result.refusals,
        ...plan.refusals,
      ],
      warnings,
      json: {
        backend: this.kind,
        node: this.client?.node ?? null,
        vmid,
        spec: result.spec,
        change: plan.change,
        before: plan.before,
        after: plan.after,
        why: plan.why,
        mappings: auto.planned,
        romfile: rom.planned
          ? { path: rom.planned.install.hostPath, copy: !rom.planned.install.present }
          : null,
        warnings,
      },
      report: {
        subject: `${label} on ${this.where}`,
        diff: empty
          ? null
          : {
              oldName: `VM ${vmid} (now)`,
              newName: `VM ${vmid} (after)`,
              before: configText(plan.before),
              after: [
                ...plannedMappingLines(auto.planned, this.client?.node ?? ""),
                ...(rom.planned && !rom.planned.install.present
                  ? [`# copy ${rom.planned.rom.path} to ${rom.planned.install.hostPath}`]
                  : []),
                ...(hook.planned
                  ? [
                      `# write snippet ${hook.planned.storage}:snippets/${hook.planned.name} (0700): mode vm at pre-start, mode host at post-stop`,
                    ]
                  : []),
                configText(plan.after),
              ].join("\n"),
            },
        unchanged: `${label} is already configured for passthrough: nothing to change.`,
        why: plan.why,
      },
      empty,
      artefact: null,
      readOnly: this.client
        ? null
        : `a snapshot cannot be changed: run \`passthrough vm ${request.mode}\` on the node itself (or with --api), or add --dry-run`,
      confirm: creating
        ? { question: `Create ${label} on ${this.client?.node}?`, doing: "creating a VM" }
        : { question: `Apply these changes to ${label}?`, doing: "changing the VM" },
    };
  }

  /** --romfile: the ROM copied to the node's /usr/share/kvm (rom-install.ts); none from a snapshot. */
  private romInstall(
    result: SpecResult,
    request: VmRequest,
  ): { planned: ProxmoxVmPlan["romInstall"]; refusals: string[] } {
    const rom = specRom(result.spec);
    const bytes = request.options.romfile?.bytes;
    if (!rom || !bytes || !this.client) return { planned: null, refusals: [] };
    const blocker = romInstallBlocker(this.client);
    if (blocker) return { planned: null, refusals: [blocker] };
    const { install, refusal } = planRomInstall(new FileWriter(this.romRoot), rom, bytes);
    return { planned: install ? { rom, install } : null, refusals: refusal ? [refusal] : [] };
  }

  /**
   * --hookscript: the snippet `mode vm --hookscript` installs (src/vm/hookscript.ts), named in
   * the config's `hookscript:` key; written by this node's qm backend only (the REST API cannot
   * upload snippets). A config that names it already gets no step of its own (a missing snippet
   * is what check and vm mapping check report); with other changes the snippet is rewritten.
   */
  private hookscript(
    result: SpecResult,
    request: VmRequest,
    config: VmConfig | null,
    plan: ReturnType<typeof planProxmoxChange>,
  ): { planned: ProxmoxVmPlan["hookscript"]; refusals: string[] } {
    const want = request.options.hookscript;
    if (!want) return { planned: null, refusals: [] };
    const gpu = result.spec.pci.find((d) => d.gpu) ?? result.spec.pci[0];
    if (!gpu) return { planned: null, refusals: ["--hookscript: give the GPU with --device"] };
    if (this.client && this.client.kind !== "qm")
      return {
        planned: null,
        refusals: [
          "--hookscript: the snippet is written on the node itself and the REST API cannot upload snippets; run `passthrough vm configure --backend qm ... --hookscript` on the node as root",
        ],
      };
    const snippet = hookscriptSnippet(gpu.functions[0]?.address ?? gpu.host, want.storage);
    if (config?.hookscript !== snippet.volume) {
      plan.change.set.hookscript = snippet.volume;
      plan.after.hookscript = snippet.volume;
      plan.why.hookscript = `a hookscript moves ${gpu.host} to vfio-pci at pre-start and back to its host driver at post-stop`;
    }
    return {
      planned: this.client
        ? { storage: want.storage, name: snippet.name, text: snippet.text }
        : null,
      refusals: [],
    };
  }

  /** The node's own PCI list, where the client can read it (the REST API). */
  private async nodeHardware(): Promise<PveHardwarePci[] | null> {
    const client = this.client;
    return client?.hardwarePci ? client.hardwarePci(client.node) : null;
  }

  /** Through the API the node can be another machine than the one read: its devices must match. */
  private hardwareRefusals(
    result: SpecResult,
    host: VmHost,
    hardware: PveHardwarePci[] | null,
  ): string[] {
    if (!this.client || hardware === null) return [];
    return hardwareMismatches(
      result.spec,
      hardware,
      this.client.node,
      host.state.source.kind === "live" ? "this machine" : host.state.source.path,
    );
  }

  /** Without raw hostpci (API tokens), devices go in through the cluster's PCI mappings. */
  private async listMappings(): Promise<PciMapping[]> {
    const client = this.client;
    if (!client || client.canSetRawHostpci || !client.listPciMappings) return [];
    return client.listPciMappings();
  }

  private usableMappings(
    listed: PciMapping[],
    present: string[],
  ): Array<{ id: string; addresses: string[] }> {
    const node = this.client?.node ?? "";
    return listed.map((m) => ({ id: m.id, addresses: mappingAddresses(m.map, node, present) }));
  }

  /** The mappings to create in this run for devices no mapping names yet (auto-mapping.ts). */
  private autoMappings(
    result: SpecResult,
    listed: PciMapping[],
    hardware: PveHardwarePci[] | null,
    request: VmRequest,
  ): { planned: PlannedMapping[]; refusals: string[] } {
    const client = this.client;
    if (!client || client.canSetRawHostpci || !client.ensurePciMapping || hardware === null)
      return { planned: [], refusals: [] };
    return planAutoMappings({
      spec: result.spec,
      node: client.node,
      hardware,
      existing: listed,
      name: request.options.mappingName ?? null,
    });
  }

  async apply(plan: ProxmoxVmPlan): Promise<void> {
    const client = this.writer();
    // The ROM first: a config naming a file that is not there fails at VM start.
    if (plan.romInstall)
      this.romJournal = installRom(
        new FileWriter(this.romRoot),
        plan.romInstall.rom,
        plan.romInstall.install,
      );
    // The snippet first: qemu-server refuses a hookscript that is not there (check_hookscript).
    if (plan.hookscript)
      await client.writeSnippet!(
        plan.hookscript.storage,
        plan.hookscript.name,
        plan.hookscript.text,
        0o700,
      );
    // The mappings first: the config names them, and Proxmox checks Mapping.Use on them.
    for (const m of plan.pciMappings)
      await client.ensurePciMapping!({
        id: m.id,
        map: [m.entry],
        ...(m.action === "create" ? { description: m.description } : {}),
      });
    if (plan.mode === "create") await client.createVm(plan.vmid, plan.change.set);
    else await client.updateConfig(plan.vmid, plan.change, plan.digest);
  }

  // Every key set says what was written (writtenMatches), every key deleted is gone.
  async readBack(plan: ProxmoxVmPlan): Promise<VmReadBack> {
    const client = this.writer();
    const { vmid, change, label } = plan;
    const written = await client.getConfig(vmid);
    const mismatch: string[] = [];
    if (!written) mismatch.push(`VM ${vmid} is not there`);
    else {
      for (const [k, v] of Object.entries(change.set))
        if (!writtenMatches(k, v, written.config[k]))
          mismatch.push(`${k}: expected ${v}, found ${written.config[k] ?? "nothing"}`);
      for (const k of change.delete)
        if (written.config[k] !== undefined) mismatch.push(`${k}: still present`);
    }
    const creating = plan.mode === "create";
    if (!written || mismatch.length > 0) {
      const did =
        client.kind === "qm"
          ? creating
            ? "qm create"
            : "qm set"
          : creating
            ? "creating the VM"
            : "the config update";
      throw new ApplyError(
        `${did} reported success, but reading VM ${vmid} back shows ${mismatch.join("; ")}; check it with \`qm config ${vmid}\` on ${client.node}`,
      );
    }
    const n = Object.keys(change.set).length;
    const copied = plan.romInstall?.install.present === false;
    const romNote = copied
      ? ` Copied the ROM to ${plan.romInstall!.install.hostPath}${this.romJournal ? ` (journal ${this.romJournal}: \`passthrough rollback\` removes it)` : ""}.`
      : "";
    return {
      json: { after: written.config },
      message: creating
        ? `Created ${label} on ${client.node}.${romNote} Start it (\`qm start ${vmid}\` on ${client.node}, or the web UI), install the guest, then run \`passthrough guest setup\`.`
        : `Updated ${label}: ${n} key${n === 1 ? "" : "s"} set, ${change.delete.length} removed (read back and checked). Hardware changes take effect at the VM's next start (stop it, then start it; a reboot inside the guest is not enough).${romNote}`,
    };
  }

  /** The flow never applies a plan whose `readOnly` is set: reaching here without a client is a bug. */
  private writer(): ProxmoxBackend {
    if (!this.client) throw new Error(`${this.where} cannot be changed`);
    return this.client;
  }
}

/** The Proxmox client behind a backend, for work outside the vm commands (guest --cloud-init). */
export function proxmoxClient(backend: VmBackend): ProxmoxBackend | null {
  return backend instanceof ProxmoxVmBackend ? backend.client : null;
}
