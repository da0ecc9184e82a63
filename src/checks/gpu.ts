// GPU-specific hazards of a target (docs/domain-facts.md §3, §4, §5):
// - the boot GPU: the firmware framebuffer (efifb / simplefb / simpledrm) holds part of its
//   memory; since kernel 5.15 `video=efifb:off` no longer frees it, while
//   `initcall_blacklist=sysfb_init` does (at the cost of the host's boot console);
// - the host's only GPU: passing it leaves the host headless, so remote access must work first;
// - identical cards: `vfio-pci ids=` binds every device with those ids, so the host's own copy
//   of the card would go too; per-address driver_override is the way;
// - large BARs (Resizable BAR): OVMF must fit them in its 64-bit MMIO window.

import { isGpu } from "./candidates.js";
import { unseen } from "./visibility.js";
import type { CheckContext } from "./context.js";
import { joinList, targetFunctions } from "./context.js";
import { bootTimeVfioBinding } from "./drivers.js";
import { finding } from "../findings/finding.js";
import type { Finding } from "../findings/finding.js";

/** BARs from 8 GiB up need OVMF to map a large 64-bit window (RTX 3090/4090 with ReBAR: 32 GiB). */
export const LARGE_BAR_BYTES = 8 * 1024 ** 3;

function gib(bytes: number): string {
  return bytes >= 1024 ** 3 ? `${bytes / 1024 ** 3} GiB` : `${bytes / 1024 ** 2} MiB`;
}

export function checkGpu(ctx: CheckContext): Finding[] {
  const out: Finding[] = [];
  const { state } = ctx;
  for (const c of ctx.targets) {
    if (c.kind !== "gpu") continue;
    const subject = c.address;
    const own = new Set(c.functions.map((f) => f.address));
    const otherGpus = state.pci.filter((d) => isGpu(d) && !own.has(d.address));
    if (otherGpus.length === 0) {
      out.push(
        finding(
          "gpu.only-gpu",
          "warn",
          "the host's only GPU: passing it leaves the host without a local console",
          {
            subject,
            fix: "make sure SSH (or IPMI/BMC) access to the host works before `apply`; `passthrough plan --headless-ok` acknowledges it",
          },
        ),
      );
    }
    if (c.bootVga) {
      out.push(
        finding(
          "gpu.boot-vga",
          "warn",
          "boot GPU: the firmware framebuffer holds part of its memory and the host console runs on it",
          {
            subject,
            fix: otherGpus.length
              ? "make another GPU the primary display in the firmware setup, or let `apply` add initcall_blacklist=sysfb_init (video=efifb:off no longer frees it since kernel 5.15)"
              : "`apply` adds initcall_blacklist=sysfb_init so the framebuffer lets go (video=efifb:off no longer does since kernel 5.15); the host console goes dark at boot",
          },
        ),
      );
    }
    // Same vendor:device ids elsewhere on the host: ids= cannot tell the cards apart.
    const twins = state.pci.filter(
      (d) =>
        !own.has(d.address) &&
        !d.isBridge &&
        c.functions.some((f) => f.vendorId === d.vendorId && f.deviceId === d.deviceId),
    );
    if (twins.length > 0) {
      const ids = [...new Set(twins.map((d) => `${d.vendorId}:${d.deviceId}`))];
      const bound = twins
        .map((d) => ({ d, b: bootTimeVfioBinding(state, d) }))
        .filter((x) => x.b?.how === "ids");
      const twinSlots = [...new Set(twins.map((d) => d.address.replace(/\.[0-7]$/, "")))];
      if (bound.length > 0) {
        out.push(
          finding(
            "gpu.identical-ids",
            "fail",
            `${bound[0]!.b!.where} also takes ${joinList(bound.map((x) => x.d.address))}, which has the same ids (${ids.join(", ")}) and stays with the host`,
            {
              subject,
              fix: `remove those ids from the vfio-pci ids= line and bind by address instead: \`passthrough plan --device ${c.address}\` uses driver_override for identical cards`,
            },
          ),
        );
      } else {
        out.push(
          finding(
            "gpu.identical-ids",
            "warn",
            `${joinList(twinSlots)} has the same ids (${ids.join(", ")}): vfio-pci ids= would take both cards`,
            {
              subject,
              fix: `bind by address, not by id: \`passthrough plan --device ${c.address}\` uses driver_override (driverctl / udev rule) for identical cards`,
            },
          ),
        );
      }
    }
    // Large BARs.
    let largest = 0;
    let rebar: number | null = null;
    for (const d of targetFunctions({ ...ctx, functionFilter: null }, c)) {
      for (const b of d.bars) largest = Math.max(largest, b.sizeBytes);
      for (const r of d.capabilities?.resizableBars ?? [])
        rebar = Math.max(rebar ?? 0, r.currentMiB * 1024 ** 2);
    }
    const biggest = Math.max(largest, rebar ?? 0);
    if (biggest >= LARGE_BAR_BYTES) {
      out.push(
        finding(
          "gpu.large-bar",
          "warn",
          `a ${gib(biggest)} BAR${rebar !== null && rebar >= LARGE_BAR_BYTES ? " (Resizable BAR on)" : ""}: OVMF must map it in its 64-bit MMIO window`,
          {
            subject,
            fix: 'if the guest driver fails to start (Windows code 12/43, Linux "BAR ... no space"), give the VM a larger window (Proxmox: cpu with phys-bits=host; QEMU: -fw_cfg name=opt/ovmf/X-PciMmio64Mb,string=65536) or turn Resizable BAR off in the firmware',
          },
        ),
      );
    }
  }
  return out;
}

/** No GPU to judge: say so, and point at --device for other devices. */
export function checkNoGpu(ctx: CheckContext): Finding[] {
  if (ctx.selected || ctx.targets.length > 0 || unseen(ctx.state, "sys")) return [];
  if (ctx.state.system.virtualMachine && !ctx.state.iommu.enabled) return [];
  const others = ctx.candidates.length;
  return [
    finding(
      "candidate.no-gpu",
      "info",
      `no GPU to pass${others ? `; ${others} other passable device${others === 1 ? "" : "s"} listed below` : ""}`,
      {
        fix: others ? "judge one of them with `passthrough check --device ADDRESS`" : null,
      },
    ),
  ];
}
