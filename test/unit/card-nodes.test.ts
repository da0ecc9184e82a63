// Device-node discovery (src/host/device-nodes.ts) on every container fixture layout.
import { describe, expect, it } from "vitest";
import {
  parseDevNumbers,
  parseNvidiaMinor,
  parseProcDevices,
  readCardNodes,
} from "../../src/host/device-nodes.js";
import { openSnapshot } from "../../src/host/open-root.js";
import { readHostState } from "../../src/host/read-host.js";
import { fixturePath } from "../helpers/fixtures.js";

function nodesOf(fixture: string, address: string) {
  const { root, manifest } = openSnapshot(fixturePath(fixture));
  const state = readHostState(root, { manifest, systemPciIds: false });
  const dev = state.pci.find((d) => d.address === address)!;
  return readCardNodes(root, dev).nodes.map((n) => `${n.path} ${n.major}:${n.minor}`);
}

describe("readCardNodes", () => {
  it("finds an Intel iGPU's card and render node through its sysfs drm folder", () => {
    expect(nodesOf("ct-intel-igpu", "0000:00:02.0")).toEqual([
      "/dev/dri/card0 226:0",
      "/dev/dri/renderD128 226:128",
    ]);
  });

  it("adds /dev/kfd for an amdgpu card, and takes only this card's DRM nodes", () => {
    expect(nodesOf("ct-amd-kfd", "0000:10:00.0")).toEqual([
      "/dev/dri/card0 226:0",
      "/dev/dri/renderD128 226:128",
      "/dev/kfd 234:0",
    ]);
  });

  it("lists NVIDIA's nodes: the card's minor, nvidiactl, uvm, uvm-tools and caps when loaded", () => {
    expect(nodesOf("ct-nvidia-uvm", "0000:01:00.0")).toEqual([
      "/dev/dri/card1 226:1",
      "/dev/dri/renderD129 226:129",
      "/dev/nvidia0 195:0",
      "/dev/nvidiactl 195:255",
      "/dev/nvidia-uvm 235:0",
      "/dev/nvidia-uvm-tools 235:1",
      "/dev/nvidia-caps/nvidia-cap1 234:1",
      "/dev/nvidia-caps/nvidia-cap2 234:2",
    ]);
  });

  it("leaves out the uvm and caps nodes when nvidia_uvm is not loaded", () => {
    expect(nodesOf("ct-nvidia-no-uvm", "0000:01:00.0")).toEqual([
      "/dev/dri/card1 226:1",
      "/dev/dri/renderD129 226:129",
      "/dev/nvidia0 195:0",
      "/dev/nvidiactl 195:255",
    ]);
  });

  it("finds nothing for a card on vfio-pci (no DRM driver made nodes)", () => {
    expect(nodesOf("ct-amd-kfd", "0000:01:00.0")).toEqual([]);
  });
});

describe("device-number parsers", () => {
  it("reads MAJOR:MINOR and rejects anything else", () => {
    expect(parseDevNumbers("226:128")).toEqual([226, 128]);
    expect(parseDevNumbers("226")).toEqual([null, null]);
    expect(parseDevNumbers(null)).toEqual([null, null]);
  });

  it("reads character majors from /proc/devices and stops at the block devices", () => {
    const m = parseProcDevices(
      "Character devices:\n 10 misc\n235 nvidia-uvm\n\nBlock devices:\n  8 sd\n",
    );
    expect(m.get("nvidia-uvm")).toBe(235);
    expect(m.get("misc")).toBe(10);
    expect(m.has("sd")).toBe(false);
  });

  it("reads the Device Minor of /proc/driver/nvidia/gpus/ADDR/information", () => {
    expect(parseNvidiaMinor("Model: \t\t X\nDevice Minor: \t 3\n")).toBe(3);
    expect(parseNvidiaMinor("Model: X\n")).toBeNull();
  });
});
