// All checks, in report order: the host first (CPU, IOMMU, boot loader, configuration),
// then each target candidate. Pure: HostState in, findings and candidates out.

import type { HostState } from "../host/types.js";
import { checkAssignment } from "./assignment.js";
import { checkHookscripts } from "./hookscript.js";
import { checkBootloader } from "./bootloader.js";
import { checkConfig } from "./config.js";
import { makeCheckContext, type CheckContext, type CheckSelection } from "./context.js";
import { checkCpu } from "./cpu.js";
import { checkDrivers } from "./drivers.js";
import { checkGpu, checkNoGpu } from "./gpu.js";
import { checkHostCritical } from "./host-critical.js";
import { checkInterruptRemapping } from "./interrupt-remapping.js";
import { checkIommu } from "./iommu.js";
import { checkIsolation } from "./isolation.js";
import { checkKernelModules } from "./kernel-modules.js";
import { checkPower } from "./power.js";
import { checkReset } from "./reset.js";
import { checkRom } from "./rom.js";
import { checkSriov } from "./sriov.js";
import type { Candidate } from "./types.js";
import type { Finding, FindingStatus } from "../findings/finding.js";
import { checkVisibility } from "./visibility.js";
import { checkVmGuest } from "./vm-guest.js";

export interface CheckReport {
  findings: Finding[];
  candidates: Candidate[];
  /** Addresses of the candidates the candidate checks judged. */
  targets: string[];
  counts: Record<FindingStatus, number>;
  /** Everything a verdict rests on could be read (no `host.unreadable` finding). */
  complete: boolean;
  /** No finding is `fail`, and the report is complete: nothing unseen was taken for fine. */
  ready: boolean;
}

type Check = (ctx: CheckContext) => Finding[];

/** Host-wide checks, then candidate checks, in the order the report prints them. */
export const CHECKS: Check[] = [
  checkVisibility,
  checkCpu,
  checkIommu,
  checkInterruptRemapping,
  checkVmGuest,
  checkBootloader,
  checkConfig,
  checkNoGpu,
  checkIsolation,
  checkHostCritical,
  checkHookscripts,
  checkAssignment,
  checkDrivers,
  checkReset,
  checkKernelModules,
  checkPower,
  checkGpu,
  checkRom,
  checkSriov,
];

export function runChecks(
  state: HostState,
  selections: readonly CheckSelection[] | null = null,
): CheckReport {
  const ctx = makeCheckContext(state, selections);
  const findings = CHECKS.flatMap((check) => check(ctx));
  const counts: Record<FindingStatus, number> = { pass: 0, warn: 0, fail: 0, info: 0, skip: 0 };
  for (const f of findings) counts[f.status]++;
  const complete = !findings.some((f) => f.id === "host.unreadable");
  return {
    findings,
    candidates: ctx.candidates,
    targets: ctx.targets.map((c) => c.address),
    counts,
    complete,
    ready: counts.fail === 0 && complete,
  };
}
