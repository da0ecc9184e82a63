// `verify`: after the reboot, does the running host match what the plan promised?
// Pure: HostState + Expectation (+ a few boot facts the command reads) -> Findings.
//
// The only proof of a kernel parameter is /proc/cmdline after the reboot, and the only proof
// of a binding is the driver link in sysfs (docs/domain-facts.md §3, §4). When something is
// missing, the finding names the most likely cause, told apart from the evidence:
//   - parameter in the boot loader config but not in grub.cfg       -> config not regenerated
//   - in grub.cfg (or config) but the kernel booted before the apply -> no reboot yet
//   - module configured to load but not loaded                       -> initramfs not rebuilt
//   - device on its native driver with softdep + ids configured      -> initramfs not rebuilt
//     (the native driver is loaded first from the old initramfs)
//   - device on its native driver without `softdep M pre: vfio-pci`  -> softdep missing
//   - no groups                                                       -> IOMMU off in firmware
//   - interrupt remapping off, allow_unsafe_interrupts not set       -> firmware / opt-in

import type { Finding } from "../findings/finding.js";
import {
  addParamSteps,
  cmdlineApplySteps,
  cmdlineRefreshCommand,
  initramfsRebuildCommand,
  removeParamSteps,
} from "../boot/advice.js";
import { bootloaderOf } from "../boot/loaders.js";
import { hasParam, normalizeParamName, parseCmdline } from "../formats/kernel-cmdline.js";
import { normalizeModuleName, optionsOf, softdepTargets } from "../formats/modprobe-conf.js";
import type { CmdlineParam, HostState, PciAddress, PciDevice } from "../host/types.js";
import type { Expectation, ResetMethodExpectation } from "../plan/types.js";
import { RESET_RULE_FILE } from "../plan/reset-rule.js";
import type { VerifyId } from "../findings/verify-catalog.js";

export interface VerifyInput {
  state: HostState;
  expect: Expectation;
  /** The user accepts running without interrupt remapping (plan's --allow-unsafe-interrupts, or verify's). */
  allowUnsafeInterrupts: boolean;
  /** The generated GRUB config (boot/grub/grub.cfg), null when not readable or not GRUB. */
  grubCfg: string | null;
  /** When the running kernel booted (/proc/stat btime); null when unknown. */
  bootedAt: Date | null;
  /** When the apply being verified finished; null when unknown (no journal). */
  appliedAt: Date | null;
}

export interface VerifiedFunction {
  address: PciAddress;
  /** Selected by the plan, or a group-mate that must be off host drivers too. */
  role: "selected" | "group-mate";
  iommuGroup: number | null;
  driver: string | null;
  ok: boolean;
}

export interface VerifyReport {
  ok: boolean;
  /** false: the kernel booted before the apply finished; null: unknown. */
  rebooted: boolean | null;
  findings: Array<Finding<VerifyId>>;
  functions: VerifiedFunction[];
}

const VFIO_DRIVER = "vfio-pci";

const abs = (rel: string) => (rel.startsWith("/") ? rel : `/${rel}`);

/** The one way verify makes a Finding: the id is a key of VERIFY_CATALOG, so `passthrough explain` documents it. */
function finding(
  id: VerifyId,
  status: Finding["status"],
  subject: string | null,
  summary: string,
  fix: string | null,
  detail?: string[],
): Finding<VerifyId> {
  return { id, status, subject, summary, fix, ...(detail && detail.length ? { detail } : {}) };
}

/** Does a `linux` line of a generated grub.cfg carry the parameter? */
function grubCfgHas(grubCfg: string, wanted: CmdlineParam): boolean {
  return grubCfg.split("\n").some((l) => {
    const m = /^\s*linux(?:efi|16)?\s+\S+\s+(.*)$/.exec(l);
    return m ? hasParam(parseCmdline(m[1]!), wanted) : false;
  });
}

export function verifyHost(input: VerifyInput): VerifyReport {
  const { state, expect } = input;
  const findings: Array<Finding<VerifyId>> = [];
  const rebooted =
    input.bootedAt && input.appliedAt ? input.bootedAt.getTime() > input.appliedAt.getTime() : null;
  const noReboot = rebooted === false;
  const reboot = "reboot, then run `passthrough verify` again";

  if (rebooted === false) {
    findings.push(
      finding(
        "verify.reboot",
        "fail",
        null,
        `the running kernel booted ${input.bootedAt!.toISOString()}, before the apply finished (${input.appliedAt!.toISOString()}): nothing planned is in effect yet`,
        reboot,
      ),
    );
  } else if (rebooted === true) {
    findings.push(
      finding(
        "verify.reboot",
        "pass",
        null,
        `rebooted since the apply (booted ${input.bootedAt!.toISOString()})`,
        null,
      ),
    );
  }

  // 1. Kernel command line.
  const running = state.cmdline.running;
  const wantedParams = expect.cmdline.flatMap((p) => parseCmdline(p));
  const missingParams: CmdlineParam[] = [];
  if (wantedParams.length > 0 && running === null) {
    findings.push(
      finding(
        "verify.cmdline",
        "fail",
        "/proc/cmdline",
        "cannot read /proc/cmdline, so no kernel parameter can be confirmed",
        "run verify on the host itself (or a snapshot that has proc/cmdline)",
      ),
    );
  } else {
    for (const w of wantedParams) {
      if (hasParam(running!, w)) continue;
      missingParams.push(w);
      findings.push(cmdlineCause(input, w, noReboot));
    }
    if (wantedParams.length > 0 && missingParams.length === 0) {
      findings.push(
        finding(
          "verify.cmdline",
          "pass",
          "/proc/cmdline",
          `the running kernel has ${wantedParams.map((p) => p.raw).join(" ")}`,
          null,
        ),
      );
    }
  }

  // 2. IOMMU and interrupt remapping.
  const iommuOn = state.iommu.enabled;
  if (iommuOn) {
    const n = state.iommu.groups.length;
    findings.push(
      finding(
        "verify.iommu",
        "pass",
        null,
        `IOMMU on (${state.iommu.vendor ?? "unknown vendor"}, ${n} group${n === 1 ? "" : "s"})`,
        null,
      ),
    );
  } else {
    findings.push(iommuCause(state, missingParams, noReboot));
  }
  if (iommuOn) findings.push(irqRemappingFinding(input));

  // 3. vfio modules.
  const loaded = state.modules.loaded;
  const builtin = new Set(state.modules.builtin ?? []);
  const wantedModules = expect.modulesLoaded.map(normalizeModuleName);
  const missingModules: string[] = [];
  if (wantedModules.length > 0 && loaded === null) {
    findings.push(
      finding(
        "verify.modules",
        "fail",
        "/proc/modules",
        "cannot read /proc/modules, so the vfio modules cannot be confirmed",
        "run verify on the host itself",
      ),
    );
  } else {
    const have = new Set(loaded ?? []);
    for (const m of wantedModules) if (!have.has(m) && !builtin.has(m)) missingModules.push(m);
    findings.push(...moduleFindings(state, missingModules, noReboot));
    if (wantedModules.length > 0 && missingModules.length === 0) {
      findings.push(
        finding("verify.modules", "pass", null, `loaded: ${wantedModules.join(", ")}`, null),
      );
    }
  }

  findings.push(...moduleParamFindings(state, expect.moduleParams ?? [], noReboot));
  findings.push(...resetMethodFindings(state, expect.resetMethods ?? [], noReboot));

  // 4. Binding: every selected function, and every other endpoint of their groups.
  const functions: VerifiedFunction[] = [];
  const byAddr = new Map(state.pci.map((d) => [d.address, d]));
  const targets: Array<{ address: PciAddress; role: VerifiedFunction["role"] }> =
    expect.boundToVfio.map((a) => ({ address: a, role: "selected" as const }));
  const selected = new Set(expect.boundToVfio);
  for (const a of expect.boundToVfio) {
    const d = byAddr.get(a);
    if (!d || d.iommuGroup === null) continue;
    const group = state.iommu.groups.find((g) => g.id === d.iommuGroup);
    for (const mate of group?.devices ?? []) {
      if (selected.has(mate) || targets.some((t) => t.address === mate)) continue;
      if (byAddr.get(mate)?.isBridge) continue; // bridges stay with the host (docs/domain-facts.md §2)
      targets.push({ address: mate, role: "group-mate" });
    }
  }
  for (const t of targets) {
    const d = byAddr.get(t.address);
    if (!d) {
      findings.push(
        finding(
          "verify.binding",
          "fail",
          t.address,
          `${t.address} is not present on this host`,
          "the card moved to another slot or was removed: `passthrough list`, then plan and apply for its new address",
        ),
      );
      functions.push({
        address: t.address,
        role: t.role,
        iommuGroup: null,
        driver: null,
        ok: false,
      });
      continue;
    }
    const ok = d.driver === VFIO_DRIVER || (d.driver === null && iommuOn);
    functions.push({
      address: d.address,
      role: t.role,
      iommuGroup: d.iommuGroup,
      driver: d.driver,
      ok,
    });
    if (d.driver === null && !iommuOn) {
      findings.push(
        finding(
          "verify.binding",
          "fail",
          d.address,
          `${d.address} has no driver, but without an IOMMU vfio-pci cannot take it (see verify.iommu)`,
          "turn the IOMMU on first (verify.iommu), then reboot",
        ),
      );
    } else if (ok) {
      const what = t.role === "group-mate" ? ` (group ${d.iommuGroup} mate)` : "";
      findings.push(
        finding(
          "verify.binding",
          "pass",
          d.address,
          d.driver
            ? `${d.address}${what} bound to vfio-pci, no host driver`
            : `${d.address}${what} has no driver (vfio-pci takes it at VM start)`,
          null,
        ),
      );
    } else {
      findings.push(bindingCause(state, d, t.role, noReboot, missingModules.includes("vfio_pci")));
    }
  }

  for (const a of expect.boundToHost ?? []) {
    const d = byAddr.get(a);
    functions.push(hostBound(a, d, noReboot, findings));
  }

  const ok = !findings.some((f) => f.status === "fail");
  return { ok, rebooted, findings, functions };
}

/** `mode host --persist`: the function must be back on its own driver (any driver but vfio-pci). */
function hostBound(
  address: PciAddress,
  d: PciDevice | undefined,
  noReboot: boolean,
  findings: Array<Finding<VerifyId>>,
): VerifiedFunction {
  const ok = d !== undefined && d.driver !== null && d.driver !== VFIO_DRIVER;
  const row = (driver: string | null) => ({
    address,
    role: "selected" as const,
    iommuGroup: d?.iommuGroup ?? null,
    driver,
    ok,
  });
  if (!d) {
    findings.push(
      finding(
        "verify.binding",
        "fail",
        address,
        `${address} is not present on this host`,
        "the card moved to another slot or was removed: `passthrough list`",
      ),
    );
    return row(null);
  }
  if (ok)
    findings.push(
      finding(
        "verify.binding",
        "pass",
        address,
        `${address} is on its host driver ${d.driver}`,
        null,
      ),
    );
  else
    findings.push(
      finding(
        "verify.binding",
        "fail",
        address,
        d.driver === VFIO_DRIVER
          ? `${address} is still on vfio-pci${noReboot ? " (no reboot since the apply)" : ""}, not on its host driver`
          : `${address} has no driver: its host driver did not take it`,
        d.driver === VFIO_DRIVER
          ? noReboot
            ? "reboot (or `passthrough mode host --device ADDR` now), then run `passthrough verify` again"
            : "`passthrough check` shows what still binds it (ids=, softdep, vfio-pci.ids=); after fixing, rebuild the initramfs and reboot"
          : "load its driver (modprobe) and check for a blacklist line in /etc/modprobe.d; `passthrough check` lists them",
      ),
    );
  return row(d.driver);
}

function cmdlineCause(input: VerifyInput, w: CmdlineParam, noReboot: boolean): Finding<VerifyId> {
  const { state } = input;
  const configured = state.cmdline.configured;
  const subject = w.raw;
  const inConfig = configured !== null && hasParam(configured.params, w);
  if (!inConfig) {
    const elsewhere = state.cmdline.inactive.find((c) => hasParam(c.params, w));
    if (elsewhere) {
      return finding(
        "verify.cmdline",
        "fail",
        subject,
        `${w.raw} is set in ${elsewhere.files.map(abs).join(", ")}, which this host does not boot with (boot loader: ${state.bootloader.kind})`,
        `${addParamSteps(state, w.raw, `put it in ${configured?.files.map(abs).join(", ") ?? "the active boot loader's config"} (\`passthrough plan\` does)`)}, reboot`,
      );
    }
    const where = configured ? configured.files.map(abs).join(", ") : "the boot loader config";
    return finding(
      "verify.cmdline",
      "fail",
      subject,
      `${w.raw} is neither on the running kernel's command line nor in ${where}: the change is not applied (or was rolled back)`,
      "`passthrough apply --device ...`, then reboot",
    );
  }
  const files = configured!.files.map(abs).join(", ");
  if (noReboot) {
    return finding(
      "verify.cmdline",
      "fail",
      subject,
      `${w.raw} is configured in ${files} but the host has not rebooted since the apply`,
      "reboot, then run `passthrough verify` again",
    );
  }
  // GRUB's grub.cfg tells "not regenerated" from "not rebooted"; other loaders have nothing to read back.
  const isGrub = bootloaderOf(state.bootloader).generated(state.bootloader).length > 0;
  if (isGrub && input.grubCfg !== null && !grubCfgHas(input.grubCfg, w)) {
    return finding(
      "verify.cmdline",
      "fail",
      subject,
      `${w.raw} is in ${files} but not in the generated GRUB config: the boot loader config was not refreshed`,
      cmdlineApplySteps(state, [w.raw]),
    );
  }
  if (isGrub && input.grubCfg !== null) {
    return finding(
      "verify.cmdline",
      "fail",
      subject,
      `${w.raw} is in ${files} and in grub.cfg, but not in /proc/cmdline: no reboot since, or the firmware boots another GRUB / entry`,
      "reboot; if it is still missing, check which loader boots (`efibootmgr -v`) and `passthrough check`",
    );
  }
  return finding(
    "verify.cmdline",
    "fail",
    subject,
    `${w.raw} is in ${files} but not in /proc/cmdline: the boot loader config was not refreshed, or no reboot yet`,
    cmdlineApplySteps(state, [w.raw]),
  );
}

function iommuCause(
  state: HostState,
  missingParams: readonly CmdlineParam[],
  noReboot: boolean,
): Finding<VerifyId> {
  const iommuParam = missingParams.find((p) =>
    /^(intel_iommu|amd_iommu)$/.test(normalizeParamName(p.key)),
  );
  if (noReboot)
    return finding(
      "verify.iommu",
      "fail",
      null,
      "no IOMMU groups: the host has not rebooted since the apply",
      "reboot, then run `passthrough verify` again",
    );
  if (iommuParam) {
    return finding(
      "verify.iommu",
      "fail",
      null,
      `no IOMMU groups: ${iommuParam.raw} is not on the running command line (see verify.cmdline)`,
      `fix the command line first (${cmdlineRefreshCommand(state, [iommuParam.raw])}), then reboot`,
    );
  }
  if (state.system.virtualMachine) {
    return finding(
      "verify.iommu",
      "fail",
      null,
      "no IOMMU groups: this is a virtual machine without a virtual IOMMU",
      "give the VM a virtual IOMMU (QEMU: -device intel-iommu,intremap=on or amd-iommu on a q35 machine)",
    );
  }
  if (state.system.virtualizationFlag === null) {
    return finding(
      "verify.iommu",
      "fail",
      null,
      "no IOMMU groups and no svm/vmx CPU flag: virtualization is off in the firmware",
      "enable SVM (AMD) or VT-x and VT-d (Intel) in the firmware setup, then boot again",
    );
  }
  const where =
    state.system.cpuVendor === "intel"
      ? "VT-d (Intel)"
      : "IOMMU / AMD-Vi (AMD CBS > NBIO Common Options)";
  return finding(
    "verify.iommu",
    "fail",
    null,
    "no IOMMU groups: the IOMMU is off in the firmware",
    `enable ${where} in the firmware setup, then boot again`,
  );
}

function irqRemappingFinding(input: VerifyInput): Finding<VerifyId> {
  const { iommu } = input.state;
  const unsafeActive = iommu.allowUnsafeInterrupts === true;
  if (iommu.interruptRemapping === true) {
    return finding(
      "verify.irq-remapping",
      "pass",
      null,
      `interrupt remapping on${iommu.interruptRemappingMode ? ` (${iommu.interruptRemappingMode} mode)` : ""}`,
      null,
    );
  }
  if (unsafeActive) {
    return finding(
      "verify.irq-remapping",
      "warn",
      null,
      `interrupt remapping ${iommu.interruptRemapping === false ? "off" : "not reported"}; running in the opted-in unsafe mode (vfio_iommu_type1 allow_unsafe_interrupts=1): a guest can inject interrupts into the host`,
      "enable interrupt remapping (x2APIC) in the firmware to drop the unsafe mode",
    );
  }
  if (input.allowUnsafeInterrupts) {
    return finding(
      "verify.irq-remapping",
      "fail",
      "vfio_iommu_type1",
      "interrupt remapping is off and allow_unsafe_interrupts is not active although it was opted in",
      "check `options vfio_iommu_type1 allow_unsafe_interrupts=1` in /etc/modprobe.d/passthrough.conf, rebuild the initramfs, reboot",
    );
  }
  const intremapOff = (input.state.cmdline.running ?? []).filter(
    (p) => normalizeParamName(p.key) === "intremap" && p.value === "off",
  );
  if (intremapOff.length > 0) {
    const cfg = (input.state.cmdline.configured?.params ?? []).find(
      (p) => normalizeParamName(p.key) === "intremap" && p.value === "off",
    );
    const where = cfg?.origin
      ? `${abs(cfg.origin.file)}${cfg.origin.line ? `:${cfg.origin.line}` : ""}`
      : (input.state.cmdline.configured?.files.map(abs).join(", ") ?? "the boot loader config");
    return finding(
      "verify.irq-remapping",
      "fail",
      "intremap=off",
      "interrupt remapping is off because the kernel command line says intremap=off: VFIO refuses MSI interrupts for the device without it",
      `${removeParamSteps(input.state, "intremap=off", where)} (or keep it and accept the risk: plan with --allow-unsafe-interrupts)`,
    );
  }
  if (iommu.interruptRemapping === false) {
    return finding(
      "verify.irq-remapping",
      "fail",
      null,
      "interrupt remapping is off: VFIO refuses MSI interrupts for the device without it",
      "enable x2APIC / interrupt remapping in the firmware (Intel: VT-d; AMD: IOMMU), or accept the risk and plan with --allow-unsafe-interrupts",
      iommu.logEvidence.filter((l) => /remap/i.test(l)),
    );
  }
  return finding(
    "verify.irq-remapping",
    "fail",
    null,
    "cannot tell whether interrupt remapping is on: the kernel log has no line about it",
    'run verify as root soon after boot (it reads dmesg); `dmesg | grep -i remapping` should say "enabled"',
  );
}

/**
 * Module parameters the plan set (vfio-pci disable_idle_d3), as the running module shows them
 * in /sys/module/M/parameters/P: the only proof kmod passed the option when the module loaded.
 */
function moduleParamFindings(
  state: HostState,
  params: ReadonlyArray<{ module: string; param: string; value: string }>,
  noReboot: boolean,
): Array<Finding<VerifyId>> {
  return params.map((p) => {
    const path = `/sys/module/${p.module}/parameters/${p.param}`;
    const got = state.modules.parameters[p.module]?.[p.param] ?? null;
    if (got === p.value)
      return finding("verify.modules", "pass", path, `${p.module} ${p.param}=${got}`, null);
    return finding(
      "verify.modules",
      "fail",
      path,
      `${path} reads ${got ?? "nothing (module not loaded)"}, the plan set ${p.value}: ${noReboot ? "the host has not rebooted since the apply" : `${p.module} loaded without the option`}`,
      noReboot
        ? "reboot, then run `passthrough verify` again"
        : `check \`modprobe -c | grep ${p.module.replace(/_/g, ".")}\`, ${initramfsRebuildCommand(state.initramfs.kind)}, reboot`,
    );
  });
}

/**
 * The reset method a --reset-method udev rule set, as sysfs reset_method reads now: the rule
 * only runs when the device appears, so a host that has not rebooted still lists the old order.
 */
function resetMethodFindings(
  state: HostState,
  wanted: readonly ResetMethodExpectation[],
  noReboot: boolean,
): Array<Finding<VerifyId>> {
  const byAddr = new Map(state.pci.map((d) => [d.address, d]));
  return wanted.map(({ address, method }) => {
    const path = `/sys/bus/pci/devices/${address}/reset_method`;
    const got = byAddr.get(address)?.resetMethods?.join(" ") ?? null;
    if (got === method)
      return finding("verify.binding", "pass", path, `${address} reset_method ${method}`, null);
    return finding(
      "verify.binding",
      "fail",
      path,
      `${path} reads ${got ?? "nothing"}, the plan's udev rule sets ${method}${noReboot ? ": the host has not rebooted since the apply" : ""}`,
      noReboot
        ? "reboot, then run `passthrough verify` again"
        : `check /${RESET_RULE_FILE} and \`udevadm test /sys/bus/pci/devices/${address}\`; \`echo ${method} > ${path}\` sets it now`,
    );
  });
}

/** Missing modules, one finding per cause (configured but not loaded / not configured at all). */
function moduleFindings(
  state: HostState,
  missing: readonly string[],
  noReboot: boolean,
): Array<Finding<VerifyId>> {
  if (missing.length === 0) return [];
  const initramfsCmd = initramfsRebuildCommand(state.initramfs.kind);
  const list = (ms: readonly string[]) => ms.join(", ");
  const are = (ms: readonly string[]) => (ms.length === 1 ? "is" : "are");
  if (noReboot)
    return [
      finding(
        "verify.modules",
        "fail",
        list(missing),
        `${list(missing)} ${are(missing)} not loaded: the host has not rebooted since the apply`,
        "reboot, then run `passthrough verify` again",
      ),
    ];
  const whereConfigured = (m: string) =>
    [...state.modules.loadAtBoot, ...state.modules.initramfs]
      .filter((e) => normalizeModuleName(e.module) === m)
      .map((e) => `${abs(e.file)}:${e.line}`);
  const configured = missing.filter((m) => whereConfigured(m).length > 0);
  const unconfigured = missing.filter((m) => whereConfigured(m).length === 0);
  const out: Array<Finding<VerifyId>> = [];
  if (configured.length) {
    const where = [...new Set(configured.flatMap(whereConfigured))].join(", ");
    out.push(
      finding(
        "verify.modules",
        "fail",
        list(configured),
        `${list(configured)} ${are(configured)} configured to load (${where}) but not loaded: the initramfs was not rebuilt, or loading failed`,
        `${initramfsCmd}, reboot; if still missing: \`journalctl -b -u systemd-modules-load\` and \`modprobe ${configured[0]}\``,
      ),
    );
  }
  if (unconfigured.length) {
    out.push(
      finding(
        "verify.modules",
        "fail",
        list(unconfigured),
        `${list(unconfigured)} ${are(unconfigured)} not loaded and nothing loads ${unconfigured.length === 1 ? "it" : "them"} at boot (no /etc/modules or modules-load.d entry)`,
        `list ${unconfigured.length === 1 ? "it" : "them"} in /etc/modules-load.d/passthrough.conf (\`passthrough apply\` does), ${initramfsCmd}, reboot`,
      ),
    );
  }
  return out;
}

function vfioClaims(state: HostState, d: PciDevice): boolean {
  const id = `${d.vendorId}:${d.deviceId}`.toLowerCase();
  if (d.driverOverride === VFIO_DRIVER) return true;
  const idsFrom = (v: string | null | undefined) => (v ?? "").toLowerCase().split(",").includes(id);
  for (const dir of state.modules.modprobe) {
    if (dir.command === "options" && dir.module === "vfio_pci" && idsFrom(optionsOf(dir).ids))
      return true;
  }
  const running = state.cmdline.running ?? [];
  if (running.some((p) => normalizeParamName(p.key) === "vfio_pci.ids" && idsFrom(p.value)))
    return true;
  const cfg = state.cmdline.configured?.params ?? [];
  return cfg.some((p) => normalizeParamName(p.key) === "vfio_pci.ids" && idsFrom(p.value));
}

function bindingCause(
  state: HostState,
  d: PciDevice,
  role: VerifiedFunction["role"],
  noReboot: boolean,
  vfioMissing: boolean,
): Finding<VerifyId> {
  const driver = d.driver!;
  const module = d.driverModule ?? normalizeModuleName(driver);
  const initramfsCmd = initramfsRebuildCommand(state.initramfs.kind);
  const mate =
    role === "group-mate"
      ? ` (in IOMMU group ${d.iommuGroup} with the selected device: the whole group must leave the host)`
      : "";
  const summary = (cause: string) => `${d.address}${mate} is bound to ${driver}: ${cause}`;
  const id = "verify.binding";
  if (noReboot)
    return finding(
      id,
      "fail",
      d.address,
      summary("the host has not rebooted since the apply"),
      "reboot, then run `passthrough verify` again",
    );
  if (!state.iommu.enabled)
    return finding(
      id,
      "fail",
      d.address,
      summary("vfio-pci cannot take a device without an IOMMU group (see verify.iommu)"),
      "turn the IOMMU on first (verify.iommu), then reboot",
    );
  if (vfioMissing)
    return finding(
      id,
      "fail",
      d.address,
      summary("vfio-pci is not loaded (see verify.modules)"),
      "fix verify.modules first, then reboot",
    );
  const builtIn =
    d.driverModule === null && (state.modules.builtin ?? []).includes(normalizeModuleName(driver));
  if (builtIn) {
    return finding(
      id,
      "fail",
      d.address,
      summary(`${driver} is built into the kernel, so no softdep can order it after vfio-pci`),
      `bind by address before it probes: driver_override (driverctl set-override ${d.address} vfio-pci) or vfio-pci.ids=${d.vendorId}:${d.deviceId} on the kernel command line`,
    );
  }
  if (!vfioClaims(state, d)) {
    return finding(
      id,
      "fail",
      d.address,
      summary(
        `nothing tells vfio-pci to claim ${d.vendorId}:${d.deviceId} (no vfio-pci ids= entry, no driver_override)`,
      ),
      `\`passthrough apply --device ${d.address.replace(/\.[0-7]$/, "")}\`, then reboot`,
    );
  }
  const softdep = state.modules.modprobe.some(
    (x) =>
      (x.command === "softdep" || x.command === "softdeps") &&
      x.module === module &&
      softdepTargets(x).pre.includes("vfio_pci"),
  );
  if (!softdep) {
    return finding(
      id,
      "fail",
      d.address,
      summary(
        `the native driver loaded before vfio-pci: there is no \`softdep ${module} pre: vfio-pci\``,
      ),
      `add "softdep ${module} pre: vfio-pci" to /etc/modprobe.d/passthrough.conf (\`passthrough apply\` does), ${initramfsCmd}, reboot`,
    );
  }
  return finding(
    id,
    "fail",
    d.address,
    summary(
      `softdep and ids are configured, so ${module} was loaded first from an initramfs built before them: the initramfs was not rebuilt`,
    ),
    `${initramfsCmd}, then reboot`,
  );
}
