// `passthrough rom dump` and `rom inspect`: a card's VBIOS read from the card (sysfs `rom`, or
// the ACPI VFCT table for AMD APUs: apply/rom-dump.ts) or from a file, and judged: signature,
// PCI data structure ids against the card, images (legacy x86, UEFI with its architecture),
// checksums, size against the ROM BAR, an nvflash header (formats/option-rom.ts).

import * as path from "node:path";
import type { Command } from "commander";
import { readDeviceRom } from "../../apply/rom-dump.js";
import { FileWriter } from "../../apply/file-writer.js";
import { EXIT, InputError } from "../../errors.js";
import { parseSingleDevice, quoteInput } from "../../formats/device-selection.js";
import { parseOptionRom } from "../../formats/option-rom.js";
import { readRomFile, romFatalProblem } from "../../formats/rom-verdict.js";
import { openHostRoot, openRootTree, type OpenedRoot } from "../../host/open-root.js";
import { readHostState } from "../../host/read-host.js";
import type { PciDevice } from "../../host/types.js";
import { printJson, type CommandContext } from "../context.js";
import { collect } from "../options.js";
import type { RunAction } from "../registration.js";
import { renderRom, romJson, romVerdict, type RomView } from "../render/rom-report.js";

interface RomOptions {
  device?: string[];
  root?: string;
  snapshot?: string;
  json?: boolean;
  output?: string;
}

export function registerRom(program: Command, run: RunAction): void {
  const rom = program
    .command("rom")
    .description(
      "read a GPU's VBIOS (option ROM) from the card and check a ROM file before a VM uses it",
    );
  rom
    .command("dump")
    .description(
      "save the card's ROM to a file: sysfs rom (enabled, read, disabled) or, for AMD APUs, the ACPI VFCT table",
    )
    .requiredOption("--device <addr>", "the GPU function, e.g. 0000:01:00.0", collect)
    .option(
      "-o, --output <file>",
      "where to write it (default: vbios-VENDOR-DEVICE.rom here); an existing file is not replaced",
    )
    .option(
      "--root <dir>",
      "read the sysfs of another tree with the layout of / (a test tree) instead of this host",
    )
    .addHelpText(
      "after",
      `
Refused (exit 3) while a host driver other than vfio-pci runs the card, and for the boot GPU
while a framebuffer runs on it: the ROM would read back wrong or hang the card. Run as root.
The ROM is checked before it is written; a card that returns no valid ROM writes nothing.

Examples:
  passthrough rom dump --device 01:00.0
  passthrough rom dump --device 01:00.0 -o /root/gpu.rom && passthrough rom inspect /root/gpu.rom`,
    )
    .action(run<RomOptions>(dumpCommand));
  rom
    .command("inspect")
    .description(
      "check a ROM file (or the card's own ROM): signature, ids, images, UEFI GOP, checksums, size",
    )
    .argument("[file]", "a ROM file (a dump, or one downloaded for the card)")
    .option(
      "--device <addr>",
      "the card it is for: its ids must match; without FILE, read the card's own ROM",
      collect,
    )
    .option("--snapshot <path>", "take the card's ids and ROM BAR from a snapshot (with FILE)")
    .option("--root <dir>", "read another tree with the layout of / instead of this host")
    .option("--json", "print one JSON object")
    .addHelpText(
      "after",
      `
Exit codes: 0 usable, 1 problems found (checksum, broken image chain, nvflash header, larger
than the ROM BAR), 2 not a ROM, cut off, or made for another card.

Examples:
  passthrough rom inspect gpu.rom
  passthrough rom inspect gpu.rom --device 01:00.0
  passthrough rom inspect --device 01:00.0            the card's own ROM (root)`,
    )
    .action(run<RomOptions>(inspectCommand));
}

function openTree(opts: RomOptions): OpenedRoot & { rootDir: string } {
  if (opts.root !== undefined && opts.snapshot !== undefined)
    throw new InputError("--root and --snapshot: give one of them");
  if (opts.root !== undefined)
    return { ...openRootTree(opts.root), rootDir: path.resolve(opts.root) };
  return { ...openHostRoot(opts.snapshot), rootDir: "/" };
}

/** The one GPU function --device names, read from the host (or tree, or snapshot). */
function findDevice(opened: OpenedRoot, values: string[] | undefined): PciDevice {
  const ref = parseSingleDevice(values, "rom");
  if (!ref) throw new InputError("give --device with the GPU function, e.g. --device 0000:01:00.0");
  const address = ref.isFunction ? ref.address : `${ref.address}.0`;
  const state = readHostState(opened.root, { manifest: opened.manifest });
  const dev = state.pci.find((d) => d.address === address);
  if (!dev)
    throw new InputError(
      `--device ${quoteInput(values!.join(","))}: no PCI function ${address} on this host; \`passthrough list\` shows them`,
    );
  return dev;
}

function dumpCommand(ctx: CommandContext, opts: RomOptions): number {
  const opened = openTree(opts);
  const dev = findDevice(opened, opts.device);
  const out = path.resolve(opts.output ?? `vbios-${dev.vendorId}-${dev.deviceId}.rom`);
  const writer = new FileWriter("/");
  if (writer.read(out).exists)
    throw new InputError(`-o ${out}: already exists; give another file or remove it first`);
  const read = readDeviceRom(opened.rootDir, opened.root, dev);
  const parse = parseOptionRom(read.bytes);
  const fatal = romFatalProblem(parse, dev);
  if (fatal) {
    ctx.err(
      `${read.source}: ${fatal}; nothing written. Take the VBIOS file from the card's maker.`,
    );
    return EXIT.problems;
  }
  writer.write(out, read.bytes, { mode: 0o644 });
  const view: RomView = { source: out, parse, card: cardOf(dev) };
  const verdict = romVerdict(view);
  ctx.out(
    `wrote ${out} (${read.bytes.length} bytes) from ${read.source}`,
    renderRom(view, verdict),
  );
  return verdict.problems.length ? EXIT.problems : EXIT.ok;
}

function cardOf(dev: PciDevice): RomView["card"] {
  return {
    address: dev.address,
    vendorId: dev.vendorId,
    deviceId: dev.deviceId,
    romBarBytes: dev.romBarBytes,
  };
}

function inspectCommand(ctx: CommandContext, opts: RomOptions, file?: string): number {
  let view: RomView;
  if (file !== undefined) {
    const dev = opts.device ? findDevice(openTree(opts), opts.device) : null;
    const { parse } = readRomFile(file, "rom inspect", dev);
    view = { source: file, parse, card: dev ? cardOf(dev) : null };
  } else {
    if (!opts.device)
      throw new InputError("give a ROM file, or --device ADDR to read the card's own ROM");
    if (opts.snapshot !== undefined)
      throw new InputError("--snapshot holds no ROM contents; give the ROM file with it");
    const opened = openTree(opts);
    const dev = findDevice(opened, opts.device);
    const read = readDeviceRom(opened.rootDir, opened.root, dev);
    const parse = parseOptionRom(read.bytes);
    const fatal = romFatalProblem(parse, dev);
    if (fatal) throw new InputError(`${read.source}: ${fatal}`);
    view = { source: read.source, parse, card: cardOf(dev) };
  }
  const verdict = romVerdict(view);
  if (opts.json) printJson(ctx, romJson(view, verdict));
  else ctx.out(renderRom(view, verdict));
  return verdict.problems.length ? EXIT.problems : EXIT.ok;
}
