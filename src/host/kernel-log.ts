// What the kernel log says about the IOMMU. sysfs is the primary signal for "IOMMU on"
// (docs/domain-facts.md §1); the log is the only place that says whether interrupt remapping is
// on, and it can be rotated away, so every answer here may be null ("the log says nothing").

export interface KernelLogFacts {
  /** true/false when a line says so, null otherwise. */
  interruptRemapping: boolean | null;
  interruptRemappingMode: string | null;
  defaultDomain: string | null;
  iommuVendor: "intel" | "amd" | "virtio" | null;
  /** "IOMMU enabled" style lines seen. */
  iommuEnabled: boolean | null;
  /** Kernel rejected `amd_iommu=on`: "AMD-Vi: Unknown option - 'on'". */
  amdIommuUnknownOption: string | null;
  evidence: string[];
}

/** Strip "[    0.123456] " or "Mon DD hh:mm:ss host kernel: " prefixes. */
export function stripLogPrefix(line: string): string {
  return line
    .replace(/^\s*<\d+>/, "")
    .replace(/^\[\s*[\d.]+\]\s?/, "")
    .replace(/^\[\s*[\d.]+\s*\]\s?/, "")
    .replace(/^\S+\s+\d+\s+[\d:]+\s+\S+\s+kernel:\s?/, "")
    .replace(/^\s*\[\s*[\d.]+\]\s+\S+\s+kernel:\s?/, "");
}

const IR_ON = [
  /AMD-Vi: Interrupt remapping enabled/i,
  /DMAR-IR: Enabled IRQ remapping in (x2apic|xapic) mode/i,
  /Enabled IRQ remapping in (x2apic|xapic) mode/i,
];
const IR_OFF = [
  /interrupt remapping is being disabled/i,
  /Not enabling interrupt remapping/i,
  /IRQ remapping (?:disabled|not supported)/i,
  /Interrupt remapping disabled/i,
  /DMAR-IR: .*IR not supported/i,
  /x2apic: IRQ remapping doesn't support X2APIC mode/i,
  /Failed to enable irq remapping/i,
];

export function analyseKernelLog(text: string): KernelLogFacts {
  const facts: KernelLogFacts = {
    interruptRemapping: null,
    interruptRemappingMode: null,
    defaultDomain: null,
    iommuVendor: null,
    iommuEnabled: null,
    amdIommuUnknownOption: null,
    evidence: [],
  };
  const keep = (l: string) => {
    if (facts.evidence.length < 40 && !facts.evidence.includes(l)) facts.evidence.push(l);
  };
  for (const rawLine of text.split("\n")) {
    const l = stripLogPrefix(rawLine).trim();
    if (!l) continue;
    const isIommuLine = /DMAR|IVRS|AMD-Vi|IOMMU|iommu|remapping|virtio_iommu|virtio-iommu/.test(l);
    if (!isIommuLine) continue;
    if (/^DMAR(-IR)?:/.test(l)) facts.iommuVendor ??= "intel";
    if (/^AMD-Vi:/.test(l)) facts.iommuVendor ??= "amd";
    if (/virtio[_-]iommu/.test(l)) facts.iommuVendor ??= "virtio";
    for (const re of IR_ON) {
      const m = re.exec(l);
      if (m) {
        // A later "disabled" line overrides nothing already on: the last word wins, as the log is chronological.
        facts.interruptRemapping = true;
        if (m[1]) facts.interruptRemappingMode = m[1].toLowerCase();
        keep(l);
      }
    }
    for (const re of IR_OFF) {
      if (re.test(l)) {
        facts.interruptRemapping = false;
        keep(l);
      }
    }
    const dd = /iommu: Default domain type: (\w+)(?: \(([^)]*)\))?/.exec(l);
    if (dd) {
      facts.defaultDomain = dd[1]!.toLowerCase();
      keep(l);
    }
    if (
      /DMAR: IOMMU enabled|AMD-Vi: AMD IOMMUv2 loaded and initialized|AMD-Vi: Found IOMMU|pci 0000:[0-9a-f:.]+: Adding to iommu group|Intel\(R\) Virtualization Technology for Directed I\/O|virtio_iommu/i.test(
        l,
      )
    ) {
      facts.iommuEnabled = true;
      if (!/Adding to iommu group/.test(l)) keep(l);
    }
    if (/DMAR: IOMMU disabled|AMD-Vi: AMD IOMMU disabled|AMD-Vi: .*IOMMU not enabled/i.test(l)) {
      facts.iommuEnabled ??= false;
      keep(l);
    }
    const unk = /AMD-Vi: Unknown option - '([^']*)'/.exec(l);
    if (unk) {
      facts.amdIommuUnknownOption = unk[1]!;
      keep(l);
    }
    if (/AMD IOMMUv2 functionality not available/i.test(l)) keep(l);
    // The ACPI table that describes the IOMMU (DMAR: Intel VT-d, IVRS: AMD-Vi) is there only
    // when the firmware enables it, whether or not the kernel then turns the IOMMU on. Kept
    // as evidence so a check can tell "off in the firmware" from "off in the kernel".
    if (/^ACPI: (DMAR|IVRS) |^DMAR: Host address width|^DMAR: DRHD base/.test(l)) keep(l);
  }
  return facts;
}

/**
 * Functions that did not wake from D3cold: pci_power_up() logs "Unable to change power state
 * from D3cold to D0, device inaccessible" (drivers/pci/pci.c), prefixed by driver and address.
 */
export function d3coldFailures(text: string): string[] {
  const out = new Set<string>();
  const re =
    /([0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]): Unable to change power state from D3cold to D0, device inaccessible/g;
  for (const m of text.matchAll(re)) out.add(m[1]!);
  return [...out];
}
