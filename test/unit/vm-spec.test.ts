import { describe, expect, it } from "vitest";
import {
  getProperty,
  parsePropertyString,
  propertyBoolean,
} from "../../src/formats/proxmox-property-string.js";
import { parseVmConfig } from "../../src/formats/proxmox-vm-config.js";
import type { HostState } from "../../src/host/types.js";
import { configText } from "../../src/vm/diff.js";
import {
  applyChange,
  bootDiskStorage,
  isEmptyChange,
  planProxmoxChange,
  type OtherVm,
} from "../../src/vm/proxmox/config-change.js";
import { hardwareMismatches } from "../../src/vm/proxmox/hardware-check.js";
import { buildVmSpec, type VmOptions } from "../../src/vm/spec.js";
import type { VmConfig } from "../../src/vm/types.js";
import { fixtureState } from "../helpers/fixtures.js";
import { GUI_VM_101 } from "../helpers/vm-configs.js";

const opts = (o: Partial<VmOptions> = {}): VmOptions => ({
  vmid: 101,
  devices: ["0000:01:00"],
  usb: [],
  pcie: true,
  primaryGpu: false,
  keepDisplay: false,
  efidisk: null,
  preEnrolledKeys: false,
  hidden: false,
  hvVendorId: null,
  onboot: false,
  convertQ35: false,
  force: false,
  ...o,
});

const conf = (text: string): VmConfig => parseVmConfig(text).main;

function plan(
  state: HostState,
  o: Partial<VmOptions>,
  current: VmConfig | null,
  others: OtherVm[] = [],
  extra: {
    memory?: { totalKiB: number; availableKiB: number };
    journaled?: Record<string, string>;
  } = {},
) {
  const spec = buildVmSpec({
    state,
    options: opts(o),
    prep: { journaled: extra.journaled ?? {} },
    memory: extra.memory ? { ...extra.memory, source: "test:/proc/meminfo" } : null,
    guestMemoryMiB: current?.memory ? Number(current.memory) : 512,
    create: null,
  });
  const p = planProxmoxChange({
    spec: spec.spec,
    current,
    others,
    present: state.pci.map((d) => d.address),
  });
  return {
    ...p,
    spec: spec.spec,
    refusals: [...spec.refusals, ...p.refusals],
    warnings: [...spec.warnings, ...p.warnings],
  };
}

const seed = () => fixtureState("seed-after");
const vm100 = () => seed().vms.find((v) => v.vmid === 100)!.config;

describe("vm spec -> Proxmox config change", () => {
  it("on the write-up's VM 100 changes only what it got wrong: cpu and ballooning", () => {
    const p = plan(seed(), { vmid: 100, usb: ["046d:c31c", "046d:c092"] }, vm100());
    expect(p.refusals).toEqual([]);
    expect(p.change).toEqual({ set: { balloon: "0", cpu: "host" }, delete: [] });
    expect(p.why.balloon).toMatch(/pinned for DMA/);
  });

  it("a config that is already right gives an empty change, and applying twice changes nothing", () => {
    const first = plan(seed(), { vmid: 100, usb: ["046d:c31c"] }, vm100());
    const after = applyChange(vm100(), first.change);
    const second = plan(seed(), { vmid: 100, usb: ["046d:c31c"] }, after);
    expect(isEmptyChange(second.change)).toBe(true);
    expect(second.after).toEqual(after);
  });

  it("gives a new q35 VM every passthrough key, hostpci with the slot (all functions) and pcie=1", () => {
    const current: VmConfig = { ...conf(GUI_VM_101), machine: "q35" };
    const p = plan(seed(), { usb: ["046D:C31C"] }, current);
    expect(p.refusals).toEqual([]);
    expect(p.change.set).toEqual({
      balloon: "0",
      bios: "ovmf",
      cpu: "host",
      efidisk0: "local-lvm:1,efitype=4m",
      hostpci0: "0000:01:00,pcie=1",
      usb0: "host=046d:c31c",
      vga: "none",
    });
    expect(p.why.efidisk0).toMatch(/boot disk's storage/);
    // Nothing unrelated moves.
    for (const k of ["boot", "cores", "net0", "scsi0", "smbios1", "ide2"])
      expect(p.after[k]).toBe(current[k]);
    // SeaBIOS -> OVMF is worth a warning for an installed guest.
    expect(p.warnings.join("\n")).toMatch(/SeaBIOS/);
    // Every value is a valid property string that says what we mean.
    const hp = parsePropertyString(p.after.hostpci0!, "host");
    expect(getProperty(hp, "host")).toBe("0000:01:00");
    expect(propertyBoolean(getProperty(hp, "pcie"))).toBe(true);
    expect(getProperty(hp, "x-vga")).toBeUndefined();
    // The printed config parses back to the same keys and values.
    expect(parseVmConfig(configText(p.after)).main).toEqual(p.after);
  });

  it("refuses pcie on an i440fx VM unless --convert-q35, and --no-pcie needs no q35", () => {
    const current = conf(GUI_VM_101);
    const refused = plan(seed(), {}, current);
    expect(refused.refusals.join("\n")).toMatch(
      /VM 101 uses machine i440fx \(no machine: line\), and pcie=1 needs q35: pass --convert-q35/,
    );
    const converted = plan(seed(), { convertQ35: true }, current);
    expect(converted.refusals).toEqual([]);
    expect(converted.change.set.machine).toBe("q35");
    const legacy = plan(seed(), { pcie: false }, current);
    expect(legacy.refusals).toEqual([]);
    expect(legacy.change.set.machine).toBeUndefined();
    expect(legacy.change.set.hostpci0).toBe("0000:01:00");
    // A versioned q35 type counts as q35 and is kept.
    expect(
      plan(seed(), {}, { ...current, machine: "pc-q35-8.1" }).change.set.machine,
    ).toBeUndefined();
  });

  it("refuses a device another VM has, naming the VM, its key and the command that frees it", () => {
    const p = plan(seed(), {}, { ...conf(GUI_VM_101), machine: "q35" }, [
      { vmid: 100, node: "pve", config: vm100() },
    ]);
    expect(p.refusals).toEqual([
      expect.stringMatching(
        /^0000:01:00\.0, 0000:01:00\.1 already belong to VM 100 "gaming" on pve \(hostpci0: 0000:01:00,pcie=1\).*qm set 100 --delete hostpci0/,
      ),
    ]);
  });

  it("reuses the hostpciN that has the device, folds split functions into it, and keeps other devices' entries", () => {
    const current = {
      ...vm100(),
      hostpci0: "0000:01:00.0,pcie=1,rombar=0",
      hostpci1: "0000:08:00,pcie=1",
      hostpci2: "01:00.1",
    };
    const p = plan(seed(), { vmid: 100 }, current);
    expect(p.change.set.hostpci0).toBe("0000:01:00,pcie=1,rombar=0");
    expect(p.change.delete).toEqual(["hostpci2"]);
    expect(p.why.hostpci2).toMatch(/part of hostpci0/);
    expect(p.after.hostpci1).toBe("0000:08:00,pcie=1");
  });

  it("takes the first free hostpciN and usbN", () => {
    const current: VmConfig = {
      ...vm100(),
      hostpci0: "0000:10:00.3",
      usb0: "host=1-4",
      usb1: "spice",
    };
    delete current.hostpci1;
    const p = plan(seed(), { vmid: 100, usb: ["046d:c092"] }, current);
    expect(p.change.set.hostpci1).toBe("0000:01:00,pcie=1");
    expect(p.change.set.usb2).toBe("host=046d:c092");
    expect(p.after.hostpci0).toBe("0000:10:00.3");
  });

  it("sets x-vga only with --primary-gpu, vga none only when headless, hidden/hv-vendor-id only on request", () => {
    const current: VmConfig = { ...conf(GUI_VM_101), machine: "q35" };
    const primary = plan(
      seed(),
      { primaryGpu: true, hidden: true, hvVendorId: "NV43FIX" },
      current,
    );
    expect(primary.change.set.hostpci0).toBe("0000:01:00,pcie=1,x-vga=1");
    expect(primary.change.set.cpu).toBe("host,hidden=1,hv-vendor-id=NV43FIX");
    expect(plan(seed(), {}, { ...current, vga: "serial0" }).change.set.vga).toBeUndefined();
    const keep = plan(seed(), { keepDisplay: true }, current);
    expect(keep.change.set.vga).toBeUndefined();
    // x-vga is removed again when --primary-gpu is not given.
    const back = plan(seed(), {}, applyChange(current, primary.change));
    expect(back.change.set.hostpci0).toBe("0000:01:00,pcie=1");
    // A NIC alone is no display: vga is left alone.
    const nic = plan(seed(), { devices: ["0000:07:00"] }, current);
    expect(nic.change.set.vga).toBeUndefined();
  });

  it("refuses a device that is not isolated, naming the group mates", () => {
    const state = seed();
    state.iommu.groups.find((g) => g.id === 12)!.devices.push("0000:07:00.0");
    state.pci.find((d) => d.address === "0000:07:00.0")!.iommuGroup = 12;
    const p = plan(state, { vmid: 100 }, vm100());
    expect(p.refusals.join("\n")).toMatch(
      /0000:01:00 is not isolated: IOMMU group 12 also holds 0000:07:00\.0; pass it too \(--device 0000:07:00\.0\)/,
    );
    const fn = plan(seed(), { vmid: 100, devices: ["0000:01:00.0"] }, vm100());
    expect(fn.refusals.join("\n")).toMatch(
      /0000:01:00\.0 is not isolated: .* 0000:01:00\.1; pass the whole slot \(--device 0000:01:00\)/,
    );
  });

  it("refuses an unprepared host unless a journaled plan covers the device or --force", () => {
    const state = seed();
    for (const d of state.pci.filter((x) => x.address.startsWith("0000:01:00")))
      d.driver = d.address.endsWith(".0") ? "nouveau" : "snd_hda_intel";
    const p = plan(state, { vmid: 100 }, vm100());
    expect(p.refusals.join("\n")).toMatch(
      /0000:01:00\.0 \(nouveau\), 0000:01:00\.1 \(snd_hda_intel\) are not on vfio-pci and no applied host plan binds them: prepare the host first \(`passthrough plan --device 0000:01:00`/,
    );
    expect(
      plan(state, { vmid: 100 }, vm100(), [], {
        journaled: { "0000:01:00.0": "j1", "0000:01:00.1": "j1" },
      }).refusals,
    ).toEqual([]);
    const forced = plan(state, { vmid: 100, force: true }, vm100());
    expect(forced.refusals).toEqual([]);
    expect(forced.warnings.join("\n")).toMatch(/--force/);
  });

  it("refuses the host's own root disk controller, bridges, unknown and unplugged devices", () => {
    const p = plan(
      seed(),
      { vmid: 100, devices: ["02:00", "00:01.1", "0000:42:00"], usb: ["dead:beef"] },
      vm100(),
    );
    const text = p.refusals.join("\n");
    expect(text).toMatch(/0000:02:00\.0 carries the host's root filesystem/);
    expect(text).toMatch(/0000:00:01\.1 is a PCI bridge/);
    expect(text).toMatch(/0000:42:00: no such PCI device on pve/);
    expect(text).toMatch(/USB dead:beef is not plugged into pve/);
  });

  it("refuses everything when the IOMMU is off", () => {
    const p = plan(fixtureState("seed-before"), { vmid: 100, force: true }, vm100());
    expect(p.refusals).toEqual([expect.stringMatching(/IOMMU is off/)]);
  });

  it("warns when the pinned guest memory exceeds the host's available memory", () => {
    const p = plan(seed(), { vmid: 100 }, vm100(), [], {
      memory: { totalKiB: 32 * 1048576, availableKiB: 8 * 1048576 },
    });
    expect(p.warnings.join("\n")).toMatch(
      /the VM has 16384 MiB of memory but pve has 8192 MiB available/,
    );
    const ok = plan(seed(), { vmid: 100 }, vm100(), [], {
      memory: { totalKiB: 64 * 1048576, availableKiB: 40 * 1048576 },
    });
    expect(ok.warnings.join("\n")).not.toMatch(/available/);
  });

  it("keeps onboot 1 only with --onboot, and a kept efidisk0 is never re-created", () => {
    const current = { ...vm100(), onboot: "1" };
    expect(plan(seed(), { vmid: 100 }, current).change.set.onboot).toBe("0");
    expect(plan(seed(), { vmid: 100, onboot: true }, current).change.set.onboot).toBeUndefined();
    const p = plan(seed(), { vmid: 100, efidisk: "ceph" }, vm100());
    expect(p.change.set.efidisk0).toBeUndefined();
    expect(p.warnings.join("\n")).toMatch(/--efidisk ceph is ignored/);
  });

  it("with an API token, passes the device through a mapping that names exactly its functions", () => {
    const state = seed();
    const spec = buildVmSpec({
      state,
      options: opts({ vmid: 100 }),
      prep: { journaled: {} },
      memory: null,
      guestMemoryMiB: 16384,
      create: null,
    }).spec;
    const current = { ...vm100() };
    delete current.hostpci0;
    const present = state.pci.map((d) => d.address);
    const p = planProxmoxChange({
      spec,
      current,
      others: [],
      present,
      rawHostpci: false,
      mappings: [{ id: "rtx3080", addresses: ["0000:01:00.0", "0000:01:00.1"] }],
    });
    expect(p.change.set.hostpci0).toBe("mapping=rtx3080,pcie=1");
    // Already mapped: nothing to do.
    const again = planProxmoxChange({
      spec,
      current: p.after,
      others: [],
      present,
      rawHostpci: false,
      mappings: [{ id: "rtx3080", addresses: ["0000:01:00.0", "0000:01:00.1"] }],
    });
    expect(again.change.set.hostpci0).toBeUndefined();
    const none = planProxmoxChange({
      spec,
      current,
      others: [],
      present,
      rawHostpci: false,
      mappings: [],
    });
    expect(none.refusals.join("\n")).toMatch(
      /API tokens may not set raw hostpci.*passthrough vm mapping create/,
    );
  });

  it("finds the boot disk's storage for a new efidisk0", () => {
    expect(bootDiskStorage(conf(GUI_VM_101))).toBe("local-lvm");
    expect(
      bootDiskStorage({
        boot: "order=virtio0;ide2",
        virtio0: "ceph-pool:vm-5-disk-0,size=8G",
        ide2: "local:iso/x.iso,media=cdrom",
      }),
    ).toBe("ceph-pool");
    expect(bootDiskStorage({ ide2: "local:iso/x.iso,media=cdrom" })).toBeNull();
  });

  it("with the REST API, refuses when the node's hardware is not the host that was read", () => {
    const spec = buildVmSpec({
      state: seed(),
      options: opts({ vmid: 100 }),
      prep: { journaled: {} },
      memory: null,
      guestMemoryMiB: 16384,
      create: null,
    }).spec;
    const same = [
      { id: "0000:01:00.0", class: "0x030000", vendor: "0x10de", device: "0x2206", iommugroup: 12 },
      { id: "0000:01:00.1", class: "0x040300", vendor: "0x10de", device: "0x1aef", iommugroup: 12 },
    ];
    expect(hardwareMismatches(spec, same, "pve", "this machine")).toEqual([]);
    const other = [{ ...same[0]!, device: "0x2204" }];
    expect(hardwareMismatches(spec, other, "pve2", "host.tar.gz")).toEqual([
      "0000:01:00.0 is 10de:2206 in host.tar.gz but 10de:2204 on node pve2: the host read here is not pve2; run on pve2, or give --snapshot of it",
      "node pve2 has no PCI device 0000:01:00.1, but host.tar.gz has one there: the host read here is not pve2; run on pve2, or give --snapshot of it",
    ]);
  });

  it("warns about passing the host's boot display and devices without a reset method", () => {
    const p = plan(
      seed(),
      { vmid: 100, devices: ["0000:10:00.0", "0000:10:00.1"], force: true },
      vm100(),
    );
    expect(p.warnings.join("\n")).toMatch(/0000:10:00\.0 is the host's boot display/);
    expect(p.warnings.join("\n")).toMatch(/0000:10:00\.0 has no reset method/);
    expect(plan(seed(), { vmid: 100 }, vm100()).warnings).toEqual([]);
  });
});
