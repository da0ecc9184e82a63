// Which kernel parameters this host needs, and why (docs/domain-facts.md §1, §4). Only what the
// host needs: intel_iommu=on only while the Intel IOMMU is not on by itself; never amd_iommu=on
// (not a valid value, the AMD IOMMU is on by default); iommu=pt by default for the host's own
// devices; the boot-framebuffer switch only when the boot GPU is passed; pcie_acs_override only
// on request. Parameters a user left in the config of a boot loader this host does not use are
// carried over when they concern passthrough.

import type { ConfigProblem } from "../checks/types.js";
import type { PlanFinding } from "../findings/plan-catalog.js";
import {
  findParams,
  hasParam,
  normalizeParamName,
  param,
  parseCmdline,
} from "../formats/kernel-cmdline.js";
import { InputError } from "../errors.js";
import { kernelAtLeast } from "../host/system.js";
import type { CmdlineParam, HostState } from "../host/types.js";
import type { BindingPlan } from "./binding.js";
import type { IommuReadiness } from "./refusals.js";
import type { ResolvedSelection } from "./selection.js";
import type { PlanOptions } from "./types.js";

export interface WantedParam {
  param: CmdlineParam;
  why: string;
}

export interface CmdlineWants {
  add: WantedParam[];
  /** Raw tokens to take out of the active config, with the reason. */
  remove: Array<{ raw: string; why: string }>;
  findings: PlanFinding[];
}

/** Parameters that mean the same to the kernel count as present. */
export function satisfied(params: readonly CmdlineParam[], wanted: CmdlineParam): boolean {
  const key = normalizeParamName(wanted.key);
  if (key === "iommu" && wanted.value === "pt")
    return hasParam(params, wanted) || hasParam(params, param("iommu.passthrough", "1"));
  if (key === "initcall_blacklist") {
    // A list parameter; each occurrence adds to the list (init/main.c initcall_blacklist()).
    return findParams(params, key).some((p) =>
      (p.value ?? "").split(",").includes(wanted.value ?? ""),
    );
  }
  return hasParam(params, wanted);
}

/** Names worth carrying from a boot loader config the host does not read. */
const CARRY =
  /^(iommu|intel_iommu|amd_iommu|iommu\..+|intremap|vfio.*|vfio_iommu_type1\..+|vfio_pci\..+|pcie_acs_override|initcall_blacklist|video|kvm.*|rd\.driver\.(pre|blacklist)|modprobe\.blacklist|module_blacklist|nomodeset|pci|pcie_aspm)$/;

const ACS_VALUE =
  /^(downstream|multifunction|id:[0-9a-f]{4}:[0-9a-f]{4})(,(downstream|multifunction|id:[0-9a-f]{4}:[0-9a-f]{4}))*$/i;

/** Parameters whose value we own: an older value is replaced, not kept beside ours. */
const SINGLE_VALUED = new Set([
  "vfio_pci.ids",
  "pcie_acs_override",
  "vfio_iommu_type1.allow_unsafe_interrupts",
]);

export function wantedCmdline(
  state: HostState,
  sel: ResolvedSelection,
  opts: PlanOptions,
  readiness: IommuReadiness,
  binding: BindingPlan | null,
  problems: readonly ConfigProblem[],
): CmdlineWants {
  const add: WantedParam[] = [];
  const remove: CmdlineWants["remove"] = [];
  const findings: PlanFinding[] = [];
  const running = state.cmdline.running ?? [];
  const configured = state.cmdline.configured?.params ?? [];
  const want = (p: CmdlineParam, why: string) => {
    if (
      !add.some(
        (w) =>
          normalizeParamName(w.param.key) === normalizeParamName(p.key) &&
          w.param.value === p.value,
      )
    )
      add.push({ param: p, why });
  };

  // The IOMMU itself.
  if (state.system.cpuVendor === "intel") {
    const runningOn = findParams(running, "intel_iommu").some((p) =>
      (p.value ?? "").split(",").includes("on"),
    );
    if (readiness.kind === "enable") {
      want(
        param("intel_iommu", "on"),
        "the Intel IOMMU is off (no IOMMU groups) and kernels without CONFIG_INTEL_IOMMU_DEFAULT_ON need intel_iommu=on to turn it on",
      );
    } else if (readiness.kind === "on" && runningOn) {
      want(
        param("intel_iommu", "on"),
        "the running kernel got intel_iommu=on and its IOMMU is on: keep it, this kernel may not turn the Intel IOMMU on by itself",
      );
    }
  }
  if (readiness.kind === "enable") {
    for (const p of configured) {
      const k = normalizeParamName(p.key);
      const v = (p.value ?? "").split(",");
      if ((k === "intel_iommu" || k === "amd_iommu" || k === "iommu") && v.includes("off")) {
        remove.push({ raw: p.raw, why: `${p.raw} turns the IOMMU off` });
      }
    }
  }

  if (opts.iommuPt) {
    want(
      param("iommu", "pt"),
      "iommu=pt gives the devices the host keeps (disks, NICs) identity DMA mappings, sparing them the IOMMU's translation cost; the passed-through device is translated either way (added by default, as the Proxmox VE admin guide suggests for performance; leave it out with --no-iommu-pt)",
    );
  }

  // The boot GPU's firmware framebuffer holds its memory until told not to.
  if (readiness.kind === "on") {
    const bootGpu = sel.devices.find((d) => d.bootVga === true);
    if (bootGpu) {
      const modern = kernelAtLeast(state.system.kernelVersion, 5, 15) !== false;
      if (modern) {
        want(
          param("initcall_blacklist", "sysfb_init"),
          `${bootGpu.address} is the boot GPU: the firmware framebuffer (simplefb/simpledrm since 5.15) holds its memory; initcall_blacklist=sysfb_init stops it (video=efifb:off no longer does), at the cost of the host's boot console`,
        );
      } else {
        const fb = state.system.bootMode === "uefi" ? "efifb" : "vesafb";
        want(
          param("video", `${fb}:off`),
          `${bootGpu.address} is the boot GPU: ${fb} holds its memory; on this kernel (< 5.15) video=${fb}:off releases it`,
        );
      }
    }
  }

  if (opts.acsOverride !== null) {
    if (!ACS_VALUE.test(opts.acsOverride)) {
      throw new InputError(
        `--acs-override ${opts.acsOverride}: not a pcie_acs_override value; use downstream, multifunction, id:VVVV:DDDD or a comma list of them`,
      );
    }
    want(
      param("pcie_acs_override", opts.acsOverride),
      "--acs-override: split IOMMU groups the hardware does not isolate",
    );
    findings.push({
      id: "plan.acs-override",
      status: "warn",
      subject: null,
      summary: `pcie_acs_override=${opts.acsOverride} makes the kernel pretend devices are isolated when the hardware says they are not: devices in the "split" groups can still reach each other's memory by DMA, so a guest may attack the host through them`,
      fix: "prefer another slot (CPU lanes) or a firmware update; it works only on kernels with the ACS override patch (Proxmox, linux-zen, linux-vfio)",
    });
    if (!state.system.proxmox && !/zen|vfio|acso/i.test(state.system.kernelRelease ?? "")) {
      findings.push({
        id: "plan.acs-override-kernel",
        status: "warn",
        subject: state.system.kernelRelease,
        summary: `kernel ${state.system.kernelRelease ?? "?"} may not carry the ACS override patch; without it the parameter does nothing`,
        fix: "check the IOMMU groups with `passthrough list` after the reboot",
      });
    }
  }

  if (binding) for (const c of binding.cmdline) want(c.param, c.why);

  // Carried over from the config of a boot loader this host does not boot with.
  for (const pr of problems) {
    if (pr.kind !== "cmdline-wrong-bootloader") continue;
    const p = parseCmdline(pr.text)[0];
    if (!p) continue;
    const k = normalizeParamName(p.key);
    const at = `/${pr.file}${pr.line ? `:${pr.line}` : ""}`;
    const ignored = `${p.raw} is in ${at}, which this host's boot loader (${state.bootloader.kind}) does not read`;
    if (!CARRY.test(k)) {
      findings.push({
        id: "cmdline.wrong-bootloader",
        status: "info",
        subject: at,
        summary: `${ignored}; not carried over (not about passthrough)`,
        fix: `add it to ${state.bootloader.cmdlineFiles.map((f) => `/${f}`).join(", ") || "your boot loader's command line"} yourself if you want it`,
      });
      continue;
    }
    if (k === "amd_iommu" && p.value === "on") continue; // repaired, never carried
    if (k === "intel_iommu" && p.value === "on" && readiness.kind === "on") {
      findings.push({
        id: "cmdline.wrong-bootloader",
        status: "info",
        subject: at,
        summary: `${ignored}; not carried over: the Intel IOMMU is on without it`,
        fix: null,
      });
      continue;
    }
    if (k === "iommu" && p.value === "pt" && !opts.iommuPt) {
      findings.push({
        id: "cmdline.wrong-bootloader",
        status: "info",
        subject: at,
        summary: `${ignored}; not carried over (--no-iommu-pt)`,
        fix: null,
      });
      continue;
    }
    const clash = configured.find((c) => normalizeParamName(c.key) === k && c.value !== p.value);
    if (clash) {
      findings.push({
        id: "cmdline.wrong-bootloader",
        status: "warn",
        subject: at,
        summary: `${ignored}; not carried over: the active config has ${clash.raw}`,
        fix: null,
      });
      continue;
    }
    want(p, `${ignored}: carried to where it takes effect`);
    findings.push({
      id: "cmdline.wrong-bootloader",
      status: "warn",
      subject: at,
      summary: `${ignored}: the plan carries it to ${state.bootloader.cmdlineFiles.map((f) => `/${f}`).join(", ") || "the boot loader's command line"}`,
      fix: null,
    });
  }

  // Configured for the next boot but not running, and not something this plan wants: say so.
  for (const pr of problems) {
    if (pr.kind !== "cmdline-pending") continue;
    const p = parseCmdline(pr.text)[0];
    if (!p || add.some((w) => satisfied([w.param], p)) || remove.some((r) => r.raw === p.raw))
      continue;
    findings.push({
      id: "cmdline.pending",
      status: "info",
      subject: `/${pr.file}${pr.line ? `:${pr.line}` : ""}`,
      summary: `${p.raw} is configured but the running kernel did not get it; this plan leaves it as it is, and it takes effect with the next boot loader refresh and reboot`,
      fix: null,
    });
  }

  // Values we own replace older values of the same parameter.
  for (const w of add) {
    const k = normalizeParamName(w.param.key);
    if (!SINGLE_VALUED.has(k)) continue;
    for (const p of configured)
      if (
        normalizeParamName(p.key) === k &&
        p.value !== w.param.value &&
        !remove.some((r) => r.raw === p.raw)
      )
        remove.push({ raw: p.raw, why: `replaced by ${w.param.raw}` });
  }
  return { add, remove, findings };
}
