// QEMU for the e2e lab: the machine (pure argv builder) and a runner with a hard timeout.
//
// Facts from the lab (docs/e2e-lab.md) that shape the argv:
// - No usable KVM here: software emulation, `-accel tcg,thread=multi -cpu max`.
// - The IOMMU device must come before the devices it translates, with interrupt remapping
//   (intremap=on needs the split irqchip).
// - The host keeps a display of its own (cirrus-vga on the root bus, the boot VGA).
// - The "GPU": a PCIe root port with a two-function device behind it, 01:00.0 bochs-display
//   (1234:1111, module bochs) and 01:00.1 ich9-intel-hda (8086:293e, snd_hda_intel): the shape
//   of a graphics card and its HDMI audio, alone together in one IOMMU group.
// - A reboot inside one QEMU process is very slow under emulation, so `-no-reboot` makes a
//   guest reboot end QEMU and the harness starts a fresh one on the same disk.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, openSync, closeSync } from "node:fs";

export const OVMF_CODE = "/usr/share/OVMF/OVMF_CODE_4M.fd";
export const OVMF_VARS = "/usr/share/OVMF/OVMF_VARS_4M.fd";

export type Iommu = "intel" | "amd" | "none";

export interface MachineSpec {
  firmware: "bios" | "uefi";
  iommu: Iommu;
  /** Disk image and its format (a qcow2 overlay for scenarios, the raw disk while provisioning). */
  disk: string;
  diskFormat: "qcow2" | "raw";
  /** Folder shared over 9p with mount tag "lab". */
  share: string;
  serialLog: string;
  /** This machine's own copy of the OVMF variable store (firmware "uefi"). */
  ovmfVars?: string;
  /** Boot this kernel directly instead of the disk's boot loader (the provisioning boot). */
  directKernel?: { kernel: string; initrd: string; append: string };
  /** Attach the two-function "GPU" behind a root port (default true). */
  gpu?: boolean;
  memoryMiB?: number;
  cpus?: number;
}

/** The CPU vendor matching the IOMMU, so the guest looks like a real Intel or AMD host. */
export function cpuFor(iommu: Iommu): string {
  if (iommu === "amd") return "max,vendor=AuthenticAMD";
  if (iommu === "intel") return "max,vendor=GenuineIntel";
  return "max";
}

export function qemuArgs(spec: MachineSpec): string[] {
  const a: string[] = [
    "-nodefaults",
    "-no-user-config",
    "-display",
    "none",
    "-no-reboot",
    "-m",
    String(spec.memoryMiB ?? 1536),
    "-smp",
    String(spec.cpus ?? 1),
    "-serial",
    `file:${spec.serialLog}`,
    "-accel",
    "tcg,thread=multi",
    "-cpu",
    cpuFor(spec.iommu),
    "-machine",
    spec.iommu === "none" ? "q35" : "q35,kernel-irqchip=split",
  ];
  if (spec.firmware === "uefi") {
    if (!spec.ovmfVars)
      throw new Error(
        "qemuArgs: a UEFI machine needs its own copy of the OVMF variable store (ovmfVars)",
      );
    a.push("-drive", `if=pflash,format=raw,unit=0,readonly=on,file=${OVMF_CODE}`);
    a.push("-drive", `if=pflash,format=raw,unit=1,file=${spec.ovmfVars}`);
  }
  // Before the devices it translates.
  if (spec.iommu === "intel") a.push("-device", "intel-iommu,intremap=on,caching-mode=on");
  if (spec.iommu === "amd") a.push("-device", "amd-iommu,intremap=on");
  a.push(
    "-drive",
    `file=${spec.disk},if=none,id=d0,format=${spec.diskFormat},cache=unsafe`,
    "-device",
    "virtio-blk-pci,drive=d0,bootindex=1",
    "-virtfs",
    `local,path=${spec.share},mount_tag=lab,security_model=none,id=lab`,
  );
  if (spec.gpu ?? true) {
    a.push(
      // The host's own display (boot VGA, module cirrus), so the card below is not the host's
      // only GPU: the common passthrough host (an iGPU or a second card keeps the console).
      "-device",
      "cirrus-vga,bus=pcie.0",
      "-device",
      "pcie-root-port,id=rp1,chassis=1,slot=1",
      "-device",
      "bochs-display,bus=rp1,addr=00.0,multifunction=on",
      "-device",
      "ich9-intel-hda,bus=rp1,addr=00.1",
    );
  }
  if (spec.directKernel) {
    a.push(
      "-kernel",
      spec.directKernel.kernel,
      "-initrd",
      spec.directKernel.initrd,
      "-append",
      spec.directKernel.append,
    );
  }
  return a;
}

export interface RunResult {
  /** QEMU's exit code (0 when the guest powered off or rebooted), null when killed. */
  code: number | null;
  /** The hard timeout fired and QEMU was killed. */
  timedOut: boolean;
  /** `stopWhen` returned true and QEMU was killed (a hard power-off). */
  stopped: boolean;
  seconds: number;
}

const running = new Set<ChildProcess>();

/** Kill every QEMU this process started (on exit, Ctrl-C, timeout of the whole run). */
export function killAll(): void {
  for (const c of running) {
    try {
      c.kill("SIGKILL");
    } catch {
      // already gone
    }
  }
}

let hooksInstalled = false;
function installExitHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on("exit", killAll);
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.on(sig, () => {
      killAll();
      process.exit(130);
    });
  }
}

/**
 * Runs QEMU until the guest powers off, with a hard timeout. `stopWhen` is polled every
 * second; when it returns true QEMU is killed at once: the guest sees a power cut.
 * QEMU's own stderr goes to `stderrLog`.
 */
export function runQemu(
  args: string[],
  opts: { timeoutS: number; stderrLog: string; stopWhen?: () => boolean },
): Promise<RunResult> {
  installExitHooks();
  const t0 = Date.now();
  const errFd = openSync(opts.stderrLog, "a");
  return new Promise((resolve, reject) => {
    const child = spawn("qemu-system-x86_64", args, { stdio: ["ignore", errFd, errFd] });
    closeSync(errFd);
    running.add(child);
    let timedOut = false;
    let stopped = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, opts.timeoutS * 1000);
    const poll = opts.stopWhen
      ? setInterval(() => {
          if (!stopped && opts.stopWhen!()) {
            stopped = true;
            child.kill("SIGKILL");
          }
        }, 1000)
      : null;
    child.on("error", (e) => {
      clearTimeout(timer);
      if (poll) clearInterval(poll);
      running.delete(child);
      reject(e);
    });
    child.on("exit", (code) => {
      clearTimeout(timer);
      if (poll) clearInterval(poll);
      running.delete(child);
      resolve({ code, timedOut, stopped, seconds: (Date.now() - t0) / 1000 });
    });
  });
}

export function hostHasQemu(): boolean {
  return ["/usr/bin/qemu-system-x86_64", "/usr/bin/qemu-img"].every((p) => existsSync(p));
}
