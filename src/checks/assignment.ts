// Proxmox VMs whose configuration already passes a target (hostpciN lines in
// /etc/pve/qemu-server/VMID.conf, resolved the way qemu-server does: findCandidates).
// One device in several VMs is fine as long as only one of them runs at a time.

import type { CheckContext } from "./context.js";
import { hostpciAddresses } from "./candidates.js";
import { joinList } from "./context.js";
import { finding } from "../findings/finding.js";
import type { Finding } from "../findings/finding.js";

export function checkAssignment(ctx: CheckContext): Finding[] {
  const out: Finding[] = [];
  const present = ctx.state.pci.map((d) => d.address);
  for (const c of ctx.targets) {
    if (c.assignedTo.length === 0) continue;
    const refs: string[] = [];
    for (const vmid of c.assignedTo) {
      const vm = ctx.state.vms.find((v) => v.vmid === vmid);
      for (const [k, v] of Object.entries(vm?.config ?? {})) {
        if (
          /^hostpci\d+$/.test(k) &&
          hostpciAddresses(v, present).some((a) => c.functions.some((f) => f.address === a))
        )
          refs.push(`VM ${vmid} ${k}: ${v}`);
      }
    }
    if (c.assignedTo.length === 1) {
      out.push(
        finding(
          "candidate.assigned",
          "info",
          `already passed to VM ${c.assignedTo[0]} (${refs.map((r) => r.replace(/^VM \d+ /, "")).join("; ")})`,
          { subject: c.address },
        ),
      );
    } else {
      out.push(
        finding(
          "candidate.assigned",
          "warn",
          `passed to ${c.assignedTo.length} VMs (${joinList(c.assignedTo.map(String))}): only one of them can run at a time`,
          {
            subject: c.address,
            fix: "remove the hostpci entry from the VMs that should not have it (qm set VMID --delete hostpciN), or never start them together",
            detail: refs,
          },
        ),
      );
    }
  }
  return out;
}
