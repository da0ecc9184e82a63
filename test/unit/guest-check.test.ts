// `guest check` against fixture guests (test/fixtures/specs/guest.ts) and the bare-metal seed
// host: the rules, and the command's text, JSON and exit codes.

import { describe, expect, it } from "vitest";
import { checkGuest, notLinuxGuest, parseExpect } from "../../src/guest/check.js";
import { openSnapshot } from "../../src/host/open-root.js";
import {
  parseNvidiaSmiList,
  parseProcNetTcp,
  parseTailscaleStatus,
  readGuestFacts,
  type GuestFacts,
} from "../../src/host/guest-facts.js";
import { cli, cliJson } from "../helpers/cli.js";
import { fixturePath, fixtureState } from "../helpers/fixtures.js";

function facts(name: string): GuestFacts {
  return readGuestFacts(openSnapshot(fixturePath(name)).root);
}

function check(name: string, expect: string | null = null) {
  return checkGuest(fixtureState(name), facts(name), expect ? parseExpect(expect) : null);
}

const status = (r: ReturnType<typeof check>, id: string) =>
  r.findings.filter((f) => f.id === id).map((f) => f.status);

describe("guest facts from a snapshot", () => {
  it("reads DRM nodes, nvidia-smi, listening sockets, sshd and Tailscale from guest-nvidia-ok", () => {
    const f = facts("guest-nvidia-ok");
    expect(f.drm).toEqual([
      { name: "card0", device: "0000:01:00.0", devNode: true },
      { name: "renderD128", device: "0000:01:00.0", devNode: true },
    ]);
    expect(f.devNodesVisible).toBe(true);
    expect(f.nvidiaSmi).toEqual({
      installed: true,
      ok: true,
      value: ["GPU 0: NVIDIA GeForce RTX 3080 (UUID: GPU-6a1f3c2e-8b4d-4e5f-9a0b-1c2d3e4f5a6b)"],
    });
    expect(f.listening).toEqual([
      { family: "ipv4", address: "127.0.0.53", port: 53 },
      { family: "ipv4", address: "0.0.0.0", port: 22 },
      { family: "ipv6", address: "::", port: 22 },
    ]);
    expect(f.ssh).toEqual({ installed: true, ports: [22], portSource: "sshd default" });
    expect(f.tailscale).toEqual({
      installed: true,
      ok: true,
      value: {
        backendState: "Running",
        dnsName: "gaming.tail1234.ts.net",
        ips: ["100.101.102.103", "fd7a:115c:a1e0::1"],
      },
    });
  });

  it("knows what is missing on the guest without a GPU", () => {
    const f = facts("guest-no-gpu");
    expect(f.nvidiaSmi).toEqual({ installed: false });
    expect(f.tailscale).toEqual({ installed: false });
    expect(f.ssh.installed).toBe(false);
    expect(f.drm).toEqual([{ name: "card0", device: "0000:00:01.0", devNode: true }]);
  });

  it("parses proc/net/tcp6 addresses in the kernel's byte order", () => {
    const text = [
      "  sl  local_address                         remote_address                        st",
      "   0: 00000000000000000000000001000000:0016 00000000000000000000000000000000:0000 0A",
      "   1: B80D0120000000000000000001000000:2222 00000000000000000000000000000000:0000 0A",
      "   2: B80D0120000000000000000001000000:0016 B80D0120000000000000000002000000:D8A2 01",
    ].join("\n");
    expect(parseProcNetTcp(text, "ipv6")).toEqual([
      { family: "ipv6", address: "::1", port: 22 },
      { family: "ipv6", address: "2001:db8::1", port: 8738 },
    ]);
  });

  it("parses nvidia-smi -L and tailscale status, and says why when it cannot", () => {
    expect(
      parseNvidiaSmiList(
        "GPU 0: NVIDIA GeForce RTX 3080 (UUID: GPU-1)\nGPU 1: NVIDIA RTX A4000 (UUID: GPU-2)\n",
      ),
    ).toHaveLength(2);
    expect(parseNvidiaSmiList("No devices were found\n")).toBe(
      "nvidia-smi -L listed no GPU: No devices were found",
    );
    expect(parseTailscaleStatus("not json")).toBe(
      "tailscale status --json printed something that is not JSON",
    );
    expect(
      parseTailscaleStatus('{"BackendState":"Stopped","Self":{"DNSName":"","TailscaleIPs":null}}'),
    ).toEqual({ backendState: "Stopped", dnsName: null, ips: [] });
  });

  it("takes sshd's Port lines from sshd_config.d", async () => {
    const { writeSpec } = await import("../helpers/fixtures.js");
    const { guestNvidiaOk } = await import("../fixtures/specs/guest.js");
    const spec = {
      ...guestNvidiaOk,
      name: "guest-port",
      files: {
        ...guestNvidiaOk.files,
        "etc/ssh/sshd_config.d/20-port.conf": "Port 2222\nPort 22\n",
      },
    };
    const { dir, cleanup } = writeSpec(spec);
    try {
      expect(readGuestFacts(openSnapshot(dir).root).ssh).toEqual({
        installed: true,
        ports: [2222, 22],
        portSource: "/etc/ssh/sshd_config.d/20-port.conf",
      });
    } finally {
      cleanup();
    }
  });
});

describe("guest check rules", () => {
  it("passes a VM whose RTX 3080 is bound to nvidia and answers", () => {
    const r = check("guest-nvidia-ok");
    expect(r.ok).toBe(true);
    expect(r.findings.map((f) => `${f.status} ${f.id}`)).toEqual([
      "pass guest.hypervisor",
      "pass guest.gpu.present",
      "pass guest.gpu.driver",
      "pass guest.gpu.nvidia-smi",
      "pass guest.gpu.drm",
      "pass guest.gpu.audio",
      "pass guest.ssh",
      "pass guest.tailscale",
    ]);
    expect(r.gpus).toEqual([
      {
        address: "0000:01:00.0",
        vendorId: "10de",
        deviceId: "2206",
        name: "0000:01:00.0 NVIDIA Corporation GA102 [GeForce RTX 3080] [10de:2206]",
        driver: "nvidia",
      },
    ]);
  });

  it("holds the VM to --expect", () => {
    expect(check("guest-nvidia-ok", "10de:2206").ok).toBe(true);
    expect(check("guest-nvidia-ok", "10de").ok).toBe(true);
    const other = check("guest-nvidia-ok", "1002:73bf");
    expect(other.ok).toBe(false);
    expect(other.findings.find((f) => f.id === "guest.gpu.present")).toMatchObject({
      status: "fail",
      summary: "the expected GPU 1002:73bf is not on this VM's PCI bus (found 10de:2206)",
    });
    expect(parseExpect("10DE:2206")).toEqual({ vendorId: "10de", deviceId: "2206" });
    expect(parseExpect("nvidia")).toBeNull();
  });

  it("fails a GPU bound to vfio-pci inside the guest, naming the guest's own config line", () => {
    const r = check("guest-gpu-vfio");
    expect(r.ok).toBe(false);
    const drv = r.findings.find((f) => f.id === "guest.gpu.driver")!;
    expect(drv.status).toBe("fail");
    expect(drv.summary).toContain("is bound to vfio-pci inside the guest");
    expect(drv.fix).toContain(
      "/etc/modprobe.d/vfio.conf:1: options vfio-pci ids=10de:2206,10de:1aef",
    );
    expect(drv.fix).toContain("update-initramfs -u");
    expect(status(r, "guest.gpu.audio")).toEqual(["warn"]);
    expect(status(r, "guest.gpu.nvidia-smi")).toEqual([]);
    expect(status(r, "guest.tailscale")).toEqual(["warn"]);
  });

  it("fails a GPU without a driver, with the install command for its vendor", () => {
    const r = check("guest-gpu-nodriver");
    expect(r.ok).toBe(false);
    const drv = r.findings.find((f) => f.id === "guest.gpu.driver")!;
    expect(drv).toMatchObject({
      status: "fail",
      summary: "0000:01:00.0 NVIDIA Corporation GA102 [GeForce RTX 3080] [10de:2206] has no driver",
    });
    expect(drv.fix).toContain("passthrough guest setup --gpu-driver");
    expect(drv.fix).toContain("ubuntu-drivers install");
    expect(status(r, "guest.tailscale")).toEqual(["info"]);
  });

  it("fails a VM without a passed GPU, seeing through the emulated display", () => {
    const r = check("guest-no-gpu");
    expect(r.ok).toBe(false);
    const present = r.findings.find((f) => f.id === "guest.gpu.present")!;
    expect(present).toMatchObject({
      status: "fail",
      summary: "no passed-through GPU on this VM's PCI bus",
    });
    expect(present.detail).toEqual(["emulated display only: 0000:00:01.0 [1234:1111]"]);
    expect(present.fix).toContain("stop and start the VM");
    expect(r.findings.find((f) => f.id === "guest.ssh")).toMatchObject({
      status: "warn",
      summary: expect.stringContaining("no SSH server"),
    });
  });

  it("takes --expect at its word for a vendor QEMU emulates (a nested VM's passed bochs-display)", () => {
    const r = check("guest-no-gpu", "1234:1111");
    expect(r.ok).toBe(true);
    expect(r.gpus).toMatchObject([{ address: "0000:00:01.0", driver: "bochs-drm" }]);
    expect(status(r, "guest.gpu.present")).toEqual(["pass"]);
    expect(status(r, "guest.gpu.driver")).toEqual(["warn"]);
    expect(check("guest-no-gpu", "1234:1112").ok).toBe(false);
  });

  it("says bare metal is not a guest and checks nothing else there", () => {
    const r = check("seed-after");
    expect(r.ok).toBe(false);
    expect(r.findings.map((f) => `${f.status} ${f.id}`)).toEqual([
      "fail guest.hypervisor",
      "info guest.skipped",
    ]);
    expect(r.findings[0]!.summary).toContain("not a guest");
    expect(r.findings[0]!.summary).toContain("Gigabyte Technology Co., Ltd. B650M AORUS ELITE AX");
  });

  it("fails when nvidia is bound but nvidia-smi cannot talk to it, and warns without nvidia_drm", () => {
    const state = fixtureState("guest-nvidia-ok");
    const f = facts("guest-nvidia-ok");
    const broken = checkGuest(state, {
      ...f,
      nvidiaSmi: {
        installed: true,
        ok: false,
        reason:
          "nvidia-smi -L exited 9: NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.",
      },
    });
    expect(broken.ok).toBe(false);
    expect(broken.findings.find((x) => x.id === "guest.gpu.nvidia-smi")).toMatchObject({
      status: "fail",
      fix: expect.stringContaining("dmesg | grep -i nvrm"),
    });
    const noDrm = checkGuest(state, { ...f, drm: [] });
    expect(noDrm.ok).toBe(true);
    expect(noDrm.findings.find((x) => x.id === "guest.gpu.drm")).toMatchObject({
      status: "warn",
      fix: expect.stringContaining("nvidia_drm modeset=1"),
    });
  });

  it("passes the check helper's guest fixture, leaving what its snapshot did not capture unchecked", () => {
    const r = check("guest-nvidia");
    expect(r.ok).toBe(true);
    expect(r.findings.find((f) => f.id === "guest.gpu.nvidia-smi")).toMatchObject({
      status: "skip",
      summary: "not checked: nvidia-smi is installed, but cmd/nvidia-smi-L is not in the snapshot",
    });
    expect(status(r, "guest.gpu.driver")).toEqual(["pass"]);
  });

  it("treats SSH on loopback only, and Tailscale needing login, as warnings", () => {
    const state = fixtureState("guest-nvidia-ok");
    const f = facts("guest-nvidia-ok");
    const r = checkGuest(state, {
      ...f,
      listening: [{ family: "ipv4", address: "127.0.0.1", port: 22 }],
      tailscale: {
        installed: true,
        ok: true,
        value: { backendState: "NeedsLogin", dnsName: null, ips: [] },
      },
    });
    expect(r.ok).toBe(true);
    expect(r.findings.find((x) => x.id === "guest.ssh")).toMatchObject({
      status: "warn",
      summary: "SSH listens only on loopback (127.0.0.1:22): unreachable from outside",
    });
    expect(r.findings.find((x) => x.id === "guest.tailscale")).toMatchObject({
      status: "warn",
      fix: expect.stringContaining("--auth-key=file:"),
    });
  });
});

describe("passthrough guest check (CLI)", () => {
  it("exits 0 and says so when the GPU works", async () => {
    const r = await cli(["guest", "check", "--snapshot", fixturePath("guest-nvidia-ok")]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("  PASS  guest.gpu.driver      0000:01:00.0 is driven by nvidia\n");
    expect(r.stdout).toContain("Passthrough works: 0000:01:00.0 on nvidia.");
    expect(r.stderr).toBe("");
  });

  it("exits 1 with the cause and the fix for vfio-pci, no driver, no GPU and bare metal", async () => {
    for (const [name, line] of [
      ["guest-gpu-vfio", "FAIL  guest.gpu.driver"],
      ["guest-gpu-nodriver", "has no driver"],
      ["guest-no-gpu", "no passed-through GPU on this VM's PCI bus"],
      ["seed-after", "not a guest"],
    ] as const) {
      const r = await cli(["guest", "check", "--snapshot", fixturePath(name)]);
      expect(r.code, name).toBe(1);
      expect(r.stdout, name).toContain(line);
      expect(r.stdout, name).toMatch(/fix: /);
    }
  });

  it("prints JSON with ok, gpus, findings and the facts", async () => {
    const ok = await cliJson([
      "guest",
      "check",
      "--snapshot",
      fixturePath("guest-nvidia-ok"),
      "--expect",
      "10de:2206",
    ]);
    expect(ok.code).toBe(0);
    expect(ok.json.ok).toBe(true);
    expect(ok.json.host.virtualMachine).toBe(true);
    expect(ok.json.gpus[0].driver).toBe("nvidia");
    expect(ok.json.findings.map((f: { id: string }) => f.id)).toContain("guest.gpu.nvidia-smi");
    expect(ok.json.facts.tailscale.value.backendState).toBe("Running");
    const bad = await cliJson(["guest", "check", "--snapshot", fixturePath("guest-gpu-vfio")]);
    expect(bad.code).toBe(1);
    expect(bad.json.ok).toBe(false);
  });

  it("runs on this machine itself and answers in JSON, whatever it is", async () => {
    const r = await cliJson(["guest", "check"]);
    expect([0, 1]).toContain(r.code);
    expect(r.json.ok).toBe(r.code === 0);
    expect(r.json.host.source.kind).toBe("live");
    expect(r.json.findings[0].id).toBe("guest.hypervisor");
    expect(r.json.findings[0].status).toBe(r.json.host.virtualMachine ? "pass" : "fail");
  });

  it("rejects a malformed --expect", async () => {
    const r = await cli([
      "guest",
      "check",
      "--snapshot",
      fixturePath("guest-nvidia-ok"),
      "--expect",
      "rtx3080",
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      "error: --expect rtx3080: give vendor:device in hex, e.g. 10de:2206 (lspci -nn shows them)\n",
    );
  });
});

describe("guest check outside a Linux guest", () => {
  it("says what to check in Device Manager instead, in one line, exit 2", async () => {
    expect(notLinuxGuest("linux")).toBeNull();
    expect(notLinuxGuest("win32")).toMatch(
      /this is Windows: in a Windows guest open Device Manager/,
    );
    expect(notLinuxGuest("darwin")).toMatch(/this is macOS/);
    const real = Object.getOwnPropertyDescriptor(process, "platform")!;
    Object.defineProperty(process, "platform", { value: "win32" });
    try {
      const r = await cli(["guest", "check"]);
      expect(r.code).toBe(2);
      expect(r.stdout).toBe("");
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
      expect(r.stderr).toMatch(/Code 43 means its driver stopped it.*Code 12/);
      // A Linux guest's snapshot is still read on any machine.
      const s = await cli(["guest", "check", "--snapshot", fixturePath("guest-nvidia")]);
      expect(s.stderr).not.toMatch(/Device Manager/);
    } finally {
      Object.defineProperty(process, "platform", real);
    }
  });
});
