// The nested-VM scenarios' readers (test/e2e/scenarios.ts): QEMU's `info qtree` and what L2's
// /init (test/e2e/guest/l2-init.sh) prints on its serial console.
import { describe, expect, it } from "vitest";
import { l2GuestCheck, l2Lines, vfioDevices } from "../e2e/scenarios.js";

// As QEMU 7.2's HMP prints it (cut): a root port, then the two vfio-pci functions.
const QTREE = `bus: main-system-bus
  type System
  dev: q35-pcihost, id ""
    bus: pcie.0
      type PCIE
      dev: pcie-root-port, id "pt-rp0"
        romfile = ""
        bus: pt-rp0
          type PCIE
          dev: vfio-pci, id "hostpci0.1"
            host = "0000:01:00.1"
            sysfsdev = "/sys/bus/pci/devices/0000:01:00.1"
            romfile = ""
            multifunction = false
          dev: vfio-pci, id "hostpci0.0"
            host = "0000:01:00.0"
            sysfsdev = "/sys/bus/pci/devices/0000:01:00.0"
            romfile = "/var/tmp/l2-vbios.rom"
            multifunction = true
            class Display controller, addr 00:00.0, pci id 1234:1111 (sub 1af4:1100)
      dev: ich9-ahci, id ""
        romfile = "should-not-count"
`;

describe("e2e nested VM: info qtree", () => {
  it("reads host and romfile of each vfio-pci device only", () => {
    expect(vfioDevices(QTREE)).toEqual([
      { host: "0000:01:00.1", romfile: "" },
      { host: "0000:01:00.0", romfile: "/var/tmp/l2-vbios.rom" },
    ]);
    expect(vfioDevices(QTREE.replace(/vfio-pci/g, "virtio-net-pci"))).toEqual([]);
  });
});

describe("e2e nested VM: L2's serial console", () => {
  const serial = [
    "[    9.100000] Run /init as init process\r",
    "l2: init at 9.18 s, kernel 6.1.0-50-amd64\r",
    "l2: pci 0000:01:00.0 0x1234 0x1111 0x038000 driver=bochs-drm\r",
    "l2: guest check rc=0 at 14.37 s\r",
    "l2: gc-begin\r",
    "l2: gc {\r",
    'l2: gc   "ok": true,\r',
    'l2: gc   "gpus": [{ "address": "0000:01:00.0", "vendorId": "1234", "deviceId": "1111", "driver": "bochs-drm" }]\r',
    "[   14.500000] random kernel line in between\r",
    "l2: gc }\r",
    "l2: gc-end\r",
    "l2: poweroff at 14.52 s\r",
  ].join("\n");

  it("keeps /init's lines without the prefix and the carriage returns", () => {
    const lines = l2Lines(serial);
    expect(lines[0]).toBe("init at 9.18 s, kernel 6.1.0-50-amd64");
    expect(lines).toContain("pci 0000:01:00.0 0x1234 0x1111 0x038000 driver=bochs-drm");
    expect(lines.some((l) => l.includes("random kernel line"))).toBe(false);
  });

  it("joins guest check's JSON from the gc lines, and gives null when it is cut off", () => {
    expect(l2GuestCheck(l2Lines(serial))).toMatchObject({
      ok: true,
      gpus: [{ vendorId: "1234", deviceId: "1111", driver: "bochs-drm" }],
    });
    expect(l2GuestCheck(l2Lines(serial.replace("l2: gc }\r", "")))).toBeNull();
    expect(l2GuestCheck(l2Lines(serial.replace("l2: gc-end\r", "")))).toBeNull();
  });
});
