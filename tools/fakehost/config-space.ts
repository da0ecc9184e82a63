// Build a PCI configuration space image with a real header and capability chain, so both
// passthrough and `lspci -A linux-sysfs` can read it. Layout follows PCI 3.0 / PCIe 5.0:
// PM at 0x40, MSI at 0x50, PCIe at 0x60, MSI-X at 0xa0 (conventional space); AER at 0x100,
// ACS at 0x148, Resizable BAR at 0x160, SR-IOV at 0x180 (extended space).

import type { PciFunctionSpec } from "./spec.js";

const PCIE_TYPE_CODE: Record<string, number> = {
  endpoint: 0x0,
  "legacy-endpoint": 0x1,
  "root-port": 0x4,
  "upstream-port": 0x5,
  "downstream-port": 0x6,
  "rc-integrated-endpoint": 0x9,
};

export function buildConfigSpace(
  fn: PciFunctionSpec,
  opts: {
    multifunction: boolean;
    size: 64 | 256 | 4096;
    secondaryBus?: number;
    subordinateBus?: number;
  },
): Buffer {
  const b = Buffer.alloc(4096);
  const isBridge = fn.class.startsWith("0604");
  b.writeUInt16LE(parseInt(fn.vendor, 16), 0x00);
  b.writeUInt16LE(parseInt(fn.device, 16), 0x02);
  b.writeUInt16LE(0x0406, 0x04); // memory space, bus master, INTx disable
  b.writeUInt16LE(0x0010, 0x06); // capabilities list present
  b.writeUInt8(parseInt(fn.revision ?? "00", 16), 0x08);
  b.writeUInt8(parseInt(fn.class.slice(4, 6), 16), 0x09);
  b.writeUInt8(parseInt(fn.class.slice(2, 4), 16), 0x0a);
  b.writeUInt8(parseInt(fn.class.slice(0, 2), 16), 0x0b);
  b.writeUInt8((isBridge ? 0x01 : 0x00) | (opts.multifunction ? 0x80 : 0), 0x0e);
  if (isBridge) {
    const bus = parseInt(fn.address.split(":")[1]!, 16);
    b.writeUInt8(bus, 0x18);
    b.writeUInt8(opts.secondaryBus ?? bus + 1, 0x19);
    b.writeUInt8(opts.subordinateBus ?? opts.secondaryBus ?? bus + 1, 0x1a);
  } else {
    b.writeUInt16LE(parseInt(fn.subVendor ?? fn.vendor, 16), 0x2c);
    b.writeUInt16LE(parseInt(fn.subDevice ?? fn.device, 16), 0x2e);
  }
  b.writeUInt8(0xff, 0x3c); // interrupt line
  b.writeUInt8(0x01, 0x3d); // INTA

  // Capability chain.
  const caps: Array<[number, number]> = [
    [0x40, 0x01],
    [0x50, 0x05],
  ];
  if (!fn.conventional) caps.push([0x60, 0x10]);
  caps.push([0xa0, 0x11]);
  b.writeUInt8(0x40, 0x34);
  caps.forEach(([off, id], i) => {
    b.writeUInt8(id, off);
    b.writeUInt8(caps[i + 1]?.[0] ?? 0, off + 1);
  });
  b.writeUInt16LE(0x0003, 0x42); // PM version 3
  b.writeUInt16LE(0x0080, 0x52); // MSI 64-bit
  b.writeUInt16LE(0x0000, 0xa2); // MSI-X table size 1
  if (!fn.conventional) {
    const pcie = fn.pcie ?? { type: "endpoint" as const };
    const type = PCIE_TYPE_CODE[pcie.type] ?? 0;
    b.writeUInt16LE(
      0x0002 |
        (type << 4) |
        (pcie.type === "root-port" || pcie.type === "downstream-port" ? 0x0100 : 0),
      0x62,
    );
    b.writeUInt32LE((pcie.flr ? 1 << 28 : 0) | (0x8fc2 & 0x0fffffff), 0x64); // devcap: payload, FLR bit
    const maxSpeed = pcie.maxSpeed ?? 4;
    const maxWidth = pcie.maxWidth ?? 16;
    b.writeUInt32LE(maxSpeed | (maxWidth << 4) | (0x3 << 10), 0x6c); // link caps
    b.writeUInt16LE((pcie.curSpeed ?? maxSpeed) | ((pcie.curWidth ?? maxWidth) << 4), 0x72); // link status
  }

  // Extended capabilities (PCIe only).
  if (!fn.conventional) {
    const ext: Array<{ off: number; id: number; ver: number; fill: (o: number) => void }> = [];
    ext.push({ off: 0x100, id: 0x0001, ver: 2, fill: () => undefined }); // AER
    const pcie = fn.pcie;
    if (pcie?.acs === "full") {
      ext.push({
        off: 0x148,
        id: 0x000d,
        ver: 1,
        fill: (o) => {
          b.writeUInt16LE(0x005f, o + 4); // SV TB RR CR UF EC? (0x5f: SV TB RR CR UF DT)
          b.writeUInt16LE(0x001d, o + 6); // enabled: SV RR CR UF
        },
      });
    }
    if (pcie?.rebar) {
      const rb = pcie.rebar;
      ext.push({
        off: 0x160,
        id: 0x0015,
        ver: 1,
        fill: (o) => {
          let capBits = 0;
          for (const mib of rb.supportedMiB) capBits |= 1 << (Math.log2(mib) + 4);
          b.writeUInt32LE(capBits >>> 0, o + 4);
          b.writeUInt32LE(1 | (1 << 5) | (Math.log2(rb.currentMiB) << 8), o + 8); // BAR1, 1 resizable BAR
        },
      });
    }
    if (fn.sriov) {
      const s = fn.sriov;
      ext.push({
        off: 0x180,
        id: 0x0010,
        ver: 1,
        fill: (o) => {
          b.writeUInt16LE(s.totalVfs, o + 0x0c); // InitialVFs
          b.writeUInt16LE(s.totalVfs, o + 0x0e); // TotalVFs
          b.writeUInt16LE(s.vfs.length, o + 0x10); // NumVFs
        },
      });
    }
    ext.forEach((e, i) => {
      const next = ext[i + 1]?.off ?? 0;
      b.writeUInt32LE((e.id | (e.ver << 16) | (next << 20)) >>> 0, e.off);
      e.fill(e.off);
    });
  }
  return b.subarray(0, opts.size);
}
