// Reading a card's VBIOS (`passthrough rom dump`, `rom inspect --device`). Two sources:
//
// - the sysfs `rom` attribute: writing "1" to it enables the ROM BAR, reading returns the ROM,
//   writing "0" disables it again (Documentation/ABI/testing/sysfs-bus-pci, "rom"); for the
//   boot GPU the kernel returns the shadow copy at 0xC0000 instead.
// - the ACPI VFCT table (/sys/firmware/acpi/tables/VFCT) for AMD APUs, whose iGPU has no ROM
//   BAR: the firmware leaves the VBIOS there (formats/acpi-vfct.ts).
//
// Reading the ROM while a host driver runs the card can hang it or return garbage (the driver
// may have remapped the BAR); reading the boot GPU under a live framebuffer returns the shadow
// image the firmware already patched. Both are refused with the reason. The `rom` enable is
// the only thing written, and it is always switched back off.

import * as fs from "node:fs";
import * as path from "node:path";
import { RefusedError, describeFsError, InputError } from "../errors.js";
import { parseVfct, vfctImageFor } from "../formats/acpi-vfct.js";
import { MAX_ROM_BYTES } from "../formats/option-rom.js";
import type { HostRoot } from "../host/root.js";
import type { PciDevice } from "../host/types.js";

/** Drivers that leave the ROM alone: reading it under them is what QEMU itself does. */
const IDLE_DRIVERS = new Set(["vfio-pci", "pci-stub"]);

/** Switching the sysfs ROM on and off; an object so tests on a plain tree can watch it. */
export const romSwitch = {
  set(file: string, on: boolean): void {
    fs.writeFileSync(file, on ? "1" : "0");
  },
};

export const VFCT_PATH = "sys/firmware/acpi/tables/VFCT";

export interface RomRead {
  bytes: Buffer;
  /** "/sys/bus/pci/devices/ADDR/rom" or "/sys/firmware/acpi/tables/VFCT". */
  source: string;
}

/** Why the ROM of `dev` must not be read now, or null. `fb` is /proc/fb's text. */
export function romReadRefusal(dev: PciDevice, fb: string | null): string | null {
  if (dev.driver !== null && !IDLE_DRIVERS.has(dev.driver))
    return `${dev.address} is driven by ${dev.driver} on the host: reading its ROM under a running driver can hang the card or return garbage; bind it to vfio-pci first (\`passthrough plan --device ${dev.address}\`, then apply and reboot), then dump`;
  if (dev.bootVga === true && fb !== null && fb.trim() !== "")
    return `${dev.address} is the boot GPU and a framebuffer runs on it (/proc/fb: ${fb.trim().split("\n")[0]}): its ROM reads back as the shadow copy the firmware already ran; dump it on a host booted from another GPU, or take the file from the card's maker`;
  return null;
}

/** The card's ROM: from sysfs when it has a ROM BAR, else from VFCT for an AMD iGPU. */
export function readDeviceRom(rootDir: string, root: HostRoot, dev: PciDevice): RomRead {
  const fb = root.readText("proc/fb");
  const refusal = romReadRefusal(dev, fb.ok ? fb.value : null);
  if (refusal) throw new RefusedError(refusal);
  if (root.exists(`${dev.sysfsPath}/rom`)) return readSysfsRom(rootDir, dev);
  if (dev.vendorId === "1002" && root.exists(VFCT_PATH)) return readVfctRom(rootDir, dev);
  throw new InputError(
    `${dev.address} has no ROM the host can read (no sysfs rom attribute${dev.vendorId === "1002" ? ", no ACPI VFCT table" : ""}); take the VBIOS file from the card's maker and check it with \`passthrough rom inspect FILE --device ${dev.address}\``,
  );
}

function readSysfsRom(rootDir: string, dev: PciDevice): RomRead {
  const rel = `${dev.sysfsPath}/rom`;
  const file = path.join(rootDir, rel);
  const source = `/${rel}`;
  try {
    romSwitch.set(file, true);
  } catch (err) {
    throw new InputError(`${source}: cannot enable the ROM (${describeFsError(err)}); run as root`);
  }
  try {
    const bytes = readCapped(file);
    if (bytes.length === 0)
      throw new InputError(
        `${source}: the card returned no ROM (the kernel found no valid image behind the ROM BAR); take the VBIOS file from the card's maker`,
      );
    return { bytes, source };
  } catch (err) {
    if (err instanceof InputError) throw err;
    throw new InputError(
      `${source}: ${describeFsError(err)} while reading the ROM; the card may not expose it (some need the host to have booted from another GPU)`,
    );
  } finally {
    romSwitch.set(file, false);
  }
}

function readVfctRom(rootDir: string, dev: PciDevice): RomRead {
  const source = `/${VFCT_PATH}`;
  let table: Buffer;
  try {
    table = readCapped(path.join(rootDir, VFCT_PATH));
  } catch (err) {
    throw new InputError(`${source}: ${describeFsError(err)}; run as root`);
  }
  const vfct = parseVfct(table);
  const img = vfctImageFor(vfct, dev.address, dev);
  if (!img)
    throw new InputError(
      `${source}: no VBIOS for ${dev.address} (${dev.vendorId}:${dev.deviceId}) in the table${vfct.problems.length ? ` (${vfct.problems[0]})` : ""}`,
    );
  return { bytes: Buffer.from(img.image), source };
}

/** A sysfs or ACPI file: read to its end, never more than a ROM can be. */
function readCapped(file: string): Buffer {
  const fd = fs.openSync(file, "r");
  try {
    const buf = Buffer.alloc(MAX_ROM_BYTES + 1);
    let n = 0;
    for (let r = -1; r !== 0 && n < buf.length; n += r)
      r = fs.readSync(fd, buf, n, buf.length - n, null);
    return buf.subarray(0, Math.min(n, MAX_ROM_BYTES));
  } finally {
    fs.closeSync(fd);
  }
}
