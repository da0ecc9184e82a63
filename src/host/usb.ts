// USB devices (sys/bus/usb/devices), for keyboard/mouse passthrough: ids, names, where they
// sit (bus-port, as Proxmox's `usbN: host=BUS-PORT` wants it) and which PCI controller they
// hang off (that controller's IOMMU group is what passing a whole controller would take).

import { PCI_ADDRESS } from "./pci/read-pci.js";
import { readAttr, type HostRoot } from "./root.js";
import type { UsbDevice } from "./types.js";

const INTERFACE_KINDS: Record<string, string> = {
  "01": "audio",
  "02": "communications",
  "03": "hid",
  "06": "image",
  "07": "printer",
  "08": "storage",
  "09": "hub",
  "0a": "cdc-data",
  "0b": "smart-card",
  "0e": "video",
  e0: "wireless",
  ef: "misc",
  fe: "application",
  ff: "vendor",
};

export function readUsbDevices(root: HostRoot): UsbDevice[] {
  const names = root.list("sys/bus/usb/devices") ?? [];
  const out: UsbDevice[] = [];
  for (const name of names) {
    // Devices are "usbN" (root hubs) and "B-P[.P...]"; interfaces carry a ":".
    if (name.includes(":")) continue;
    const dir = root.resolve(`sys/bus/usb/devices/${name}`);
    if (dir === null) continue;
    const vendorId = readAttr(root, `${dir}/idVendor`);
    const productId = readAttr(root, `${dir}/idProduct`);
    if (!vendorId || !productId) continue;
    const kinds = new Set<string>();
    for (const child of root.list(dir) ?? []) {
      if (!child.startsWith(`${name.startsWith("usb") ? name.slice(3) + "-0" : name}:`)) continue;
      const cls = readAttr(root, `${dir}/${child}/bInterfaceClass`)?.toLowerCase();
      if (!cls) continue;
      if (cls === "03") {
        const sub = readAttr(root, `${dir}/${child}/bInterfaceSubClass`);
        const proto = readAttr(root, `${dir}/${child}/bInterfaceProtocol`);
        if (sub === "01" && proto === "01") kinds.add("keyboard");
        else if (sub === "01" && proto === "02") kinds.add("mouse");
        else kinds.add("hid");
      } else if (INTERFACE_KINDS[cls]) kinds.add(INTERFACE_KINDS[cls]!);
    }
    const deviceClass = readAttr(root, `${dir}/bDeviceClass`);
    const isHub = deviceClass === "09" || kinds.has("hub");
    const pciParts = dir.split("/").filter((c) => PCI_ADDRESS.test(c));
    const speed = readAttr(root, `${dir}/speed`);
    const num = (a: string) => {
      const v = readAttr(root, `${dir}/${a}`);
      return v !== null && /^\d+$/.test(v) ? Number(v) : null;
    };
    out.push({
      name,
      busnum: num("busnum"),
      devnum: num("devnum"),
      devpath: readAttr(root, `${dir}/devpath`),
      vendorId: vendorId.toLowerCase(),
      productId: productId.toLowerCase(),
      manufacturer: readAttr(root, `${dir}/manufacturer`),
      product: readAttr(root, `${dir}/product`),
      serial: readAttr(root, `${dir}/serial`),
      speedMbps: speed !== null && /^[\d.]+$/.test(speed) ? Number(speed) : null,
      deviceClass,
      kinds: [...kinds].sort(),
      isHub,
      controller: pciParts.length ? pciParts[pciParts.length - 1]! : null,
    });
  }
  return out.sort((a, b) => (a.busnum ?? 0) - (b.busnum ?? 0) || compareUsbNames(a.name, b.name));
}

/**
 * "1-2" < "1-2.3" < "1-10", "usb1" < "usb2": numbers compared as numbers. (Not
 * localeCompare's numeric collation: creating the first Intl collator costs ~20 ms of ICU
 * start-up, a tenth of a cold run.)
 */
export function compareUsbNames(a: string, b: string): number {
  const pa = a.split(/(\d+)/);
  const pb = b.split(/(\d+)/);
  for (let i = 0; i < Math.min(pa.length, pb.length); i++) {
    const x = pa[i]!;
    const y = pb[i]!;
    if (x === y) continue;
    if (i % 2 === 1) return Number(x) - Number(y) || (x < y ? -1 : 1);
    return x < y ? -1 : 1;
  }
  return pa.length - pb.length;
}
