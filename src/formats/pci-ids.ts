// Names for PCI ids from the pci.ids database (hwdata / pciutils), looked up lazily so a
// host with a few vendors never parses the whole 1.3 MB file. Without a database, vendor and
// device names are simply absent; class names come from the PCI class code table below,
// which is fixed by the PCI-SIG specification (the same names pci.ids carries).
//
// Format (pci.ids header): "VVVV  vendor", "\tDDDD  device", "\t\tSVSV SDSD  subsystem",
// and the class section "C CC  class", "\tSS  subclass", "\t\tPI  prog-if".

export class PciIdsDb {
  private readonly vendorBlocks = new Map<string, string | null>();
  // Lookups repeat (a server has hundreds of identical functions): each answer is computed once.
  private readonly deviceLines = new Map<
    string,
    { name: string; start: number; block: string } | null
  >();
  private readonly subsystemNames = new Map<string, string | null>();
  private readonly classNames = new Map<string, string | null>();
  /** Offset of the class section ("C 00  ..."), which follows every vendor; found on first use. */
  private classStart: number | null = null;
  /**
   * @param text the file; with `latin1` true, its bytes decoded one per character (fromBytes):
   *   three times faster than UTF-8 decoding of the 1.3 MB, and the few names with non-ASCII
   *   letters are re-decoded when returned.
   */
  constructor(
    private readonly text: string,
    /** Where it came from, for the README/--json "names from" field. */
    readonly source: string,
    private readonly latin1 = false,
  ) {}

  static fromBytes(bytes: Buffer, source: string): PciIdsDb {
    return new PciIdsDb(bytes.toString("latin1"), source, true);
  }

  /** A name as found in `text`, as real text. */
  private name(raw: string): string {
    return this.latin1 && /[^\p{ASCII}]/u.test(raw)
      ? Buffer.from(raw, "latin1").toString("utf8")
      : raw;
  }

  private vendorBlock(vendor: string): string | null {
    const v = vendor.toLowerCase();
    const cached = this.vendorBlocks.get(v);
    if (cached !== undefined) return cached;
    let block: string | null = null;
    let at = this.text.startsWith(`${v}  `) ? 0 : this.text.indexOf(`\n${v}  `);
    if (at !== -1) {
      if (at > 0) at += 1;
      let end = at;
      // The block runs until the next line that is neither indented nor a comment.
      for (;;) {
        const nl = this.text.indexOf("\n", end);
        if (nl === -1) {
          end = this.text.length;
          break;
        }
        const c = this.text[nl + 1];
        end = nl + 1;
        if (c !== "\t" && c !== "#" && c !== "\n") break;
      }
      block = this.text.slice(at, end);
    }
    this.vendorBlocks.set(v, block);
    return block;
  }

  vendorName(vendor: string): string | null {
    const b = this.vendorBlock(vendor);
    if (!b) return null;
    const nl = b.indexOf("\n");
    return this.name((nl === -1 ? b : b.slice(0, nl)).slice(6).trim()) || null;
  }

  private deviceLine(
    vendor: string,
    device: string,
  ): { name: string; start: number; block: string } | null {
    const k = `${vendor}:${device}`.toLowerCase();
    let line = this.deviceLines.get(k);
    if (line === undefined) this.deviceLines.set(k, (line = this.findDeviceLine(vendor, device)));
    return line;
  }

  private findDeviceLine(
    vendor: string,
    device: string,
  ): { name: string; start: number; block: string } | null {
    const b = this.vendorBlock(vendor);
    if (!b) return null;
    const key = `\n\t${device.toLowerCase()}  `;
    const at = b.indexOf(key);
    if (at === -1) return null;
    const nl = b.indexOf("\n", at + 1);
    return {
      name: this.name(b.slice(at + key.length, nl === -1 ? undefined : nl).trim()),
      start: at + 1,
      block: b,
    };
  }

  deviceName(vendor: string, device: string): string | null {
    return this.deviceLine(vendor, device)?.name ?? null;
  }

  /** "ZOTAC International (MCO) Ltd. GA102 [GeForce RTX 3080]", as lspci prints "Subsystem:". */
  subsystemName(
    vendor: string,
    device: string,
    subVendor: string,
    subDevice: string,
  ): string | null {
    const k = `${vendor}:${device}:${subVendor}:${subDevice}`.toLowerCase();
    let name = this.subsystemNames.get(k);
    if (name === undefined)
      this.subsystemNames.set(
        k,
        (name = this.findSubsystemName(vendor, device, subVendor, subDevice)),
      );
    return name;
  }

  private findSubsystemName(
    vendor: string,
    device: string,
    subVendor: string,
    subDevice: string,
  ): string | null {
    const subVendorName = this.vendorName(subVendor);
    const dev = this.deviceLine(vendor, device);
    let subDeviceName: string | null = null;
    if (dev) {
      const key = `\n\t\t${subVendor.toLowerCase()} ${subDevice.toLowerCase()}  `;
      // Subsystem lines belong to this device until the next "\t" (device) line.
      let end = dev.block.indexOf("\n\t", dev.start + 1);
      while (end !== -1 && dev.block[end + 2] === "\t") end = dev.block.indexOf("\n\t", end + 1);
      const scope = dev.block.slice(dev.start - 1, end === -1 ? undefined : end + 1);
      const at = scope.indexOf(key);
      if (at !== -1) {
        const nl = scope.indexOf("\n", at + 1);
        subDeviceName = this.name(scope.slice(at + key.length, nl === -1 ? undefined : nl).trim());
      }
    }
    // pciutils names a subsystem identical to the device after the device.
    if (
      !subDeviceName &&
      vendor.toLowerCase() === subVendor.toLowerCase() &&
      device.toLowerCase() === subDevice.toLowerCase()
    ) {
      subDeviceName = dev?.name ?? null;
    }
    if (!subVendorName && !subDeviceName) return null;
    return [subVendorName ?? `Vendor ${subVendor}`, subDeviceName ?? `Device ${subDevice}`].join(
      " ",
    );
  }

  className(classCode: string): string | null {
    const k = classCode.slice(0, 4).toLowerCase();
    let name = this.classNames.get(k);
    if (name === undefined) this.classNames.set(k, (name = this.findClassName(classCode)));
    return name;
  }

  private findClassName(classCode: string): string | null {
    const base = classCode.slice(0, 2).toLowerCase();
    const sub = classCode.slice(2, 4).toLowerCase();
    // The class section is the file's last few KB: search it, not the vendors before it.
    this.classStart ??= Math.max(0, this.text.lastIndexOf("\nC 00  "));
    const at = this.text.indexOf(`\nC ${base}  `, this.classStart);
    if (at === -1) return null;
    const nl = this.text.indexOf("\n", at + 1);
    const baseName = this.name(this.text.slice(at + 6, nl).trim());
    const end = this.text.indexOf("\nC ", at + 1);
    const scope = this.text.slice(at, end === -1 ? undefined : end);
    const sAt = scope.indexOf(`\n\t${sub}  `);
    if (sAt === -1) return baseName;
    const sNl = scope.indexOf("\n", sAt + 1);
    return this.name(scope.slice(sAt + 5, sNl === -1 ? undefined : sNl).trim());
  }
}

/** PCI base class and subclass names (PCI Code and ID Assignment Specification). */
const CLASS_NAMES: Record<string, string> = {
  "00": "Unclassified device",
  "0000": "Non-VGA unclassified device",
  "0001": "VGA compatible unclassified device",
  "01": "Mass storage controller",
  "0100": "SCSI storage controller",
  "0101": "IDE interface",
  "0104": "RAID bus controller",
  "0105": "ATA controller",
  "0106": "SATA controller",
  "0107": "Serial Attached SCSI controller",
  "0108": "Non-Volatile memory controller",
  "0109": "Universal Flash Storage controller",
  "0180": "Mass storage controller",
  "02": "Network controller",
  "0200": "Ethernet controller",
  "0207": "Infiniband controller",
  "0208": "Fabric controller",
  "0280": "Network controller",
  "03": "Display controller",
  "0300": "VGA compatible controller",
  "0301": "XGA compatible controller",
  "0302": "3D controller",
  "0380": "Display controller",
  "04": "Multimedia controller",
  "0400": "Multimedia video controller",
  "0401": "Multimedia audio controller",
  "0402": "Computer telephony device",
  "0403": "Audio device",
  "0480": "Multimedia controller",
  "05": "Memory controller",
  "0500": "RAM memory",
  "0501": "FLASH memory",
  "0502": "CXL",
  "0580": "Memory controller",
  "06": "Bridge",
  "0600": "Host bridge",
  "0601": "ISA bridge",
  "0602": "EISA bridge",
  "0604": "PCI bridge",
  "0605": "PCMCIA bridge",
  "0607": "CardBus bridge",
  "0609": "Semi-transparent PCI-to-PCI bridge",
  "0680": "Bridge",
  "07": "Communication controller",
  "0700": "Serial controller",
  "0701": "Parallel controller",
  "0702": "Multiport serial controller",
  "0703": "Modem",
  "0780": "Communication controller",
  "08": "Generic system peripheral",
  "0800": "PIC",
  "0801": "DMA controller",
  "0802": "Timer",
  "0803": "RTC",
  "0804": "PCI Hot-plug controller",
  "0805": "SD Host controller",
  "0806": "IOMMU",
  "0880": "System peripheral",
  "09": "Input device controller",
  "0900": "Keyboard controller",
  "0902": "Mouse controller",
  "0980": "Input device controller",
  "0a": "Docking station",
  "0b": "Processor",
  "0b40": "Co-processor",
  "0c": "Serial bus controller",
  "0c00": "FireWire (IEEE 1394)",
  "0c03": "USB controller",
  "0c04": "Fibre Channel",
  "0c05": "SMBus",
  "0c06": "InfiniBand",
  "0c07": "IPMI Interface",
  "0c09": "CANBUS",
  "0c80": "Serial bus controller",
  "0d": "Wireless controller",
  "0d11": "Bluetooth",
  "0d80": "Wireless controller",
  "0e": "Intelligent controller",
  "0f": "Satellite communications controller",
  "10": "Encryption controller",
  "1000": "Network and computing encryption device",
  "1080": "Encryption controller",
  "11": "Signal processing controller",
  "1101": "Performance counters",
  "1180": "Signal processing controller",
  "12": "Processing accelerators",
  "13": "Non-Essential Instrumentation",
  "40": "Coprocessor",
  ff: "Unassigned class",
};

export function builtinClassName(classCode: string): string {
  const c = classCode.toLowerCase();
  return CLASS_NAMES[c.slice(0, 4)] ?? CLASS_NAMES[c.slice(0, 2)] ?? `Class ${c.slice(0, 4)}`;
}

/** A short word for tables: "VGA", "3D", "audio", "USB", "NVMe", "bridge", ... */
export function classShortName(classCode: string): string {
  const c = classCode.toLowerCase().slice(0, 4);
  const table: Record<string, string> = {
    "0300": "VGA",
    "0302": "3D",
    "0380": "display",
    "0403": "audio",
    "0401": "audio",
    "0c03": "USB",
    "0108": "NVMe",
    "0106": "SATA",
    "0104": "RAID",
    "0107": "SAS",
    "0200": "ethernet",
    "0280": "network",
    "0207": "infiniband",
    "0600": "host bridge",
    "0601": "ISA bridge",
    "0604": "PCI bridge",
    "0c05": "SMBus",
    "0c80": "serial bus",
    "0d11": "bluetooth",
    "0400": "video",
    "0480": "multimedia",
    "0880": "system",
    "0806": "IOMMU",
    "1080": "crypto",
    "1180": "signal proc",
    "1200": "accelerator",
    "0500": "RAM",
    "0580": "memory",
    "0000": "unclassified",
    "0700": "serial",
    "0c07": "IPMI",
  };
  return table[c] ?? builtinClassName(classCode).toLowerCase();
}

export interface PciIdsWanted {
  vendor: string;
  device: string;
  subVendor?: string | null;
  subDevice?: string | null;
}

/**
 * The part of pci.ids a snapshot needs: the header comment, the vendor, device and
 * subsystem lines of the devices present (and the subsystem vendors' own lines, which name
 * them), and the whole class section (a few KB). Names then travel with the snapshot and
 * read the same on any machine, without carrying the 1.3 MB file.
 */
export function pciIdsSubset(
  text: string,
  wanted: readonly PciIdsWanted[],
): { text: string; vendors: number; keptVendors: number } {
  const vendors = new Set<string>();
  const devices = new Set<string>();
  const subsystems = new Set<string>();
  for (const w of wanted) {
    const v = w.vendor.toLowerCase();
    const d = w.device.toLowerCase();
    vendors.add(v);
    devices.add(`${v}:${d}`);
    if (w.subVendor && w.subDevice) {
      vendors.add(w.subVendor.toLowerCase());
      subsystems.add(`${v}:${d}:${w.subVendor.toLowerCase()} ${w.subDevice.toLowerCase()}`);
    }
  }
  const out: string[] = [];
  const lines = text.split("\n");
  let i = 0;
  for (; i < lines.length && (lines[i]!.startsWith("#") || lines[i] === ""); i++)
    out.push(lines[i]!);
  out.push("#", "# Subset: only the devices of one host (passthrough snapshot).", "#", "");
  let vendor: string | null = null;
  let device: string | null = null;
  let total = 0;
  let kept = 0;
  for (; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.startsWith("C ")) {
      out.push(...lines.slice(i).filter((l) => l !== "" && !l.startsWith("#")));
      break;
    }
    if (line === "" || line.startsWith("#")) continue;
    if (line[0] !== "\t") {
      vendor = line.slice(0, 4).toLowerCase();
      device = null;
      total++;
      if (vendors.has(vendor)) {
        kept++;
        out.push(line);
      } else vendor = null;
    } else if (line[1] !== "\t") {
      device = null;
      if (vendor === null) continue;
      const d = line.slice(1, 5).toLowerCase();
      if (devices.has(`${vendor}:${d}`)) {
        device = d;
        out.push(line);
      }
    } else if (vendor !== null && device !== null) {
      const sub = line.slice(2, 11).toLowerCase();
      if (subsystems.has(`${vendor}:${device}:${sub}`)) out.push(line);
    }
  }
  return { text: `${out.join("\n")}\n`, vendors: total, keptVendors: kept };
}
