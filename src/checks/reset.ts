// Can the kernel reset each function of a target between VM runs (docs/domain-facts.md §5)?
// `reset_method` (kernel >= 5.15) lists what it can do: flr, pm, bus, device_specific; an
// empty list means a VM restart may find the device in whatever state the guest left it.
// AMD Polaris, Vega and Navi 1x cards have the well-known "reset bug": they need the
// out-of-tree vendor-reset module, which adds a device_specific method. Device ids: the
// Polaris 10/11/12, Vega 10/20 and Navi 10/12/14 tables of gnif/vendor-reset
// (src/device-db.h).
//
// A multi-function card (GPU + HDMI audio + USB-C) usually lists no method per function:
// the kernel's "bus" method needs the function to be alone on its bus. vfio then resets the
// whole slot with a secondary bus reset, which works when every device on that bus goes to
// the VM, i.e. the card's own functions fill the bus below its bridge.

import { kernelAtLeast } from "../host/system.js";
import type { PciDevice } from "../host/types.js";
import type { CheckContext } from "./context.js";
import { joinList, namedFunctions, shortFunction, targetFunctions } from "./context.js";
import { finding } from "../findings/finding.js";
import type { Finding } from "../findings/finding.js";
import { brokenFlr, noBusReset, type NoBusReset } from "./reset-quirks.js";

const VENDOR_RESET_FAMILIES: Array<{ family: string; ids: string[] }> = [
  {
    family: "Polaris",
    ids: [
      "67c0",
      "67c1",
      "67c2",
      "67c4",
      "67c7",
      "67d0",
      "67df",
      "67c8",
      "67c9",
      "67ca",
      "67cc",
      "67cf",
      "6fdf",
      "67e0",
      "67e3",
      "67e8",
      "67eb",
      "67ef",
      "67ff",
      "67e1",
      "67e7",
      "67e9",
      "6980",
      "6981",
      "6985",
      "6986",
      "6987",
      "6995",
      "6997",
      "699f",
    ],
  },
  {
    family: "Vega",
    ids: [
      "6860",
      "6861",
      "6862",
      "6863",
      "6864",
      "6867",
      "6868",
      "6869",
      "686a",
      "686b",
      "686c",
      "686d",
      "686e",
      "686f",
      "687f",
      "66a0",
      "66a1",
      "66a2",
      "66a3",
      "66a4",
      "66a7",
      "66af",
    ],
  },
  {
    family: "Navi 1x",
    ids: [
      "7310",
      "7312",
      "7318",
      "7319",
      "731a",
      "731b",
      "731e",
      "731f",
      "7340",
      "7341",
      "7347",
      "734f",
      "7360",
      "7362",
    ],
  },
];

/** "Navi 1x" when the device is an AMD GPU that needs vendor-reset, else null. */
export function vendorResetFamily(d: Pick<PciDevice, "vendorId" | "deviceId">): string | null {
  if (d.vendorId !== "1002") return null;
  return VENDOR_RESET_FAMILIES.find((f) => f.ids.includes(d.deviceId))?.family ?? null;
}

/** vendor-reset's udev rule: sets reset_method to device_specific for the card (its README). */
function vendorResetRule(d: PciDevice): string {
  return `ACTION=="add", SUBSYSTEM=="pci", ATTR{vendor}=="0x${d.vendorId}", ATTR{device}=="0x${d.deviceId}", RUN+="/bin/sh -c 'echo device_specific > /sys/bus/pci/devices/$kernel/reset_method'"`;
}

function vendorResetLoaded(ctx: CheckContext): boolean {
  return ctx.state.modules.loaded?.includes("vendor_reset") === true;
}

/** A udev rule under /etc/udev/rules.d that writes device_specific for this card's device id. */
function hasVendorResetRule(ctx: CheckContext, d: PciDevice): boolean {
  return Object.entries(ctx.state.configFiles).some(
    ([file, text]) =>
      file.startsWith("etc/udev/rules.d/") &&
      text.includes("device_specific") &&
      text.toLowerCase().includes(`0x${d.deviceId}`),
  );
}

function vendorResetState(ctx: CheckContext, d: PciDevice): string {
  if (!vendorResetLoaded(ctx)) return "the vendor-reset module is not loaded";
  if (!hasVendorResetRule(ctx, d))
    return "vendor-reset is loaded, but no udev rule sets reset_method to device_specific (kernel 5.15 and later need it)";
  return `vendor-reset is loaded and a udev rule names the card, but reset_method is ${d.resetMethods?.length ? d.resetMethods.join(" ") : "empty"}: the rule has not run since the module loaded`;
}

function vendorResetFix(ctx: CheckContext, d: PciDevice): string {
  const rule = `/etc/udev/rules.d/99-vendor-reset.rules: ${vendorResetRule(d)}`;
  if (!vendorResetLoaded(ctx))
    return `install vendor-reset (github.com/gnif/vendor-reset, built with dkms against your kernel headers), load it at boot (vendor-reset in /etc/modules)${hasVendorResetRule(ctx, d) ? " (its udev rule is already there)" : `, add the udev rule ${rule}`}, then reboot`;
  if (!hasVendorResetRule(ctx, d))
    return `add the udev rule ${rule}, then reboot (or udevadm trigger)`;
  return `echo device_specific > /sys/bus/pci/devices/${d.address}/reset_method (or reboot, so the rule runs after vendor-reset loads at boot)`;
}

export function checkReset(ctx: CheckContext): Finding[] {
  const out: Finding[] = [];
  for (const c of ctx.targets) {
    const devs = targetFunctions(ctx, c);
    const named = namedFunctions(ctx, c);
    const subject = named.length === 1 ? named[0]! : c.address;
    const needy = devs.filter((d) => vendorResetFamily(d) !== null);
    // A card with the reset bug is not helped by a bus reset of its slot either: the
    // vendor-reset finding is the whole story then.
    const broken = needy.some((d) => !d.resetMethods?.includes("device_specific"));
    for (const d of needy) {
      const family = vendorResetFamily(d)!;
      if (d.resetMethods?.includes("device_specific")) {
        out.push(
          finding(
            "reset.vendor-reset",
            "pass",
            `AMD ${family} card (${d.vendorId}:${d.deviceId}): vendor-reset provides its device_specific reset`,
            { subject: d.address },
          ),
        );
      } else {
        out.push(
          finding(
            "reset.vendor-reset",
            "warn",
            `AMD ${family} card (${d.vendorId}:${d.deviceId}): without vendor-reset's device_specific reset it does not come back after the VM stops (the next start hangs or shows no picture); ${vendorResetState(ctx, d)}`,
            { subject: d.address, fix: vendorResetFix(ctx, d) },
          ),
        );
      }
    }
    const rest = devs.filter((d) => !needy.includes(d));
    if (rest.length === 0 || broken) continue;
    const flr = rest.filter((d) => brokenFlr(d) !== null);
    if (flr.length > 0) {
      out.push(brokenFlrFinding(c.address, subject, flr));
      continue;
    }
    // A bus reset the kernel would (older kernels) or could not (quirk_no_bus_reset) use.
    const noBus = rest.filter(
      (d) =>
        noBusReset(d) !== null && (d.resetMethods?.length === 0 || d.resetMethods?.includes("bus")),
    );
    if (noBus.length > 0) {
      out.push(...noBus.map((d) => noBusResetFinding(c.address, d, noBusReset(d)!)));
      continue;
    }
    // From 5.15 the kernel hides reset_method when a device has no method at all
    // (pci_dev_reset_method_attr_is_visible), so a missing file then means "none".
    const hidesEmpty = kernelAtLeast(ctx.state.system.kernelVersion, 5, 15) === true;
    const unknown = rest.filter((d) => d.resetMethods === null && !hidesEmpty);
    const none = rest.filter(
      (d) => (d.resetMethods === null && hidesEmpty) || d.resetMethods?.length === 0,
    );
    const fn = (d: PciDevice) => (c.functions.length > 1 ? shortFunction(d.address) : d.address);
    const busDevices = (d: PciDevice) =>
      ctx.state.pci.filter(
        (x) =>
          x.parent !== null &&
          x.parent === d.parent &&
          x.address.slice(0, 7) === d.address.slice(0, 7),
      );
    const slotResettable =
      none.length > 0 &&
      none.every(
        (d) =>
          d.parent !== null &&
          busDevices(d).every((x) => c.functions.some((f) => f.address === x.address)),
      );
    if (slotResettable) {
      out.push(
        finding(
          "reset.method",
          "pass",
          `no function resets on its own; vfio resets the whole slot through bridge ${none[0]!.parent} (secondary bus reset) when ${c.functions.length === 2 ? "both functions go" : c.functions.length === 1 ? "it goes" : `all ${c.functions.length} functions go`} to the VM`,
          { subject },
        ),
      );
    } else if (none.length > 0) {
      out.push(
        finding(
          "reset.method",
          "warn",
          `${joinList(none.map(fn))} ${none.length === 1 ? "has" : "have"} no reset method: the device may not work again after a VM restart`,
          {
            subject,
            fix: "test a VM stop/start cycle before relying on it; a host reboot recovers the device; some devices reset only with their whole slot passed (all functions)",
          },
        ),
      );
    } else if (unknown.length > 0) {
      const flr = unknown.filter((d) => d.capabilities?.flr === true);
      out.push(
        finding(
          "reset.method",
          "skip",
          `the kernel does not report reset_method (it appeared in 5.15)${flr.length ? `; ${joinList(flr.map(fn))} advertise${flr.length === 1 ? "s" : ""} Function Level Reset` : ""}`,
          { subject },
        ),
      );
    } else {
      const methods = [...new Set(rest.flatMap((d) => d.resetMethods ?? []))];
      out.push(
        finding(
          "reset.method",
          "pass",
          `${rest.length === 1 ? "resettable" : rest.length === 2 ? "both functions resettable" : `all ${rest.length} functions resettable`} (${methods.join(", ")})`,
          { subject },
        ),
      );
    }
  }
  return out;
}

function brokenFlrFinding(slot: string, subject: string, devs: PciDevice[]): Finding {
  const bus = devs.every((d) => d.resetMethods?.includes("bus"));
  const names = devs.map((d) => `${d.address} (${brokenFlr(d)})`);
  return finding(
    "reset.method",
    "warn",
    `${joinList(names)}: the kernel tries Function Level Reset first (reset_method ${devs[0]!.resetMethods!.join(" ")}), which hangs ${devs.length === 1 ? "this device" : "these devices"} or leaves ${devs.length === 1 ? "it" : "them"} unusable for the next VM; newer kernels skip it (quirk_no_flr)`,
    {
      subject,
      fix: bus
        ? `use the bus reset: \`passthrough plan --device ${slot} --reset-method bus\` (a udev rule), or now: ${devs.map((d) => `echo bus > /sys/bus/pci/devices/${d.address}/reset_method`).join("; ")}`
        : "update the kernel (it carries the quirk), or pass the whole slot so vfio can reset it with its bridge",
    },
  );
}

function noBusResetFinding(slot: string, d: PciDevice, q: NoBusReset): Finding {
  const methods = d.resetMethods ?? [];
  const other = methods.filter((m) => m !== "bus");
  const head = `${d.address} (${q.name}, ${d.vendorId}:${d.deviceId}): ${q.why}`;
  if (methods.includes("bus"))
    return finding(
      "reset.no-bus-reset",
      "warn",
      `${head}, yet this kernel lists bus in reset_method (${methods.join(" ")}); kernels with the quirk (${q.quirk}) never use it`,
      {
        subject: d.address,
        fix: other.length
          ? `keep the kernel off the bus reset: \`passthrough plan --device ${slot} --reset-method ${other[0]}\` (a udev rule), or now: echo ${other.join(" ")} > /sys/bus/pci/devices/${d.address}/reset_method`
          : `update the kernel (it carries the quirk); until then avoid restarting the VM: a bus reset can take the device, or the host, down until a power cycle`,
      },
    );
  return finding(
    "reset.no-bus-reset",
    "warn",
    `${head}, so the kernel does not reset it with its slot either (${q.quirk}) and it has no other reset method: state stays in the device between VM runs`,
    {
      subject: d.address,
      fix: "reboot the host between VM runs when the device misbehaves after a VM restart, and give it to one VM only: what one guest leaves in it the next one sees",
    },
  );
}
