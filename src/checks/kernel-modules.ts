// Kernel updates and out-of-tree modules: a new kernel package boots by default (Proxmox:
// unless a kernel is pinned, pve-docs sysboot "proxmox-boot-tool kernel pin"), and the modules
// the passthrough setup relies on that do not come with the kernel (vendor-reset, a DKMS-built
// nvidia, amdgpu or i915 with SR-IOV) exist only for the kernels they were built for. DKMS
// builds for a new kernel when its headers are installed (dkms(8) "autoinstall"); without
// them the next boot comes up without the module, and the card resets badly or has no driver.

import { vendorResetFamily } from "./reset.js";
import type { CheckContext } from "./context.js";
import { targetFunctions } from "./context.js";
import { finding } from "../findings/finding.js";
import type { Finding } from "../findings/finding.js";
import { compareReleases, type KernelsState } from "../host/kernels.js";
import type { HostState } from "../host/types.js";

/** Out-of-tree drivers that matter when the running kernel has them (DKMS packages). */
const WATCHED = ["vendor_reset", "nvidia", "amdgpu", "i915"];

/** The modules the selected setup needs from outside the kernel package. */
export function neededModules(ctx: CheckContext): string[] {
  const k = ctx.state.kernels;
  const running = ctx.state.system.kernelRelease;
  const out = new Set<string>();
  const resetNeeds = ctx.targets.some((c) =>
    targetFunctions(ctx, c).some((d) => vendorResetFamily(d) !== null),
  );
  if (resetNeeds) out.add("vendor_reset");
  for (const m of running ? (k.outOfTree[running] ?? []) : []) if (WATCHED.includes(m)) out.add(m);
  return [...out].sort();
}

/** The kernel the next boot picks, and why. */
export function nextBootKernel(k: KernelsState): { release: string; why: string } | null {
  if (k.proxmox?.nextBoot) return { release: k.proxmox.nextBoot, why: "pinned for the next boot" };
  if (k.proxmox?.pinned) return { release: k.proxmox.pinned, why: "pinned" };
  const newest = [...k.installed].sort(compareReleases).pop();
  return newest ? { release: newest, why: "the newest installed" } : null;
}

function has(k: KernelsState, release: string, module: string): boolean {
  return (k.outOfTree[release] ?? []).includes(module);
}

function dkmsBuild(k: KernelsState, release: string, module: string) {
  return k.dkms.find((b) => b.kernel === release && b.module === module) ?? null;
}

export function checkKernelModules(ctx: CheckContext): Finding[] {
  const k = ctx.state.kernels;
  // A module no kernel has is not an update problem: reset.vendor-reset says to install it.
  const needed = neededModules(ctx).filter(
    (m) => k.installed.some((r) => has(k, r, m)) || k.dkms.some((b) => b.module === m),
  );
  const next = nextBootKernel(k);
  if (needed.length === 0 || !next || k.installed.length === 0) return [];
  const running = ctx.state.system.kernelRelease;
  const label = (r: string) => {
    const tags = [
      ...(r === running ? ["running"] : []),
      ...(r === next.release ? [`next boot: ${next.why}`] : []),
    ];
    return tags.length ? `${r} (${tags.join(", ")})` : r;
  };
  const builtFor = needed.map(
    (m) => `${m}: ${k.installed.filter((r) => has(k, r, m)).join(", ") || "no kernel"}`,
  );
  const list = `installed kernels ${k.installed.map(label).join(", ")}; ${builtFor.join("; ")}`;
  const missing = needed.filter((m) => !has(k, next.release, m));
  if (missing.length === 0)
    return [finding("kernel.modules", "pass", `${list}`, { subject: next.release })];
  return [
    finding(
      "kernel.modules",
      "warn",
      `the next boot starts kernel ${next.release} (${next.why}), which lacks ${missing.join(", ")}${notInstalled(k, next.release, missing)}: ${list}`,
      { subject: next.release, fix: fixFor(ctx.state, next.release, missing) },
    ),
  ];
}

function notInstalled(k: KernelsState, release: string, missing: string[]): string {
  const built = missing.filter((m) => dkmsBuild(k, release, m));
  return built.length ? ` (DKMS built ${built.join(", ")} for it but did not install it)` : "";
}

function fixFor(state: HostState, release: string, missing: string[]): string {
  const k = state.kernels;
  const good = [...k.installed]
    .sort(compareReleases)
    .reverse()
    .find((r) => missing.every((m) => has(k, r, m)));
  const proxmox = state.system.proxmox !== null;
  const headers = proxmox ? `proxmox-headers-${release}` : `linux-headers-${release}`;
  const rebuild = missing.every((m) => k.dkms.some((b) => b.module === m))
    ? `apt install ${headers}, then \`dkms autoinstall -k ${release}\``
    : `rebuild ${missing.join(", ")} for ${release} (its headers: ${headers}) and install the module under /lib/modules/${release}/updates`;
  if (proxmox && good)
    return `keep booting ${good}: \`proxmox-boot-tool kernel pin ${good}\` (undo with \`proxmox-boot-tool kernel unpin\`); or build for ${release}: ${rebuild}`;
  return `before rebooting, ${rebuild}${good ? `; or boot ${good} from the boot menu` : ""}`;
}
