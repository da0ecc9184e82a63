// `passthrough snapshot`: freeze what discovery reads from a host into the snapshot format
// (docs/snapshot-format.md), read-only and safe on a running machine.
//
// - Only allow-listed regular attribute files are read (never `rom`, the `resourceN` BAR
//   files, `remove`, `reset`, `rescan`, `new_id`, `bind` ...), only files whose permission
//   bits allow reading (write-only attributes are never opened), and nothing is written
//   anywhere but the output archive (assembled in memory, see archive-writer.ts).
// - sysfs attribute bytes are kept exactly as read; sysfs links are kept as links (their
//   readlink text), and the folders they point to are captured where the layout needs them.
//   Configuration files (etc/, lib/modprobe.d, boot/loader/entries) are stored with their
//   contents: a link there (etc/os-release -> ../usr/lib/os-release) is followed, because
//   readers want the text and an absolute target would point outside the snapshot.
// - Every read goes through IsolatedReader: a child process with a watchdog, so a hung
//   device attribute or a stuck FUSE mount costs one timeout, not the whole capture.
// - The same code captures any folder laid out like a host (`sourceDir`), so tests capture
//   fixture trees; for those, command output is copied from the tree's cmd/ instead of
//   running commands on the machine doing the capture.

import { PCI_IDS_PATHS } from "../read-host.js";
import { CAPTURED_COMMANDS, runCapturedCommand, type CapturedCommand } from "../commands.js";
import { MODPROBE_DIRS } from "../../formats/modprobe-conf.js";
import { MODULES_LOAD_DIRS } from "../modules.js";
import { isPassthroughUdevRule } from "../config-files.js";
import { pciIdsSubset } from "../../formats/pci-ids.js";
import {
  GRUB_CFG_FILES,
  GRUBENV_FILES,
  LOADER_CONF_FILES,
  LOADER_ENTRY_DIRS,
  LOADER_ENTRY_VARIABLES,
} from "../boot-menu.js";
import { filterModulesAlias } from "../pci/modules-alias.js";
import type { SnapshotManifest } from "../open-root.js";
import { SnapshotEntries } from "./entries.js";
import { IsolatedReader, type ScannedEntry } from "./isolated-reader.js";
import * as path from "node:path";

/** Programs whose presence discovery and the other commands ask about (HostRoot.hasTool). */
export const TRACKED_TOOLS = [
  "bootctl",
  "booster",
  "depmod",
  "dmesg",
  "dracut",
  "driverctl",
  "efibootmgr",
  "grub-install",
  "grub-mkconfig",
  "grub2-install",
  "grub2-mkconfig",
  "grubby",
  "journalctl",
  "kernel-install",
  "kernelstub",
  "kvm",
  "lspci",
  "lsusb",
  "mkinitcpio",
  "modprobe",
  "newgidmap",
  "nvidia-smi",
  "pct",
  "proxmox-boot-tool",
  "pvecm",
  "pvesh",
  "pveversion",
  "qemu-system-x86_64",
  "qm",
  "sshd",
  "systemctl",
  "tailscale",
  "uname",
  "update-grub",
  "update-initramfs",
  "virsh",
  "virt-install",
  "zpool",
];

const TOOL_DIRS = ["usr/sbin", "usr/bin", "sbin", "bin", "usr/local/sbin", "usr/local/bin"];

/** A sysfs attribute is at most a page; `config` is 4096 bytes; a little headroom. */
const SYSFS_MAX = 64 * 1024;
const TEXT_MAX = 4 * 1024 * 1024;
const BIG_MAX = 64 * 1024 * 1024;

type NamePredicate = (name: string) => boolean;

interface FolderSpec {
  files?: NamePredicate;
  links?: NamePredicate;
  /** Subfolders to capture, each with its own spec (null: leave it out). */
  dirs?: (name: string) => FolderSpec | null;
}

const oneOf = (...names: string[]): NamePredicate => {
  const set = new Set(names);
  return (n) => set.has(n);
};
const all: NamePredicate = () => true;

/**
 * One PCI function. Everything discovery and `lspci -A linux-sysfs` read; deliberately not
 * `rom` (reading it enables the ROM BAR), `resource0..5[_wc]` (BAR memory), `remove`,
 * `reset`, `rescan`, `bind`/`unbind`, `new_id`/`remove_id` (write-only actions).
 */
const PCI_FILES = oneOf(
  "uevent",
  "vendor",
  "device",
  "subsystem_vendor",
  "subsystem_device",
  "class",
  "revision",
  "config",
  "modalias",
  "boot_vga",
  "numa_node",
  "reset_method",
  "driver_override",
  "enable",
  "irq",
  "power_state",
  "local_cpulist",
  "current_link_speed",
  "max_link_speed",
  "current_link_width",
  "max_link_width",
  "resource",
  "label",
  "acpi_index",
  "sriov_totalvfs",
  "sriov_numvfs",
  "sriov_offset",
  "sriov_stride",
  "sriov_vf_device",
  "d3cold_allowed",
  "ari_enabled",
);
const PCI_SPEC: FolderSpec = {
  files: PCI_FILES,
  links: (n) => n === "driver" || n === "iommu_group" || n === "physfn" || /^virtfn\d+$/.test(n),
  // A bridge's pci_bus/DDDD:BB names the bus behind it (kept as an empty folder); a GPU's
  // drm/card* and renderD* hold the MAJOR:MINOR of its device nodes (host/device-nodes.ts).
  dirs: (n) =>
    n === "pci_bus"
      ? { dirs: () => ({}) }
      : n === "drm"
        ? { dirs: (d) => (/^(card|renderD)\d+$/.test(d) ? { files: oneOf("dev") } : null) }
        : null,
};

const USB_DEVICE_SPEC: FolderSpec = {
  files: oneOf(
    "idVendor",
    "idProduct",
    "bcdDevice",
    "manufacturer",
    "product",
    "serial",
    "busnum",
    "devnum",
    "devpath",
    "speed",
    "version",
    "bDeviceClass",
    "bDeviceSubClass",
    "bDeviceProtocol",
    "bNumInterfaces",
    "bNumConfigurations",
    "bConfigurationValue",
    "bMaxPower",
    "maxchild",
    "removable",
  ),
  links: oneOf("driver"),
};
const USB_INTERFACE_SPEC: FolderSpec = {
  files: oneOf(
    "bInterfaceClass",
    "bInterfaceSubClass",
    "bInterfaceProtocol",
    "bInterfaceNumber",
    "bAlternateSetting",
    "bNumEndpoints",
    "modalias",
    "interface",
  ),
  links: oneOf("driver"),
};
const BLOCK_SPEC: FolderSpec = {
  files: oneOf("size", "partition", "ro", "removable", "dev"),
  links: oneOf("device"),
  dirs: (n) =>
    n === "dm"
      ? { files: oneOf("name") }
      : n === "slaves" || n === "holders"
        ? { links: all }
        : null,
};
const NVME_SPEC: FolderSpec = {
  files: oneOf("model", "serial", "firmware_rev", "transport", "address"),
};
const NET_SPEC: FolderSpec = {
  files: oneOf("address", "operstate", "type", "mtu", "ifindex"),
  links: (n) =>
    n === "device" || n === "master" || n.startsWith("lower_") || n.startsWith("upper_"),
  dirs: (n) =>
    n === "brif"
      ? { links: all }
      : n === "bonding"
        ? { files: oneOf("slaves", "mode") }
        : n === "brport"
          ? {}
          : null,
};
/** DMI identity; the serial and asset-tag files are readable by root only and removed by --redact. */
export const DMI_SERIAL_FILES = [
  "product_serial",
  "board_serial",
  "chassis_serial",
  "product_uuid",
  "board_asset_tag",
  "chassis_asset_tag",
];
const DMI_SPEC: FolderSpec = {
  files: oneOf(
    "sys_vendor",
    "product_name",
    "product_version",
    "product_family",
    "product_sku",
    "board_vendor",
    "board_name",
    "board_version",
    "bios_vendor",
    "bios_version",
    "bios_date",
    "bios_release",
    "chassis_vendor",
    "chassis_type",
    "chassis_version",
    ...DMI_SERIAL_FILES,
  ),
};
const PARAM_SPEC: FolderSpec = { dirs: (n) => (n === "parameters" ? { files: all } : null) };

/** Module parameters captured whatever drivers are bound (what discovery reads live). */
const PARAM_MODULES = [
  "vfio",
  "vfio_pci",
  "vfio_pci_core",
  "vfio_iommu_type1",
  "vfio_virqfd",
  "kvm",
  "kvm_amd",
  "kvm_intel",
];

const PROC_FILES = [
  "proc/cmdline",
  "proc/cpuinfo",
  "proc/modules",
  "proc/version",
  "proc/mounts",
  "proc/iomem",
  "proc/net/route",
  "proc/sys/kernel/osrelease",
  "proc/sys/kernel/hostname",
  // Character majors of nvidia-uvm, nvidia-caps and kfd (host/device-nodes.ts).
  "proc/devices",
];

/** Single configuration files (docs/snapshot-format.md, src/host/*). */
const CONFIG_FILES = [
  "etc/os-release",
  "usr/lib/os-release",
  "etc/hostname",
  "etc/default/grub",
  "etc/kernel/cmdline",
  "etc/kernel/proxmox-boot-uuids",
  "etc/kernelstub/configuration",
  "etc/modules",
  "etc/initramfs-tools/modules",
  "etc/initramfs-tools/initramfs.conf",
  "etc/dracut.conf",
  "etc/mkinitcpio.conf",
  "etc/booster.yaml",
  "etc/pve/mapping/pci.cfg",
  "etc/pve/mapping/usb.cfg",
  // Which entry the next boot starts (src/host/boot-menu.ts).
  ...GRUB_CFG_FILES,
  ...GRUBENV_FILES,
  ...LOADER_CONF_FILES,
];

/** Folders whose regular files are all configuration (one level deep). */
const CONFIG_DIRS = [
  "etc/default/grub.d",
  ...MODPROBE_DIRS,
  ...MODULES_LOAD_DIRS,
  "etc/initramfs-tools/conf.d",
  "etc/dracut.conf.d",
  "etc/mkinitcpio.conf.d",
  ...LOADER_ENTRY_DIRS,
  "etc/initramfs-tools/scripts/init-top",
  "etc/udev/rules.d",
];

/**
 * Which files of a configuration folder to keep. udev rules: only those that bind drivers or
 * set a reset method (what src/host/config-files.ts reads); others, like 70-persistent-net.rules, hold MAC
 * addresses and say nothing about passthrough.
 */
function wantedConfig(dir: string, name: string): boolean {
  if (dir === "etc/udev/rules.d") return isPassthroughUdevRule(name);
  return true;
}

/** grub.cfg keeps the menu; `password`/`password_pbkdf2` lines (GRUB manual "Security") lose their secret. */
export function withoutGrubPasswords(text: string): string {
  return text.replace(
    /^(\s*password(?:_pbkdf2)?\s+\S+\s+)\S+/gm,
    "$1(removed by passthrough snapshot)",
  );
}

export interface CaptureOptions {
  /** Tool version for the manifest. */
  version: string;
  /** "run": run the allow-listed commands (the live host); "copy": copy the source's cmd/ files. Default: run for "/", else copy. */
  commands?: "run" | "copy";
  /** Per-read timeout (ms). */
  readTimeoutMs?: number;
  now?: Date;
  /** Whether the capture runs as root (config space beyond 64 bytes, DMI serials). Default: process uid. */
  asRoot?: boolean;
}

export interface Skipped {
  path: string;
  reason: string;
}

/** manifest.json of a captured snapshot (the fields open-root.ts reads, and more for people). */
export interface CapturedManifest extends SnapshotManifest {
  tool: string;
  version: string;
  capturedAt: string;
  redacted: string[];
  tools: string[];
  notes: string[];
  /** Config space beyond 64 bytes and root-only attributes need root. */
  capturedAsRoot: boolean;
  /** Files that exist but could not be read (timeouts, permissions), with the reason. */
  skipped: Skipped[];
}

export interface CapturedSnapshot {
  entries: SnapshotEntries;
  manifest: CapturedManifest;
  /** The host's name as read (etc/hostname, else proc/sys/kernel/hostname). */
  hostname: string | null;
}

const REASONS: Record<string, string> = {
  ETIMEDOUT: "read timed out",
  ESKIPPED: "skipped: another file in this folder timed out",
  EACCES: "permission denied",
  EPERM: "permission denied",
  EESCAPE: "link points outside the source folder",
  EIO: "I/O error",
  EINVAL: "not readable in the device's current state",
  ENODEV: "device not present",
  ENXIO: "device not present",
  EWORKER: "reader process failed",
};

export async function captureSnapshot(
  sourceDir: string,
  options: CaptureOptions,
): Promise<CapturedSnapshot> {
  const c = new Capturer(path.resolve(sourceDir), options);
  try {
    return await c.run();
  } finally {
    c.reader.close();
  }
}

class Capturer {
  readonly reader: IsolatedReader;
  readonly entries = new SnapshotEntries();
  private readonly skipped: Skipped[] = [];
  private readonly notes: string[] = [];
  private readonly visited = new Set<string>();
  private readonly scans = new Map<string, Promise<ScannedEntry[] | null>>();

  constructor(
    readonly source: string,
    readonly options: CaptureOptions,
  ) {
    this.reader = new IsolatedReader(source, { timeoutMs: options.readTimeoutMs });
  }

  async run(): Promise<CapturedSnapshot> {
    const asRoot = this.options.asRoot ?? process.getuid?.() === 0;
    await Promise.all(PROC_FILES.map((f) => this.file(f, TEXT_MAX)));
    await this.pci();
    await Promise.all([
      this.iommu(),
      this.usb(),
      this.block(),
      this.net(),
      this.firmware(),
      this.pciDrivers(),
    ]);
    await this.modules();
    await Promise.all([this.config(), this.proxmox(), this.diskIds(), this.gpuNodes()]);
    const release = this.entries.text("proc/sys/kernel/osrelease")?.trim() ?? null;
    await this.kernelModules(release);
    await this.installedKernels();
    await this.pciIds();
    const tools = await this.tools();
    await this.commands(tools);

    const hostname =
      (
        this.entries.text("etc/hostname") ?? this.entries.text("proc/sys/kernel/hostname")
      )?.trim() || null;
    if (!asRoot && this.source === "/") {
      this.notes.push(
        "captured without root: PCI config space is cut to 64 bytes (no capabilities), DMI serials and some attributes are unreadable",
      );
    }
    for (const p of this.reader.timedOut)
      this.notes.push(
        `${p}: read timed out after ${this.options.readTimeoutMs ?? 2000} ms; the rest of its folder was skipped`,
      );
    const manifest: CapturedManifest = {
      tool: "passthrough",
      version: this.options.version,
      capturedAt: (this.options.now ?? new Date()).toISOString(),
      hostname: hostname ?? undefined,
      capturedAsRoot: asRoot,
      redacted: [],
      tools,
      notes: this.notes,
      skipped: this.skipped.sort((a, b) => (a.path < b.path ? -1 : 1)),
    };
    return { entries: this.entries, manifest, hostname };
  }

  // --- primitives -------------------------------------------------------------------------

  private skip(rel: string, code: string): void {
    if (code === "ENOENT" || code === "ENOTDIR") return; // absent is not a problem: readers say "unknown"
    this.skipped.push({ path: rel, reason: REASONS[code] ?? code });
  }

  /** Read a file's bytes (following links) and store them at `rel`. */
  private async file(rel: string, max = SYSFS_MAX): Promise<Buffer | null> {
    const r = await this.reader.read(rel, max);
    if (!r.ok) {
      this.skip(rel, r.code);
      return null;
    }
    this.entries.file(rel, r.data);
    return r.data;
  }

  private scan(rel: string): Promise<ScannedEntry[] | null> {
    let p = this.scans.get(rel);
    if (!p) {
      p = this.reader.scan(rel).then((r) => {
        if (r.ok) return r.entries.sort((a, b) => (a.name < b.name ? -1 : 1));
        this.skip(rel, r.code);
        return null;
      });
      this.scans.set(rel, p);
    }
    return p;
  }

  /** Store a link as its readlink text. */
  private link(rel: string, target: string): void {
    this.entries.link(rel, target);
  }

  /** Where a relative sysfs link points, root-relative; null when it leaves the root. */
  private target(rel: string, linkText: string): string | null {
    if (linkText.startsWith("/")) return null;
    const t = path.posix.normalize(path.posix.join(path.posix.dirname(rel), linkText));
    return t === ".." || t.startsWith("../") ? null : t;
  }

  /** Capture a sysfs folder by its spec. */
  private async folder(rel: string, spec: FolderSpec): Promise<void> {
    if (this.visited.has(rel)) return;
    this.visited.add(rel);
    const entries = await this.scan(rel);
    if (entries === null) return;
    this.entries.dir(rel);
    await Promise.all(
      entries.map(async (e) => {
        const p = `${rel}/${e.name}`;
        if (e.kind === "file" && spec.files?.(e.name)) {
          // Write-only attributes (mode 0200: remove, reset, bind ...) are never opened.
          if ((e.mode & 0o444) !== 0) await this.file(p);
        } else if (e.kind === "link" && spec.links?.(e.name) && e.target !== undefined) {
          this.link(p, e.target);
        } else if (e.kind === "dir" && spec.dirs) {
          const sub = spec.dirs(e.name);
          if (sub) await this.folder(p, sub);
        }
      }),
    );
  }

  /**
   * A class/bus folder of links (sys/class/net, sys/bus/usb/devices ...): keep every link and
   * capture the folder each points to with the spec `specFor` gives.
   */
  private async linkFolder(
    rel: string,
    specFor: (name: string) => FolderSpec | null,
    filter: NamePredicate = all,
  ): Promise<string[]> {
    const entries = await this.scan(rel);
    if (entries === null) return [];
    this.entries.dir(rel);
    const names: string[] = [];
    await Promise.all(
      entries.map(async (e) => {
        if (!filter(e.name)) return;
        const p = `${rel}/${e.name}`;
        const spec = specFor(e.name);
        if (e.kind === "link" && e.target !== undefined) {
          this.link(p, e.target);
          names.push(e.name);
          const t = this.target(p, e.target);
          if (t && spec) await this.folder(t, spec);
        } else if (e.kind === "dir" && spec) {
          names.push(e.name);
          await this.folder(p, spec);
        }
      }),
    );
    return names.sort();
  }

  // --- sysfs ------------------------------------------------------------------------------

  private pciDirs = new Map<string, string>();

  private async pci(): Promise<void> {
    const entries = await this.scan("sys/bus/pci/devices");
    if (entries === null) return;
    this.entries.dir("sys/bus/pci/devices");
    await Promise.all(
      entries.map(async (e) => {
        if (e.kind !== "link" || e.target === undefined) return;
        const p = `sys/bus/pci/devices/${e.name}`;
        this.link(p, e.target);
        const t = this.target(p, e.target);
        if (!t) return;
        this.pciDirs.set(e.name, t);
        await this.folder(t, PCI_SPEC);
      }),
    );
    // Physical slot names (lspci -v "Physical Slot").
    const slots = await this.scan("sys/bus/pci/slots");
    if (slots !== null) this.entries.dir("sys/bus/pci/slots");
    await Promise.all(
      (slots ?? [])
        .filter((s) => s.kind === "dir")
        .map((s) => this.folder(`sys/bus/pci/slots/${s.name}`, { files: oneOf("address") })),
    );
  }

  private moduleNames = new Set<string>();

  private async pciDrivers(): Promise<void> {
    const drivers = await this.scan("sys/bus/pci/drivers");
    if (drivers === null) return;
    this.entries.dir("sys/bus/pci/drivers");
    await Promise.all(
      drivers
        .filter((d) => d.kind === "dir")
        .map(async (d) => {
          const dir = `sys/bus/pci/drivers/${d.name}`;
          this.entries.dir(dir);
          for (const e of (await this.scan(dir)) ?? []) {
            if (e.kind !== "link" || e.target === undefined) continue;
            if (e.name === "module" || this.pciDirs.has(e.name))
              this.link(`${dir}/${e.name}`, e.target);
            if (e.name === "module") {
              const t = this.target(`${dir}/module`, e.target);
              if (t?.startsWith("sys/module/")) this.moduleNames.add(t.slice("sys/module/".length));
            }
          }
        }),
    );
  }

  private async modules(): Promise<void> {
    const names = new Set([...PARAM_MODULES, ...this.moduleNames]);
    await Promise.all(
      [...names].sort().map(async (m) => {
        const dir = `sys/module/${m}`;
        if ((await this.scan(dir)) === null) return;
        await this.folder(dir, PARAM_SPEC);
      }),
    );
  }

  private async iommu(): Promise<void> {
    const groups = await this.scan("sys/kernel/iommu_groups");
    if (groups !== null) {
      this.entries.dir("sys/kernel/iommu_groups");
      await Promise.all(
        groups.map((g) =>
          this.folder(`sys/kernel/iommu_groups/${g.name}`, {
            files: oneOf("type", "reserved_regions"),
            dirs: (n) => (n === "devices" ? { links: all } : null),
          }),
        ),
      );
    }
    // Units: the links are what discovery lists; their targets are kept as (empty) folders.
    await this.linkFolder("sys/class/iommu", () => ({}));
  }

  private async usb(): Promise<void> {
    await this.linkFolder("sys/bus/usb/devices", (name) =>
      name.includes(":") ? USB_INTERFACE_SPEC : USB_DEVICE_SPEC,
    );
  }

  private async block(): Promise<void> {
    await this.linkFolder("sys/block", () => BLOCK_SPEC);
    await this.linkFolder("sys/class/block", () => BLOCK_SPEC);
    await this.linkFolder("sys/class/nvme", () => NVME_SPEC);
  }

  private async net(): Promise<void> {
    await this.linkFolder("sys/class/net", () => NET_SPEC);
  }

  private async firmware(): Promise<void> {
    // DMI: sys/class/dmi/id is a link into sys/devices/virtual/dmi/id on most kernels.
    await this.linkFolder(
      "sys/class/dmi",
      () => DMI_SPEC,
      (n) => n === "id",
    );
    if ((await this.scan("sys/firmware/efi")) !== null) {
      this.entries.dir("sys/firmware/efi");
      await this.file("sys/firmware/efi/fw_platform_size");
      // Only the variables discovery reads: which loader booted (systemd-boot's LoaderInfo),
      // Secure Boot, and systemd-boot's choice of the next entry.
      const wanted = new RegExp(
        `^(LoaderInfo|SecureBoot|${LOADER_ENTRY_VARIABLES.join("|")})-[0-9a-f-]+$`,
      );
      await this.folder("sys/firmware/efi/efivars", {
        files: (n) => wanted.test(n),
      });
    }
  }

  // --- configuration ------------------------------------------------------------------------

  private async config(): Promise<void> {
    await Promise.all(CONFIG_FILES.map((f) => this.file(f, TEXT_MAX)));
    for (const cfg of GRUB_CFG_FILES) {
      const text = this.entries.text(cfg);
      if (text !== null) this.entries.file(cfg, withoutGrubPasswords(text));
    }
    await Promise.all(
      CONFIG_DIRS.map(async (dir) => {
        const entries = await this.scan(dir);
        if (entries === null) return;
        this.entries.dir(dir);
        await Promise.all(
          entries
            .filter(
              (e) =>
                (e.kind === "file" || (e.kind === "link" && e.targetKind === "file")) &&
                wantedConfig(dir, e.name),
            )
            .map((e) => this.file(`${dir}/${e.name}`, TEXT_MAX)),
        );
      }),
    );
  }

  private async proxmox(): Promise<void> {
    // Marker discovery uses to recognise a Proxmox VE node even without pveversion output.
    if ((await this.scan("usr/share/perl5/PVE")) !== null) this.entries.dir("usr/share/perl5/PVE");
    const pve = await this.scan("etc/pve");
    if (pve === null) return;
    this.entries.dir("etc/pve");
    for (const e of pve) {
      // etc/pve/local -> nodes/NAME, etc/pve/qemu-server -> nodes/NAME/qemu-server (pmxcfs makes them relative).
      if (
        (e.name === "local" || e.name === "qemu-server" || e.name === "lxc") &&
        e.kind === "link" &&
        e.target !== undefined &&
        this.target(`etc/pve/${e.name}`, e.target)
      ) {
        this.link(`etc/pve/${e.name}`, e.target);
      }
    }
    for (const node of (await this.scan("etc/pve/nodes")) ?? []) {
      if (node.kind !== "dir") continue;
      // VM configs, and container configs for `ct plan`.
      for (const kind of ["qemu-server", "lxc"]) {
        const dir = `etc/pve/nodes/${node.name}/${kind}`;
        const listing = await this.scan(dir);
        if (listing === null) continue;
        this.entries.dir(dir);
        const confs = listing.filter((e) => e.kind === "file" && /^\d+\.conf$/.test(e.name));
        await Promise.all(confs.map((e) => this.file(`${dir}/${e.name}`, TEXT_MAX)));
      }
    }
  }

  /**
   * What host/device-nodes.ts reads besides the PCI folders: NVIDIA's per-GPU information
   * (its Device Minor), the kfd class device, and which GPU device nodes exist, each as an
   * empty placeholder file (a snapshot cannot hold device nodes).
   */
  private async gpuNodes(): Promise<void> {
    for (const gpu of (await this.scan("proc/driver/nvidia/gpus")) ?? [])
      await this.file(`proc/driver/nvidia/gpus/${gpu.name}/information`, TEXT_MAX);
    await this.linkFolder("sys/class/kfd", () => ({ files: oneOf("dev") }));
    const isNode = (dir: string, n: string) =>
      dir === "dev"
        ? /^(nvidia(\d+|ctl|-uvm|-uvm-tools|-modeset)|kfd)$/.test(n)
        : /^(card|renderD)\d+$|^nvidia-cap\d+$/.test(n);
    for (const dir of ["dev", "dev/dri", "dev/nvidia-caps"]) {
      for (const e of (await this.scan(dir)) ?? []) {
        if (e.kind === "dir" || e.kind === "link" || !isNode(dir, e.name)) continue;
        this.entries.file(`${dir}/${e.name}`, "");
      }
    }
  }

  /**
   * dev/disk/by-id links (`zpool status -P` names disks by them). Their targets are device
   * nodes, which a snapshot cannot hold: an empty file dev/NAME stands in for each, so the
   * links resolve inside the snapshot as they do on the host.
   */
  private async diskIds(): Promise<void> {
    const entries = await this.scan("dev/disk/by-id");
    if (entries === null) return;
    this.entries.dir("dev/disk/by-id");
    let placeholders = 0;
    for (const e of entries) {
      if (e.kind !== "link" || e.target === undefined) continue;
      const p = `dev/disk/by-id/${e.name}`;
      this.link(p, e.target);
      const t = this.target(p, e.target);
      if (t && /^dev\/[^/]+$/.test(t) && !this.entries.has(t)) {
        this.entries.file(t, "");
        placeholders++;
      }
    }
    if (placeholders)
      this.notes.push(
        `dev/NAME: ${placeholders} empty placeholder file(s) for the block devices dev/disk/by-id links name, so the links resolve`,
      );
  }

  private async kernelModules(release: string | null): Promise<void> {
    if (!release) return;
    let dir: string | null = null;
    for (const base of ["lib/modules", "usr/lib/modules"]) {
      if ((await this.scan(`${base}/${release}`)) !== null) {
        dir = `${base}/${release}`;
        break;
      }
    }
    if (!dir) {
      this.notes.push(
        `lib/modules/${release}: not present; module names come from the running kernel only`,
      );
      return;
    }
    this.entries.dir(dir);
    await this.file(`${dir}/modules.builtin`, TEXT_MAX);
    // The loadable modules: modules.order, or modules.dep where a distribution ships no order file.
    if ((await this.file(`${dir}/modules.order`, TEXT_MAX)) === null)
      await this.file(`${dir}/modules.dep`, TEXT_MAX);
    const r = await this.reader.read(`${dir}/modules.alias`, BIG_MAX);
    if (!r.ok) {
      this.skip(`${dir}/modules.alias`, r.code);
      return;
    }
    const modaliases: string[] = [];
    for (const [p, e] of this.entries) {
      if (e.type === "file" && p.endsWith("/modalias"))
        modaliases.push(e.data.toString("utf8").trim());
    }
    const f = filterModulesAlias(r.data.toString("utf8"), modaliases);
    this.entries.file(`${dir}/modules.alias`, f.text);
    this.notes.push(
      `${dir}/modules.alias: ${f.kept} of ${f.total} aliases kept (those matching the present PCI and USB devices)`,
    );
  }

  /**
   * Every installed kernel's folder and its out-of-tree module files (host/kernels.ts), and
   * DKMS's build folders: names only. A module file is kept as an empty placeholder: what
   * `check` asks is whether it is there, and its bytes are megabytes of no use to a reader.
   */
  private async installedKernels(): Promise<void> {
    let placeholders = 0;
    for (const k of (await this.scan("lib/modules")) ?? []) {
      if (k.kind !== "dir" || !/^\d/.test(k.name)) continue;
      this.entries.dir(`lib/modules/${k.name}`);
      for (const sub of ["updates", "updates/dkms", "extra"])
        placeholders += await this.outOfTreeModules(
          `lib/modules/${k.name}/${sub}`,
          sub === "extra",
        );
    }
    if (placeholders)
      this.notes.push(
        `lib/modules/*/{updates,extra}: ${placeholders} out-of-tree module file(s) kept as empty placeholders (names only)`,
      );
    for (const m of (await this.scan("var/lib/dkms")) ?? []) {
      if (m.kind !== "dir") continue;
      for (const v of (await this.scan(`var/lib/dkms/${m.name}`)) ?? []) {
        if (v.kind !== "dir" || v.name === "source") continue;
        for (const k of (await this.scan(`var/lib/dkms/${m.name}/${v.name}`)) ?? []) {
          if (k.kind !== "dir" || k.name === "source" || k.name === "build") continue;
          for (const a of (await this.scan(`var/lib/dkms/${m.name}/${v.name}/${k.name}`)) ?? [])
            if (a.kind === "dir")
              this.entries.dir(`var/lib/dkms/${m.name}/${v.name}/${k.name}/${a.name}`);
        }
      }
    }
  }

  private async outOfTreeModules(dir: string, deep: boolean): Promise<number> {
    let n = 0;
    for (const e of (await this.scan(dir)) ?? []) {
      if (e.kind === "file" && /\.ko(\.(xz|zst|gz))?$/.test(e.name)) {
        this.entries.file(`${dir}/${e.name}`, "");
        n++;
      } else if (deep && e.kind === "dir")
        n += await this.outOfTreeModules(`${dir}/${e.name}`, false);
    }
    return n;
  }

  private async pciIds(): Promise<void> {
    for (const p of PCI_IDS_PATHS) {
      const r = await this.reader.read(p, BIG_MAX);
      if (!r.ok) continue;
      const hex = (dir: string, attr: string) =>
        /^0x([0-9a-fA-F]+)/
          .exec(this.entries.text(`${dir}/${attr}`) ?? "")?.[1]
          ?.padStart(4, "0")
          .slice(-4) ?? null;
      const wanted = [...this.pciDirs.values()].flatMap((dir) => {
        const vendor = hex(dir, "vendor");
        const device = hex(dir, "device");
        return vendor && device
          ? [
              {
                vendor,
                device,
                subVendor: hex(dir, "subsystem_vendor"),
                subDevice: hex(dir, "subsystem_device"),
              },
            ]
          : [];
      });
      const sub = pciIdsSubset(r.data.toString("utf8"), wanted);
      this.entries.file(p, sub.text);
      this.notes.push(
        `${p}: subset for the present devices (${sub.keptVendors} of ${sub.vendors} vendors, all device classes)`,
      );
      return;
    }
  }

  private async tools(): Promise<string[]> {
    const found = new Set<string>();
    const tracked = new Set(TRACKED_TOOLS);
    for (const dir of TOOL_DIRS) {
      for (const e of (await this.scan(dir)) ?? []) {
        if (
          tracked.has(e.name) &&
          (e.kind === "file" || (e.kind === "link" && e.targetKind === "file"))
        )
          found.add(e.name);
      }
    }
    // A snapshot folder being re-captured keeps the tools its own manifest recorded.
    if (this.source !== "/") {
      const m = await this.reader.read("manifest.json", TEXT_MAX);
      if (m.ok) {
        try {
          const tools = (JSON.parse(m.data.toString("utf8")) as { tools?: unknown }).tools;
          if (Array.isArray(tools)) for (const t of tools) if (typeof t === "string") found.add(t);
        } catch {
          // not JSON: tools come from the folders alone
        }
      }
    }
    return [...found].sort();
  }

  private async commands(tools: string[]): Promise<void> {
    const mode = this.options.commands ?? (this.source === "/" ? "run" : "copy");
    const names = Object.keys(CAPTURED_COMMANDS) as CapturedCommand[];
    if (mode === "copy") {
      for (const e of (await this.scan("cmd")) ?? []) {
        if (e.kind === "file" && (names as string[]).includes(e.name))
          await this.file(`cmd/${e.name}`, BIG_MAX);
      }
      return;
    }
    const installed = new Set(tools);
    for (const name of names) {
      if (CAPTURED_COMMANDS[name].argv.length === 0) {
        this.notes.push(
          `cmd/${name}: never run by passthrough (it changes state); add its output by hand when it matters`,
        );
        continue;
      }
      const r = runCapturedCommand(name, (tool) => installed.has(tool));
      if (r.ok) this.entries.file(`cmd/${name}`, r.value);
      else this.notes.push(`cmd/${name}: not captured (${r.reason})`);
    }
  }
}
