// IOMMU state: groups (sys/kernel/iommu_groups), units (sys/class/iommu), and what the
// kernel log adds (interrupt remapping, default domain).

import { lastValue } from "../formats/kernel-cmdline.js";
import { optionsOf } from "../formats/modprobe-conf.js";
import type { KernelLogFacts } from "./kernel-log.js";
import { readAttr, type HostRoot } from "./root.js";
import type {
  CmdlineParam,
  IommuGroup,
  IommuState,
  IommuVendor,
  ModprobeDirective,
  Unknown,
} from "./types.js";

export function readIommuGroups(root: HostRoot): IommuGroup[] {
  const names = root.list("sys/kernel/iommu_groups") ?? [];
  const groups: IommuGroup[] = [];
  for (const n of names) {
    if (!/^\d+$/.test(n)) continue;
    const devices = (root.list(`sys/kernel/iommu_groups/${n}/devices`) ?? []).sort();
    groups.push({
      id: Number(n),
      type: readAttr(root, `sys/kernel/iommu_groups/${n}/type`),
      devices,
    });
  }
  return groups.sort((a, b) => a.id - b.id);
}

export function readIommu(
  root: HostRoot,
  groups: IommuGroup[],
  log: KernelLogFacts | null,
  running: CmdlineParam[] | null,
  modprobe: readonly ModprobeDirective[],
  unknowns: Unknown[],
): IommuState {
  const units = root.list("sys/class/iommu") ?? [];
  const vendor = vendorFromUnits(units) ?? log?.iommuVendor ?? null;

  let interruptRemapping = log?.interruptRemapping ?? null;
  // intremap=off / intel_iommu=off on the running command line settle it without the log.
  if (running) {
    const intremap = lastValue(running, "intremap");
    if (intremap === "off") interruptRemapping = false;
  }
  if (interruptRemapping === null) {
    unknowns.push({
      field: "iommu.interruptRemapping",
      reason: log
        ? "the kernel log has no interrupt-remapping line (it may have been rotated away)"
        : "no kernel log could be read",
    });
  }

  return {
    enabled: groups.length > 0 || units.length > 0,
    vendor,
    units,
    interruptRemapping,
    interruptRemappingMode: log?.interruptRemappingMode ?? null,
    defaultDomain: log?.defaultDomain ?? defaultDomainFromGroups(groups),
    allowUnsafeInterrupts: allowUnsafe(root, running, modprobe),
    groups,
    logEvidence: log?.evidence ?? [],
  };
}

function vendorFromUnits(units: readonly string[]): IommuVendor | null {
  if (units.some((u) => /^dmar\d+$/.test(u))) return "intel";
  if (units.some((u) => /^ivhd\d+$/.test(u))) return "amd";
  if (units.some((u) => /virtio/i.test(u))) return "virtio";
  if (units.some((u) => /smmu/i.test(u))) return "arm-smmu";
  return units.length ? "other" : null;
}

/** Without the log line, most groups being "identity" means iommu=pt is in effect. */
function defaultDomainFromGroups(groups: readonly IommuGroup[]): string | null {
  const typed = groups.filter((g) => g.type !== null);
  if (typed.length === 0) return null;
  const identity = typed.filter((g) => g.type === "identity").length;
  if (identity > typed.length / 2) return "passthrough";
  if (typed.some((g) => g.type === "DMA-FQ")) return "lazy";
  if (typed.some((g) => g.type === "DMA")) return "translated";
  return null;
}

function allowUnsafe(
  root: HostRoot,
  running: CmdlineParam[] | null,
  modprobe: readonly ModprobeDirective[],
): boolean | null {
  const live = readAttr(root, "sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts");
  if (live !== null) return live === "Y" || live === "1";
  const fromCmdline = running
    ? lastValue(running, "vfio_iommu_type1.allow_unsafe_interrupts")
    : undefined;
  if (fromCmdline !== undefined) return isTrue(fromCmdline);
  for (const d of [...modprobe].reverse()) {
    if (d.command === "options" && d.module === "vfio_iommu_type1") {
      const v = optionsOf(d).allow_unsafe_interrupts;
      if (v !== undefined) return isTrue(v);
    }
  }
  return false; // module default (N) and nothing configures it
}

function isTrue(v: string | null): boolean {
  return v !== null && /^(1|y|yes|on|true)$/i.test(v);
}
