// The known-bad reset table (src/checks/reset-quirks.ts): devices the kernel's quirks.c marks
// PCI_DEV_FLAGS_NO_BUS_RESET, and the reset.no-bus-reset verdict when a kernel still lists
// bus for one of them or it has no method at all. The I225 NIC of intel-shared-group (alone
// below root port 00:1c.0) stands in for each device by its ids.
import { describe, expect, it } from "vitest";
import { findCandidates } from "../../src/checks/candidates.js";
import { makeCheckContext, selectDevice } from "../../src/checks/context.js";
import { checkReset } from "../../src/checks/reset.js";
import { brokenFlr, noBusReset } from "../../src/checks/reset-quirks.js";
import { parseDeviceArgs } from "../../src/formats/device-selection.js";
import type { HostState } from "../../src/host/types.js";
import { fixtureState } from "../helpers/fixtures.js";

const ADDR = "0000:02:00.0";

/** reset's findings for 02:00.0 with other ids and reset methods. */
function resetOf(vendorId: string, deviceId: string, resetMethods: string[]) {
  const s: HostState = fixtureState("intel-shared-group");
  Object.assign(
    s.pci.find((d) => d.address === ADDR)!,
    { vendorId, deviceId, resetMethods },
  );
  const sel = selectDevice(s, findCandidates(s), parseDeviceArgs("02:00")[0]!);
  if (!sel.ok) throw new Error(sel.reason);
  return checkReset(makeCheckContext(s, [sel]));
}

describe("the known-bad reset table", () => {
  it("names the quirk_no_bus_reset devices, the GH100 id mask and the T4", () => {
    expect(noBusReset({ vendorId: "168c", deviceId: "003e" })?.name).toBe(
      "Qualcomm Atheros AR9xxx/QCA9xxx Wi-Fi",
    );
    expect(noBusReset({ vendorId: "168c", deviceId: "0040" })).toBeNull();
    expect(noBusReset({ vendorId: "10de", deviceId: "2342" })?.name).toBe("NVIDIA GH100-based GPU");
    expect(noBusReset({ vendorId: "10de", deviceId: "237f" })?.name).toBe("NVIDIA GH100-based GPU");
    expect(noBusReset({ vendorId: "10de", deviceId: "2380" })).toBeNull();
    expect(noBusReset({ vendorId: "10de", deviceId: "2684" })).toBeNull(); // RTX 4090
    expect(noBusReset({ vendorId: "10de", deviceId: "1eb8" })?.name).toBe("NVIDIA Tesla T4");
    expect(noBusReset({ vendorId: "104c", deviceId: "b005" })?.name).toBe("TI KeyStone C667X");
    expect(noBusReset({ vendorId: "1b21", deviceId: "1164" })?.name).toBe(
      "ASMedia ASM1164 SATA controller",
    );
  });

  it("still names the quirk_no_flr devices only while the kernel tries FLR first", () => {
    expect(brokenFlr({ vendorId: "1022", deviceId: "149c", resetMethods: ["flr", "bus"] })).toBe(
      "AMD Matisse USB 3.0 Host Controller",
    );
    expect(brokenFlr({ vendorId: "1022", deviceId: "149c", resetMethods: ["bus"] })).toBeNull();
  });
});

describe("reset.no-bus-reset", () => {
  it("a kernel without the quirk lists bus: use the other method, with the exact rule and echo", () => {
    const [f] = resetOf("168c", "003e", ["flr", "bus"]);
    expect(f).toMatchObject({ id: "reset.no-bus-reset", status: "warn", subject: ADDR });
    expect(f!.summary).toBe(
      `${ADDR} (Qualcomm Atheros AR9xxx/QCA9xxx Wi-Fi, 168c:003e): after a secondary bus reset its link stays down and its config space is never readable again; touching it can hang or reset the host, yet this kernel lists bus in reset_method (flr bus); kernels with the quirk (quirk_no_bus_reset) never use it`,
    );
    expect(f!.fix).toBe(
      `keep the kernel off the bus reset: \`passthrough plan --device 0000:02:00 --reset-method flr\` (a udev rule), or now: echo flr > /sys/bus/pci/devices/${ADDR}/reset_method`,
    );
  });

  it("bus is its only method: update the kernel", () => {
    const [f] = resetOf("10de", "1eb8", ["bus"]);
    expect(f!.summary).toContain("NVIDIA Tesla T4, 10de:1eb8");
    expect(f!.fix).toMatch(/^update the kernel \(it carries the quirk\)/);
  });

  it("no method at all: not the slot's bus reset either, unlike an ordinary device alone on its bus", () => {
    // An ordinary device alone below its bridge: vfio resets the slot.
    expect(resetOf("8086", "15f3", [])[0]).toMatchObject({
      id: "reset.method",
      status: "pass",
      summary: expect.stringContaining("secondary bus reset"),
    });
    const [f] = resetOf("104c", "b005", []);
    expect(f).toMatchObject({ id: "reset.no-bus-reset", status: "warn" });
    expect(f!.summary).toContain("state stays in the device between VM runs");
  });

  it("another method and no bus (a kernel with the quirk): an ordinary pass", () => {
    expect(resetOf("168c", "003e", ["flr"]).map((f) => `${f.status} ${f.id}`)).toEqual([
      "pass reset.method",
    ]);
  });
});
