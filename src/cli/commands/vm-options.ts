// The options of `vm plan|configure|create` and what they become: a BackendChoice
// (src/vm/select-backend.ts) and a VmRequest (src/vm/backend.ts), plain values the vm layer
// takes. Every value is checked here, with the flag named in the error.

import { parseDeviceArgs, quoteInput } from "../../formats/device-selection.js";
import { isMappingName } from "../../vm/proxmox/auto-mapping.js";
import type { Command } from "commander";
import { InputError } from "../../errors.js";
import type { VmMode, VmRequest } from "../../vm/backend.js";
import type { ApiOptions } from "../../vm/proxmox/connect.js";
import { BACKEND_NAMES, type BackendChoice } from "../../vm/select-backend.js";
import type { CreateOptions, VmOptions } from "../../vm/spec.js";
import type { RomFileInput } from "../../vm/romfile.js";
import * as path from "node:path";
import { readInputFile } from "../../input-file.js";
import { quoteWord } from "../../process/quote.js";
import { MAX_ROM_BYTES } from "../../formats/option-rom.js";
import { addApiOptions, connectionFlags, type ApiFlags } from "../api-options.js";
import { addDeviceOption, collect } from "../options.js";
import { addHostOptions, type HostOptions } from "../context.js";

export interface VmFlags extends HostOptions, ApiFlags {
  backend?: string;
  emit?: string;
  libvirt?: string;
  domainXml?: string;
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
  mapping?: string;
  romfile?: string;
  hookscript?: boolean;
  snippetStorage?: string;
  os?: string;
  virtioIso?: string;
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

export function addVmOptions(cmd: Command, mode: VmMode): Command {
  addDeviceOption(
    addHostOptions(cmd).option("--vmid <id>", "Proxmox VM id (100-999999999)"),
    "the device(s) to pass",
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
    .option(
      "--romfile <file>",
      "the GPU's VBIOS for the guest (checked against the card; Proxmox: copied to /usr/share/kvm/)",
    )
    .option(
      "--hookscript",
      "Proxmox (qm, on the node): a hookscript snippet that moves the GPU to vfio-pci at pre-start and back at post-stop (as `mode vm --hookscript`)",
    )
    .option(
      "--snippet-storage <id>",
      "with --hookscript: the storage that keeps snippets (default local)",
    )
    .option(
      "--os <os>",
      "windows: a Windows 11 guest (ostype win11, TPM 2.0 state disk, --virtio-iso as a second CD-ROM) | linux",
    )
    .option(
      "--virtio-iso <volume>",
      "with --os windows: the virtio-win driver ISO (Proxmox local:iso/virtio-win.iso; libvirt/QEMU a file path)",
    )
    .option("--onboot", "start the VM with the host (default: onboot 0 until it is proven)")
    .option("--convert-q35", "allow switching an existing i440fx VM to q35")
    .option(
      "--mapping <name>",
      "with an API token: the cluster PCI mapping to create for the device (default gpu-VENDOR-DEVICE); one naming exactly the device on the node is reused",
    )
    .option(
      "--force",
      "go ahead on an unprepared host (device not on vfio-pci) or with USB devices not plugged in",
    )
    .option(
      "--backend <name>",
      `${BACKEND_NAMES.join(" | ")} (default: qm on a Proxmox node, api with --api)`,
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
      .option(
        "--ostype <type>",
        `guest OS type: ${OSTYPES.join(", ")} (default: l26, win11 with --os windows)`,
      );
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

/**
 * The PCI addresses --device names, as typed (src/vm/spec.ts and src/vm/proxmox/mappings.ts
 * check each): the one place the vm commands read --device.
 */
export function deviceOption(values: string | string[] | undefined): string[] {
  return parseDeviceArgs(values).map((d) => d.address);
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

export function vmOptions(flags: VmFlags): VmOptions {
  return {
    vmid: positiveInt(flags.vmid, "--vmid", 100, 999_999_999),
    devices: deviceOption(flags.device),
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
    mappingName: mappingName(flags.mapping),
    romfile: romFile(flags.romfile),
    hookscript: flags.hookscript ? { storage: flags.snippetStorage ?? "local" } : null,
    os: guestOs(flags.os),
    virtioIso: volumeOrPath(flags.virtioIso, "--virtio-iso", "local:iso/virtio-win.iso"),
  };
}

function guestOs(os: string | undefined): "windows" | "linux" | null {
  if (os === undefined) return null;
  if (os === "windows" || os === "linux") return os;
  throw new InputError(`--os ${quoteInput(os)}: choose windows or linux`);
}

/** An ISO as a Proxmox volume or a file path: it goes into a property string, so no commas. */
function volumeOrPath(v: string | undefined, flag: string, example: string): string | null {
  if (v === undefined) return null;
  if (v === "" || /[,\n]/.test(v))
    throw new InputError(
      `${flag} ${quoteInput(v)}: give a volume (${example}) or a file path without commas`,
    );
  return v;
}

/** --romfile FILE, read as outside input; src/vm/romfile.ts checks it against the card. */
function romFile(file: string | undefined): RomFileInput | null {
  if (file === undefined) return null;
  const bytes = readInputFile(file, { what: "--romfile", maxBytes: MAX_ROM_BYTES });
  return { path: path.resolve(file), bytes };
}

function mappingName(name: string | undefined): string | null {
  if (name === undefined) return null;
  if (!isMappingName(name))
    throw new InputError(
      `--mapping ${quoteInput(name)}: a mapping name starts with a letter and has at least 2 characters of a-z, 0-9, '-' and '_' (Proxmox's configid)`,
    );
  return name;
}

export function backendChoice(flags: VmFlags): BackendChoice {
  return {
    backend: flags.backend ?? null,
    emit: flags.emit ?? null,
    libvirtDomain: flags.libvirt ?? null,
    domainXmlFile: flags.domainXml ?? null,
    api: flags.api !== undefined,
    node: flags.node ?? null,
  };
}

/** The request, once the backend is known (a new VM's bridge defaults to the backend's). */
export function vmRequest(
  mode: VmMode,
  flags: VmFlags,
  options: VmOptions,
  defaultBridge: string | null,
): VmRequest {
  const create = mode === "create" ? createOptions(flags, defaultBridge) : null;
  return {
    mode,
    options,
    create,
    guest: create
      ? { name: null, memoryMiB: null, cores: null }
      : {
          name: flags.name ?? null,
          memoryMiB: positiveInt(flags.memory, "--memory", 16),
          cores: positiveInt(flags.cores, "--cores", 1, 8192),
        },
    dryRun: flags.dryRun === true,
  };
}

const NAME = /^[a-zA-Z0-9]([a-zA-Z0-9.-]*[a-zA-Z0-9])?$/;

function createOptions(flags: VmFlags, defaultBridge: string | null): CreateOptions {
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
  const windows = flags.os === "windows";
  const ostype = flags.ostype ?? (windows ? "win11" : "l26");
  if (!OSTYPES.includes(ostype))
    throw new InputError(`--ostype ${JSON.stringify(ostype)}: choose one of ${OSTYPES.join(", ")}`);
  if (windows && !/^win1[1-9]$/.test(ostype))
    throw new InputError(
      `--ostype ${JSON.stringify(ostype)} with --os windows: Windows 11 is win11 (drop --ostype)`,
    );
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
    bridge: flags.bridge ?? defaultBridge,
    ostype,
  };
}

/** The same request as `vm configure`, for the "Next:" line of `vm plan`. */
export function nextCommand(flags: VmFlags, o: VmOptions, api: ApiOptions): string {
  const parts = ["passthrough vm", "configure"];
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
  if (o.mappingName) parts.push("--mapping", o.mappingName);
  if (o.romfile) parts.push("--romfile", quoteWord(o.romfile.path));
  if (o.hookscript)
    parts.push(
      "--hookscript",
      ...(o.hookscript.storage !== "local" ? ["--snippet-storage", o.hookscript.storage] : []),
    );
  if (o.os) parts.push("--os", o.os);
  if (o.virtioIso) parts.push("--virtio-iso", quoteWord(o.virtioIso));
  if (flags.libvirt) parts.push("--libvirt", flags.libvirt);
  if (flags.node) parts.push("--node", flags.node);
  const conn = connectionFlags(api);
  return [...parts, ...(conn ? [conn] : [])].join(" ");
}
