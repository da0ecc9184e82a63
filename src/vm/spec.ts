// What a passthrough VM should look like, independent of who runs it (Proxmox, libvirt,
// plain QEMU): the VmSpec. Pure: HostState + the user's options (+ what the host's journal
// and /proc/meminfo say, read at the edge) in, a spec plus every refusal and warning out.
// Backends turn the spec into their own terms (proxmox/config-change.ts, libvirt/domain-xml.ts,
// qemu/argv.ts); checks that need a VM's own config (q35, "already assigned") live there.
//
// The rules come from docs/domain-facts.md §6 and docs/proxmox-api.md §1: q35 + OVMF, all functions of
// a slot as one multifunction device behind a PCIe root port, x-vga only for the primary
// display, no emulated VGA when the GPU is the display, cpu host, no ballooning.

import { parseDeviceArgs } from "../formats/device-selection.js";
import { VFIO_DRIVERS, isGpu } from "../checks/candidates.js";
import { InputError } from "../errors.js";
import type { HostMemory } from "../host/meminfo.js";
import { slotOf } from "../formats/pci-address.js";
import type { HostState, PciDevice } from "../host/types.js";
import type { HostPrep } from "./host-prep.js";
import { specRomFile, type RomFileInput, type SpecRomFile } from "./romfile.js";

/** What the user asked for (flags shared by `vm plan|configure|create`). */
export interface VmOptions {
  /** Proxmox VM id; null for libvirt domains and QEMU command lines. */
  vmid: number | null;
  /** --device: slots ("0000:01:00": every function) or single functions, as typed. */
  devices: string[];
  /** --usb VID:PID. */
  usb: string[];
  /** pcie=1 (default; --no-pcie passes the device as conventional PCI). */
  pcie: boolean;
  /** --primary-gpu: x-vga=1, the GPU is the VM's boot display. */
  primaryGpu: boolean;
  /** --keep-display: leave the emulated display (vga) as it is. */
  keepDisplay: boolean;
  /** --efidisk STORAGE: where a missing efidisk0 is allocated. */
  efidisk: string | null;
  /** --pre-enrolled-keys: EFI vars with Microsoft keys enrolled (Secure Boot on). */
  preEnrolledKeys: boolean;
  /** --hide-hypervisor: cpu hidden=1 (NVIDIA drivers before R465 refuse to run in a VM). */
  hidden: boolean;
  /** --hv-vendor-id ID: Hyper-V vendor id shown to Windows guests (same old-driver workaround). */
  hvVendorId: string | null;
  /** --onboot: start with the host (default off until the VM is proven). */
  onboot: boolean;
  /** --convert-q35: allow switching an existing i440fx VM to q35. */
  convertQ35: boolean;
  /** --force: go ahead on an unprepared host / with USB devices that are not plugged in. */
  force: boolean;
  /** --mapping NAME: the cluster PCI mapping created for a device when raw hostpci is not allowed. */
  mappingName?: string | null;
  /** --os windows: a Windows 11 guest (ostype win11, TPM 2.0, the VirtIO drivers ISO); null: as it is. */
  os?: "windows" | "linux" | null;
  /** --virtio-iso: the virtio-win driver ISO (Proxmox volume STORAGE:iso/FILE; libvirt/QEMU a file path). */
  virtioIso?: string | null;
  /** --romfile FILE: the GPU's VBIOS as read (absolute path and bytes); checked against the card here. */
  romfile?: RomFileInput | null;
  /** --hookscript (Proxmox): the snippets storage of a hookscript that switches the GPU at start/stop; null: none. */
  hookscript?: { storage: string } | null;
}

/** A new VM (`vm create`): what the guest gets besides the passthrough settings. */
export interface CreateOptions {
  name: string;
  memoryMiB: number;
  cores: number;
  sockets: number;
  /** Proxmox "STORAGE:SIZE" (GiB), libvirt "POOL:SIZE". */
  disk: { storage: string; sizeGiB: number };
  /** Proxmox volume ("local:iso/debian-12.iso") or, for libvirt/QEMU, a file path. */
  iso: string | null;
  /** Proxmox/libvirt bridge for the NIC ("vmbr0"); null = libvirt's "default" network. */
  bridge: string | null;
  /** Proxmox ostype ("l26", "win11"). */
  ostype: string;
}

export interface SpecPciFunction {
  address: string;
  vendorId: string;
  deviceId: string;
  classCode: string;
  subsystemVendorId: string | null;
  subsystemDeviceId: string | null;
}

export interface SpecPciDevice {
  /** What is passed as one guest device: a slot ("0000:01:00", every function) or one function. */
  host: string;
  functions: SpecPciFunction[];
  title: string;
  gpu: boolean;
  iommuGroup: number | null;
  pcie: boolean;
  /** x-vga: this GPU is the VM's primary display (VGA ranges, boot output). */
  primaryGpu: boolean;
  /** --romfile: the VBIOS the guest sees instead of the card's own ROM (src/vm/romfile.ts). */
  romfile?: SpecRomFile | null;
}

export interface SpecUsbDevice {
  vendorId: string;
  productId: string;
  name: string | null;
  /** Plugged in now (seen in sys/bus/usb). */
  connected: boolean;
}

export interface VmSpec {
  vmid: number | null;
  /** "q35" when PCIe is wanted (and for every new VM); null = leave the machine type alone. */
  machine: "q35" | null;
  /** --convert-q35: an existing VM on another machine type may be switched to q35. */
  convertQ35: boolean;
  firmware: {
    type: "ovmf";
    efiDisk: { storage: string | null; efitype: "4m"; preEnrolledKeys: boolean };
  };
  cpu: { type: "host"; hidden: boolean; hvVendorId: string | null };
  /** All guest RAM is pinned for DMA while a device is passed through; a balloon could not reclaim any. */
  balloon: false;
  onboot: boolean;
  /** No emulated display remains: a GPU is passed and --keep-display was not given. */
  headless: boolean;
  pci: SpecPciDevice[];
  usb: SpecUsbDevice[];
  /** Memory the guest gets (MiB): the VM's own setting, or --memory for a new one. */
  memoryMiB: number | null;
  create: CreateOptions | null;
  /**
   * --os windows: what Proxmox's Windows 11 guest best practices add (ostype win11, a TPM 2.0
   * state disk, the virtio-win ISO as a second CD-ROM); null: the OS is not being set.
   */
  windows: { virtioIso: string | null } | null;
}

export interface SpecResult {
  spec: VmSpec;
  /** Reasons to refuse; each says what to do instead. Empty = go ahead. */
  refusals: string[];
  warnings: string[];
}

export interface SpecInput {
  state: HostState;
  options: VmOptions;
  prep: HostPrep;
  memory: HostMemory | null;
  /** The guest's memory in MiB (from its config), null when unknown. */
  guestMemoryMiB: number | null;
  create: CreateOptions | null;
  /**
   * The host was read through the Proxmox REST API, which does not report drivers: a function
   * with no driver known is assumed prepared, with a warning (vm/proxmox/remote-host.ts).
   */
  driversUnknown?: boolean;
}

export const HV_VENDOR_ID = /^[a-zA-Z0-9]{1,12}$/;
const USB_ID = /^(?:0x)?([0-9a-fA-F]{4}):(?:0x)?([0-9a-fA-F]{4})$/;

/** "0000:01:00" / "0000:01:00.1" from what the user typed; InputError names the flag. */
/** "046d:c31c" from "046D:C31C" / "0x046d:0xc31c"; InputError names the flag. */
export function parseUsbArg(arg: string): { vendorId: string; productId: string } {
  const m = USB_ID.exec(arg.trim());
  if (!m)
    throw new InputError(
      `--usb ${JSON.stringify(arg)} is not a vendor:product id; give it as 046d:c31c (see \`passthrough list --usb\`)`,
    );
  return { vendorId: m[1]!.toLowerCase(), productId: m[2]!.toLowerCase() };
}

export function buildVmSpec(input: SpecInput): SpecResult {
  const { state, options, prep } = input;
  const refusals: string[] = [];
  const warnings: string[] = [];
  const host = state.system.hostname ?? "this host";
  const byAddress = new Map(state.pci.map((d) => [d.address, d]));

  if (options.hvVendorId !== null && !HV_VENDOR_ID.test(options.hvVendorId)) {
    throw new InputError(
      `--hv-vendor-id ${JSON.stringify(options.hvVendorId)}: Proxmox and QEMU take 1 to 12 letters or digits (e.g. NV43FIX)`,
    );
  }

  // --device arguments -> devices, each with every function it names.
  const pci: SpecPciDevice[] = [];
  const taken = new Set<string>();
  for (const ref of parseDeviceArgs(options.devices)) {
    const want = ref.address;
    const isSlot = !ref.isFunction;
    const functions = state.pci
      .filter((d) => (isSlot ? slotOf(d.address) === want : d.address === want))
      .filter((d) => !taken.has(d.address));
    if (functions.length === 0) {
      if (state.pci.some((d) => (isSlot ? slotOf(d.address) === want : d.address === want)))
        continue; // named twice
      refusals.push(
        `${want}: no such PCI device on ${host}; pick one from \`passthrough list\`${state.source.kind === "live" ? "" : ` (read from ${state.source.path})`}`,
      );
      continue;
    }
    const bridges = functions.filter((f) => f.isBridge);
    if (bridges.length > 0) {
      refusals.push(
        `${bridges.map((b) => b.address).join(", ")} is a PCI bridge, which stays with the host; pass the device behind it (\`passthrough list --tree\`)`,
      );
      continue;
    }
    for (const f of functions) taken.add(f.address);
    const gpu = functions.some(isGpu);
    const named = functions.find(isGpu) ?? functions[0]!;
    pci.push({
      host: want,
      functions: functions.map(specFunction),
      title: `${named.vendorName ?? `Vendor ${named.vendorId}`} ${named.deviceName ?? `Device ${named.deviceId}`}`,
      gpu,
      iommuGroup: functions[0]!.iommuGroup,
      pcie: options.pcie,
      primaryGpu: false,
    });
  }

  if (options.primaryGpu) {
    const first = pci.find((d) => d.gpu);
    if (first) first.primaryGpu = true;
    else if (options.devices.length > 0)
      refusals.push(
        "--primary-gpu needs a display controller among --device; drop the flag or add the GPU (`passthrough list` shows class VGA/3D)",
      );
  }

  if (options.romfile) {
    const gpu = pci.find((d) => d.primaryGpu) ?? pci.find((d) => d.gpu);
    const rom = specRomFile(
      options.romfile,
      gpu ?? null,
      (a) => byAddress.get(a)?.romBarBytes ?? null,
    );
    if (gpu) gpu.romfile = rom.romfile;
    warnings.push(...rom.warnings);
  }

  refusals.push(...isolationRefusals(state, pci, byAddress));
  for (const d of pci) {
    const critical = state.hostCritical.filter((h) =>
      d.functions.some((f) => f.address === h.controller),
    );
    for (const c of critical) {
      refusals.push(
        `${c.controller} carries the host's ${c.role === "root-filesystem" ? "root filesystem" : "default route"} (${c.via}); passing it would cut the host off — pick another device`,
      );
    }
  }

  for (const d of pci) {
    const devs = d.functions.map((f) => byAddress.get(f.address)!);
    if (devs.some((x) => x.bootVga === true)) {
      warnings.push(
        `${d.host} is the host's boot display: the host's console goes dark while the VM has it; manage the host over the network`,
      );
    }
    const noReset = devs.filter((x) => x.resetMethods !== null && x.resetMethods.length === 0);
    if (noReset.length > 0) {
      warnings.push(
        `${noReset.map((x) => x.address).join(", ")} ${noReset.length === 1 ? "has" : "have"} no reset method the kernel can use: after the VM stops, the device may not work again until the host reboots (the "reset bug")`,
      );
    }
  }

  // Unprepared host: a function still on a host driver, with no applied plan that binds it.
  const unprepared: string[] = [];
  const assumed: string[] = [];
  for (const d of pci) {
    for (const f of d.functions) {
      const dev = byAddress.get(f.address)!;
      if (dev.driver !== null && VFIO_DRIVERS.has(dev.driver)) continue;
      if (prep.journaled[f.address]) continue;
      if (dev.driver === null && input.driversUnknown) assumed.push(f.address);
      else unprepared.push(`${f.address} (${dev.driver ?? "no driver"})`);
    }
  }
  if (assumed.length > 0)
    warnings.push(
      `${assumed.join(", ")}: which driver ${host} binds is not visible from here; assumed vfio-pci (if not, the VM start unbinds the host driver, which some GPUs do not survive)`,
    );
  if (unprepared.length > 0) {
    const slots = [...new Set(pci.map((d) => d.host))].join(" --device ");
    const what = `${unprepared.join(", ")} ${unprepared.length === 1 ? "is" : "are"} not on vfio-pci and no applied host plan binds ${unprepared.length === 1 ? "it" : "them"}`;
    if (options.force)
      warnings.push(
        `${what}; going ahead (--force): the host driver is unbound at VM start, which some devices (GPUs especially) do not survive`,
      );
    else
      refusals.push(
        `${what}: prepare the host first (\`passthrough plan --device ${slots}\`, \`passthrough apply\`, reboot, \`passthrough verify\`), or pass --force to let the VM start rebind it`,
      );
  }

  // USB devices by vendor:product id.
  const usb: SpecUsbDevice[] = [];
  for (const arg of options.usb) {
    const { vendorId, productId } = parseUsbArg(arg);
    if (usb.some((u) => u.vendorId === vendorId && u.productId === productId)) continue;
    const seen = state.usb.filter(
      (u) => u.vendorId.toLowerCase() === vendorId && u.productId.toLowerCase() === productId,
    );
    const first = seen[0];
    const name = first
      ? [first.manufacturer, first.product].filter(Boolean).join(" ") || null
      : null;
    usb.push({ vendorId, productId, name, connected: seen.length > 0 });
    if (seen.length === 0) {
      const msg = `USB ${vendorId}:${productId} is not plugged into ${host}`;
      if (options.force)
        warnings.push(`${msg}; configured anyway (--force), it is passed when plugged in`);
      else
        refusals.push(
          `${msg}: plug it in or check the id with \`passthrough list --usb\` (--force configures it anyway)`,
        );
    } else if (seen.length > 1) {
      warnings.push(
        `USB ${vendorId}:${productId}: ${seen.length} identical devices are plugged in (${seen.map((s) => s.name).join(", ")}); the VM gets the first one QEMU finds`,
      );
    }
    if (first?.isHub)
      warnings.push(
        `USB ${vendorId}:${productId} is a hub: passing a hub by id does not pass the devices behind it; pass each device, or the whole USB controller with --device`,
      );
    const passedController = first?.controller
      ? pci.find((d) => d.functions.some((f) => f.address === first.controller))
      : undefined;
    if (passedController)
      warnings.push(
        `USB ${vendorId}:${productId} sits on ${first!.controller}, which is passed whole already; the --usb entry is not needed`,
      );
  }

  if (options.virtioIso && options.os !== "windows")
    throw new InputError(
      `--virtio-iso ${JSON.stringify(options.virtioIso)}: the VirtIO drivers ISO is for Windows guests; add --os windows`,
    );
  if (options.os === "windows" && !options.virtioIso && input.create)
    warnings.push(
      "Windows setup does not see a VirtIO SCSI disk or NIC without the virtio-win drivers: give --virtio-iso STORAGE:iso/virtio-win.iso",
    );

  const gpuPassed = pci.some((d) => d.gpu);
  const headless = gpuPassed && !options.keepDisplay;
  const memoryMiB = input.create?.memoryMiB ?? input.guestMemoryMiB;
  if (memoryMiB !== null && input.memory !== null && pci.length > 0) {
    const availMiB = Math.floor(input.memory.availableKiB / 1024);
    if (memoryMiB > availMiB) {
      warnings.push(
        `the VM has ${memoryMiB} MiB of memory but ${host} has ${availMiB} MiB available (MemAvailable, ${input.memory.source}); with a passed-through device all guest RAM is pinned at start, so the start fails or the host runs out of memory — lower the VM's memory or stop other guests`,
      );
    }
  }

  const spec: VmSpec = {
    vmid: options.vmid,
    machine:
      (options.pcie && pci.length > 0) || input.create !== null || options.os === "windows"
        ? "q35"
        : null,
    convertQ35: options.convertQ35,
    firmware: {
      type: "ovmf",
      efiDisk: {
        storage: options.efidisk,
        efitype: "4m",
        preEnrolledKeys: options.preEnrolledKeys,
      },
    },
    cpu: { type: "host", hidden: options.hidden, hvVendorId: options.hvVendorId },
    balloon: false,
    onboot: options.onboot,
    headless,
    pci,
    usb,
    memoryMiB,
    create: input.create,
    windows: options.os === "windows" ? { virtioIso: options.virtioIso ?? null } : null,
  };
  return { spec, refusals, warnings };
}

function specFunction(d: PciDevice): SpecPciFunction {
  return {
    address: d.address,
    vendorId: d.vendorId,
    deviceId: d.deviceId,
    classCode: d.classCode,
    subsystemVendorId: d.subsystem?.vendorId ?? null,
    subsystemDeviceId: d.subsystem?.deviceId ?? null,
  };
}

/**
 * Isolation as `check` judges it (src/checks/candidates.ts): every non-bridge device in the
 * IOMMU groups of the chosen functions must be chosen too, since vfio can only hand a whole
 * group to one VM ("group N is not viable" otherwise).
 */
function isolationRefusals(
  state: HostState,
  pci: SpecPciDevice[],
  byAddress: Map<string, PciDevice>,
): string[] {
  if (pci.length === 0) return [];
  if (!state.iommu.enabled) {
    return [
      "the IOMMU is off on this host, so no device can be passed through: run `passthrough check` for the firmware setting and kernel parameters to change",
    ];
  }
  const out: string[] = [];
  const chosen = new Set(pci.flatMap((d) => d.functions.map((f) => f.address)));
  for (const d of pci) {
    const ungrouped = d.functions.filter((f) => byAddress.get(f.address)!.iommuGroup === null);
    if (ungrouped.length > 0) {
      out.push(
        `${ungrouped.map((f) => f.address).join(", ")} is in no IOMMU group; run \`passthrough check\` to see why`,
      );
      continue;
    }
    const groups = [...new Set(d.functions.map((f) => byAddress.get(f.address)!.iommuGroup!))];
    const mates: string[] = [];
    for (const g of groups) {
      for (const a of state.iommu.groups.find((x) => x.id === g)?.devices ?? []) {
        const dev = byAddress.get(a);
        if (chosen.has(a) || dev?.isBridge || mates.includes(a)) continue;
        mates.push(a);
      }
    }
    if (mates.length === 0) continue;
    const sameSlot = mates.filter((m) => slotOf(m) === slotOf(d.host));
    const fix =
      sameSlot.length === mates.length
        ? `pass the whole slot (--device ${slotOf(d.host)})`
        : `pass ${mates.length === 1 ? "it" : "them"} too (--device ${mates.join(" --device ")}) if the VM may have ${mates.length === 1 ? "it" : "them"}, or move the card to a slot with its own group; \`passthrough check\` explains`;
    out.push(
      `${d.host} is not isolated: IOMMU group ${groups.join(", ")} also holds ${mates.join(", ")}; ${fix}`,
    );
  }
  return out;
}

/** One line per reason, for RefusedError messages. */
export function refusalMessage(what: string, refusals: string[]): string {
  return `refusing to ${what} (nothing was changed):\n${refusals.map((r) => `  - ${r}`).join("\n")}`;
}
