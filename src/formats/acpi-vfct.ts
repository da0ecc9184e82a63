// The ACPI VFCT table ("VBIOS Fetch Table"): where AMD APU firmware leaves the integrated GPU's
// VBIOS, since an iGPU has no ROM BAR of its own. The kernel exposes it as
// /sys/firmware/acpi/tables/VFCT (root-readable); amdgpu reads its VBIOS from it
// (drivers/gpu/drm/amd/amdgpu/amdgpu_bios.c, amdgpu_acpi_vfct_bios). Layout:
//
//   0x00 ACPI table header (36 bytes: "VFCT", u32 length, revision, checksum, OEM ids)
//   0x24 TableUUID[16], 0x34 u32 VBIOSImageOffset, 0x38 u32 Lib1ImageOffset, 0x3C 16 reserved
//   then, from VBIOSImageOffset, entries of: u32 PCIBus, u32 PCIDevice, u32 PCIFunction,
//   u16 VendorID, u16 DeviceID, u16 SSVID, u16 SSID, u32 Revision, u32 ImageLength, the image.
//
// An ACPI table's bytes sum to 0 (mod 256) over its length (ACPI spec, System Description
// Table Header). Pure.

export interface VfctImage {
  /** Where the VBIOS image itself starts in the table. */
  offset: number;
  bus: number;
  device: number;
  function: number;
  vendorId: string;
  deviceId: string;
  subsystemVendorId: string;
  subsystemDeviceId: string;
  image: Buffer;
}

export interface VfctParse {
  images: VfctImage[];
  checksumOk: boolean;
  problems: string[];
}

const HEADER = 36;
const TABLE_HEADER = 0x4c;
const IMAGE_HEADER = 28;

const hex4 = (n: number) => n.toString(16).padStart(4, "0");

export function parseVfct(b: Buffer): VfctParse {
  const out: VfctParse = { images: [], checksumOk: false, problems: [] };
  if (b.length < HEADER || b.toString("latin1", 0, 4) !== "VFCT") {
    out.problems.push('not a VFCT table: no "VFCT" ACPI header');
    return out;
  }
  const length = b.readUInt32LE(4);
  if (length > b.length || length < TABLE_HEADER) {
    out.problems.push(
      `the table header says ${length} bytes, but ${b.length} were read (truncated or not a VFCT table)`,
    );
    return out;
  }
  let sum = 0;
  for (let i = 0; i < length; i++) sum = (sum + b[i]!) & 0xff;
  out.checksumOk = sum === 0;
  if (!out.checksumOk) out.problems.push("the ACPI table checksum does not add up to 0");
  let at = b.readUInt32LE(0x34);
  while (at < length) {
    if (at + IMAGE_HEADER > length) {
      out.problems.push(`the image header at 0x${at.toString(16)} is cut off by the table's end`);
      break;
    }
    const size = b.readUInt32LE(at + 24);
    const start = at + IMAGE_HEADER;
    if (start + size > length) {
      out.problems.push(
        `the image at 0x${start.toString(16)} is ${size} bytes long but the table ends before it does`,
      );
      break;
    }
    if (size > 0)
      out.images.push({
        offset: start,
        bus: b.readUInt32LE(at),
        device: b.readUInt32LE(at + 4),
        function: b.readUInt32LE(at + 8),
        vendorId: hex4(b.readUInt16LE(at + 12)),
        deviceId: hex4(b.readUInt16LE(at + 14)),
        subsystemVendorId: hex4(b.readUInt16LE(at + 16)),
        subsystemDeviceId: hex4(b.readUInt16LE(at + 18)),
        image: b.subarray(start, start + size),
      });
    at = start + size;
    if (size === 0) break;
  }
  return out;
}

/** The image amdgpu would take for the function at `address` ("0000:c5:00.0") with these ids. */
export function vfctImageFor(
  parse: VfctParse,
  address: string,
  ids: { vendorId: string; deviceId: string },
): VfctImage | null {
  const m = /^[0-9a-f]{4,}:([0-9a-f]{2}):([0-9a-f]{2})\.([0-7])$/.exec(address);
  if (!m) return null;
  const [bus, dev, fn] = [parseInt(m[1]!, 16), parseInt(m[2]!, 16), Number(m[3])];
  return (
    parse.images.find(
      (i) =>
        i.bus === bus &&
        i.device === dev &&
        i.function === fn &&
        i.vendorId === ids.vendorId &&
        i.deviceId === ids.deviceId,
    ) ?? null
  );
}
