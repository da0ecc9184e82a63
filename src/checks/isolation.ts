// Isolation verdict per target candidate (docs/domain-facts.md §2). An IOMMU group is the
// smallest set the IOMMU can give to a VM; every endpoint in it must go to the VM (or have no
// host driver) or QEMU fails with "group N is not viable". Bridges in the group stay with the
// host and do not count; all functions of the slot are the device itself (findCandidates).

import type { PciDevice } from "../host/types.js";
import type { CheckContext } from "./context.js";
import { deviceLabel, joinList } from "./context.js";
import { finding } from "../findings/finding.js";
import type { Candidate } from "./types.js";
import type { Finding } from "../findings/finding.js";

export const ACS_OVERRIDE_NOTE =
  "last resort: `passthrough plan --acs-override downstream,multifunction` (pcie_acs_override=, honoured only by kernels carrying the ACS override patch such as Proxmox's; it makes the kernel pretend the devices are isolated while they can still reach each other's memory)";

function groupsOf(c: Candidate, ctx: CheckContext): number[] {
  return [
    ...new Set(
      c.functions
        .map((f) => ctx.byAddress.get(f.address)?.iommuGroup)
        .filter((g): g is number => g !== null && g !== undefined),
    ),
  ].sort((a, b) => a - b);
}

function groupText(groups: readonly number[]): string {
  return groups.length === 1 ? `group ${groups[0]}` : `groups ${groups.join(", ")}`;
}

/** Bridges above the device that lack ACS: why the kernel had to put more into the group. */
function bridgesWithoutAcs(ctx: CheckContext, devs: readonly PciDevice[]): PciDevice[] {
  const out: PciDevice[] = [];
  for (const d of devs) {
    for (const b of d.bridgeChain) {
      const br = ctx.byAddress.get(b);
      const caps = br?.capabilities;
      if (!br || !caps || caps.configSize < 4096 || caps.pcie === null) continue;
      if (caps.pcie.type !== "root-port" && caps.pcie.type !== "downstream-port") continue;
      if (!caps.list.includes("acs") && !out.includes(br)) out.push(br);
    }
  }
  return out;
}

export function checkIsolation(ctx: CheckContext): Finding[] {
  return ctx.targets.map((c) => isolationOf(ctx, c));
}

function isolationOf(ctx: CheckContext, c: Candidate): Finding {
  const subject = c.address;
  const groups = groupsOf(c, ctx);
  if (!ctx.state.iommu.enabled || groups.length === 0) {
    return finding(
      "candidate.isolation",
      "skip",
      "no IOMMU group while the IOMMU is off (see iommu.enabled)",
      { subject },
    );
  }
  const missing = c.functions.filter((f) => ctx.byAddress.get(f.address)?.iommuGroup === null);
  if (missing.length > 0) {
    return finding(
      "candidate.isolation",
      "fail",
      `${joinList(missing.map((f) => f.address))} ${missing.length === 1 ? "is" : "are"} in no IOMMU group although the IOMMU is on`,
      {
        subject,
        fix: "the device is not behind the IOMMU (check the kernel log for DMAR/AMD-Vi errors about it); update the firmware",
      },
    );
  }
  const groupDevices = groups.flatMap(
    (g) => ctx.state.iommu.groups.find((x) => x.id === g)?.devices ?? [],
  );
  const bridges = groupDevices.filter((a) => ctx.byAddress.get(a)?.isBridge === true);
  const n = c.functions.length;
  if (c.isolated) {
    const bridgeNote = bridges.length
      ? ` (and ${bridges.length === 1 ? "bridge" : "bridges"} ${joinList(bridges)}, which stay${bridges.length === 1 ? "s" : ""} with the host)`
      : "";
    return finding(
      "candidate.isolation",
      "pass",
      `${groupText(groups)} hold${groups.length === 1 ? "s" : ""} only this device's ${n === 1 ? "function" : `${n} functions`}${bridgeNote}`,
      { subject },
    );
  }
  const mates = c.groupMates
    .map((a) => ctx.byAddress.get(a))
    .filter((d): d is PciDevice => d !== undefined);
  const detail = mates.map(
    (d) =>
      `${d.address} ${deviceLabel(d)} [${d.vendorId}:${d.deviceId}]${d.driver ? ` on ${d.driver}` : ""}`,
  );
  const slotDevs = c.functions
    .map((f) => ctx.byAddress.get(f.address))
    .filter((d): d is PciDevice => d !== undefined);
  for (const b of bridgesWithoutAcs(ctx, slotDevs))
    detail.push(
      `bridge ${b.address} ${deviceLabel(b)} has no ACS capability, so the kernel cannot keep the devices below it apart`,
    );
  const names = mates.slice(0, 3).map((d) => `${d.address} (${d.deviceName ?? d.className})`);
  const more = mates.length > 3 ? ` and ${mates.length - 3} more` : "";
  return finding(
    "candidate.isolation",
    "fail",
    `${groupText(groups)} also hold${groups.length === 1 ? "s" : ""} ${names.join(", ")}${more}: all of it would have to go to the VM`,
    {
      subject,
      fix: `move the card to a slot wired to the CPU (usually the top x16 slot; chipset slots share a group), or update the firmware; ${ACS_OVERRIDE_NOTE}`,
      detail,
    },
  );
}
