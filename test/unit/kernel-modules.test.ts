// Kernel updates (issue 15): installed kernels, their out-of-tree modules and DKMS builds, the
// kernel the next boot starts (pin, next-boot pin, newest), and check's kernel.modules verdict
// on the kernel-* fixtures (test/fixtures/specs/kernel-updates.ts) and edited states.
import { describe, expect, it } from "vitest";
import { runChecks } from "../../src/checks/run-checks.js";
import { nextBoot } from "../../src/boot/next-boot.js";
import { parseProxmoxKernelList } from "../../src/formats/proxmox-kernel-list.js";
import { compareReleases } from "../../src/host/kernels.js";
import type { HostState } from "../../src/host/types.js";
import { fixtureState } from "../helpers/fixtures.js";

const verdict = (s: HostState) => runChecks(s).findings.filter((f) => f.id === "kernel.modules");

describe("proxmox-boot-tool kernel list", () => {
  it("reads the sections, the pin and a next-boot pin", () => {
    const text =
      "Manually selected kernels:\nNone.\n\nAutomatically selected kernels:\n6.8.12-4-pve\n6.8.12-10-pve\n\nPinned kernel:\n6.8.12-4-pve\n\nKernel pinned on next-boot:\n6.8.12-10-pve\n";
    expect(parseProxmoxKernelList(text)).toEqual({
      manual: [],
      automatic: ["6.8.12-4-pve", "6.8.12-10-pve"],
      pinned: "6.8.12-4-pve",
      nextBoot: "6.8.12-10-pve",
    });
    expect(parseProxmoxKernelList("command not found\n")).toBeNull();
  });

  it("orders releases as versions, and a next-boot pin wins over the pin", () => {
    expect(["6.8.12-10-pve", "6.8.12-9-pve", "6.5.13-5-pve"].sort(compareReleases)).toEqual([
      "6.5.13-5-pve",
      "6.8.12-9-pve",
      "6.8.12-10-pve",
    ]);
    const s = fixtureState("kernel-pinned");
    expect(nextBoot(s)).toEqual({ release: "6.8.12-4-pve", why: "pinned", via: "proxmox" });
    s.kernels.proxmox!.nextBoot = "6.8.12-8-pve";
    expect(nextBoot(s)).toEqual({
      release: "6.8.12-8-pve",
      why: "pinned for the next boot",
      via: "proxmox",
    });
  });
});

describe("installed kernels and their modules", () => {
  it("reads /lib/modules, updates/dkms and /var/lib/dkms from the snapshot", () => {
    const k = fixtureState("kernel-next-missing").kernels;
    expect(k.installed).toEqual(["6.8.12-4-pve", "6.8.12-8-pve"]);
    expect(k.outOfTree).toEqual({ "6.8.12-4-pve": ["vendor_reset"], "6.8.12-8-pve": [] });
    expect(k.dkms).toEqual([
      { module: "vendor_reset", version: "0.1.1", kernel: "6.8.12-4-pve", arch: "x86_64" },
    ]);
    expect(k.proxmox).toMatchObject({ pinned: null, automatic: ["6.8.12-4-pve", "6.8.12-8-pve"] });
  });
});

describe("kernel.modules", () => {
  it("passes when every installed kernel has vendor-reset", () => {
    const [f] = verdict(fixtureState("kernel-modules-built"));
    expect(f).toMatchObject({ status: "pass", subject: "6.8.12-8-pve" });
    expect(f!.summary).toContain("vendor_reset: 6.8.12-4-pve, 6.8.12-8-pve");
  });

  it("warns with the exact release when the next boot lacks it, and suggests the pin on Proxmox", () => {
    const [f] = verdict(fixtureState("kernel-next-missing"));
    expect(f!.status).toBe("warn");
    expect(f!.summary).toMatch(
      /^the next boot starts kernel 6\.8\.12-8-pve \(the newest installed\), which lacks vendor_reset/,
    );
    expect(f!.fix).toContain("`proxmox-boot-tool kernel pin 6.8.12-4-pve`");
    expect(f!.fix).toContain(
      "apt install proxmox-headers-6.8.12-8-pve, then `dkms autoinstall -k 6.8.12-8-pve`",
    );
  });

  it("passes when the kernel that has it is pinned", () => {
    const [f] = verdict(fixtureState("kernel-pinned"));
    expect(f!.status).toBe("pass");
    expect(f!.summary).toContain("6.8.12-4-pve (running, next boot: pinned)");
  });

  it("says when DKMS built the module but did not install it", () => {
    const s = fixtureState("kernel-next-missing");
    s.kernels.dkms.push({
      module: "vendor_reset",
      version: "0.1.1",
      kernel: "6.8.12-8-pve",
      arch: "x86_64",
    });
    expect(verdict(s)[0]!.summary).toContain(
      "(DKMS built vendor_reset for it but did not install it)",
    );
  });

  it("outside Proxmox: a DKMS nvidia on the running kernel, rebuilt with dkms autoinstall before the reboot", () => {
    const s = fixtureState("kernel-next-missing");
    s.system.proxmox = null;
    s.kernels.proxmox = null;
    s.kernels.outOfTree["6.8.12-4-pve"]!.push("nvidia");
    s.kernels.dkms.push({
      module: "nvidia",
      version: "535.183.01",
      kernel: "6.8.12-4-pve",
      arch: "x86_64",
    });
    const [f] = verdict(s);
    expect(f!.summary).toContain("lacks nvidia, vendor_reset");
    expect(f!.fix).toBe(
      "before rebooting, apt install linux-headers-6.8.12-8-pve, then `dkms autoinstall -k 6.8.12-8-pve`; or boot 6.8.12-4-pve from the boot menu",
    );
  });

  it("says nothing when no kernel has the module (reset.vendor-reset tells to install it)", () => {
    expect(verdict(fixtureState("gpu-quirks"))).toEqual([]);
    expect(verdict(fixtureState("seed-after"))).toEqual([]);
  });
});
