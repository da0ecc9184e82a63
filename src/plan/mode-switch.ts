// `passthrough mode host|vm` now, without a reboot: the sysfs writes that move a card's slot
// between its host driver and vfio-pci, and the reasons not to. Pure: the caller reads the
// host, the processes holding the card's nodes (host/holders.ts) and /proc/fb; the writes are
// made by apply/driver-switch.ts.
//
// The kernel's interface (Documentation/ABI/testing/sysfs-bus-pci): a driver name written to
// devices/ADDR/driver_override makes only that driver match the device, an empty line clears
// it; the address written to drivers/DRV/unbind detaches the driver; the address written to
// /sys/bus/pci/drivers_probe makes the kernel match the device again, now against the override.
// Every function of the slot moves together: the GPU's HDMI audio shares its IOMMU group, and
// VFIO hands a group to one owner only.

import { hostpciAddresses } from "../checks/candidates.js";
import { slotOf } from "../formats/pci-address.js";
import type { Holder } from "../host/holders.js";
import type { HostState, PciDevice } from "../host/types.js";

export type Mode = "host" | "vm";

/** Drivers that hold a device for a VM rather than use it. */
const STUB_DRIVERS = new Set(["vfio-pci", "pci-stub"]);

export interface SysfsWrite {
  /** Root-relative: "sys/bus/pci/devices/0000:01:00.0/driver_override". */
  file: string;
  value: string;
}

export interface SwitchInput {
  mode: Mode;
  /** Every function of the slot, in address order. */
  functions: PciDevice[];
  /** Processes holding the functions' device nodes or their /dev/vfio group. */
  holders: Holder[];
  /** PIDs whose open files could not be read. */
  unreadable: number[];
  /** "VM 100 (running) hostpci0: 0000:01:00,pcie=1" for running VMs that pass the slot. */
  runningVms: string[];
  /** /proc/fb's text; null when unread. */
  fb: string | null;
  /** Loaded modules (lsmod's names, underscores) and registered PCI drivers (sys/bus/pci/drivers). */
  modules: ReadonlySet<string>;
  drivers: ReadonlySet<string>;
}

export interface FunctionTarget {
  address: string;
  before: string | null;
  /** "vfio-pci", a host module's driver, or null when the host has none for it. */
  want: string | null;
}

export interface SwitchPlan {
  mode: Mode;
  slot: string;
  /** Every function is where the mode wants it already: nothing to do. */
  already: boolean;
  refusals: string[];
  /** modprobe runs, before any write (a failure leaves the card as it was). */
  modprobe: string[][];
  writes: SysfsWrite[];
  targets: FunctionTarget[];
}

const dev = (a: string) => `sys/bus/pci/devices/${a}`;

/** The module a host-mode function should get: a loaded candidate, else the first that is not a framebuffer stub. */
export function hostModule(f: PciDevice, modules: ReadonlySet<string>): string | null {
  const candidates = f.kernelModules.filter((m) => !STUB_DRIVERS.has(m.replace(/_/g, "-")));
  return (
    candidates.find((m) => modules.has(m)) ??
    candidates.find((m) => !/fb$/.test(m)) ??
    candidates[0] ??
    null
  );
}

export function planModeSwitch(input: SwitchInput): SwitchPlan {
  const { mode, functions } = input;
  const targets = functions.map((f) => ({
    address: f.address,
    before: f.driver,
    want: mode === "vm" ? "vfio-pci" : hostModule(f, input.modules),
  }));
  const done = (t: FunctionTarget) =>
    mode === "vm"
      ? t.before === "vfio-pci"
      : t.before === null
        ? t.want === null
        : !STUB_DRIVERS.has(t.before);
  const base = { mode, slot: slotOf(functions[0]!.address), targets, modprobe: [], writes: [] };
  if (targets.every(done)) return { ...base, already: true, refusals: [] };
  const refusals = refusalsFor(input);
  if (refusals.length) return { ...base, already: false, refusals };
  const moving = functions.filter((_, i) => !done(targets[i]!));
  const modprobe =
    mode === "vm"
      ? input.drivers.has("vfio-pci")
        ? []
        : [["modprobe", "vfio-pci"]]
      : [
          ...new Set(
            targets
              .map((t) => t.want)
              .filter((m): m is string => m !== null && !input.modules.has(m)),
          ),
        ].map((m) => ["modprobe", m]);
  const writes: SysfsWrite[] = [
    ...moving.map((f) => ({
      file: `${dev(f.address)}/driver_override`,
      value: mode === "vm" ? "vfio-pci" : "\n",
    })),
    ...moving
      .filter((f) => f.driver !== null)
      .map((f) => ({ file: `sys/bus/pci/drivers/${f.driver}/unbind`, value: f.address })),
    ...moving.map((f) => ({ file: "sys/bus/pci/drivers_probe", value: f.address })),
  ];
  return { ...base, already: false, refusals: [], modprobe, writes };
}

function refusalsFor(input: SwitchInput): string[] {
  const out: string[] = [];
  const slot = slotOf(input.functions[0]!.address);
  for (const h of input.holders) out.push(`process ${h.pid} (${h.command}) has ${h.path} open`);
  for (const vm of input.runningVms) out.push(`${vm} is running`);
  if (input.unreadable.length)
    out.push(
      `the open files of ${input.unreadable.length} process(es) (${input.unreadable.slice(0, 5).join(", ")}) cannot be read, so whether they hold the card is unknown: run as root`,
    );
  if (input.mode === "vm") {
    const boot = input.functions.find((f) => f.bootVga === true);
    const fb = (input.fb ?? "").trim();
    if (boot && fb !== "")
      out.push(
        `${boot.address} is the boot GPU and the console runs on it (/proc/fb: ${fb.split("\n")[0]}): taking it away leaves the host without a screen; bind it at boot instead (\`passthrough plan --device ${slot}\`, apply, reboot)`,
      );
    const noGroup = input.functions.find((f) => f.iommuGroup === null);
    if (noGroup)
      out.push(
        `${noGroup.address} has no IOMMU group: vfio-pci cannot bind it with the IOMMU off (\`passthrough check\` says why)`,
      );
  }
  return out;
}

/** VM configs that pass any of these functions: "VM 100 hostpci0: 0000:01:00,pcie=1". */
export function vmsPassing(
  state: HostState,
  addresses: readonly string[],
): Array<{ vmid: number; line: string }> {
  const present = state.pci.map((d) => d.address);
  return state.vms.flatMap((vm) =>
    Object.entries(vm.config)
      .filter(
        ([k, v]) =>
          /^hostpci\d+$/.test(k) && hostpciAddresses(v, present).some((a) => addresses.includes(a)),
      )
      .map(([k, v]) => ({ vmid: vm.vmid, line: `VM ${vm.vmid} ${k}: ${v}` })),
  );
}
