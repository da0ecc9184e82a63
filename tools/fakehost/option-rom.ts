// Crafted PCI expansion ROMs and ACPI VFCT tables for fixtures, with the layout of the PCI
// Firmware Specification and the UEFI "PCI Option ROM" header (what src/formats/option-rom.ts
// and acpi-vfct.ts read), so every verdict `rom inspect` and `check` can reach has a file:
// valid ROMs, and ROMs broken on purpose (truncated, a bad checksum, a broken chain).
// Written independently of the parser: fixed offsets, not the parser's own helpers.

export interface RomImageSpec {
  /** 0 legacy x86, 3 UEFI. */
  codeType: number;
  vendor: number;
  device: number;
  /** 24-bit class code (0x030000 VGA). */
  classCode?: number;
  /** Image length in bytes (a multiple of 512). */
  length: number;
  /** UEFI images: PE machine type (0x8664 x64, 0xaa64 aarch64) and subsystem (11 boot service driver). */
  machine?: number;
  subsystem?: number;
  /** Spoil the legacy checksum (byte sum 1 instead of 0). */
  badChecksum?: boolean;
  /** Spoil the last-image indicator (claim more images follow). */
  notLast?: boolean;
}

/** A deterministic filler so images are not all zeros (and checksums mean something). */
function fill(buf: Buffer, seed: number): void {
  let x = seed >>> 0 || 1;
  for (let i = 0; i < buf.length; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    buf[i] = (x >>> 16) & 0xff;
  }
}

function image(spec: RomImageSpec, last: boolean, seed: number): Buffer {
  const b = Buffer.alloc(spec.length);
  fill(b, seed);
  b[0] = 0x55;
  b[1] = 0xaa;
  const efi = spec.codeType === 3;
  const pcir = efi ? 0x1c : 0x40;
  if (efi) {
    b.writeUInt16LE(spec.length / 512, 0x02);
    b.writeUInt32LE(0x0ef1, 0x04);
    b.writeUInt16LE(spec.subsystem ?? 11, 0x08);
    b.writeUInt16LE(spec.machine ?? 0x8664, 0x0a);
    b.writeUInt16LE(0, 0x0c);
    b.fill(0, 0x0e, 0x16);
    b.writeUInt16LE(0x60, 0x16);
  } else {
    b[0x02] = spec.length / 512;
    b[0x03] = 0xe9; // jmp near: the legacy entry point
  }
  b.writeUInt16LE(pcir, 0x18);
  b.write("PCIR", pcir, "latin1");
  b.writeUInt16LE(spec.vendor, pcir + 0x04);
  b.writeUInt16LE(spec.device, pcir + 0x06);
  b.writeUInt16LE(0, pcir + 0x08);
  b.writeUInt16LE(0x18, pcir + 0x0a);
  b[pcir + 0x0c] = efi ? 3 : 0;
  const cls = spec.classCode ?? 0x030000;
  b[pcir + 0x0d] = cls & 0xff;
  b[pcir + 0x0e] = (cls >> 8) & 0xff;
  b[pcir + 0x0f] = (cls >> 16) & 0xff;
  b.writeUInt16LE(spec.length / 512, pcir + 0x10);
  b.writeUInt16LE(1, pcir + 0x12);
  b[pcir + 0x14] = spec.codeType;
  b[pcir + 0x15] = last && !spec.notLast ? 0x80 : 0x00;
  b.writeUInt16LE(0, pcir + 0x16);
  if (!efi) {
    // The last byte of the image makes the sum 0 (or 1, for a broken one).
    b[spec.length - 1] = 0;
    let sum = 0;
    for (let i = 0; i < spec.length; i++) sum = (sum + b[i]!) & 0xff;
    b[spec.length - 1] = (0x100 - sum + (spec.badChecksum ? 1 : 0)) & 0xff;
  }
  return b;
}

/** A ROM of `images` in order, the last marked last; `pad` fills the rest with 0xff up to that size. */
export function buildOptionRom(images: RomImageSpec[], opts: { pad?: number } = {}): Buffer {
  const parts = images.map((s, i) => image(s, i === images.length - 1, 0x5eed + i));
  const rom = Buffer.concat(parts);
  if (!opts.pad || opts.pad <= rom.length) return rom;
  return Buffer.concat([rom, Buffer.alloc(opts.pad - rom.length, 0xff)]);
}

/** What `nvflash --save` writes: its own 0x600-byte header ("NVGI" ...), then the ROM. */
export function withNvflashHeader(rom: Buffer): Buffer {
  const header = Buffer.alloc(0x600);
  fill(header, 0x4e56);
  header.write("NVGI", 0, "latin1");
  // No 0x55AA in the header, or the ROM would seem to start there.
  for (let i = 0; i + 1 < header.length; i++)
    if (header[i] === 0x55 && header[i + 1] === 0xaa) header[i + 1] = 0xab;
  return Buffer.concat([header, rom]);
}

export interface VfctEntrySpec {
  bus: number;
  device: number;
  fn: number;
  vendor: number;
  deviceId: number;
  subVendor: number;
  subDevice: number;
  rom: Buffer;
}

/** An ACPI VFCT table holding `entries`, with a valid ACPI checksum. */
export function buildVfct(entries: VfctEntrySpec[]): Buffer {
  const head = Buffer.alloc(0x4c);
  head.write("VFCT", 0, "latin1");
  head[8] = 1; // revision
  head.write("ALASKA", 10, "latin1");
  head.write("A M I   ", 16, "latin1");
  head.writeUInt32LE(1, 24);
  head.write("AMD ", 28, "latin1");
  head.writeUInt32LE(0x31504f47, 32);
  head.writeUInt32LE(0x4c, 0x34);
  const bodies = entries.map((e) => {
    const h = Buffer.alloc(28);
    h.writeUInt32LE(e.bus, 0);
    h.writeUInt32LE(e.device, 4);
    h.writeUInt32LE(e.fn, 8);
    h.writeUInt16LE(e.vendor, 12);
    h.writeUInt16LE(e.deviceId, 14);
    h.writeUInt16LE(e.subVendor, 16);
    h.writeUInt16LE(e.subDevice, 18);
    h.writeUInt32LE(0, 20);
    h.writeUInt32LE(e.rom.length, 24);
    return Buffer.concat([h, e.rom]);
  });
  const table = Buffer.concat([head, ...bodies]);
  table.writeUInt32LE(table.length, 4);
  let sum = 0;
  for (let i = 0; i < table.length; i++) sum = (sum + table[i]!) & 0xff;
  table[9] = (0x100 - sum) & 0xff;
  return table;
}
