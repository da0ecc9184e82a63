// VmSpec -> the plain `qemu-system-x86_64` command line that gives a guest the same devices
// (for hosts without Proxmox or libvirt, and to see what the other backends amount to). Pure.
//
// Each passed slot gets a pcie-root-port; its functions keep their function numbers on slot 0
// behind it, function 0 with multifunction=on (qemu-server's layout, docs/proxmox-api.md §4.5).
// No x-vga=on: it only matters for a legacy VGA BIOS, and with OVMF the GPU's UEFI GOP drives
// the boot display (qemu-server leaves x-vga out with OVMF for the same reason, PCI.pm).

import { quoteWord } from "../../process/quote.js";
import type { OvmfPaths } from "../firmware.js";
import type { VmSpec } from "../spec.js";

export interface QemuArgvOptions {
  /** Guest name (-name) and the prefix of its files. */
  name: string;
  memoryMiB: number;
  cores: number;
  sockets: number;
  firmware: OvmfPaths;
  /** Disk image to boot (a file path), when known. */
  disk: string | null;
  iso: string | null;
  /** Host bridge for the NIC; null = user-mode networking. */
  bridge: string | null;
}

export interface QemuCommand {
  argv: string[];
  /** Commands to run once before the first start (argv arrays): the per-VM OVMF vars copy, the disk. */
  prepare: string[][];
  /** Commands to run before every start: the TPM emulator of a Windows guest (it ends with QEMU). */
  everyStart: string[][];
}

/**
 * --os windows: the Hyper-V enlightenments Proxmox turns on for ostype win11 (QEMU
 * docs/system/i386/hyperv.rst: stimer needs synic and time, synic needs vpindex).
 */
const HV_FLAGS = [
  "hv-relaxed",
  "hv-vapic",
  "hv-spinlocks=0x1fff",
  "hv-time",
  "hv-vpindex",
  "hv-runtime",
  "hv-synic",
  "hv-stimer",
  "hv-reset",
  "hv-frequencies",
  "hv-tlbflush",
  "hv-ipi",
];

export function qemuArgv(spec: VmSpec, o: QemuArgvOptions): QemuCommand {
  const vars = `${o.name}_VARS.fd`;
  const prepare: string[][] = [["cp", o.firmware.vars, vars]];
  const cpu = [
    "host",
    ...(spec.cpu.hidden ? ["kvm=off"] : []),
    ...(spec.cpu.hvVendorId ? [`hv-vendor-id=${spec.cpu.hvVendorId}`] : []),
    ...(spec.windows ? HV_FLAGS : []),
  ].join(",");
  const argv = [
    "qemu-system-x86_64",
    "-name",
    o.name,
    "-machine",
    `q35,accel=kvm${o.firmware.secure ? ",smm=on" : ""}`,
    "-cpu",
    cpu,
    "-smp",
    `${o.cores * o.sockets},sockets=${o.sockets},cores=${o.cores},threads=1`,
    "-m",
    String(o.memoryMiB),
    // -nodefaults: no emulated VGA, NIC, floppy or CD-ROM unless listed below.
    "-nodefaults",
  ];
  if (o.firmware.secure) argv.push("-global", "driver=cfi.pflash01,property=secure,value=on");
  argv.push(
    "-drive",
    `if=pflash,format=raw,unit=0,readonly=on,file=${o.firmware.code}`,
    "-drive",
    `if=pflash,format=raw,unit=1,file=${vars}`,
  );
  if (o.disk) argv.push("-drive", `file=${o.disk},if=virtio,format=qcow2,discard=unmap`);
  if (o.iso) argv.push("-drive", `file=${o.iso},media=cdrom,readonly=on`);
  if (spec.windows?.virtioIso)
    argv.push("-drive", `file=${spec.windows.virtioIso},media=cdrom,readonly=on`);
  const everyStart = spec.windows ? tpm(o.name, prepare, argv) : [];
  argv.push(
    "-nic",
    o.bridge ? `bridge,br=${o.bridge},model=virtio-net-pci` : "user,model=virtio-net-pci",
  );

  spec.pci.forEach((d, i) => {
    const multi = d.functions.length > 1;
    let bus = "pcie.0";
    if (d.pcie) {
      bus = `pt-rp${i}`;
      // chassis/slot must be unique per root port; addr 0x1c-0x1f are the ICH9 ports, stay below.
      argv.push(
        "-device",
        `pcie-root-port,id=${bus},bus=pcie.0,chassis=${i + 1},slot=${i + 1},addr=${(0x10 + i).toString(16)}.0`,
      );
    }
    for (const f of d.functions) {
      const fn = Number(f.address.slice(-1));
      const addr = d.pcie ? `00.${fn}` : `${(0x18 + i).toString(16)}.${fn}`;
      argv.push(
        "-device",
        `vfio-pci,host=${f.address},id=hostpci${i}${multi ? `.${fn}` : ""},bus=${bus},addr=${addr}${multi && fn === 0 ? ",multifunction=on" : ""}${d.romfile?.function === f.address ? `,romfile=${d.romfile.path}` : ""}`,
      );
    }
  });

  if (spec.usb.length > 0) {
    argv.push("-device", "qemu-xhci,id=xhci");
    spec.usb.forEach((u) =>
      argv.push(
        "-device",
        `usb-host,bus=xhci.0,vendorid=0x${u.vendorId},productid=0x${u.productId}`,
      ),
    );
  }
  if (spec.headless) argv.push("-display", "none", "-vga", "none");
  else argv.push("-vga", "std");
  // The guest's serial console on the terminal QEMU runs in (the way in without a display).
  argv.push("-serial", "mon:stdio");
  return { argv, prepare, everyStart };
}

// A TPM 2.0 for Windows 11: swtpm keeps its state in a folder beside the disk, QEMU talks to it
// over a socket (QEMU docs/specs/tpm.rst "The QEMU TPM emulator device"); --terminate ends it
// with the VM, so it is started before every start.
function tpm(name: string, prepare: string[][], argv: string[]): string[][] {
  const dir = `${name}_tpm`;
  const sock = `${dir}/swtpm-sock`;
  prepare.push(["mkdir", "-p", dir]);
  argv.push(
    "-chardev",
    `socket,id=chrtpm,path=${sock}`,
    "-tpmdev",
    "emulator,id=tpm0,chardev=chrtpm",
    "-device",
    "tpm-crb,tpmdev=tpm0",
  );
  return [
    [
      "swtpm",
      "socket",
      "--tpm2",
      "--tpmstate",
      `dir=${dir}`,
      "--ctrl",
      `type=unixio,path=${sock}`,
      "--terminate",
      "--daemon",
    ],
  ];
}

/** A command line people can paste: one option per line, quoted where the shell needs it. */
export function formatCommand(argv: readonly string[]): string {
  const lines: string[] = [];
  let current = quoteWord(argv[0] ?? "");
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i]!;
    if (a.startsWith("-")) {
      lines.push(current);
      current = `  ${quoteWord(a)}`;
    } else current += ` ${quoteWord(a)}`;
  }
  lines.push(current);
  return lines.join(" \\\n");
}
