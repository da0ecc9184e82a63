// A three-node cluster for the API tests: pve1 and pve2 carry the same RTX 3090 (at different
// IOMMU groups), pve3 has an RTX 3080 at 01:00 and the 3090 at 02:00. Ids as sysfs and
// GET /nodes/{node}/hardware/pci report them ("0x10de"), so mapping entries must strip "0x".

import type { SimCluster, SimPci, SimToken } from "./pve-simulator.js";

const gpu = (slot: string, group: number, device = "0x2204", sub = "0x3880"): SimPci[] => [
  {
    id: `${slot}.0`,
    class: "0x030000",
    vendor: "0x10de",
    device,
    subsystem_vendor: "0x1462",
    subsystem_device: sub,
    iommugroup: group,
    vendor_name: "NVIDIA Corporation",
    device_name: device === "0x2204" ? "GA102 [GeForce RTX 3090]" : "GA102 [GeForce RTX 3080]",
  },
  {
    id: `${slot}.1`,
    class: "0x040300",
    vendor: "0x10de",
    device: "0x1aef",
    subsystem_vendor: "0x1462",
    subsystem_device: sub,
    iommugroup: group,
    vendor_name: "NVIDIA Corporation",
    device_name: "GA102 High Definition Audio Controller",
  },
];

const bridge = (id: string, group: number): SimPci => ({
  id,
  class: "0x060400",
  vendor: "0x1022",
  device: "0x14db",
  iommugroup: group,
  vendor_name: "Advanced Micro Devices, Inc. [AMD]",
  device_name: "Raphael/Granite Ridge GPP Bridge",
});

export const pve1Pci = (): SimPci[] => [
  bridge("0000:00:01.1", 1),
  ...gpu("0000:01:00", 14),
  // A co-processor: class 0x0b, filtered out by hardware/pci's default blacklist.
  {
    id: "0000:05:00.0",
    class: "0x0b4000",
    vendor: "0x8086",
    device: "0x0b25",
    iommugroup: 16,
    vendor_name: "Intel Corporation",
    device_name: "Data Streaming Accelerator",
  },
];
export const pve2Pci = (): SimPci[] => [bridge("0000:00:01.1", 1), ...gpu("0000:01:00", 12)];
export const pve3Pci = (): SimPci[] => [
  bridge("0000:00:01.1", 1),
  ...gpu("0000:01:00", 13, "0x2206", "0x3897"),
  ...gpu("0000:02:00", 15),
];

export const SECRETS = {
  admin: "0f3ef5c2-2d6c-4a8e-9b3a-1d8e6f7a9c01",
  root: "6b1c7d2e-8f9a-4b3c-a1d2-e3f4a5b6c7d8",
  viewer: "9a8b7c6d-5e4f-4a3b-2c1d-0e9f8a7b6c5d",
  ops: "11111111-2222-4333-8444-555566667777",
  expired: "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee",
};

export const TOKENS: Record<keyof typeof SECRETS, SimToken> = {
  admin: { id: "passthrough@pve!cli", secret: SECRETS.admin, privileges: "all" },
  // Even root@pam's own token is not root@pam for Proxmox's root-only rules.
  root: { id: "root@pam!automation", secret: SECRETS.root, privileges: "all" },
  viewer: {
    id: "viewer@pve!ro",
    secret: SECRETS.viewer,
    privileges: { "/": ["VM.Audit", "Sys.Audit", "Mapping.Audit"] },
  },
  // May configure VMs but not use mappings.
  ops: {
    id: "ops@pve!vm",
    secret: SECRETS.ops,
    privileges: {
      "/": ["Sys.Audit"],
      "/vms": [
        "VM.Audit",
        "VM.Config.HWType",
        "VM.Config.Options",
        "VM.Config.CPU",
        "VM.Config.Memory",
      ],
    },
  },
  expired: { id: "old@pve!gone", secret: SECRETS.expired, privileges: "all", expire: 86400 },
};

export const tokenString = (t: keyof typeof SECRETS) => `${TOKENS[t].id}=${SECRETS[t]}`;

export function threeNodeCluster(): SimCluster {
  return {
    nodes: [
      { name: "pve1", pci: pve1Pci() },
      { name: "pve2", pci: pve2Pci() },
      { name: "pve3", pci: pve3Pci() },
    ],
    tokens: Object.values(TOKENS),
    vms: [
      {
        vmid: 100,
        node: "pve1",
        config: {
          name: "win11",
          machine: "pc-q35-9.2+pve1",
          bios: "ovmf",
          memory: "16384",
          cores: "8",
          sockets: "1",
          ostype: "win11",
          cpu: "host",
          scsi0: "local-lvm:vm-100-disk-1,iothread=1,size=64G",
          efidisk0: "local-lvm:vm-100-disk-0,efitype=4m,pre-enrolled-keys=1,size=4M",
          net0: "virtio=BC:24:11:00:01:00,bridge=vmbr0,firewall=1",
          boot: "order=scsi0;net0",
        },
      },
      {
        vmid: 101,
        node: "pve2",
        running: true,
        config: {
          name: "llm",
          machine: "q35",
          memory: "65536",
          cores: "16",
          hostpci0: "mapping=gpu0,pcie=1",
        },
      },
      { vmid: 102, node: "pve3", config: { name: "spare", memory: "2048" } },
    ],
    mappings: [
      {
        id: "gpu0",
        description: "RTX 3090",
        map: ["node=pve2,path=0000:01:00,id=10de:2204,iommugroup=12,subsystem-id=1462:3880"],
      },
    ],
  };
}
export type SimClusterToken = keyof typeof SECRETS;

/**
 * `n` nodes pve1..pveN, each with the same RTX 3090 at 01:00, and a mapping gpu0 naming it on
 * every node: the cluster `vm mapping check` benchmarks and the partial-failure tests use.
 */
export function uniformCluster(n: number): SimCluster {
  const names = Array.from({ length: n }, (_, i) => `pve${i + 1}`);
  return {
    nodes: names.map((name) => ({ name, pci: pve2Pci() })),
    tokens: Object.values(TOKENS),
    vms: [],
    mappings: [
      {
        id: "gpu0",
        description: "RTX 3090",
        map: names.map(
          (name) =>
            `node=${name},path=0000:01:00,id=10de:2204,iommugroup=12,subsystem-id=1462:3880`,
        ),
      },
    ],
  };
}
