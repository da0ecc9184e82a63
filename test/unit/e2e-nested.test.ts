// The nested-VM scenarios' readers (test/e2e/scenarios.ts): QEMU's `info qtree`.
import { describe, expect, it } from "vitest";
import { vfioDevices } from "../e2e/scenarios.js";

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
