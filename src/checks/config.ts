// Existing configuration that silently does nothing (or harm): one finding per problem the
// config lint finds (src/checks/config-lint.ts), with the exact file:line and the command
// that fixes it. `passthrough plan` repairs the same problems as steps of its plan.

import { normalizeParamName } from "../formats/kernel-cmdline.js";
import { normalizeModuleName } from "../formats/modprobe-conf.js";
import type { HostState } from "../host/types.js";
import {
  addParamSteps,
  cmdlineApplySteps,
  cmdlineLocation,
  initramfsRebuildCommand,
  removeParamSteps,
} from "../boot/advice.js";
import { isInitramfsConfig } from "../boot/initramfs.js";
import { WELL_KNOWN_MODULES } from "./config-lint.js";
import type { CheckContext } from "./context.js";
import { hostPath } from "./context.js";
import type { CheckId } from "../findings/check-catalog.js";
import { finding } from "../findings/finding.js";
import type { ConfigProblem } from "./types.js";
import type { Finding, FindingStatus } from "../findings/finding.js";

const PLAN = "`passthrough plan` repairs it";

/** Modules a blacklist glob was meant to name ("nvidia*" -> nvidia, nvidia_drm, ...). */
export function globExpansions(state: HostState, glob: string): string[] {
  const re = new RegExp(
    `^${glob
      .replace(/[.+^${}()|\\]/g, "\\$&")
      .replace(/\*/g, ".*")
      .replace(/\?/g, ".")}$`,
  );
  const pool = new Set([
    ...(state.modules.available ?? []),
    ...(state.modules.loaded ?? []),
    ...WELL_KNOWN_MODULES,
  ]);
  return [...pool].filter((m) => re.test(m)).sort();
}

const KIND: Record<ConfigProblem["kind"], { id: CheckId; status: FindingStatus }> = {
  "blacklist-wildcard": { id: "modprobe.wildcard", status: "fail" },
  "blacklist-unknown-module": { id: "modprobe.unknown-module", status: "fail" },
  "amd-iommu-on": { id: "cmdline.amd-iommu-on", status: "warn" },
  "vfio-virqfd-merged": { id: "modules.vfio-virqfd", status: "warn" },
  "modprobe-not-conf": { id: "modprobe.not-conf", status: "fail" },
  "vfio-ids-absent": { id: "vfio.ids-absent", status: "warn" },
  "cmdline-pending": { id: "cmdline.pending", status: "warn" },
  "cmdline-wrong-bootloader": { id: "cmdline.wrong-bootloader", status: "warn" },
};

/**
 * Parameters every installer writes into a boot loader config (root device, quiet boot,
 * splash). Left in the config of a boot loader the host does not use, they are leftovers of
 * the install, not a change that silently failed: `plan` notes them, `check` stays quiet.
 */
const INSTALLER_BOILERPLATE = new Set([
  "quiet",
  "splash",
  "ro",
  "rw",
  "root",
  "boot",
  "rootfstype",
  "rootflags",
  "initrd",
  "BOOT_IMAGE",
  "resume",
]);

export function checkConfig(ctx: CheckContext): Finding[] {
  return ctx.problems
    .filter(
      (p) =>
        !(
          p.kind === "cmdline-wrong-bootloader" &&
          INSTALLER_BOILERPLATE.has(normalizeParamName(p.text.split("=")[0]!))
        ),
    )
    .map((p) => problemFinding(ctx.state, p));
}

export function problemFinding(state: HostState, p: ConfigProblem): Finding {
  const { id, status } = KIND[p.kind];
  const at = hostPath(p.file, p.line);
  const rebuild = initramfsRebuildCommand(state.initramfs.kind);
  let summary: string;
  let fix: string;
  switch (p.kind) {
    case "blacklist-wildcard": {
      const glob = p.text.trim().split(/\s+/)[1] ?? "";
      const names = globExpansions(state, normalizeModuleName(glob));
      summary = `${at} "${p.text}" matches no module: blacklist takes exact names`;
      fix = `${names.length ? `name each module (${names.map((n) => `blacklist ${n}`).join(", ")}), or better ` : ""}drop the line and bind the card by id (vfio-pci ids= + softdep), which needs no blacklist; then ${rebuild}; ${PLAN}`;
      break;
    }
    case "blacklist-unknown-module": {
      const suggestion = /did you mean (\S+?)\?/.exec(p.message)?.[1];
      summary = `${at} "${p.text}": no such module${suggestion ? ` (did you mean ${suggestion}?)` : ""}`;
      fix = `${suggestion ? `write "blacklist ${suggestion}"` : "correct the module name (lsmod / modinfo show real names)"} in ${at}, then ${rebuild}`;
      break;
    }
    case "amd-iommu-on": {
      const booted = (state.cmdline.running ?? []).some((x) => x.raw === p.text);
      const used = state.cmdline.configured?.files.includes(p.file) === true;
      summary = `${at} sets amd_iommu=on, which is not a valid value (the kernel ${booted ? "logs" : "would log"} "AMD-Vi: Unknown option - 'on'")`;
      const where = `${at} (the AMD IOMMU is on by default)`;
      fix = `${used ? removeParamSteps(state, p.text, where) : `remove amd_iommu=on from ${where}`}; ${PLAN}`;
      break;
    }
    case "vfio-virqfd-merged":
      summary = `${at} loads vfio_virqfd, which kernel ${state.system.kernelRelease ?? "6.2+"} no longer has (merged into vfio in 6.2)`;
      fix = `delete the vfio_virqfd line (${at})${isInitramfsConfig(p.file) ? `, then ${rebuild}` : ""}; ${PLAN}`;
      break;
    case "modprobe-not-conf": {
      const abs = hostPath(p.file);
      summary = `${abs} is ignored: modprobe reads only files ending in .conf`;
      fix = `mv ${abs} ${abs}.conf, then ${rebuild}`;
      break;
    }
    case "vfio-ids-absent": {
      const ids = /names (.+), which no PCI/.exec(p.message)?.[1] ?? p.text;
      summary = `${at} binds vfio-pci to ${ids}, which no device on this host has`;
      fix = `put the ids of the device you pass there (passthrough list shows them), or remove the stale entry; then ${/^etc\/modprobe\.d/.test(p.file) ? rebuild : cmdlineApplySteps(state)}; ${PLAN}`;
      break;
    }
    case "cmdline-pending":
      summary = `${p.text} is in ${at} but not in the running kernel (/proc/cmdline)`;
      fix = cmdlineApplySteps(state, [p.text]);
      break;
    case "cmdline-wrong-bootloader": {
      summary = `${p.text} is in ${at}, which this host's boot loader (${state.bootloader.kind}) never reads`;
      fix = `${addParamSteps(state, p.text, `put it in ${cmdlineLocation(state)}`)}, reboot, and remove it from ${hostPath(p.file)}; ${PLAN}`;
      break;
    }
  }
  return finding(id, status, summary, { subject: at, fix, detail: [p.message] });
}
