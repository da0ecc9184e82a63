// `guest check`: pure rules over the guest's HostState and GuestFacts (src/host/guest-facts.ts)
// that prove the passthrough from inside the VM: a hypervisor, the passed GPU on the guest's
// PCI bus, a real driver bound to it and answering (nvidia-smi, DRM nodes), and the ways in
// (SSH, Tailscale) now that the web console is gone. Only GPU problems (and "not a guest")
// are `fail`; remote-access problems are `warn`. Exit 0 = no `fail`.

import type { Finding } from "../findings/finding.js";
import type { GuestFacts } from "../host/guest-facts.js";
import type { HostState, ModprobeDirective, PciDevice } from "../host/types.js";
import type { GuestId } from "../findings/guest-catalog.js";
import {
  REAL_GPU_DRIVERS,
  describeGpu,
  gpuVendor,
  isDisplay,
  realGpus,
  EMULATED_DISPLAY_VENDORS,
} from "./gpu.js";

export interface GpuExpectation {
  vendorId: string;
  deviceId: string | null;
}

/** A guest check finding: its id is a key of GUEST_CATALOG, so `passthrough explain` documents it. */
export type GuestFinding = Finding<GuestId>;

export interface GuestCheckResult {
  findings: GuestFinding[];
  /** The GPUs the verdict is about (the expected one, or every real GPU). */
  gpus: Array<{
    address: string;
    vendorId: string;
    deviceId: string;
    name: string;
    driver: string | null;
  }>;
  /** GPU present, driven, and we are a guest. */
  ok: boolean;
}

const PLATFORM_NAMES: Record<string, string> = {
  win32: "Windows",
  darwin: "macOS",
  freebsd: "FreeBSD",
  openbsd: "OpenBSD",
};

/**
 * `guest check` reads a Linux guest (sysfs, /proc, modprobe.d). Anywhere else it would find
 * nothing and blame the passthrough, so it says what to look at instead: Device Manager's
 * status and error code for the card (Microsoft's "Device Manager error messages"). null on Linux.
 */
export function notLinuxGuest(platform: string): string | null {
  if (platform === "linux") return null;
  const name = PLATFORM_NAMES[platform] ?? platform;
  return `guest check reads a Linux guest (sysfs, /proc), and this is ${name}: in a Windows guest open Device Manager, Display adapters, the GPU, Properties — "This device is working properly" means it is passed and driven; Code 43 means its driver stopped it (the VBIOS: \`passthrough rom inspect\` on the host; an NVIDIA driver before R465: \`passthrough vm configure --hide-hypervisor\`), Code 12 that it got no memory window (\`passthrough check --device ADDR\` on the host); or take a snapshot of a Linux guest and give it with --snapshot`;
}

/** "10de:2206" or "10de" (any device of that vendor). */
export function parseExpect(text: string): GpuExpectation | null {
  const m = /^([0-9a-f]{4})(?::([0-9a-f]{4}))?$/i.exec(text.trim());
  if (!m) return null;
  return { vendorId: m[1]!.toLowerCase(), deviceId: m[2]?.toLowerCase() ?? null };
}

function machine(state: HostState): string {
  const d = state.system.dmi;
  return (
    [d.sysVendor, d.productName].filter((x) => x && x !== "To Be Filled By O.E.M.").join(" ") ||
    "no DMI identity"
  );
}

export function checkGuest(
  state: HostState,
  facts: GuestFacts,
  expect: GpuExpectation | null = null,
): GuestCheckResult {
  const findings: GuestFinding[] = [];
  findings.push(
    state.system.virtualMachine
      ? {
          id: "guest.hypervisor",
          status: "pass",
          subject: null,
          summary: `running under a hypervisor (CPU "hypervisor" flag; ${machine(state)})`,
          fix: null,
        }
      : {
          id: "guest.hypervisor",
          status: "fail",
          subject: null,
          summary: `not a guest: the CPU has no "hypervisor" flag, this is bare metal (${machine(state)})`,
          fix: "run `passthrough guest check` inside the VM; on the host, `passthrough check` shows the host side",
        },
  );

  if (!state.system.virtualMachine) {
    findings.push({
      id: "guest.skipped",
      status: "info",
      subject: null,
      summary: "GPU, SSH and Tailscale checks prove a passthrough from inside the VM; skipped here",
      fix: null,
    });
    return { findings, gpus: [], ok: false };
  }

  const real = realGpus(state);
  // An --expect is taken at its word, even for a vendor QEMU emulates: a display that is
  // emulated one level down (a nested VM's passed bochs-display, 1234:1111) is real hardware
  // to this guest, and only the user knows which one was passed.
  const matching = expect
    ? state.pci.filter(
        (d) =>
          isDisplay(d) &&
          d.vendorId === expect.vendorId &&
          (expect.deviceId === null || d.deviceId === expect.deviceId),
      )
    : real;
  const want = expect ? `${expect.vendorId}${expect.deviceId ? `:${expect.deviceId}` : ""}` : null;
  if (matching.length === 0) {
    const emulated = state.pci.filter(
      (d) => isDisplay(d) && EMULATED_DISPLAY_VENDORS.has(d.vendorId),
    );
    const others = expect ? real : [];
    findings.push({
      id: "guest.gpu.present",
      status: "fail",
      subject: null,
      summary: want
        ? `the expected GPU ${want} is not on this VM's PCI bus${others.length ? ` (found ${others.map((d) => `${d.vendorId}:${d.deviceId}`).join(", ")})` : ""}`
        : "no passed-through GPU on this VM's PCI bus",
      fix: "on the host: make sure the VM config passes it (`qm config VMID` shows hostpci0), then stop and start the VM (a reboot from inside keeps the old hardware)",
      detail: emulated.length
        ? [
            `emulated display only: ${emulated.map((d) => `${d.address} [${d.vendorId}:${d.deviceId}]`).join(", ")}`,
          ]
        : undefined,
    });
  } else {
    for (const gpu of matching) {
      findings.push({
        id: "guest.gpu.present",
        status: "pass",
        subject: gpu.address,
        summary: `${describeGpu(gpu)} is on the PCI bus${want ? ` (expected ${want})` : ""}`,
        fix: null,
      });
      findings.push(driverFinding(state, gpu));
      findings.push(...driverProof(facts, gpu));
      const audio = state.pci.find(
        (d) =>
          d.address.slice(0, -1) === gpu.address.slice(0, -1) && d.classCode.startsWith("0403"),
      );
      if (audio) {
        findings.push(
          audio.driver === "vfio-pci" || audio.driver === "pci-stub"
            ? {
                id: "guest.gpu.audio",
                status: "warn",
                subject: audio.address,
                summary: `HDMI/DP audio ${audio.address} is bound to ${audio.driver} inside the guest: no sound over the GPU's outputs`,
                fix: "remove the guest's vfio-pci binding for it (see guest.gpu.driver), then reboot the VM",
              }
            : audio.driver
              ? {
                  id: "guest.gpu.audio",
                  status: "pass",
                  subject: audio.address,
                  summary: `HDMI/DP audio ${audio.address} is driven by ${audio.driver}`,
                  fix: null,
                }
              : {
                  id: "guest.gpu.audio",
                  status: "warn",
                  subject: audio.address,
                  summary: `HDMI/DP audio ${audio.address} [${audio.vendorId}:${audio.deviceId}] has no driver: no sound over the GPU's outputs`,
                  fix: "load snd_hda_intel: `sudo modprobe snd_hda_intel` (and check it is not blacklisted in /etc/modprobe.d)",
                },
        );
      }
    }
  }

  findings.push(sshFinding(facts));
  findings.push(tailscaleFinding(facts));

  const ok = !findings.some((f) => f.status === "fail");
  return {
    findings,
    gpus: matching.map((d) => ({
      address: d.address,
      vendorId: d.vendorId,
      deviceId: d.deviceId,
      name: describeGpu(d),
      driver: d.driver,
    })),
    ok,
  };
}

function vendorInstall(gpu: PciDevice): string {
  switch (gpuVendor(gpu)) {
    case "nvidia":
      return "install the NVIDIA driver: `passthrough guest setup --gpu-driver` (Ubuntu: `sudo ubuntu-drivers install`; Debian: `sudo apt install nvidia-driver firmware-misc-nonfree` from non-free), then reboot";
    case "amd":
      return "amdgpu is in the kernel: install its firmware (`passthrough guest setup --gpu-driver`; Debian: firmware-amd-graphics, Ubuntu: linux-firmware and linux-modules-extra-$(uname -r)), then reboot";
    case "intel":
      return "i915 is in the kernel: install its firmware (`passthrough guest setup --gpu-driver`; Debian: firmware-misc-nonfree, Ubuntu: linux-firmware and linux-modules-extra-$(uname -r)), then reboot";
    default:
      return "install the vendor's driver for this GPU, then reboot";
  }
}

/** The guest's own configuration that hands the GPU to vfio-pci / pci-stub. */
function stubBindings(state: HostState, gpu: PciDevice): string[] {
  const id = `${gpu.vendorId}:${gpu.deviceId}`;
  const hits: string[] = [];
  const mentions = (d: ModprobeDirective) =>
    d.command === "options" &&
    (d.module === "vfio_pci" || d.module === "pci_stub") &&
    d.raw.toLowerCase().includes(id);
  for (const d of state.modules.modprobe.filter(mentions))
    hits.push(`/${d.file}:${d.line}: ${d.raw}`);
  for (const p of state.cmdline.running ?? [])
    if (
      /^(vfio[-_]pci|pci[-_]stub)\.ids$/.test(p.key) &&
      (p.value ?? "").toLowerCase().includes(id)
    )
      hits.push(`/proc/cmdline: ${p.raw}`);
  if (gpu.driverOverride && gpu.driverOverride !== "(null)")
    hits.push(`driver_override = ${gpu.driverOverride}`);
  return hits;
}

function driverFinding(state: HostState, gpu: PciDevice): GuestFinding {
  const title = describeGpu(gpu);
  const drv = gpu.driver;
  if (drv && REAL_GPU_DRIVERS.has(drv)) {
    const detail =
      drv === "nouveau" && gpuVendor(gpu) === "nvidia"
        ? [
            "nouveau drives the desktop; games and NVENC streaming want the NVIDIA driver (passthrough guest setup --gpu-driver)",
          ]
        : undefined;
    return {
      id: "guest.gpu.driver",
      status: "pass",
      subject: gpu.address,
      summary: `${gpu.address} is driven by ${drv}`,
      fix: null,
      detail,
    };
  }
  if (drv === "vfio-pci" || drv === "pci-stub") {
    const where = stubBindings(state, gpu);
    return {
      id: "guest.gpu.driver",
      status: "fail",
      subject: gpu.address,
      summary: `${title} is bound to ${drv} inside the guest: nothing here can use it`,
      fix: where.length
        ? `remove the guest's own binding (${where.join("; ")}), then \`sudo update-initramfs -u\` and reboot the VM`
        : `the guest hands it to ${drv} itself (modprobe.d, initramfs or driver_override): remove that, \`sudo update-initramfs -u\`, reboot the VM`,
    };
  }
  if (drv) {
    return {
      id: "guest.gpu.driver",
      status: "warn",
      subject: gpu.address,
      summary: `${title} is bound to ${drv}, which is not a GPU driver passthrough knows`,
      fix: vendorInstall(gpu),
    };
  }
  const detail: string[] = [];
  if (gpu.kernelModules.length)
    detail.push(`modules that could drive it: ${gpu.kernelModules.join(", ")}`);
  const loadedNvidia =
    gpuVendor(gpu) === "nvidia" && (state.modules.loaded ?? []).includes("nvidia");
  const blacklisted = state.modules.modprobe.filter(
    (d) => d.command === "blacklist" && gpu.kernelModules.includes(d.module),
  );
  for (const b of blacklisted) detail.push(`/${b.file}:${b.line}: ${b.raw}`);
  const noDriverFix = loadedNvidia
    ? "the nvidia module is loaded but did not take the GPU: see `sudo dmesg | grep -i nvrm` (with Secure Boot, enroll the driver's MOK key or turn Secure Boot off)"
    : gpu.kernelModules.length && blacklisted.length === gpu.kernelModules.length
      ? `every module that could drive it is blacklisted (${blacklisted.map((b) => `/${b.file}:${b.line}`).join(", ")}): ${vendorInstall(gpu)}`
      : vendorInstall(gpu);
  return {
    id: "guest.gpu.driver",
    status: "fail",
    subject: gpu.address,
    summary: `${title} has no driver`,
    fix: noDriverFix,
    detail: detail.length ? detail : undefined,
  };
}

/** The driver answers: nvidia-smi for NVIDIA's driver, DRM nodes for every DRM driver. */
function driverProof(facts: GuestFacts, gpu: PciDevice): GuestFinding[] {
  const out: GuestFinding[] = [];
  const drv = gpu.driver;
  if (!drv || !REAL_GPU_DRIVERS.has(drv)) return out;
  if (drv === "nvidia") {
    const smi = facts.nvidiaSmi;
    if (!smi.installed) {
      out.push({
        id: "guest.gpu.nvidia-smi",
        status: "warn",
        subject: gpu.address,
        summary: "nvidia-smi is not installed, so the driver's own view is not checked",
        fix: "install it with the driver's utilities (Ubuntu: nvidia-utils-NNN; Debian: nvidia-smi)",
      });
    } else if (smi.ok === null) {
      out.push({
        id: "guest.gpu.nvidia-smi",
        status: "skip",
        subject: gpu.address,
        summary: `not checked: ${smi.reason}`,
        fix: null,
      });
    } else if (!smi.ok) {
      out.push({
        id: "guest.gpu.nvidia-smi",
        status: "fail",
        subject: gpu.address,
        summary: `nvidia-smi fails although nvidia is bound: ${smi.reason}`,
        fix: "see `sudo dmesg | grep -i nvrm` (a driver/kernel mismatch after an upgrade wants a reboot; GSP or ROM errors want a VM power-cycle)",
      });
    } else {
      out.push({
        id: "guest.gpu.nvidia-smi",
        status: "pass",
        subject: gpu.address,
        summary: `nvidia-smi answers: ${smi.value.join("; ")}`,
        fix: null,
      });
    }
  }
  if (facts.drm === null) {
    out.push({
      id: "guest.gpu.drm",
      status: "skip",
      subject: gpu.address,
      summary: "no sys/class/drm here, DRM nodes not checked",
      fix: null,
    });
    return out;
  }
  const nodes = facts.drm.filter((n) => n.device === gpu.address);
  if (nodes.length === 0) {
    out.push(
      drv === "nvidia"
        ? {
            id: "guest.gpu.drm",
            status: "warn",
            subject: gpu.address,
            summary:
              "no DRM device for the GPU: nvidia_drm is not loaded (Wayland, KMS capture and Sunshine need it)",
            fix: "`sudo modprobe nvidia_drm modeset=1`; to keep it: `options nvidia_drm modeset=1` in /etc/modprobe.d/nvidia-drm.conf",
          }
        : {
            id: "guest.gpu.drm",
            status: "warn",
            subject: gpu.address,
            summary: `${drv} is bound but made no DRM device for the GPU`,
            fix: `see \`sudo dmesg | grep -i ${drv}\` (missing firmware is the usual cause)`,
          },
    );
    return out;
  }
  const names = nodes.map((n) => n.name).join(", ");
  const missing = facts.devNodesVisible ? nodes.filter((n) => !n.devNode) : [];
  out.push(
    missing.length
      ? {
          id: "guest.gpu.drm",
          status: "warn",
          subject: gpu.address,
          summary: `the kernel made ${names}, but /dev/dri lacks ${missing.map((n) => n.name).join(", ")}`,
          fix: "udev creates /dev/dri nodes: `sudo udevadm trigger --subsystem-match=drm`",
        }
      : {
          id: "guest.gpu.drm",
          status: "pass",
          subject: gpu.address,
          summary: `DRM devices ${names}${facts.devNodesVisible ? " (in /dev/dri)" : ""}`,
          fix: null,
        },
  );
  return out;
}

function sshFinding(facts: GuestFacts): GuestFinding {
  const { ssh, listening } = facts;
  if (listening === null)
    return {
      id: "guest.ssh",
      status: "skip",
      subject: null,
      summary: "proc/net/tcp not readable: SSH not checked",
      fix: null,
    };
  const socks = listening.filter((s) => ssh.ports.includes(s.port));
  const shown = socks
    .map((s) => (s.family === "ipv6" ? `[${s.address}]:${s.port}` : `${s.address}:${s.port}`))
    .join(", ");
  const external = socks.filter((s) => !/^127\./.test(s.address) && s.address !== "::1");
  if (external.length)
    return {
      id: "guest.ssh",
      status: "pass",
      subject: null,
      summary: `SSH is listening on ${shown}`,
      fix: null,
    };
  if (socks.length)
    return {
      id: "guest.ssh",
      status: "warn",
      subject: null,
      summary: `SSH listens only on loopback (${shown}): unreachable from outside`,
      fix: "remove the ListenAddress 127.0.0.1 / ::1 lines from /etc/ssh/sshd_config(.d), then `sudo systemctl restart ssh`",
    };
  if (!ssh.installed) {
    return {
      id: "guest.ssh",
      status: "warn",
      subject: null,
      summary: "no SSH server: with the GPU passed and `vga: none`, SSH or Tailscale is the way in",
      fix: "`passthrough guest setup --ssh --ssh-key ~/.ssh/id_ed25519.pub -o setup.sh`, then `sudo bash setup.sh` here (or `sudo apt install openssh-server`)",
    };
  }
  return {
    id: "guest.ssh",
    status: "warn",
    subject: null,
    summary: `sshd is installed but nothing listens on port ${ssh.ports.join(", ")} (${ssh.portSource})`,
    fix: "`sudo systemctl enable --now ssh` (Ubuntu 24.04: `ssh.socket`)",
  };
}

function tailscaleFinding(facts: GuestFacts): GuestFinding {
  const ts = facts.tailscale;
  if (!ts.installed)
    return {
      id: "guest.tailscale",
      status: "info",
      subject: null,
      summary: "Tailscale is not installed",
      fix: null,
    };
  if (ts.ok === null)
    return {
      id: "guest.tailscale",
      status: "skip",
      subject: null,
      summary: `not checked: ${ts.reason}`,
      fix: null,
    };
  if (!ts.ok)
    return {
      id: "guest.tailscale",
      status: "warn",
      subject: null,
      summary: `tailscale status failed: ${ts.reason}`,
      fix: "`sudo systemctl enable --now tailscaled`, then `sudo tailscale up`",
    };
  const s = ts.value;
  if (s.backendState === "Running") {
    const who = [s.dnsName, s.ips.join(", ")].filter(Boolean).join(" ");
    return {
      id: "guest.tailscale",
      status: "pass",
      subject: null,
      summary: `Tailscale is connected${who ? ` as ${who}` : ""}`,
      fix: null,
    };
  }
  const fix =
    s.backendState === "NeedsLogin" || s.backendState === "NoState"
      ? "log in: `sudo tailscale up --auth-key=file:/path/to/key` (the key stays off the command line), or `sudo tailscale up` and open the URL it prints"
      : s.backendState === "NeedsMachineAuth"
        ? "approve this machine in the Tailscale admin console (Machines)"
        : "`sudo tailscale up`";
  return {
    id: "guest.tailscale",
    status: "warn",
    subject: null,
    summary: `Tailscale is installed but not connected (state ${s.backendState ?? "unknown"})`,
    fix,
  };
}
