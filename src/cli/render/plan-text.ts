// `passthrough plan` as people read it: the devices, the kernel parameters and why, notes,
// then unified diffs per file (host paths as labels, pasteable into a forum post), the
// commands, the reboot, and what `verify` will check afterwards.

import { structuredPatch } from "diff";
import type { Finding } from "../../findings/finding.js";
import { classShortName } from "../../formats/pci-ids.js";
import type { HostState } from "../../host/types.js";
import type { FileStep, Plan, PlanOptions } from "../../plan/types.js";
import { rerunCommand } from "../../plan/plan.js";
import { quoteArgv } from "../../process/quote.js";
import type { Style } from "./style.js";
import { renderTable } from "./table.js";

/** GNU diff's hunk ranges: "l" for one line, "l,n" otherwise, and "l-1,0" for an empty side. */
function range(start: number, count: number): string {
  if (count === 0) return `${Math.max(start - 1, 0)},0`;
  return count === 1 ? `${start}` : `${start},${count}`;
}

/** A unified diff of one file step, labelled with the host path (/dev/null for a missing side). */
export function unifiedDiff(step: FileStep, style: Style): string[] {
  const oldLabel = step.before === null ? "/dev/null" : step.path;
  const newLabel = step.after === null ? "/dev/null" : step.path;
  const patch = structuredPatch(
    oldLabel,
    newLabel,
    step.before ?? "",
    step.after ?? "",
    undefined,
    undefined,
    { context: 3 },
  );
  const out = [style.bold(`--- ${oldLabel}`), style.bold(`+++ ${newLabel}`)];
  for (const h of patch.hunks) {
    out.push(
      style.cyan(`@@ -${range(h.oldStart, h.oldLines)} +${range(h.newStart, h.newLines)} @@`),
    );
    for (const l of h.lines) {
      if (l.startsWith("+")) out.push(style.green(l));
      else if (l.startsWith("-")) out.push(style.red(l));
      else out.push(l);
    }
  }
  return out;
}

function findingLines(f: Finding, style: Style): string[] {
  const tag =
    f.status === "fail"
      ? style.red("FAIL")
      : f.status === "warn"
        ? style.yellow("WARN")
        : style.dim("INFO");
  const out = [
    `  ${tag}  ${f.summary}${f.subject && !f.summary.includes(f.subject) ? ` [${f.subject}]` : ""}`,
  ];
  for (const d of f.detail ?? []) out.push(`        ${d}`);
  if (f.fix) out.push(`        fix: ${f.fix}`);
  return out;
}

export function renderPlanText(
  state: HostState,
  plan: Plan,
  opts: PlanOptions,
  style: Style,
): string[] {
  const lines: string[] = [];
  const sys = state.system;
  const head = [
    `passthrough plan — ${sys.hostname ?? "host"}`,
    sys.proxmox ? `Proxmox VE ${sys.proxmox}` : (sys.distro?.prettyName ?? sys.distro?.id ?? null),
    sys.kernelRelease ? `kernel ${sys.kernelRelease}` : null,
    state.bootloader.kind +
      (state.bootloader.grubFlavor ? ` (${state.bootloader.grubFlavor})` : ""),
    state.initramfs.kind,
  ].filter(Boolean);
  lines.push(style.bold(head.join(" · ")), "");

  const byAddr = new Map(state.pci.map((d) => [d.address, d]));
  const groups = plan.selection.groups;
  lines.push(
    style.bold(
      `Devices${groups.length ? ` (IOMMU group${groups.length > 1 ? "s" : ""} ${groups.join(", ")})` : " (no IOMMU groups yet)"}`,
    ),
  );
  lines.push(
    ...renderTable(
      plan.selection.functions.map((a) => {
        const d = byAddr.get(a);
        return d
          ? [
              a,
              classShortName(d.classCode),
              `${d.vendorId}:${d.deviceId}`,
              `now ${d.driver ?? "no driver"}`,
              `${d.vendorName ?? ""} ${d.deviceName ?? ""}`.trim(),
            ]
          : [a];
      }),
      "  ",
    ),
  );
  lines.push("");

  if (plan.phase === "enable-iommu") {
    lines.push(
      style.yellow(
        "Phase 1 of 2: turn the IOMMU on. Device binding is planned after the reboot, when the IOMMU groups are known.",
      ),
      "",
    );
  }

  if (plan.cmdline?.length) {
    lines.push(style.bold("Kernel command line"));
    const running = state.cmdline.running?.map((p) => p.raw) ?? [];
    const configured = state.cmdline.configured?.params.map((p) => p.raw) ?? [];
    lines.push(
      ...renderTable(
        plan.cmdline.map((c) => [
          c.param,
          running.includes(c.param)
            ? "running"
            : configured.includes(c.param)
              ? "configured, not running"
              : "added",
          c.why,
        ]),
        "  ",
      ),
    );
    lines.push("");
  }

  if (plan.findings.length) {
    lines.push(style.bold("Notes"));
    for (const f of plan.findings) lines.push(...findingLines(f, style));
    lines.push("");
  }

  const fileSteps = plan.steps.filter((s): s is FileStep => s.kind === "file");
  const commands = plan.steps.filter((s) => s.kind === "command");
  const reboot = plan.steps.find((s) => s.kind === "reboot");
  if (plan.steps.length === 0) {
    lines.push(
      style.green(
        `Nothing to do: this host is already in the desired state for ${plan.selection.functions.join(", ")}.`,
      ),
      "",
    );
  }

  if (fileSteps.length) {
    lines.push(
      style.bold(`Files (${fileSteps.length} change${fileSteps.length === 1 ? "" : "s"})`),
      "",
    );
    fileSteps.forEach((s, i) => {
      const verb = s.before === null ? "create" : s.after === null ? "remove" : "edit";
      lines.push(style.bold(`# ${i + 1}. ${verb} ${s.path}`), `# ${s.why}`);
      lines.push(...unifiedDiff(s, style), "");
    });
  }

  if (commands.length) {
    lines.push(style.bold("Commands"));
    commands.forEach((c, i) => {
      if (c.kind !== "command") return;
      lines.push(`  ${i + 1}. ${quoteArgv(c.argv)}`, `     ${style.dim(c.why)}`);
      if (c.undo) lines.push(`     ${style.dim(`undone by: ${quoteArgv(c.undo)}`)}`);
    });
    lines.push("");
  }

  if (reboot) lines.push(style.bold("Reboot required: ") + reboot.why, "");

  const e = plan.expect;
  if (e.cmdline.length || e.modulesLoaded.length || e.boundToVfio.length || e.boundToHost?.length) {
    lines.push(style.bold("After the reboot, `passthrough verify` checks:"));
    lines.push(
      ...renderTable(
        [
          ...(plan.phase === "enable-iommu"
            ? [["IOMMU groups:", "present (the IOMMU is on)"]]
            : []),
          ...(e.cmdline.length ? [["/proc/cmdline has:", e.cmdline.join(" ")]] : []),
          ...(e.modulesLoaded.length ? [["modules loaded:", e.modulesLoaded.join(" ")]] : []),
          ...(e.boundToVfio.length ? [["bound to vfio-pci:", e.boundToVfio.join(" ")]] : []),
          ...(e.boundToHost?.length ? [["on a host driver:", e.boundToHost.join(" ")]] : []),
        ],
        "  ",
      ),
    );
    lines.push("");
  }

  const again = rerunCommand(opts).replace(/^passthrough plan/, "passthrough apply");
  if (plan.steps.length)
    lines.push(
      `Next: ${again}${plan.phase === "enable-iommu" ? ", reboot, then plan again" : ", then reboot and run `passthrough verify`"}`,
    );
  else lines.push("Next: passthrough verify");
  return lines;
}
