// SR-IOV (docs/domain-facts.md §2): a physical function (PF) with virtual functions (VFs)
// enabled must not be passed itself: unbinding its driver removes every VF, and with them
// any device other VMs use. VFs are passed one at a time, each its own candidate. VFs made
// at runtime (echo N > sriov_numvfs) are gone after a reboot unless something recreates them.

import type { PciDevice } from "../host/types.js";
import type { CheckContext } from "./context.js";
import { deviceLabel } from "./context.js";
import { finding } from "../findings/finding.js";
import type { Finding } from "../findings/finding.js";

function vfRange(vfs: readonly string[]): string {
  if (vfs.length <= 2) return vfs.join(", ");
  return `${vfs[0]} … ${vfs[vfs.length - 1]}`;
}

export function checkSriov(ctx: CheckContext): Finding[] {
  const out: Finding[] = [];
  const { state } = ctx;
  const targetAddrs = new Set(ctx.targets.flatMap((c) => c.functions.map((f) => f.address)));
  for (const pf of state.pci) {
    if (!pf.sriov || (pf.sriov.numVfs ?? pf.sriov.vfs.length) === 0) continue;
    const n = pf.sriov.numVfs ?? pf.sriov.vfs.length;
    const of = pf.sriov.totalVfs !== null ? ` of ${pf.sriov.totalVfs}` : "";
    if (targetAddrs.has(pf.address)) {
      out.push(
        finding(
          "sriov.pf-active",
          "fail",
          `${pf.address} is an SR-IOV physical function with ${n}${of} VFs active: passing it removes them all`,
          {
            subject: pf.address,
            fix: `pass a VF instead (${vfRange(pf.sriov.vfs)}: \`passthrough check --device ${pf.sriov.vfs[0] ?? "VF"}\`), or disable the VFs first (echo 0 > /sys/bus/pci/devices/${pf.address}/sriov_numvfs)`,
          },
        ),
      );
    } else {
      out.push(
        finding(
          "sriov.pf-active",
          "info",
          `${pf.address} ${deviceLabel(pf)} has ${n}${of} VFs (${vfRange(pf.sriov.vfs)}): pass those one at a time; the PF stays with the host`,
          {
            subject: pf.address,
          },
        ),
      );
    }
  }
  for (const c of ctx.targets) {
    for (const f of c.functions) {
      const d: PciDevice | undefined = ctx.byAddress.get(f.address);
      if (!d?.physfn) continue;
      const pf = ctx.byAddress.get(d.physfn);
      out.push(
        finding(
          "sriov.vf",
          "info",
          `virtual function of ${d.physfn}${pf ? ` (${pf.driver ?? "no driver"})` : ""}: passed on its own while the PF keeps working on the host`,
          {
            subject: d.address,
            fix: "the VF exists only while the PF driver keeps it: recreate the VFs at boot (a udev rule or systemd unit writing sriov_numvfs) before VMs that use them start",
          },
        ),
      );
    }
  }
  return out;
}
