// Devices the host lives on (its root filesystem's controller, the NIC carrying its default
// route; src/host/host-critical.ts finds them). Passing one, or anything sharing its IOMMU
// group, takes the disk or the network away from the running host.

import type { CheckContext } from "./context.js";
import { joinList } from "./context.js";
import { finding } from "../findings/finding.js";
import type { Finding } from "../findings/finding.js";

const ROLE: Record<string, string> = {
  "root-filesystem": "the root filesystem",
  "default-route": "the default route",
};

export function checkHostCritical(ctx: CheckContext): Finding[] {
  const out: Finding[] = [];
  const critical = ctx.state.hostCritical;
  for (const c of ctx.targets) {
    const own = critical.filter((h) => c.functions.some((f) => f.address === h.controller));
    const mates = critical.filter((h) => c.groupMates.includes(h.controller));
    if (own.length === 0 && mates.length === 0) continue;
    const parts = [
      ...own.map((h) => `${h.controller} carries ${ROLE[h.role]} (${h.via})`),
      ...mates.map((h) => `group-mate ${h.controller} carries ${ROLE[h.role]} (${h.via})`),
    ];
    out.push(
      finding(
        "candidate.host-critical",
        "fail",
        `passing ${c.address} would cut the host off: ${joinList(parts)}`,
        {
          subject: c.address,
          fix:
            own.length > 0
              ? "keep this device on the host; pass another one, or first move the host's root filesystem / network to a different controller"
              : "pass a device whose IOMMU group does not hold the host's disk or network controller (another slot), or move the host's root filesystem / network first",
        },
      ),
    );
  }
  return out;
}
