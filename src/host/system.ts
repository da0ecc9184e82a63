// Who the host is: CPU, virtualization flags, kernel, distribution, Proxmox, firmware mode.

import { parseOsRelease } from "../formats/os-release.js";
import { readAttr, type HostRoot } from "./root.js";
import type { CpuVendor, SystemInfo, Unknown } from "./types.js";

export function readSystem(root: HostRoot, unknowns: Unknown[]): SystemInfo {
  const cpu = readCpu(root, unknowns);
  const kernelRelease = readKernelRelease(root);
  if (kernelRelease === null)
    unknowns.push({
      field: "system.kernelRelease",
      reason: "proc/sys/kernel/osrelease, proc/version and cmd/uname are all missing",
    });
  const osr = [root.readText("etc/os-release"), root.readText("usr/lib/os-release")].find(
    (r) => r.ok,
  );
  const osText = osr?.ok ? osr.value : null;
  let distro: SystemInfo["distro"] = null;
  if (osText !== null) {
    const o = parseOsRelease(osText);
    distro = {
      id: o.ID ?? "linux",
      idLike: (o.ID_LIKE ?? "").split(/\s+/).filter(Boolean),
      versionId: o.VERSION_ID ?? null,
      prettyName: o.PRETTY_NAME ?? null,
    };
  } else unknowns.push({ field: "system.distro", reason: "etc/os-release is missing" });

  return {
    hostname: readAttr(root, "etc/hostname") ?? readAttr(root, "proc/sys/kernel/hostname"),
    ...cpu,
    dmi: {
      sysVendor: readAttr(root, "sys/class/dmi/id/sys_vendor"),
      productName: readAttr(root, "sys/class/dmi/id/product_name"),
      boardVendor: readAttr(root, "sys/class/dmi/id/board_vendor"),
      boardName: readAttr(root, "sys/class/dmi/id/board_name"),
      biosVendor: readAttr(root, "sys/class/dmi/id/bios_vendor"),
      biosVersion: readAttr(root, "sys/class/dmi/id/bios_version"),
    },
    kernelRelease,
    kernelVersion: parseKernelVersion(kernelRelease),
    distro,
    proxmox: readProxmox(root, kernelRelease),
    bootMode: root.isDir("sys/firmware/efi") ? "uefi" : "bios",
  };
}

function readCpu(
  root: HostRoot,
  unknowns: Unknown[],
): Pick<SystemInfo, "cpuVendor" | "cpuModel" | "virtualizationFlag" | "virtualMachine"> {
  const r = root.readText("proc/cpuinfo");
  if (!r.ok) {
    unknowns.push({ field: "proc/cpuinfo", reason: r.reason });
    return { cpuVendor: null, cpuModel: null, virtualizationFlag: null, virtualMachine: false };
  }
  // Only the first processor block matters: all cores share vendor and flags.
  const block = r.value.split(/\n\s*\n/)[0] ?? "";
  const field = (name: string) => {
    const m = new RegExp(`^${name}\\s*:\\s*(.*)$`, "m").exec(block);
    return m ? m[1]!.trim() : null;
  };
  const vendorId = field("vendor_id");
  const cpuVendor: CpuVendor | null =
    vendorId === null
      ? null
      : /AuthenticAMD|HygonGenuine/.test(vendorId)
        ? "amd"
        : /GenuineIntel/.test(vendorId)
          ? "intel"
          : "other";
  const flagLine = field("flags");
  // No flags line (a truncated or foreign cpuinfo): neither "no svm/vmx" nor "bare metal".
  if (flagLine === null)
    unknowns.push({
      field: "proc/cpuinfo",
      reason: "proc/cpuinfo has no flags line: CPU virtualization and hypervisor flags unknown",
    });
  const flags = new Set((flagLine ?? "").split(/\s+/));
  return {
    cpuVendor,
    cpuModel: field("model name"),
    virtualizationFlag: flags.has("svm") ? "svm" : flags.has("vmx") ? "vmx" : null,
    virtualMachine: flags.has("hypervisor"),
  };
}

function readKernelRelease(root: HostRoot): string | null {
  const osrelease = readAttr(root, "proc/sys/kernel/osrelease");
  if (osrelease) return osrelease;
  const version = readAttr(root, "proc/version");
  const m = version ? /^Linux version (\S+)/.exec(version) : null;
  if (m) return m[1]!;
  const uname = root.command("uname");
  if (uname.ok) {
    const parts = uname.value.trim().split(/\s+/);
    if (parts[0] === "Linux" && parts[2]) return parts[2];
  }
  return null;
}

export function parseKernelVersion(release: string | null): [number, number] | null {
  const m = release ? /^(\d+)\.(\d+)/.exec(release) : null;
  return m ? [Number(m[1]), Number(m[2])] : null;
}

/** Kernel version at least major.minor. */
export function kernelAtLeast(
  v: [number, number] | null,
  major: number,
  minor: number,
): boolean | null {
  if (v === null) return null;
  return v[0] > major || (v[0] === major && v[1] >= minor);
}

function readProxmox(root: HostRoot, kernelRelease: string | null): string | null {
  const isPve =
    root.isDir("etc/pve") ||
    root.hasTool("pveversion") ||
    root.exists("usr/share/perl5/PVE") ||
    /-pve$/.test(kernelRelease ?? "");
  if (!isPve) return null;
  const v = root.command("pveversion");
  if (v.ok) {
    const m = /pve-manager\/([\d.]+)/.exec(v.value);
    if (m) return m[1]!;
  }
  return "unknown";
}

/** The running kernel's boot time (/proc/stat btime), or null when not visible. */
export function bootTimeOf(procStat: string | null): Date | null {
  if (procStat === null) return null;
  const m = /^btime\s+(\d+)\s*$/m.exec(procStat);
  return m ? new Date(Number(m[1]) * 1000) : null;
}

export function readBootTime(root: HostRoot): Date | null {
  const r = root.readText("proc/stat");
  return bootTimeOf(r.ok ? r.value : null);
}
