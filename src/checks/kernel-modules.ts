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
import { keepBootingCommand, nextBoot } from "../boot/next-boot.js";
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
  if (needed.length === 0 || k.installed.length === 0) return [];
  const next = nextBoot(ctx.state);
  const running = ctx.state.system.kernelRelease;
  const missing = next.release ? needed.filter((m) => !has(k, next.release!, m)) : [];
  // A warning gives the reason in its first words; the list then only marks the kernel.
  const nextTag = missing.length ? "next boot" : `next boot: ${next.why}`;
  const label = (r: string) => {
    const tags = [...(r === running ? ["running"] : []), ...(r === next.release ? [nextTag] : [])];
    return tags.length ? `${r} (${tags.join(", ")})` : r;
  };
  const builtFor = needed.map(
    (m) => `${m}: ${k.installed.filter((r) => has(k, r, m)).join(", ") || "no kernel"}`,
  );
  const list = `installed kernels ${k.installed.map(label).join(", ")}; ${builtFor.join("; ")}`;
  if (next.release === null) return unknownNextBoot(ctx.state, next.why, needed, list);
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

/** Which kernel boots next is unknown: fine when every kernel has the modules, else say so. */
function unknownNextBoot(state: HostState, why: string, needed: string[], list: string): Finding[] {
  const k = state.kernels;
  const lacking = k.installed.filter((r) => needed.some((m) => !has(k, r, m)));
  if (lacking.length === 0) return [finding("kernel.modules", "pass", list)];
  const newest = lacking[lacking.length - 1]!;
  const missing = needed.filter((m) => !has(k, newest, m));
  return [
    finding(
      "kernel.modules",
      "warn",
      `could not tell which kernel the next boot starts (${why}); ${lacking.join(", ")} ${lacking.length === 1 ? "lacks" : "lack"} a module the setup needs: ${list}`,
      { subject: newest, fix: fixFor(state, newest, missing) },
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
  const { headers, install } = headersPackage(state, release);
  const rebuild = missing.every((m) => k.dkms.some((b) => b.module === m))
    ? `${install}, then \`dkms autoinstall -k ${release}\``
    : `rebuild ${missing.join(", ")} for ${release} (its headers: ${headers}) and install the module under /lib/modules/${release}/updates`;
  if (proxmox && good)
    return `keep booting ${good}: \`proxmox-boot-tool kernel pin ${good}\` (undo with \`proxmox-boot-tool kernel unpin\`); or build for ${release}: ${rebuild}`;
  const keep = good ? keepBootingCommand(state, good) : null;
  if (keep) return `before rebooting, ${rebuild}; or keep booting ${good}: ${keep}`;
  return `before rebooting, ${rebuild}${good ? `; or boot ${good} from the boot menu` : ""}`;
}

/** The package with a kernel's headers, which DKMS builds against, and the command that installs it. */
function headersPackage(state: HostState, release: string): { headers: string; install: string } {
  const d = state.system.distro;
  const family = [d?.id ?? "", ...(d?.idLike ?? [])];
  if (state.system.proxmox !== null)
    return {
      headers: `proxmox-headers-${release}`,
      install: `apt install proxmox-headers-${release}`,
    };
  // Fedora/RHEL: kernel-devel-VERSION-RELEASE.ARCH is `uname -r` (dnf(8)).
  if (family.some((f) => ["fedora", "rhel", "centos"].includes(f)))
    return { headers: `kernel-devel-${release}`, install: `dnf install kernel-devel-${release}` };
  // Arch: one headers package per kernel package, matching its installed version.
  if (family.includes("arch"))
    return { headers: "linux-headers", install: "pacman -S linux-headers" };
  return { headers: `linux-headers-${release}`, install: `apt install linux-headers-${release}` };
}
