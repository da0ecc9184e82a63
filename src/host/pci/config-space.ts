// Capabilities from a function's PCI configuration space (sysfs `config`, binary).
// An unprivileged read returns only the first 64 bytes (no capability list); root gets 256
// (conventional) or 4096 (PCIe extended space, where ACS and Resizable BAR live).
// Offsets and bit positions: PCI Local Bus 3.0 §6, PCI Express Base 5.0 §7.

import type { AcsFlags, PciCapabilities, PcieType, ResizableBar } from "../types.js";

const CAP_NAMES: Record<number, string> = {
  0x01: "pm",
  0x02: "agp",
  0x03: "vpd",
  0x04: "slot-id",
  0x05: "msi",
  0x06: "hotswap",
  0x07: "pci-x",
  0x08: "ht",
  0x09: "vendor",
  0x0a: "debug",
  0x0b: "ccrc",
  0x0c: "hotplug",
  0x0d: "bridge-subsystem",
  0x0e: "agp8x",
  0x0f: "secure",
  0x10: "pcie",
  0x11: "msix",
  0x12: "sata",
  0x13: "af",
  0x14: "ea",
};

const EXT_CAP_NAMES: Record<number, string> = {
  0x0001: "aer",
  0x0002: "vc",
  0x0003: "dsn",
  0x0004: "power-budget",
  0x0005: "rclink",
  0x000b: "vendor",
  0x000d: "acs",
  0x000e: "ari",
  0x000f: "ats",
  0x0010: "sriov",
  0x0012: "mcast",
  0x0013: "pri",
  0x0015: "rebar",
  0x0016: "dpa",
  0x0017: "tph",
  0x0018: "ltr",
  0x0019: "secondary-pcie",
  0x001b: "pasid",
  0x001d: "dpc",
  0x001e: "l1pm",
  0x001f: "ptm",
  0x0023: "dvsec",
  0x0024: "vf-rebar",
  0x0025: "dlf",
  0x0026: "16gt",
  0x0027: "lane-margining",
  0x002a: "32gt",
};

const PCIE_TYPES: Record<number, PcieType> = {
  0x0: "endpoint",
  0x1: "legacy-endpoint",
  0x4: "root-port",
  0x5: "upstream-port",
  0x6: "downstream-port",
  0x7: "pcie-to-pci-bridge",
  0x8: "pci-to-pcie-bridge",
  0x9: "rc-integrated-endpoint",
  0xa: "rc-event-collector",
};

/** The kernel's pci_speed_string() for a Link Speeds encoding (PCIe 6.0 §7.5.3.6). */
export function linkSpeed(code: number): string {
  return (
    [
      "Unknown",
      "2.5 GT/s PCIe",
      "5.0 GT/s PCIe",
      "8.0 GT/s PCIe",
      "16.0 GT/s PCIe",
      "32.0 GT/s PCIe",
      "64.0 GT/s PCIe",
    ][code] ?? "Unknown"
  );
}

export const PCI_CAP_ID = { pm: 0x01, msi: 0x05, pcie: 0x10, msix: 0x11, af: 0x13 } as const;
export const PCI_EXT_CAP_ID = { acs: 0x000d, sriov: 0x0010, rebar: 0x0015 } as const;

function acsFlags(bits: number): AcsFlags {
  return {
    sourceValidation: (bits & 0x01) !== 0,
    translationBlocking: (bits & 0x02) !== 0,
    requestRedirect: (bits & 0x04) !== 0,
    completionRedirect: (bits & 0x08) !== 0,
    upstreamForwarding: (bits & 0x10) !== 0,
    egressControl: (bits & 0x20) !== 0,
    directTranslatedP2p: (bits & 0x40) !== 0,
  };
}

/** Parse capabilities; null when the buffer is too short to hold even a header. */
export function parseConfigSpace(buf: Buffer): PciCapabilities | null {
  if (buf.length < 64) return null;
  const headerType = buf.readUInt8(0x0e);
  const layout = headerType & 0x7f;
  const status = buf.readUInt16LE(0x06);
  const result: PciCapabilities = {
    configSize: buf.length,
    headerType: layout,
    multifunction: (headerType & 0x80) !== 0,
    pcie: null,
    flr: null,
    acs: null,
    resizableBars: null,
    list: [],
  };
  // The capability list lives beyond the 64-byte header: not visible to unprivileged reads.
  if (buf.length < 256) return result;
  if ((status & 0x10) !== 0 && (layout === 0 || layout === 1)) {
    let ptr = buf.readUInt8(0x34) & 0xfc;
    const seen = new Set<number>();
    let flrFromAf = false;
    let flrFromPcie: boolean | null = null;
    while (ptr >= 0x40 && ptr < 256 - 2 && !seen.has(ptr)) {
      seen.add(ptr);
      const id = buf.readUInt8(ptr);
      result.list.push(CAP_NAMES[id] ?? `cap-${id.toString(16).padStart(2, "0")}`);
      if (id === PCI_CAP_ID.pcie && ptr + 0x14 <= buf.length) {
        const flags = buf.readUInt16LE(ptr + 2);
        const linkCap = ptr + 0x14 <= buf.length ? buf.readUInt32LE(ptr + 0x0c) : 0;
        const linkStatus = ptr + 0x14 <= buf.length ? buf.readUInt16LE(ptr + 0x12) : 0;
        result.pcie = {
          type: PCIE_TYPES[(flags >> 4) & 0xf] ?? "unknown",
          version: flags & 0xf,
          link:
            linkCap === 0
              ? null
              : {
                  maxSpeed: linkSpeed(linkCap & 0xf),
                  maxWidth: (linkCap >> 4) & 0x3f,
                  currentSpeed: linkSpeed(linkStatus & 0xf),
                  currentWidth: (linkStatus >> 4) & 0x3f,
                },
        };
        const devCap = buf.readUInt32LE(ptr + 4);
        flrFromPcie = (devCap & (1 << 28)) !== 0;
      } else if (id === PCI_CAP_ID.af && ptr + 4 <= buf.length) {
        // Advanced Features: bit 1 of AF capabilities = FLR for conventional PCI functions.
        flrFromAf = (buf.readUInt8(ptr + 3) & 0x02) !== 0;
      }
      ptr = buf.readUInt8(ptr + 1) & 0xfc;
    }
    result.flr =
      flrFromPcie === true || flrFromAf
        ? true
        : flrFromPcie === false
          ? false
          : result.list.length > 0
            ? false
            : null;
  }
  if (buf.length >= 4096 && result.pcie) {
    result.resizableBars = [];
    let off = 0x100;
    const seen = new Set<number>();
    while (off >= 0x100 && off < 4096 - 4 && !seen.has(off)) {
      seen.add(off);
      const hdr = buf.readUInt32LE(off);
      if (hdr === 0 || hdr === 0xffffffff) break;
      const id = hdr & 0xffff;
      result.list.push(EXT_CAP_NAMES[id] ?? `ext-${id.toString(16).padStart(4, "0")}`);
      if (id === PCI_EXT_CAP_ID.acs && off + 8 <= buf.length) {
        result.acs = {
          capable: acsFlags(buf.readUInt16LE(off + 4)),
          enabled: acsFlags(buf.readUInt16LE(off + 6)),
        };
      } else if (id === PCI_EXT_CAP_ID.rebar) {
        result.resizableBars.push(...parseRebar(buf, off));
      }
      off = (hdr >>> 20) & 0xffc;
    }
  }
  return result;
}

function parseRebar(buf: Buffer, off: number): ResizableBar[] {
  const out: ResizableBar[] = [];
  if (off + 12 > buf.length) return out;
  const count = (buf.readUInt32LE(off + 8) >> 5) & 0x7;
  for (let i = 0; i < Math.max(1, count) && off + 4 + i * 8 + 8 <= buf.length; i++) {
    const cap = buf.readUInt32LE(off + 4 + i * 8);
    const ctrl = buf.readUInt32LE(off + 8 + i * 8);
    const supportedMiB: number[] = [];
    // Bits 4..31 of the capability register: bit n means 2^(n-4) MiB is supported.
    for (let bit = 4; bit < 32; bit++) if (cap & (1 << bit)) supportedMiB.push(2 ** (bit - 4));
    out.push({ bar: ctrl & 0x7, supportedMiB, currentMiB: 2 ** ((ctrl >> 8) & 0x3f) });
  }
  return out;
}
