// Synthetic hosts for the benchmark: N PCI functions laid out like a large server, written by
// tools/fakehost with real configuration-space headers, so `lspci -A linux-sysfs` reads the
// same tree passthrough does.
//
// Each PCI segment (domain) has a host bridge and up to 248 root ports on its root bus
// (31 slots x 8 functions, as multi-port root complexes present them); behind each port one
// endpoint device on its own bus, cycling through a GPU (VGA + HDMI audio), a four-port NIC
// and an NVMe drive. Every root port and every endpoint device is its own IOMMU group (ACS
// on the ports; a multi-function device without ACS shares one group).

import type { FakeHostSpec, PciFunctionSpec } from "../fakehost/spec.js";

interface EndpointKind {
  functions: Array<
    Pick<PciFunctionSpec, "vendor" | "device" | "class" | "driver" | "subVendor" | "subDevice">
  >;
}

const KINDS: EndpointKind[] = [
  {
    functions: [
      {
        vendor: "10de",
        device: "2206",
        class: "030000",
        driver: "vfio-pci",
        subVendor: "19da",
        subDevice: "1612",
      },
      {
        vendor: "10de",
        device: "1aef",
        class: "040300",
        driver: "vfio-pci",
        subVendor: "19da",
        subDevice: "1612",
      },
    ],
  },
  {
    functions: [0, 1, 2, 3].map(() => ({
      vendor: "8086",
      device: "1572",
      class: "020000",
      driver: "i40e",
      subVendor: "8086",
      subDevice: "0004",
    })),
  },
  {
    functions: [
      {
        vendor: "144d",
        device: "a80a",
        class: "010802",
        driver: "nvme",
        subVendor: "144d",
        subDevice: "a801",
      },
    ],
  },
];

const hex2 = (n: number) => n.toString(16).padStart(2, "0");
const hex4 = (n: number) => n.toString(16).padStart(4, "0");

export function syntheticHost(count: number): FakeHostSpec {
  const pci: PciFunctionSpec[] = [];
  let group = 0;
  let kind = 0;
  let firstNic: string | null = null;
  let firstNvme: string | null = null;
  for (let domain = 0; pci.length < count; domain++) {
    const dom = hex4(domain);
    pci.push({
      address: `${dom}:00:00.0`,
      vendor: "8086",
      device: "09a2",
      class: "060000",
      pcie: { type: "rc-integrated-endpoint" },
    });
    let bus = 1;
    for (let slot = 1; slot < 32 && pci.length < count; slot++) {
      for (let fn = 0; fn < 8 && pci.length < count; fn++) {
        const port = `${dom}:00:${hex2(slot)}.${fn}`;
        pci.push({
          address: port,
          vendor: "8086",
          device: "347a",
          class: "060400",
          driver: "pcieport",
          group: group++,
          resetMethod: "",
          pcie: { type: "root-port", acs: "full", maxSpeed: 4, maxWidth: 16 },
        });
        const k = KINDS[kind++ % KINDS.length]!;
        const g = group++;
        k.functions.forEach((f, i) => {
          if (pci.length >= count) return;
          const address = `${dom}:${hex2(bus)}:00.${i}`;
          pci.push({
            ...f,
            address,
            behind: port,
            group: g,
            resetMethod: "flr bus",
            pcie: { type: "endpoint", flr: true, maxSpeed: 4, maxWidth: 16 },
          });
          if (f.class === "020000" && !firstNic) firstNic = address;
          if (f.class === "010802" && !firstNvme) firstNvme = address;
        });
        bus++;
      }
    }
  }
  const nvme = pci.find((f) => f.address === firstNvme);
  if (nvme) nvme.disks = { nvme0n1: ["nvme0n1p1", "nvme0n1p2"] };
  const nic = pci.find((f) => f.address === firstNic);
  if (nic) nic.net = ["enp2s0f0"];
  return {
    name: `synthetic-${count}`,
    description: `synthetic host with ${count} PCI functions (benchmark)`,
    hostname: "bench",
    cpu: {
      vendor: "intel",
      model: "Intel(R) Xeon(R) Platinum 8380 CPU @ 2.30GHz",
      flags: ["vmx", "x2apic"],
      threads: 8,
    },
    kernel: { release: "6.8.12-4-pve", builtin: [] },
    osRelease: 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n',
    uefi: true,
    cmdline: "BOOT_IMAGE=/boot/vmlinuz-6.8.12-4-pve root=/dev/nvme0n1p2 ro quiet intel_iommu=on",
    dmesg: ["DMAR: IOMMU enabled", "DMAR-IR: Enabled IRQ remapping in x2apic mode"],
    iommu: { vendor: "intel", units: 2, defaultType: "DMA-FQ" },
    pci,
    loadedModules: ["vfio_pci", "i40e", "nvme"],
    files: { "etc/default/grub": 'GRUB_CMDLINE_LINUX_DEFAULT="quiet intel_iommu=on"\n' },
    tools: ["update-grub", "update-initramfs"],
    rootMount: { device: "/dev/nvme0n1p2", fstype: "ext4" },
    defaultRouteIface: nic ? "enp2s0f0" : "lo",
  };
}
