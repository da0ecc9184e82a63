// Is a parsed option ROM usable for a given card? The structural problems that make a file
// no ROM at all (empty, not one, cut off) are fatal; so are images made for another card:
// the PCI Data Structure's vendor and device must be the card's (PCI Firmware Specification,
// "PCI Data Structure Format"), or the guest firmware runs another card's code. The rest
// (a checksum, a broken chain) is reported and left to the user. Pure.

import { InputError } from "../errors.js";
import { readInputFile } from "../input-file.js";
import {
  formatSize,
  MAX_ROM_BYTES,
  parseOptionRom,
  type RomParse,
  type RomProblemKind,
} from "./option-rom.js";

const FATAL: ReadonlySet<RomProblemKind> = new Set(["empty", "not-a-rom", "no-pcir", "truncated"]);

export interface RomIds {
  vendorId: string;
  deviceId: string;
}

/** The first reason the ROM cannot serve this card (or any card), or null. */
export function romFatalProblem(parse: RomParse, card: RomIds | null): string | null {
  const fatal = parse.problems.find((p) => FATAL.has(p.kind));
  if (fatal) return fatal.message;
  if (parse.images.length === 0) return "no image in it";
  if (!card) return null;
  const other = parse.images.find(
    (i) => i.vendorId !== card.vendorId || i.deviceId !== card.deviceId,
  );
  if (other)
    return `made for ${other.vendorId}:${other.deviceId}, not for the card ${card.vendorId}:${card.deviceId}`;
  return null;
}

/** A ROM larger than the card's ROM BAR cannot be what the card carries. */
export function romBarProblem(parse: RomParse, barBytes: number | null): string | null {
  if (barBytes === null || barBytes === 0) return null;
  const last = parse.images[parse.images.length - 1];
  const used = last ? last.offset - parse.prefix + last.length : 0;
  return used > barBytes
    ? `its images take ${formatSize(used)}, more than the card's ${formatSize(barBytes)} ROM BAR`
    : null;
}

/**
 * A ROM file the user points at (`rom inspect FILE`, `--romfile FILE`): read as outside input
 * (regular file, at most what a ROM BAR can map), then refused in one line when it is no ROM,
 * is cut off, or belongs to another card.
 */
export function readRomFile(
  file: string,
  what: string,
  card: RomIds | null,
): { bytes: Buffer; parse: RomParse } {
  const bytes = readInputFile(file, { what, maxBytes: MAX_ROM_BYTES });
  const parse = parseOptionRom(bytes);
  const fatal = romFatalProblem(parse, card);
  if (fatal)
    throw new InputError(
      `${what} ${file}: ${fatal}; give the card's VBIOS (\`passthrough rom dump\` reads it from the card)`,
    );
  return { bytes, parse };
}
