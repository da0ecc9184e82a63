// Interrupt remapping (docs/domain-facts.md §1). Without it vfio_iommu_type1 refuses to attach a
// device ("No interrupt remapping support. Use the module param "allow_unsafe_interrupts" to
// enable VFIO IOMMU support on this platform"), because a passed device could then send
// arbitrary MSI writes, i.e. inject interrupts into the host. `allow_unsafe_interrupts=1`
// lifts the refusal and accepts that risk: only ever as an explicit, warned opt-in.
//
// Only the kernel log says whether remapping is on. A silent (rotated) log is "unknown":
// we say how to verify, we do not fail.

import { findParams, lastValue } from "../formats/kernel-cmdline.js";
import { optionsOf } from "../formats/modprobe-conf.js";
import type { CmdlineParam, HostState } from "../host/types.js";
import { removeParamSteps } from "../boot/advice.js";
import type { CheckContext } from "./context.js";
import { hostPath } from "./context.js";
import { finding } from "../findings/finding.js";
import type { Finding } from "../findings/finding.js";

const VERIFY =
  'journalctl -k -b | grep -i remapping (expect "AMD-Vi: Interrupt remapping enabled" or "DMAR-IR: Enabled IRQ remapping in x2apic mode")';
const OPT_IN =
  "last resort, accepting that a guest can inject interrupts into the host: `passthrough plan --allow-unsafe-interrupts` (writes options vfio_iommu_type1 allow_unsafe_interrupts=1)";

/** Where allow_unsafe_interrupts is switched on: "/etc/modprobe.d/x.conf:3" or a cmdline parameter. */
export function unsafeInterruptsSource(state: HostState): string | null {
  for (const d of [...state.modules.modprobe].reverse()) {
    if (d.command === "options" && d.module === "vfio_iommu_type1") {
      const v = optionsOf(d).allow_unsafe_interrupts;
      if (v !== undefined && /^(1|y|yes|on|true)$/i.test(v))
        return `${hostPath(d.file, d.line)} (${d.raw})`;
    }
  }
  const p = findParams(
    state.cmdline.configured?.params ?? [],
    "vfio_iommu_type1.allow_unsafe_interrupts",
  ).pop();
  if (p?.origin) return `${hostPath(p.origin.file, p.origin.line)} (${p.raw})`;
  return null;
}

/** Take intremap=off off the command line, where the configuration sets it. */
function removeIntremap(state: HostState, at: CmdlineParam | undefined): string {
  const where = at?.origin ? hostPath(at.origin.file, at.origin.line) : "the kernel command line";
  return removeParamSteps(state, "intremap=off", where);
}

export function checkInterruptRemapping(ctx: CheckContext): Finding[] {
  const { state } = ctx;
  const i = state.iommu;
  const out: Finding[] = [];
  if (!i.enabled) {
    out.push(
      finding(
        "iommu.irq-remapping",
        "skip",
        "interrupt remapping needs the IOMMU (see iommu.enabled)",
      ),
    );
    return out;
  }
  const unsafe = i.allowUnsafeInterrupts === true;
  const source = unsafe ? unsafeInterruptsSource(state) : null;
  if (i.interruptRemapping === true) {
    out.push(
      finding(
        "iommu.irq-remapping",
        "pass",
        `interrupt remapping enabled${i.interruptRemappingMode ? ` (${i.interruptRemappingMode} mode)` : ""}`,
      ),
    );
    if (unsafe) {
      out.push(
        finding(
          "iommu.unsafe-interrupts",
          "warn",
          "vfio_iommu_type1 allow_unsafe_interrupts is on although interrupt remapping works",
          {
            fix: `remove it${source ? ` from ${source}` : ""} and run update-initramfs -u -k all (or your initramfs tool); it only weakens isolation here`,
          },
        ),
      );
    }
    return out;
  }
  if (i.interruptRemapping === false) {
    const intremap = lastValue(state.cmdline.running ?? [], "intremap");
    const byCmdline = intremap === "off";
    const at = byCmdline
      ? findParams(state.cmdline.configured?.params ?? [], "intremap").pop()
      : undefined;
    const evidence = i.logEvidence.filter((l) => /remapping/i.test(l));
    if (unsafe) {
      out.push(
        finding(
          "iommu.irq-remapping",
          "warn",
          "no interrupt remapping; vfio runs with allow_unsafe_interrupts, so a guest can inject interrupts into the host",
          {
            fix: byCmdline
              ? removeIntremap(state, at)
              : "update the system firmware (the kernel turns remapping off on chipsets with a known erratum, such as Intel 5500/5520, and on broken firmware tables); keep the VMs on this host trusted",
            detail: [...evidence, ...(source ? [`allow_unsafe_interrupts set in ${source}`] : [])],
          },
        ),
      );
      return out;
    }
    out.push(
      finding(
        "iommu.irq-remapping",
        "fail",
        byCmdline
          ? "interrupt remapping is off (intremap=off on the kernel command line): vfio will refuse to assign devices"
          : "interrupt remapping is not available: vfio will refuse to assign devices",
        {
          fix: byCmdline
            ? removeIntremap(state, at)
            : `update the system firmware (the kernel turns remapping off on chipsets with a known erratum, and says so in the log); ${OPT_IN}`,
          detail: evidence,
        },
      ),
    );
    return out;
  }
  if (!state.kernelLog.available) {
    out.push(
      finding(
        "iommu.irq-remapping",
        "skip",
        "no kernel log could be read, so interrupt remapping is unknown",
        { fix: `run as root, or check by hand: ${VERIFY}` },
      ),
    );
  } else {
    out.push(
      finding(
        "iommu.irq-remapping",
        "warn",
        "the kernel log says nothing about interrupt remapping (it may have been rotated away)",
        { fix: `verify: ${VERIFY}` },
      ),
    );
  }
  if (unsafe) {
    out.push(
      finding(
        "iommu.unsafe-interrupts",
        "warn",
        "vfio_iommu_type1 allow_unsafe_interrupts is on: a guest can inject interrupts into the host",
        {
          fix: `if ${VERIFY.split(" (")[0]} shows remapping enabled, remove it${source ? ` from ${source}` : ""}`,
        },
      ),
    );
  }
  return out;
}
