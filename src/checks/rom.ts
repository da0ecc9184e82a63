// Can the VM's firmware initialise the passed GPU from its option ROM? A discrete card maps
// its VBIOS through a ROM BAR (`resource` line 6; the boot GPU's shadow copy shows there too);
// OVMF runs the UEFI GOP image in it. A GPU without one (an APU's iGPU, whose VBIOS the
// firmware keeps in the ACPI VFCT table; some mobile and server cards) needs the ROM given to
// the VM as a file (`romfile=`). Reading the ROM needs switching it on, which `check` never
// does: the contents are judged by `rom dump` / `rom inspect`.

import { isGpu } from "./candidates.js";
import type { CheckContext } from "./context.js";
import { primaryFunction } from "./context.js";
import { finding } from "../findings/finding.js";
import type { Finding } from "../findings/finding.js";

/** How a ROM file reaches the VM (qm.conf(5) hostpci romfile: relative to /usr/share/kvm). */
const GIVE_ROM =
  "copy it to /usr/share/kvm/ and add romfile=NAME to the VM's hostpci line (libvirt: <rom file='PATH'/>; QEMU: -device vfio-pci,...,romfile=PATH)";

export function checkRom(ctx: CheckContext): Finding[] {
  const out: Finding[] = [];
  for (const c of ctx.targets) {
    if (c.kind !== "gpu") continue;
    const gpu = primaryFunction(ctx, c);
    if (!gpu || !isGpu(gpu) || gpu.romBarBytes === null) continue;
    const dump = `passthrough rom dump --device ${gpu.address} -o /root/${gpu.vendorId}-${gpu.deviceId}.rom`;
    // A ROM BAR is the normal case; what it holds is for `rom inspect` (above).
    if (gpu.romBarBytes > 0) continue;
    const apu = gpu.vendorId === "1002";
    out.push(
      finding(
        "rom.bar",
        "warn",
        apu
          ? "no ROM BAR: an AMD APU's VBIOS is in the firmware's ACPI VFCT table; without it as a romfile OVMF cannot initialise the GPU (no picture, guest driver error 43)"
          : "no ROM BAR: the VM's firmware cannot read a VBIOS from the card; without a romfile OVMF cannot initialise it",
        {
          subject: c.address,
          fix: apu
            ? `${dump} (reads the VFCT table), then ${GIVE_ROM}`
            : `take the card's VBIOS from its maker, check it with \`passthrough rom inspect FILE --device ${gpu.address}\`, then ${GIVE_ROM}`,
        },
      ),
    );
  }
  return out;
}
