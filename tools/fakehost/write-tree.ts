// Write a FakeHostSpec as a snapshot tree (docs/snapshot-format.md), with the kernel's layout:
//   sys/devices/pci0000:00/0000:00:01.1/0000:01:00.0/{vendor,device,class,config,...}
//   sys/bus/pci/devices/0000:01:00.0 -> ../../../devices/pci0000:00/0000:00:01.1/0000:01:00.0
//   .../0000:01:00.0/driver -> ../../../../bus/pci/drivers/vfio-pci
//   .../0000:01:00.0/iommu_group -> ../../../../kernel/iommu_groups/12

import * as fs from "node:fs";
import * as path from "node:path";
import { buildConfigSpace } from "./config-space.js";
import type { FakeHostSpec, PciFunctionSpec } from "./spec.js";

const SPEED_TEXT: Record<number, string> = {
  1: "2.5 GT/s PCIe",
  2: "5.0 GT/s PCIe",
  3: "8.0 GT/s PCIe",
  4: "16.0 GT/s PCIe",
  5: "32.0 GT/s PCIe",
};

/** Modules whose PCI driver name differs from the module name. */
const DRIVER_MODULE: Record<string, string | null> = {
  "bochs-drm": "bochs",
  xhci_hcd: "xhci_pci",
  "ehci-pci": "ehci_pci",
  ahci: "ahci",
  nvme: "nvme",
  "vfio-pci": "vfio_pci",
  pcieport: null,
  "virtio-pci": "virtio_pci",
  snd_hda_intel: "snd_hda_intel",
  r8169: "r8169",
  igb: "igb",
  ixgbe: "ixgbe",
  ixgbevf: "ixgbevf",
  e1000e: "e1000e",
  piix4_smbus: "i2c_piix4",
  i801_smbus: "i2c_i801",
  k10temp: "k10temp",
  ccp: "ccp",
  "nvidia-gpu": "i2c_nvidia_gpu",
  shpchp: null,
  ast: "ast",
  mgag200: "mgag200",
};

export function driverModuleName(driver: string, explicit?: string | null): string | null {
  if (explicit !== undefined) return explicit;
  if (driver in DRIVER_MODULE) return DRIVER_MODULE[driver]!;
  return driver.replace(/-/g, "_");
}

class TreeWriter {
  constructor(readonly dir: string) {}
  file(rel: string, content: string | Buffer, mode = 0o644): void {
    const p = path.join(this.dir, rel);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.writeFileSync(p, content, { mode });
  }
  mkdir(rel: string): void {
    fs.mkdirSync(path.join(this.dir, rel), { recursive: true });
  }
  /** Relative link at `rel` pointing at root-relative `target`, as sysfs makes them. */
  link(rel: string, target: string): void {
    const p = path.join(this.dir, rel);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    const relTarget = path.posix.relative(path.posix.dirname(rel), target);
    try {
      fs.unlinkSync(p);
    } catch {
      // not there yet
    }
    fs.symlinkSync(relTarget, p);
  }
  rawLink(rel: string, target: string): void {
    const p = path.join(this.dir, rel);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.symlinkSync(target, p);
  }
}

function slot(address: string): string {
  return address.replace(/\.[0-7]$/, "");
}

function busOf(address: string): number {
  return parseInt(address.split(":")[1]!, 16);
}

export function devicePaths(spec: FakeHostSpec): Map<string, string> {
  const byAddr = new Map(spec.pci.map((f) => [f.address, f]));
  const paths = new Map<string, string>();
  const resolve = (f: PciFunctionSpec, depth = 0): string => {
    const known = paths.get(f.address);
    if (known) return known;
    if (depth > 16) throw new Error(`bridge loop at ${f.address}`);
    let p: string;
    if (f.behind) {
      const parent = byAddr.get(f.behind);
      if (!parent)
        throw new Error(`${spec.name}: ${f.address} is behind unknown bridge ${f.behind}`);
      p = `${resolve(parent, depth + 1)}/${f.address}`;
    } else {
      const [dom, bus] = f.address.split(":");
      p = `sys/devices/pci${dom}:${bus}/${f.address}`;
    }
    paths.set(f.address, p);
    return p;
  };
  for (const f of spec.pci) resolve(f);
  return paths;
}

export function writeFakeHost(spec: FakeHostSpec, dir: string): void {
  fs.mkdirSync(dir, { recursive: true });
  const w = new TreeWriter(dir);
  const paths = devicePaths(spec);
  const size = spec.configSize ?? 4096;
  const drivers = new Map<string, string | null>();

  // Indexes instead of scans per function: the benchmark writes hosts with 10 000 functions.
  const bySlot = new Map<string, number>();
  const childrenOf = new Map<string, PciFunctionSpec[]>();
  for (const f of spec.pci) {
    bySlot.set(slot(f.address), (bySlot.get(slot(f.address)) ?? 0) + 1);
    if (f.behind) childrenOf.set(f.behind, [...(childrenOf.get(f.behind) ?? []), f]);
  }
  const maxBusBelow = (addr: string): number =>
    Math.max(busOf(addr), ...(childrenOf.get(addr) ?? []).map((c) => maxBusBelow(c.address)));
  for (const f of spec.pci) {
    const p = paths.get(f.address)!;
    const children = childrenOf.get(f.address) ?? [];
    const secondary = children.length
      ? Math.min(...children.map((c) => busOf(c.address)))
      : undefined;
    const subordinate = children.length
      ? Math.max(...children.map((c) => maxBusBelow(c.address)))
      : undefined;
    w.file(`${p}/vendor`, `0x${f.vendor}\n`);
    w.file(`${p}/device`, `0x${f.device}\n`);
    const isBridge = f.class.startsWith("0604");
    w.file(`${p}/subsystem_vendor`, `0x${isBridge ? "0000" : (f.subVendor ?? f.vendor)}\n`);
    w.file(`${p}/subsystem_device`, `0x${isBridge ? "0000" : (f.subDevice ?? f.device)}\n`);
    w.file(`${p}/class`, `0x${f.class}\n`);
    w.file(`${p}/revision`, `0x${f.revision ?? "00"}\n`);
    w.file(
      `${p}/config`,
      buildConfigSpace(f, {
        multifunction: bySlot.get(slot(f.address))! > 1,
        size,
        secondaryBus: secondary,
        subordinateBus: subordinate,
      }),
    );
    w.file(`${p}/numa_node`, `${f.numaNode ?? -1}\n`);
    w.file(`${p}/enable`, f.driver ? "1\n" : "0\n");
    w.file(`${p}/irq`, "0\n");
    w.file(`${p}/power_state`, `${f.powerState ?? "D0"}\n`);
    w.file(`${p}/driver_override`, `${f.driverOverride ?? "(null)"}\n`);
    w.file(
      `${p}/modalias`,
      `pci:v0000${f.vendor.toUpperCase()}d0000${f.device.toUpperCase()}sv0000${(isBridge ? "0000" : (f.subVendor ?? f.vendor)).toUpperCase()}sd0000${(isBridge ? "0000" : (f.subDevice ?? f.device)).toUpperCase()}bc${f.class.slice(0, 2).toUpperCase()}sc${f.class.slice(2, 4).toUpperCase()}i${f.class.slice(4, 6).toUpperCase()}\n`,
    );
    // pci_uevent(): DRIVER (when bound) from the driver core, then PCI_CLASS as %04X.
    const subV = (isBridge ? "0000" : (f.subVendor ?? f.vendor)).toUpperCase();
    const subD = (isBridge ? "0000" : (f.subDevice ?? f.device)).toUpperCase();
    w.file(
      `${p}/uevent`,
      [
        ...(f.driver ? [`DRIVER=${f.driver}`] : []),
        `PCI_CLASS=${parseInt(f.class, 16).toString(16).toUpperCase().padStart(4, "0")}`,
        `PCI_ID=${f.vendor.toUpperCase()}:${f.device.toUpperCase()}`,
        `PCI_SUBSYS_ID=${subV}:${subD}`,
        `PCI_SLOT_NAME=${f.address}`,
        `MODALIAS=pci:v0000${f.vendor.toUpperCase()}d0000${f.device.toUpperCase()}sv0000${subV}sd0000${subD}bc${f.class.slice(0, 2).toUpperCase()}sc${f.class.slice(2, 4).toUpperCase()}i${f.class.slice(4, 6).toUpperCase()}`,
      ].join("\n") + "\n",
    );
    // The kernel makes boot_vga for VGA-class functions only (pci_is_vga: 0300, or 0001).
    if (f.class.startsWith("0300") || f.class.startsWith("0001"))
      w.file(`${p}/boot_vga`, f.bootVga ? "1\n" : "0\n");
    if (f.resetMethod !== undefined)
      w.file(`${p}/reset_method`, f.resetMethod === "" ? "" : `${f.resetMethod}\n`);
    if (!f.conventional) {
      const pcie = f.pcie ?? { type: "endpoint" as const };
      const ms = pcie.maxSpeed ?? 4;
      const mw = pcie.maxWidth ?? 16;
      w.file(`${p}/max_link_speed`, `${SPEED_TEXT[ms]}\n`);
      w.file(`${p}/max_link_width`, `${mw}\n`);
      w.file(`${p}/current_link_speed`, `${SPEED_TEXT[pcie.curSpeed ?? ms]}\n`);
      w.file(`${p}/current_link_width`, `${pcie.curWidth ?? mw}\n`);
    }
    w.file(`${p}/resource`, resourceText(f));
    if (f.rom) w.file(`${p}/rom`, f.rom, 0o600);
    if (f.d3coldAllowed !== undefined)
      w.file(`${p}/d3cold_allowed`, f.d3coldAllowed ? "1\n" : "0\n");
    if (isBridge)
      w.mkdir(
        `${p}/pci_bus/${f.address.slice(0, 4)}:${(secondary ?? busOf(f.address) + 1).toString(16).padStart(2, "0")}`,
      );
    w.link(`sys/bus/pci/devices/${f.address}`, p);
    if (f.driver) {
      w.link(`${p}/driver`, `sys/bus/pci/drivers/${f.driver}`);
      w.link(`sys/bus/pci/drivers/${f.driver}/${f.address}`, p);
      drivers.set(f.driver, driverModuleName(f.driver, f.module));
    }
    if (f.group !== undefined && spec.iommu) {
      w.link(`${p}/iommu_group`, `sys/kernel/iommu_groups/${f.group}`);
      w.link(`sys/kernel/iommu_groups/${f.group}/devices/${f.address}`, p);
      w.file(`sys/kernel/iommu_groups/${f.group}/type`, `${groupType(spec, f)}\n`);
    }
    if (f.sriov) {
      w.file(`${p}/sriov_totalvfs`, `${f.sriov.totalVfs}\n`);
      w.file(`${p}/sriov_numvfs`, `${f.sriov.vfs.length}\n`);
      f.sriov.vfs.forEach((vf, i) => {
        const vp = paths.get(vf);
        if (vp) w.link(`${p}/virtfn${i}`, vp);
      });
    }
    if (f.physfn) {
      const pp = paths.get(f.physfn);
      if (pp) w.link(`${p}/physfn`, pp);
    }
    for (const ifname of f.net ?? []) {
      w.file(`${p}/net/${ifname}/address`, "02:00:00:00:00:01\n");
      w.file(`${p}/net/${ifname}/operstate`, "up\n");
      w.link(`sys/class/net/${ifname}`, `${p}/net/${ifname}`);
    }
    for (const [disk, parts] of Object.entries(f.disks ?? {})) {
      const base = disk.startsWith("nvme")
        ? `${p}/nvme/${disk.replace(/n\d+$/, "")}/${disk}`
        : `${p}/ata1/host0/target0:0:0/0:0:0:0/block/${disk}`;
      w.file(`${base}/size`, "1000215216\n");
      w.link(`sys/block/${disk}`, base);
      w.link(`sys/class/block/${disk}`, base);
      for (const part of parts) {
        w.file(`${base}/${part}/partition`, `${part.replace(/^.*?(\d+)$/, "$1")}\n`);
        w.link(`sys/class/block/${part}`, `${base}/${part}`);
      }
    }
    if (f.usbBus !== undefined) writeUsbBus(w, spec, `${p}/usb${f.usbBus}`, f.usbBus);
  }

  for (const [drv, mod] of drivers) {
    w.mkdir(`sys/bus/pci/drivers/${drv}`);
    if (mod) {
      w.link(`sys/bus/pci/drivers/${drv}/module`, `sys/module/${mod}`);
      w.mkdir(`sys/module/${mod}`);
    }
  }
  for (const [mod, params] of Object.entries(spec.moduleParams ?? {})) {
    for (const [k, v] of Object.entries(params))
      w.file(`sys/module/${mod}/parameters/${k}`, `${v}\n`);
  }

  // IOMMU units.
  if (spec.iommu) {
    for (let i = 0; i < spec.iommu.units; i++) {
      const name =
        spec.iommu.vendor === "amd"
          ? `ivhd${i}`
          : spec.iommu.vendor === "intel"
            ? `dmar${i}`
            : `virtio-iommu${i}`;
      const target =
        spec.iommu.vendor === "amd" && spec.iommu.unitParent
          ? `${paths.get(spec.iommu.unitParent) ?? "sys/devices/virtual"}/iommu/${name}`
          : `sys/devices/virtual/iommu/${name}`;
      w.file(`${target}/uevent`, "");
      w.link(`sys/class/iommu/${name}`, target);
    }
  } else {
    w.mkdir("sys/kernel/iommu_groups");
    w.mkdir("sys/class/iommu");
  }

  // Firmware.
  if (spec.uefi) {
    w.file("sys/firmware/efi/fw_platform_size", "64\n");
    if (spec.loaderInfo)
      w.file(
        "sys/firmware/efi/efivars/LoaderInfo-4a67b082-0a4c-41cf-b6c7-440b29bb8c4f",
        efiVar(spec.loaderInfo),
      );
    for (const [name, value] of Object.entries(spec.loaderVars ?? {}))
      w.file(
        `sys/firmware/efi/efivars/${name}-4a67b082-0a4c-41cf-b6c7-440b29bb8c4f`,
        efiVar(value),
      );
    if (spec.secureBoot !== undefined)
      w.file(
        "sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c",
        Buffer.from([6, 0, 0, 0, spec.secureBoot ? 1 : 0]),
      );
    if (spec.efibootmgr) w.file("cmd/efibootmgr-v", spec.efibootmgr);
  }
  if (spec.dmi) {
    const d = spec.dmi;
    const dmi: Record<string, string | undefined> = {
      sys_vendor: d.sysVendor,
      product_name: d.productName,
      board_vendor: d.boardVendor,
      board_name: d.boardName,
      bios_vendor: d.biosVendor,
      bios_version: d.biosVersion,
    };
    for (const [k, v] of Object.entries(dmi))
      if (v !== undefined) w.file(`sys/devices/virtual/dmi/id/${k}`, `${v}\n`);
    w.link("sys/class/dmi/id", "sys/devices/virtual/dmi/id");
  }

  // Block devices that are not on PCI: device-mapper.
  for (const dm of spec.dm ?? []) {
    const base = `sys/devices/virtual/block/${dm.name}`;
    w.file(`${base}/dm/name`, `${dm.dmName}\n`);
    w.file(`${base}/size`, "209715200\n");
    for (const s of dm.slaves) {
      const target = fs.existsSync(path.join(dir, "sys/class/block", s))
        ? fs.realpathSync(path.join(dir, "sys/class/block", s))
        : null;
      if (target) w.link(`${base}/slaves/${s}`, path.relative(dir, target));
    }
    w.link(`sys/block/${dm.name}`, base);
    w.link(`sys/class/block/${dm.name}`, base);
  }
  for (const [br, ports] of Object.entries(spec.bridges ?? {})) {
    const base = `sys/devices/virtual/net/${br}`;
    w.file(`${base}/operstate`, "up\n");
    w.mkdir(`${base}/brif`);
    for (const port of ports) {
      const portDir = fs.existsSync(path.join(dir, "sys/class/net", port))
        ? path.relative(dir, fs.realpathSync(path.join(dir, "sys/class/net", port)))
        : null;
      if (portDir) {
        w.link(`${base}/brif/${port}`, `${portDir}/brport`);
        w.mkdir(`${portDir}/brport`);
        w.link(`${base}/lower_${port}`, portDir);
      }
    }
    w.link(`sys/class/net/${br}`, base);
  }
  w.file("sys/devices/virtual/net/lo/operstate", "unknown\n");
  w.link("sys/class/net/lo", "sys/devices/virtual/net/lo");

  // proc.
  w.file("proc/cmdline", `${spec.cmdline}\n`);
  w.file("proc/cpuinfo", cpuinfo(spec));
  w.file(
    "proc/version",
    `Linux version ${spec.kernel.release} (build@fixture) (gcc (Debian 12.2.0-14) 12.2.0) #1 SMP PREEMPT_DYNAMIC\n`,
  );
  w.file("proc/sys/kernel/osrelease", `${spec.kernel.release}\n`);
  w.file("proc/sys/kernel/hostname", `${spec.hostname}\n`);
  w.file(
    "proc/modules",
    spec.loadedModules.map((m) => `${m} 16384 0 - Live 0x0000000000000000\n`).join(""),
  );
  w.file("proc/mounts", mounts(spec));
  w.file("proc/net/route", routeTable(spec.defaultRouteIface));
  w.file(
    "cmd/dmesg",
    spec.dmesg.map((l, i) => `[    ${(i * 0.01 + 0.1).toFixed(6).padStart(11)}] ${l}\n`).join(""),
  );
  w.file(
    "cmd/uname",
    `Linux ${spec.hostname} ${spec.kernel.release} #1 SMP PREEMPT_DYNAMIC x86_64 GNU/Linux\n`,
  );

  // etc and kernel modules.
  w.file("etc/os-release", spec.osRelease);
  w.file("etc/hostname", `${spec.hostname}\n`);
  const modDir = `lib/modules/${spec.kernel.release}`;
  w.file(
    `${modDir}/modules.builtin`,
    (spec.kernel.builtin ?? []).map((m) => `kernel/${m}.ko\n`).join(""),
  );
  if (spec.kernel.aliases)
    w.file(
      `${modDir}/modules.alias`,
      "# Aliases extracted from modules themselves.\n" +
        spec.kernel.aliases.map((a) => `${a}\n`).join(""),
    );
  if (spec.proxmox) {
    w.file("cmd/pveversion", `${spec.proxmox.pveversion}\n`);
    w.mkdir(`etc/pve/nodes/${spec.proxmox.node}/qemu-server`);
    for (const [vmid, conf] of Object.entries(spec.proxmox.vms ?? {}))
      w.file(`etc/pve/nodes/${spec.proxmox.node}/qemu-server/${vmid}.conf`, conf);
    w.rawLink("etc/pve/qemu-server", `nodes/${spec.proxmox.node}/qemu-server`);
    w.rawLink("etc/pve/local", `nodes/${spec.proxmox.node}`);
    if (spec.proxmox.cts) {
      for (const [ctid, conf] of Object.entries(spec.proxmox.cts))
        w.file(`etc/pve/nodes/${spec.proxmox.node}/lxc/${ctid}.conf`, conf);
      w.rawLink("etc/pve/lxc", `nodes/${spec.proxmox.node}/lxc`);
    }
    if (spec.proxmox.mappingPci) w.file("etc/pve/mapping/pci.cfg", spec.proxmox.mappingPci);
  }
  for (const [rel, content] of Object.entries(spec.files)) w.file(rel, content);
  for (const [rel, target] of Object.entries(spec.links ?? {})) w.rawLink(rel, target);
  for (const tool of spec.tools) w.file(`usr/sbin/${tool}`, "", 0o755);
  if (spec.pciIds) w.file("usr/share/misc/pci.ids", spec.pciIds);
  w.file(
    "manifest.json",
    JSON.stringify(
      {
        tool: "passthrough fakehost",
        version: "fixture",
        capturedAt: "2026-01-01T00:00:00Z",
        hostname: spec.hostname,
        redacted: [],
        tools: spec.tools,
        notes: [spec.description],
        ...(spec.partial ? { skipped: spec.partial.skipped } : {}),
      },
      null,
      2,
    ) + "\n",
  );
  for (const rel of spec.partial?.omit ?? []) fs.rmSync(path.join(dir, rel), { recursive: true });
}

function groupType(spec: FakeHostSpec, f: PciFunctionSpec): string {
  if (f.driver === "vfio-pci") return "DMA";
  return spec.iommu?.defaultType ?? "DMA-FQ";
}

function resourceText(f: PciFunctionSpec): string {
  const lines: string[] = [];
  let base =
    0xf000000000n +
    BigInt(parseInt(f.address.split(":")[1]!, 16)) * 0x100000000n +
    BigInt(parseInt(slot(f.address).split(":")[2]!, 16)) * 0x10000000n;
  const bars = f.bars ?? [[0x1000000, false, false]];
  for (let i = 0; i < 13; i++) {
    const bar = i < 6 ? bars[i] : undefined;
    if (i === 6 && (f.rom || (f.class.startsWith("03") && f.romBar !== false))) {
      // The ROM BAR is a power of two at least as large as the ROM (PCI Local Bus spec 6.2.5.2).
      let size = 2048n;
      while (size < BigInt(f.rom?.length ?? 128 * 1024)) size *= 2n;
      const flags = 0x46200n; // MEM | PREFETCH | READONLY | SIZEALIGN, as the kernel shows a ROM BAR
      lines.push(
        `0x${base.toString(16).padStart(16, "0")} 0x${(base + size - 1n).toString(16).padStart(16, "0")} 0x${flags.toString(16).padStart(16, "0")}`,
      );
      continue;
    }
    if (!bar) {
      lines.push("0x0000000000000000 0x0000000000000000 0x0000000000000000");
      continue;
    }
    const [sizeBytes, pref, is64] = bar;
    const start = base;
    const end = base + BigInt(sizeBytes) - 1n;
    base += BigInt(Math.max(sizeBytes, 0x100000));
    let flags = 0x200n; // IORESOURCE_MEM
    if (pref) flags |= 0x2000n;
    if (is64) flags |= 0x100000n;
    lines.push(
      `0x${start.toString(16).padStart(16, "0")} 0x${end.toString(16).padStart(16, "0")} 0x${flags.toString(16).padStart(16, "0")}`,
    );
  }
  return lines.join("\n") + "\n";
}

function cpuinfo(spec: FakeHostSpec): string {
  const vendorId = spec.cpu.vendor === "amd" ? "AuthenticAMD" : "GenuineIntel";
  const threads = spec.cpu.threads ?? 2;
  const blocks: string[] = [];
  for (let i = 0; i < threads; i++) {
    blocks.push(
      [
        `processor\t: ${i}`,
        `vendor_id\t: ${vendorId}`,
        `cpu family\t: ${spec.cpu.vendor === "amd" ? 25 : 6}`,
        `model name\t: ${spec.cpu.model}`,
        `flags\t\t: fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr sse sse2 ht syscall nx lm ${spec.cpu.flags.join(" ")}`,
      ].join("\n"),
    );
  }
  return blocks.join("\n\n") + "\n\n";
}

function mounts(spec: FakeHostSpec): string {
  return (
    [
      "sysfs /sys sysfs rw,nosuid,nodev,noexec,relatime 0 0",
      "proc /proc proc rw,relatime 0 0",
      "udev /dev devtmpfs rw,nosuid,relatime 0 0",
      `${spec.rootMount.device} / ${spec.rootMount.fstype} rw,relatime 0 0`,
      ...(spec.uefi
        ? ["efivarfs /sys/firmware/efi/efivars efivarfs rw,nosuid,nodev,noexec,relatime 0 0"]
        : []),
      ...(spec.proxmox
        ? [
            "/dev/fuse /etc/pve fuse rw,nosuid,nodev,relatime,user_id=0,group_id=0,default_permissions,allow_other 0 0",
          ]
        : []),
    ].join("\n") + "\n"
  );
}

function routeTable(iface: string): string {
  return (
    [
      "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT",
      `${iface}\t00000000\t0101A8C0\t0003\t0\t0\t0\t00000000\t0\t0\t0`,
      `${iface}\t0001A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0`,
    ].join("\n") + "\n"
  );
}

function efiVar(text: string): Buffer {
  return Buffer.concat([Buffer.from([6, 0, 0, 0]), Buffer.from(`${text}\0`, "utf16le")]);
}

function writeUsbBus(w: TreeWriter, spec: FakeHostSpec, hubPath: string, bus: number): void {
  const rootHub = `usb${bus}`;
  w.file(`${hubPath}/idVendor`, "1d6b\n");
  w.file(`${hubPath}/idProduct`, "0002\n");
  w.file(`${hubPath}/busnum`, `${bus}\n`);
  w.file(`${hubPath}/devnum`, "1\n");
  w.file(`${hubPath}/devpath`, "0\n");
  w.file(`${hubPath}/bDeviceClass`, "09\n");
  w.file(`${hubPath}/product`, "xHCI Host Controller\n");
  w.file(`${hubPath}/manufacturer`, "Linux xhci-hcd\n");
  w.file(`${hubPath}/speed`, "480\n");
  w.file(`${hubPath}/${bus}-0:1.0/bInterfaceClass`, "09\n");
  w.link(`sys/bus/usb/devices/${rootHub}`, hubPath);
  w.link(`sys/bus/usb/devices/${bus}-0:1.0`, `${hubPath}/${bus}-0:1.0`);
  const devices = (spec.usb ?? []).filter((d) => d.name.startsWith(`${bus}-`));
  let devnum = 2;
  for (const d of devices) {
    // "1-2.3" sits under "1-2" when that hub exists, else directly under the root hub.
    const parentName = d.name.includes(".") ? d.name.slice(0, d.name.lastIndexOf(".")) : null;
    const parentPath =
      parentName && devices.some((x) => x.name === parentName)
        ? `${hubPath}/${parentName}`
        : hubPath;
    const p = `${parentPath}/${d.name}`;
    w.file(`${p}/idVendor`, `${d.vendor}\n`);
    w.file(`${p}/idProduct`, `${d.product}\n`);
    w.file(`${p}/busnum`, `${bus}\n`);
    w.file(`${p}/devnum`, `${devnum++}\n`);
    w.file(`${p}/devpath`, `${d.name.slice(d.name.indexOf("-") + 1)}\n`);
    w.file(`${p}/bDeviceClass`, `${d.deviceClass ?? "00"}\n`);
    w.file(`${p}/speed`, `${d.speed ?? 12}\n`);
    if (d.manufacturer) w.file(`${p}/manufacturer`, `${d.manufacturer}\n`);
    if (d.productName) w.file(`${p}/product`, `${d.productName}\n`);
    if (d.serial) w.file(`${p}/serial`, `${d.serial}\n`);
    d.interfaces.forEach(([cls, sub, proto], i) => {
      const ifName = `${d.name}:1.${i}`;
      w.file(`${p}/${ifName}/bInterfaceClass`, `${cls}\n`);
      w.file(`${p}/${ifName}/bInterfaceSubClass`, `${sub}\n`);
      w.file(`${p}/${ifName}/bInterfaceProtocol`, `${proto}\n`);
      w.link(`sys/bus/usb/devices/${ifName}`, `${p}/${ifName}`);
    });
    w.link(`sys/bus/usb/devices/${d.name}`, p);
  }
}
