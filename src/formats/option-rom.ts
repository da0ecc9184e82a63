// PCI expansion ROMs (a GPU's VBIOS), as the card's ROM BAR, `passthrough rom dump` or a
// downloaded file hold them. The layout is the PCI Firmware Specification's (and the PCI Local
// Bus spec's before it), the UEFI part that of the UEFI specification's "PCI Option ROM"
// section (EDK2 IndustryStandard/Pci22.h and PeImage.h name the same fields):
//
//   image:  0x00 0x55 0xAA, 0x02 initialisation size (x86: 512-byte units), 0x18 u16 offset
//           of the PCI Data Structure. An EFI image also has 0x04 u32 0x0EF1, 0x08 subsystem,
//           0x0A machine type, 0x0C compression type.
//   PCIR:   0x00 "PCIR", 0x04 vendor, 0x06 device, 0x0C revision, 0x0D class (3 bytes),
//           0x10 image length (512-byte units), 0x14 code type (0 x86, 1 Open Firmware,
//           2 PA-RISC, 3 EFI), 0x15 indicator (bit 7: last image).
//
// Images follow each other until one says it is the last (the walk the kernel does in
// drivers/pci/rom.c pci_get_rom_size). A legacy x86 image's bytes sum to 0 (mod 256) over its
// initialisation size. ROMs saved by NVIDIA's nvflash carry a header of their own before the
// first 0x55AA; QEMU and the guest see garbage until it is cut off. Pure: bytes in, facts out.

import { quoteArgv } from "../process/quote.js";

/** 16 MiB: the most the Expansion ROM Base Address register can map (PCI Local Bus spec). */
export const MAX_ROM_BYTES = 16 * 1024 * 1024;

const SIGNATURE = [0x55, 0xaa];
const PCIR = "PCIR";
const EFI_SIGNATURE = 0x0ef1;
/** How far into a file a ROM image is looked for when it does not start with one. */
const PREFIX_SCAN = 1024 * 1024;

export interface EfiImageInfo {
  signatureOk: boolean;
  subsystem: number;
  /** "boot service driver" (11), "runtime driver" (12), "application" (10). */
  subsystemName: string;
  machine: number;
  /** "x64", "ia32", "aarch64", "ebc", ... */
  machineName: string;
  compressed: boolean;
}

export interface RomImage {
  /** Where the image starts in the bytes given. */
  offset: number;
  /** Its length from the PCI Data Structure, in bytes. */
  length: number;
  codeType: number;
  /** "legacy x86", "UEFI", "Open Firmware", "PA-RISC", "type 0x70". */
  codeTypeName: string;
  vendorId: string;
  deviceId: string;
  /** Six hex digits, as in config space ("030000"). */
  classCode: string;
  pcirRevision: number;
  last: boolean;
  /** Legacy x86 images: the byte sum over the initialisation size, which must be 0. */
  checksum: { ok: boolean; sum: number; bytes: number } | null;
  efi: EfiImageInfo | null;
}

export type RomProblemKind =
  | "empty"
  | "not-a-rom"
  | "no-pcir"
  | "truncated"
  | "zero-length"
  | "broken-chain"
  | "no-last-image"
  | "checksum"
  | "efi-signature";

export interface RomProblem {
  kind: RomProblemKind;
  message: string;
}

export interface RomParse {
  size: number;
  /** Bytes before the first image: a dump tool's header (0 for a plain ROM). */
  prefix: number;
  /** The header is nvflash's: the first image is NVIDIA's (vendor 10de). */
  nvflashHeader: boolean;
  images: RomImage[];
  /** Bytes after the last image (fill up to the ROM's size); not part of any image. */
  trailing: number;
  problems: RomProblem[];
}

const CODE_TYPES: Record<number, string> = {
  0: "legacy x86",
  1: "Open Firmware",
  2: "PA-RISC",
  3: "UEFI",
};

const EFI_SUBSYSTEMS: Record<number, string> = {
  10: "application",
  11: "boot service driver",
  12: "runtime driver",
};

/** PE/COFF machine types (UEFI spec, PE32 image header "Machine"). */
const EFI_MACHINES: Record<number, string> = {
  0x014c: "ia32",
  0x0200: "ia64",
  0x0ebc: "ebc",
  0x8664: "x64",
  0x01c2: "arm",
  0xaa64: "aarch64",
  0x5064: "riscv64",
  0x6264: "loongarch64",
};

const hex = (n: number, digits: number) => n.toString(16).padStart(digits, "0");

/** "x86 image at 0x0: ..." style offsets. */
export function offsetText(n: number): string {
  return `0x${n.toString(16)}`;
}

function hasSignature(b: Buffer, at: number): boolean {
  return at + 1 < b.length && b[at] === SIGNATURE[0] && b[at + 1] === SIGNATURE[1];
}

/** The PCI Data Structure offset of an image at `at`, when its "PCIR" signature is in bounds. */
function pcirAt(b: Buffer, at: number): number | null {
  if (at + 0x1a > b.length) return null;
  const p = at + b.readUInt16LE(at + 0x18);
  if (p + 0x18 > b.length) return null;
  return b.toString("latin1", p, p + 4) === PCIR ? p : null;
}

/** Where the first image starts: 0, or after a header when the bytes do not start with one. */
function firstImage(b: Buffer): number | null {
  if (hasSignature(b, 0)) return 0;
  const end = Math.min(b.length - 1, PREFIX_SCAN);
  for (let i = 1; i < end; i++) if (hasSignature(b, i) && pcirAt(b, i) !== null) return i;
  return null;
}

function legacyChecksum(b: Buffer, at: number, length: number): RomImage["checksum"] {
  const declared = b[at + 2]! * 512;
  const bytes = Math.min(declared > 0 ? declared : length, b.length - at);
  let sum = 0;
  for (let i = at; i < at + bytes; i++) sum = (sum + b[i]!) & 0xff;
  return { ok: sum === 0, sum, bytes };
}

function efiInfo(b: Buffer, at: number): EfiImageInfo {
  const subsystem = b.readUInt16LE(at + 0x08);
  const machine = b.readUInt16LE(at + 0x0a);
  return {
    signatureOk: b.readUInt32LE(at + 0x04) === EFI_SIGNATURE,
    subsystem,
    subsystemName: EFI_SUBSYSTEMS[subsystem] ?? `subsystem ${subsystem}`,
    machine,
    machineName: EFI_MACHINES[machine] ?? `machine 0x${hex(machine, 4)}`,
    compressed: b.readUInt16LE(at + 0x0c) === 1,
  };
}

function readImage(b: Buffer, at: number, p: number): RomImage {
  const codeType = b[p + 0x14]!;
  const length = b.readUInt16LE(p + 0x10) * 512;
  const classCode = hex(b[p + 0x0f]!, 2) + hex(b[p + 0x0e]!, 2) + hex(b[p + 0x0d]!, 2);
  return {
    offset: at,
    length,
    codeType,
    codeTypeName: CODE_TYPES[codeType] ?? `type 0x${hex(codeType, 2)}`,
    vendorId: hex(b.readUInt16LE(p + 0x04), 4),
    deviceId: hex(b.readUInt16LE(p + 0x06), 4),
    classCode,
    pcirRevision: b[p + 0x0c]!,
    last: (b[p + 0x15]! & 0x80) !== 0,
    checksum: codeType === 0 ? legacyChecksum(b, at, length) : null,
    efi: codeType === 3 ? efiInfo(b, at) : null,
  };
}

export function parseOptionRom(bytes: Buffer): RomParse {
  const out: RomParse = {
    size: bytes.length,
    prefix: 0,
    nvflashHeader: false,
    images: [],
    trailing: 0,
    problems: [],
  };
  const problem = (kind: RomProblemKind, message: string) => out.problems.push({ kind, message });
  if (bytes.length === 0) {
    problem("empty", "the file is empty");
    return out;
  }
  const start = firstImage(bytes);
  if (start === null) {
    const head = [...bytes.subarray(0, 2)].map((x) => hex(x, 2)).join(" ");
    problem(
      "not-a-rom",
      `not a PCI option ROM: no image with the 0x55AA signature and a "PCIR" data structure (it starts with ${head})`,
    );
    return out;
  }
  out.prefix = start;
  let at = start;
  for (;;) {
    const p = pcirAt(bytes, at);
    if (p === null) {
      problem(
        at + 0x1a > bytes.length ? "truncated" : "no-pcir",
        at + 0x1a > bytes.length
          ? `truncated: the image at ${offsetText(at)} is cut off inside its header`
          : `the image at ${offsetText(at)} has no "PCIR" data structure where its header points`,
      );
      break;
    }
    const img = readImage(bytes, at, p);
    out.images.push(img);
    if (img.length === 0) {
      problem("zero-length", `the image at ${offsetText(at)} declares a length of 0`);
      break;
    }
    if (at + img.length > bytes.length) {
      problem(
        "truncated",
        `truncated: the ${img.codeTypeName} image at ${offsetText(at)} is ${img.length} bytes long but the file ends ${bytes.length - at} bytes into it`,
      );
      break;
    }
    if (img.checksum && !img.checksum.ok)
      problem(
        "checksum",
        `the ${img.codeTypeName} image at ${offsetText(at)} fails its checksum (its ${img.checksum.bytes} bytes sum to 0x${hex(img.checksum.sum, 2)}, not 0)`,
      );
    if (img.efi && !img.efi.signatureOk)
      problem(
        "efi-signature",
        `the UEFI image at ${offsetText(at)} lacks the 0x0EF1 EFI signature in its header`,
      );
    at += img.length;
    if (img.last) break;
    if (at >= bytes.length) {
      problem(
        "no-last-image",
        `no image is marked as the last one: the file ends after the image at ${offsetText(img.offset)}`,
      );
      break;
    }
    if (!hasSignature(bytes, at)) {
      problem(
        "broken-chain",
        `the image at ${offsetText(img.offset)} says more images follow, but ${offsetText(at)} has no 0x55AA signature`,
      );
      break;
    }
  }
  out.nvflashHeader = out.prefix > 0 && out.images[0]?.vendorId === "10de";
  const last = out.images[out.images.length - 1];
  if (last) out.trailing = Math.max(0, bytes.length - (last.offset + last.length));
  return out;
}

/** A UEFI driver OVMF on x86-64 can run: an x64 image, or EFI Byte Code (OVMF interprets it). */
export function uefiImageForX64(parse: RomParse): RomImage | null {
  return (
    parse.images.find(
      (i) =>
        i.efi !== null &&
        i.efi.signatureOk &&
        (i.efi.machine === 0x8664 || i.efi.machine === 0x0ebc),
    ) ?? null
  );
}

/** "legacy x86 (64 KiB), UEFI x64 boot service driver (61 KiB)". */
export function describeImages(parse: RomParse): string {
  return parse.images
    .map(
      (i) =>
        `${i.codeTypeName}${i.efi ? ` ${i.efi.machineName} ${i.efi.subsystemName}${i.efi.compressed ? ", compressed" : ""}` : ""} (${formatSize(i.length)})`,
    )
    .join(", ");
}

export function formatSize(bytes: number): string {
  if (bytes >= 1024 * 1024 && bytes % (1024 * 1024) === 0) return `${bytes / 1024 / 1024} MiB`;
  if (bytes >= 1024 && bytes % 1024 === 0) return `${bytes / 1024} KiB`;
  return `${bytes} bytes`;
}

/** The bytes of the ROM proper: without a dump tool's header before it. */
export function romBody(bytes: Buffer, parse: RomParse): Buffer {
  return parse.prefix > 0 ? bytes.subarray(parse.prefix) : bytes;
}

/** The GNU dd command that cuts a header of `prefix` bytes off `file` into `out` (dd(1)). */
export function stripHeaderCommand(file: string, out: string, prefix: number): string {
  return quoteArgv([
    "dd",
    `if=${file}`,
    `of=${out}`,
    "bs=4096",
    "iflag=skip_bytes",
    `skip=${prefix}`,
  ]);
}
