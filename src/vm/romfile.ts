// --romfile FILE: the VBIOS a VM's GPU shows the guest instead of the card's own ROM (an APU or
// iGPU without a ROM BAR, a card whose ROM lacks a UEFI image). The file is checked here
// against the card it is for, before anything is written: a file that is no ROM, is cut off,
// carries nvflash's header or belongs to another card is refused in one line (exit 2).
// Where each backend takes it: Proxmox `hostpciN: ...,romfile=NAME`, a name under
// /usr/share/kvm (qm.conf(5)); libvirt `<rom file='PATH'/>` in the hostdev (formatdomain);
// QEMU `-device vfio-pci,...,romfile=PATH`. Pure.

import * as crypto from "node:crypto";
import * as path from "node:path";
import { InputError } from "../errors.js";
import { parseOptionRom, stripHeaderCommand, uefiImageForX64 } from "../formats/option-rom.js";
import { romBarProblem, romFatalProblem } from "../formats/rom-verdict.js";

/** Proxmox's folder for romfile names (qemu-server PCI.pm: romfile=/usr/share/kvm/NAME). */
export const PVE_ROM_DIR = "/usr/share/kvm";

/** --romfile FILE as read: its absolute path and bytes (read at the CLI's edge). */
export interface RomFileInput {
  path: string;
  bytes: Buffer;
}

/** The passed device a ROM is for: its functions' ids and classes. */
export interface RomTarget {
  functions: Array<{ address: string; vendorId: string; deviceId: string; classCode: string }>;
}

export interface SpecRomFile {
  /** The file on this machine (libvirt, QEMU). */
  path: string;
  /** Its name under /usr/share/kvm (Proxmox). */
  name: string;
  /** The function it is for (the display function of the passed device). */
  function: string;
  size: number;
  sha256: string;
}

// qemu-server's romfile: `[^,;]+`; a plain file name keeps it out of property-string quoting.
const ROM_NAME = /^[A-Za-z0-9][A-Za-z0-9._+-]*$/;

/** The checked ROM for `gpu`, and what to know about it; InputError when it cannot serve it. */
export function specRomFile(
  input: RomFileInput,
  gpu: RomTarget | null,
  /** The ROM BAR size of a host function, when known. */
  romBarOf: (address: string) => number | null = () => null,
): { romfile: SpecRomFile; warnings: string[] } {
  const what = `--romfile ${input.path}`;
  if (!gpu)
    throw new InputError(
      `${what}: a ROM file is for a GPU, and --device names none; add the GPU (\`passthrough list\` shows class VGA/3D)`,
    );
  const name = path.basename(input.path);
  if (!ROM_NAME.test(name) || /[,\n]/.test(input.path))
    throw new InputError(
      `${what}: the file name must be letters, digits, '.', '_', '+' and '-' (Proxmox keeps it as a name under ${PVE_ROM_DIR}; QEMU splits options at commas); rename the file`,
    );
  const fn = gpu.functions.find((f) => f.classCode.startsWith("03")) ?? gpu.functions[0]!;
  const parse = parseOptionRom(input.bytes);
  const fatal = romFatalProblem(parse, { vendorId: fn.vendorId, deviceId: fn.deviceId });
  if (fatal)
    throw new InputError(
      `${what}: ${fatal}; give ${fn.address}'s VBIOS (\`passthrough rom dump --device ${fn.address}\` reads it from the card)`,
    );
  if (parse.prefix > 0)
    throw new InputError(
      `${what}: ${parse.prefix} bytes of ${parse.nvflashHeader ? "nvflash's header" : "something else"} come before the ROM, which the guest would run as code; cut them off (\`${stripHeaderCommand(input.path, `${input.path}.stripped`, parse.prefix)}\`) and give that file`,
    );
  const warnings: string[] = [];
  if (!uefiImageForX64(parse))
    warnings.push(
      `--romfile ${name} has no UEFI (x64) image: OVMF cannot initialise ${fn.address} from it (no picture until the guest driver loads); \`passthrough rom inspect ${input.path}\` lists its images`,
    );
  const bar = romBarProblem(parse, romBarOf(fn.address));
  if (bar) warnings.push(`--romfile ${name}: ${bar}`);
  for (const p of parse.problems) warnings.push(`--romfile ${name}: ${p.message}`);
  return {
    romfile: {
      path: input.path,
      name,
      function: fn.address,
      size: input.bytes.length,
      sha256: crypto.createHash("sha256").update(input.bytes).digest("hex"),
    },
    warnings,
  };
}
