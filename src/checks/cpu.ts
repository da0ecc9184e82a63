// CPU virtualization (AMD-V "svm" / Intel VT-x "vmx" in /proc/cpuinfo), and where the
// firmware switches for it and for the IOMMU live.
//
// The flag is missing when the firmware turned virtualization off, or when we are a guest
// without nested virtualization (the "hypervisor" flag tells which; docs/domain-facts.md §1).
// Menu paths are what board vendors' firmware setups usually call them; they move between
// firmware versions, so every fix names the setting itself too. The Gigabyte AMD path is the
// one the seed write-up (docs/seed-writeup.md) followed ("Settings > AMD CBS > NBIO > IOMMU", then
// "Settings > Miscellaneous > IOMMU").

import { unseen } from "./visibility.js";
import type { HostState } from "../host/types.js";
import type { CheckContext } from "./context.js";
import { finding } from "../findings/finding.js";
import type { Finding } from "../findings/finding.js";

export interface FirmwareSettings {
  /** Board vendor the paths are for, null = generic names. */
  board: string | null;
  /** Where CPU virtualization (SVM Mode / Intel Virtualization Technology) is switched on. */
  virtualization: string;
  /** Where the IOMMU (AMD IOMMU / Intel VT-d) is switched on. */
  iommu: string;
}

interface BoardMenus {
  match: RegExp;
  name: string;
  amd?: { virtualization: string; iommu: string };
  intel?: { virtualization: string; iommu: string };
}

const BOARD_MENUS: BoardMenus[] = [
  {
    match: /gigabyte/i,
    name: "Gigabyte",
    amd: {
      virtualization: "Tweaker > Advanced CPU Settings > SVM Mode = Enabled",
      iommu:
        "Settings > AMD CBS > NBIO > IOMMU = Enabled, then Settings > Miscellaneous > IOMMU = Enabled",
    },
    intel: {
      virtualization: "Tweaker > Advanced CPU Settings > Intel Virtualization Technology = Enabled",
      iommu: "Settings > Miscellaneous > VT-d = Enabled",
    },
  },
  {
    match: /asus/i,
    name: "ASUS",
    amd: {
      virtualization: "Advanced > CPU Configuration > SVM Mode = Enabled",
      iommu: "Advanced > AMD CBS > NBIO Common Options > IOMMU = Enabled",
    },
    intel: {
      virtualization:
        "Advanced > CPU Configuration > Intel (VMX) Virtualization Technology = Enabled",
      iommu: "Advanced > System Agent (SA) Configuration > VT-d = Enabled",
    },
  },
  {
    match: /micro-star|\bmsi\b/i,
    name: "MSI",
    amd: {
      virtualization: "OC > Advanced CPU Configuration > SVM Mode = Enabled",
      iommu: "Settings > Advanced > AMD CBS > NBIO Common Options > IOMMU = Enabled",
    },
    intel: {
      virtualization: "OC > CPU Features > Intel Virtualization Tech = Enabled",
      iommu: "OC > CPU Features > Intel VT-D Tech = Enabled",
    },
  },
  {
    match: /asrock/i,
    name: "ASRock",
    amd: {
      virtualization: "Advanced > CPU Configuration > SVM Mode = Enabled",
      iommu: "Advanced > AMD CBS > NBIO Common Options > IOMMU = Enabled",
    },
    intel: {
      virtualization: "Advanced > CPU Configuration > Intel Virtualization Technology = Enabled",
      iommu: "Advanced > Chipset Configuration > VT-d = Enabled",
    },
  },
  {
    match: /supermicro/i,
    name: "Supermicro",
    amd: {
      virtualization: "Advanced > CPU Configuration > SVM Mode = Enabled",
      iommu: "Advanced > NB Configuration > IOMMU = Enabled",
    },
    intel: {
      virtualization: "Advanced > CPU Configuration > Intel Virtualization Technology = Enabled",
      iommu:
        "Advanced > Chipset Configuration > North Bridge > IIO Configuration > Intel VT for Directed I/O (VT-d) = Enable",
    },
  },
  {
    match: /dell/i,
    name: "Dell",
    amd: {
      virtualization: "System BIOS > Processor Settings > Virtualization Technology = Enabled",
      iommu: "System BIOS > Processor Settings > IOMMU Support = Enabled",
    },
    intel: {
      virtualization: "System BIOS > Processor Settings > Virtualization Technology = Enabled",
      iommu:
        "System BIOS > Processor Settings > Virtualization Technology = Enabled (Dell switches VT-d with it)",
    },
  },
];

const GENERIC = {
  amd: {
    virtualization: '"SVM Mode" (usually Advanced > CPU Configuration) = Enabled',
    iommu: '"IOMMU" (usually Advanced > AMD CBS > NBIO Common Options > IOMMU) = Enabled',
  },
  intel: {
    virtualization:
      '"Intel Virtualization Technology" (VT-x, usually Advanced > CPU Configuration) = Enabled',
    iommu:
      '"VT-d" (Intel Virtualization Technology for Directed I/O, usually under Advanced > System Agent or Chipset) = Enabled',
  },
  other: {
    virtualization: "the CPU virtualization setting (SVM / VT-x)",
    iommu: "the IOMMU setting (AMD-Vi / VT-d)",
  },
};

/** Firmware menu names for this host's CPU vendor and, when DMI names it, its board vendor. */
export function firmwareSettings(state: Pick<HostState, "system">): FirmwareSettings {
  const vendor = state.system.cpuVendor;
  const dmi = state.system.dmi;
  const boardVendor = dmi.boardVendor ?? dmi.sysVendor ?? "";
  if (vendor === "amd" || vendor === "intel") {
    const board = BOARD_MENUS.find((b) => b.match.test(boardVendor) && b[vendor]);
    if (board) return { board: board.name, ...board[vendor]! };
    return { board: null, ...GENERIC[vendor] };
  }
  return { board: null, ...GENERIC.other };
}

/** "(usual path on Gigabyte boards)" or "". */
export function boardNote(s: FirmwareSettings): string {
  return s.board ? ` (usual path on ${s.board} boards; names vary with the firmware version)` : "";
}

export function checkCpu(ctx: CheckContext): Finding[] {
  const s = ctx.state.system;
  if (s.cpuVendor === null) {
    return [
      finding(
        "cpu.virtualization",
        "skip",
        "/proc/cpuinfo could not be read: CPU virtualization unknown",
        { fix: "run passthrough as root on the host, or capture a snapshot there" },
      ),
    ];
  }
  if (unseen(ctx.state, "proc/cpuinfo"))
    return [finding("cpu.virtualization", "skip", "unknown: /proc/cpuinfo lists no CPU flags")];
  if (s.virtualizationFlag === "svm")
    return [finding("cpu.virtualization", "pass", "AMD-V (svm) available")];
  if (s.virtualizationFlag === "vmx")
    return [finding("cpu.virtualization", "pass", "Intel VT-x (vmx) available")];
  const flag = s.cpuVendor === "amd" ? "svm" : s.cpuVendor === "intel" ? "vmx" : "svm/vmx";
  if (s.virtualMachine) {
    return [
      finding(
        "cpu.virtualization",
        "warn",
        `no ${flag} flag: this is a VM without nested virtualization`,
        {
          fix: "set up passthrough on the hypervisor host; for nested guests give this VM the host CPU type (Proxmox: cpu: host) with nested virtualization on",
        },
      ),
    ];
  }
  const fw = firmwareSettings(ctx.state);
  const what =
    s.cpuVendor === "amd"
      ? "SVM Mode (AMD-V)"
      : s.cpuVendor === "intel"
        ? "Intel Virtualization Technology (VT-x)"
        : "CPU virtualization";
  return [
    finding("cpu.virtualization", "fail", `no ${flag} flag: ${what} is off in the firmware`, {
      fix: `in the firmware setup: ${fw.virtualization}${boardNote(fw)}; save, reboot`,
    }),
  ];
}
