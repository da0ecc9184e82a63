// What `passthrough rom inspect` prints (and its --json): the images of a ROM, the UEFI GOP
// verdict, the nvflash header, and every problem, judged against the card when one is named.

import {
  formatSize,
  offsetText,
  stripHeaderCommand,
  uefiImageForX64,
  type RomImage,
  type RomParse,
} from "../../formats/option-rom.js";
import { romBarProblem, type RomIds } from "../../formats/rom-verdict.js";

export interface RomView {
  /** The file, or the sysfs/ACPI path the ROM was read from. */
  source: string;
  parse: RomParse;
  card: (RomIds & { address: string; romBarBytes: number | null }) | null;
}

export interface RomVerdict {
  problems: string[];
  uefi: RomImage | null;
}

export function romVerdict(view: RomView): RomVerdict {
  const problems = view.parse.problems.map((p) => p.message);
  if (view.parse.nvflashHeader)
    problems.push(
      `an nvflash header of ${view.parse.prefix} bytes comes before the ROM: QEMU would hand the guest garbage; cut it off with: ${stripHeaderCommand(view.source, "stripped.rom", view.parse.prefix)}`,
    );
  else if (view.parse.prefix > 0)
    problems.push(
      `${view.parse.prefix} bytes of something else come before the first image; cut them off with: ${stripHeaderCommand(view.source, "stripped.rom", view.parse.prefix)}`,
    );
  const bar = romBarProblem(view.parse, view.card?.romBarBytes ?? null);
  if (bar) problems.push(bar);
  return { problems, uefi: uefiImageForX64(view.parse) };
}

function imageLine(img: RomImage, n: number): string {
  const kind = img.efi
    ? `UEFI ${img.efi.machineName} ${img.efi.subsystemName}${img.efi.compressed ? ", compressed" : ""}`
    : img.codeTypeName;
  const sum = img.checksum ? `, checksum ${img.checksum.ok ? "ok" : "BAD"}` : "";
  return `  image ${n} at ${offsetText(img.offset)}: ${kind}, ${img.vendorId}:${img.deviceId}, class ${img.classCode}, ${formatSize(img.length)}${sum}${img.last ? ", last" : ""}`;
}

export function renderRom(view: RomView, verdict: RomVerdict): string[] {
  const p = view.parse;
  const size = formatSize(p.size);
  const lines = [`${view.source}: ${p.size} bytes${size.endsWith("bytes") ? "" : ` (${size})`}`];
  p.images.forEach((img, i) => lines.push(imageLine(img, i + 1)));
  if (p.trailing > 0) lines.push(`  ${formatSize(p.trailing)} of fill after the last image`);
  if (view.card?.romBarBytes)
    lines.push(`  the card's ROM BAR: ${formatSize(view.card.romBarBytes)}`);
  lines.push(
    verdict.uefi
      ? `UEFI GOP: yes (image ${p.images.indexOf(verdict.uefi) + 1}): OVMF can initialise the card with it`
      : "UEFI GOP: no x64 UEFI image: OVMF (UEFI VMs) cannot initialise the card with this ROM; SeaBIOS VMs use the legacy image",
  );
  for (const problem of verdict.problems) lines.push(`problem: ${problem}`);
  if (verdict.problems.length === 0)
    lines.push(
      view.card
        ? `usable as the romfile of ${view.card.address} (${view.card.vendorId}:${view.card.deviceId})`
        : "structure ok",
    );
  return lines;
}

export function romJson(view: RomView, verdict: RomVerdict) {
  return {
    source: view.source,
    size: view.parse.size,
    prefix: view.parse.prefix,
    nvflashHeader: view.parse.nvflashHeader,
    images: view.parse.images,
    trailing: view.parse.trailing,
    uefiGop: verdict.uefi !== null,
    card: view.card,
    problems: verdict.problems,
    ok: verdict.problems.length === 0,
  };
}
