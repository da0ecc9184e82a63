// The reset quirks the kernel applies to known-bad devices (drivers/pci/quirks.c), as a table
// the reset verdict can name: devices whose Function Level Reset hangs them (quirk_no_flr,
// PCI_DEV_FLAGS_NO_FLR_RESET) and devices that do not survive a secondary bus reset
// (quirk_no_bus_reset and quirk_nvidia_no_bus_reset, PCI_DEV_FLAGS_NO_BUS_RESET). A kernel
// with the quirk leaves that method out of reset_method; an older one still lists it.

import type { PciDevice } from "../host/types.js";

type Ids = Pick<PciDevice, "vendorId" | "deviceId">;

/**
 * Devices whose FLR hangs them or leaves them unusable in the next VM (quirk_no_flr; 1022:7901
 * from 6.3 and the stable kernels, where `echo bus > reset_method` was the reported
 * workaround). A kernel without the quirk still lists flr first: --reset-method bus avoids it.
 */
const FLR_BROKEN: Record<string, string> = {
  "1022:1486": "AMD Starship/Matisse Cryptographic Coprocessor",
  "1022:1487": "AMD Starship/Matisse HD Audio Controller",
  "1022:148c": "AMD Starship USB 3.0 Host Controller",
  "1022:149c": "AMD Matisse USB 3.0 Host Controller",
  "1022:7901": "AMD FCH SATA Controller (AHCI)",
  "8086:1502": "Intel 82579LM Gigabit Ethernet",
  "8086:1503": "Intel 82579V Gigabit Ethernet",
};

/** The device's name when its FLR is known broken and the kernel still tries FLR first. */
export function brokenFlr(d: Ids & Pick<PciDevice, "resetMethods">): string | null {
  if (d.resetMethods?.[0] !== "flr") return null;
  return FLR_BROKEN[`${d.vendorId}:${d.deviceId}`] ?? null;
}

export interface NoBusReset {
  name: string;
  /** What a secondary bus reset does to it, from the quirk's comment. */
  why: string;
  /** The quirk function in quirks.c. */
  quirk: "quirk_no_bus_reset" | "quirk_nvidia_no_bus_reset";
  matches: (d: Ids) => boolean;
}

const ids =
  (vendor: string, ...devices: string[]) =>
  (d: Ids) =>
    d.vendorId === vendor && devices.includes(d.deviceId);

/** Devices the kernel marks PCI_DEV_FLAGS_NO_BUS_RESET, by the quirk's own reasons. */
const NO_BUS_RESET: NoBusReset[] = [
  {
    name: "Qualcomm Atheros AR9xxx/QCA9xxx Wi-Fi",
    why: "after a secondary bus reset its link stays down and its config space is never readable again; touching it can hang or reset the host",
    quirk: "quirk_no_bus_reset",
    matches: ids("168c", "0030", "0032", "0033", "0034", "003c", "003e"),
  },
  {
    name: "NVIDIA GH100-based GPU",
    why: "does not work after a secondary bus reset",
    // quirk_nvidia_no_bus_reset: (device & 0xffc0) == 0x2340.
    quirk: "quirk_nvidia_no_bus_reset",
    matches: (d) => d.vendorId === "10de" && (parseInt(d.deviceId, 16) & 0xffc0) === 0x2340,
  },
  {
    name: "NVIDIA Tesla T4",
    why: "does not work after a secondary bus reset when attached directly to a root port",
    quirk: "quirk_nvidia_no_bus_reset",
    matches: ids("10de", "1eb8"),
  },
  {
    name: "TI KeyStone C667X",
    why: "turns its link off (LTSSM) on a secondary bus reset and stops working",
    quirk: "quirk_no_bus_reset",
    matches: ids("104c", "b005"),
  },
  {
    name: "ASMedia ASM1164 SATA controller",
    why: "fails to retrain its link after a bus reset",
    quirk: "quirk_no_bus_reset",
    matches: ids("1b21", "1164"),
  },
];

/** The quirk entry when the kernel must not reset this device with a secondary bus reset. */
export function noBusReset(d: Ids): NoBusReset | null {
  return NO_BUS_RESET.find((q) => q.matches(d)) ?? null;
}
