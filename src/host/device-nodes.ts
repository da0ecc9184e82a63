// The device nodes a GPU exposes on this host, found the way the kernel and the drivers
// publish them rather than guessed from names:
//   - DRM: the function's sysfs folder holds drm/cardN and drm/renderDN, each with a `dev`
//     attribute "MAJOR:MINOR" (Documentation/gpu/drm-uapi.rst, "Device nodes");
//   - NVIDIA's proprietary driver: /dev/nvidiaN, where N is the "Device Minor" in
//     /proc/driver/nvidia/gpus/ADDR/information, plus the shared /dev/nvidiactl (195:255),
//     /dev/nvidia-uvm and /dev/nvidia-uvm-tools (when nvidia_uvm is loaded) and
//     /dev/nvidia-caps/* (majors from /proc/devices);
//   - AMD ROCm: /dev/kfd (sys/class/kfd/kfd/dev), shared by every amdgpu card.
// Read-only, through HostRoot, so a snapshot answers as the live host does.

import { readAttr, type HostRoot } from "./root.js";
import type { PciDevice } from "./types.js";

export interface DeviceNode {
  /** Absolute path on the host: "/dev/dri/renderD128". */
  path: string;
  /** Character device numbers, null when the kernel does not say (the node still exists). */
  major: number | null;
  minor: number | null;
  /** Why this node belongs to the card, for the plan's explanation. */
  why: string;
}

export interface CardNodes {
  address: string;
  driver: string | null;
  nodes: DeviceNode[];
}

/** NVIDIA's fixed character major for /dev/nvidiaN and /dev/nvidiactl (nvidia-modprobe, NV_MAJOR_DEVICE_NUMBER). */
const NVIDIA_MAJOR = 195;
const NVIDIACTL_MINOR = 255;

export function readCardNodes(root: HostRoot, dev: PciDevice): CardNodes {
  const nodes = [...drmNodes(root, dev)];
  if (dev.driver === "nvidia") nodes.push(...nvidiaNodes(root, dev));
  if (dev.driver === "amdgpu") nodes.push(...kfdNode(root));
  return { address: dev.address, driver: dev.driver, nodes };
}

function drmNodes(root: HostRoot, dev: PciDevice): DeviceNode[] {
  const names = root.list(`${dev.sysfsPath}/drm`) ?? [];
  return names
    .filter((n) => /^(card|renderD)\d+$/.test(n))
    .sort((a, b) => kindOrder(a) - kindOrder(b) || a.localeCompare(b, "en", { numeric: true }))
    .map((n) => {
      const [major, minor] = parseDevNumbers(readAttr(root, `${dev.sysfsPath}/drm/${n}/dev`));
      return {
        path: `/dev/dri/${n}`,
        major,
        minor,
        why: n.startsWith("renderD")
          ? "DRM render node (VA-API, Quick Sync, OpenCL, Vulkan compute)"
          : "DRM primary node (modesetting, display)",
      };
    });
}

/** card before renderD: the order the kernel creates them in. */
function kindOrder(name: string): number {
  return name.startsWith("card") ? 0 : 1;
}

/** "226:128" -> [226, 128]; [null, null] when absent or malformed. */
export function parseDevNumbers(text: string | null): [number | null, number | null] {
  const m = /^(\d+):(\d+)$/.exec(text ?? "");
  return m ? [Number(m[1]), Number(m[2])] : [null, null];
}

/** Character majors by driver name, from /proc/devices (the "Character devices:" block). */
export function parseProcDevices(text: string): Map<string, number> {
  const majors = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (/^Block devices:/.test(line)) break;
    const m = /^\s*(\d+)\s+(\S+)\s*$/.exec(line);
    if (m) majors.set(m[2]!, Number(m[1]));
  }
  return majors;
}

/** "Device Minor:     0" in /proc/driver/nvidia/gpus/ADDR/information. */
export function parseNvidiaMinor(text: string): number | null {
  const m = /^Device Minor:\s*(\d+)\s*$/m.exec(text);
  return m ? Number(m[1]) : null;
}

function nvidiaNodes(root: HostRoot, dev: PciDevice): DeviceNode[] {
  const info = root.readText(`proc/driver/nvidia/gpus/${dev.address}/information`);
  const minor = info.ok ? parseNvidiaMinor(info.value) : null;
  const majors = parseProcDevices(readAttr(root, "proc/devices") ?? "");
  const nodes: DeviceNode[] = [];
  if (minor !== null)
    nodes.push({
      path: `/dev/nvidia${minor}`,
      major: NVIDIA_MAJOR,
      minor,
      why: "this card's NVIDIA device (Device Minor in /proc/driver/nvidia/gpus)",
    });
  const shared: Array<[string, number | null, number | null, string]> = [
    ["nvidiactl", NVIDIA_MAJOR, NVIDIACTL_MINOR, "NVIDIA control device, shared by every card"],
    ["nvidia-uvm", majors.get("nvidia-uvm") ?? null, 0, "CUDA unified memory (nvidia_uvm)"],
    ["nvidia-uvm-tools", majors.get("nvidia-uvm") ?? null, 1, "CUDA profiling (nvidia_uvm)"],
  ];
  for (const [name, major, nodeMinor, why] of shared)
    if (root.exists(`dev/${name}`))
      nodes.push({ path: `/dev/${name}`, major, minor: nodeMinor, why });
  const capsMajor = majors.get("nvidia-caps") ?? null;
  for (const cap of root.list("dev/nvidia-caps") ?? []) {
    const m = /^nvidia-cap(\d+)$/.exec(cap);
    if (!m) continue;
    nodes.push({
      path: `/dev/nvidia-caps/${cap}`,
      major: capsMajor,
      minor: Number(m[1]),
      why: "NVIDIA capability (MIG, nvidia-smi)",
    });
  }
  return nodes;
}

/**
 * ALSA's nodes of a sound function (a GPU's HDMI audio): sound/cardN/{controlCN,pcmCNDMp,hwCNDM}
 * under its sysfs folder, each with a `dev` file, as /dev/snd/NAME (Documentation/sound).
 */
export function readSoundNodes(root: HostRoot, dev: PciDevice): DeviceNode[] {
  const cards = (root.list(`${dev.sysfsPath}/sound`) ?? []).filter((c) => /^card\d+$/.test(c));
  return cards.flatMap((card) =>
    (root.list(`${dev.sysfsPath}/sound/${card}`) ?? [])
      .filter((n) => /^(controlC|pcmC|hwC)\d+/.test(n))
      .map((n) => {
        const [major, minor] = parseDevNumbers(
          readAttr(root, `${dev.sysfsPath}/sound/${card}/${n}/dev`),
        );
        return { path: `/dev/snd/${n}`, major, minor, why: "ALSA sound device" };
      }),
  );
}

function kfdNode(root: HostRoot): DeviceNode[] {
  if (!root.exists("dev/kfd") && !root.exists("sys/class/kfd/kfd")) return [];
  const [major, minor] = parseDevNumbers(readAttr(root, "sys/class/kfd/kfd/dev"));
  return [
    {
      path: "/dev/kfd",
      major,
      minor,
      why: "AMD ROCm compute (amdkfd), shared by every amdgpu card",
    },
  ];
}
