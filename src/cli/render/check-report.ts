// How `check` prints its report: one JSON object (the contract in README "JSON output"), or
// the virt-host-validate-style text of docs/style.md: a header line, the Host section with one
// PASS/WARN/FAIL line per finding and `fix:` under each problem, the Candidates section with
// each slot's functions, ids and drivers, and the next command.

import { candidateLabel, shortFunction, type CheckContext } from "../../checks/context.js";
import type { CheckReport } from "../../checks/run-checks.js";
import type { Candidate } from "../../checks/types.js";
import type { Finding, FindingStatus } from "../../findings/finding.js";
import { classShortName } from "../../formats/pci-ids.js";
import type { HostState, PciDevice } from "../../host/types.js";
import { deviceJson, groupsJson, hostJson, iommuJson } from "./host-json.js";
import { maxWidth, padEnd } from "./style.js";
import type { Style } from "./style.js";
import { renderTable } from "./table.js";

export interface CheckView {
  state: HostState;
  report: CheckReport;
  /** The --device argument as normalised, or null. */
  device: string | null;
}

/** The command to run next, or a sentence when there is no command. */
export function nextStep(view: CheckView): string {
  const { state, report } = view;
  if (state.system.virtualMachine && !state.iommu.enabled && !view.device)
    return "run passthrough check on the hypervisor host (this is a VM without a virtual IOMMU)";
  // The next command reads the same input: a snapshot stays a snapshot.
  const input =
    state.source.kind === "snapshot" ? ` --snapshot ${shellWord(state.source.path)}` : "";
  const targets = report.candidates.filter((c) => report.targets.includes(c.address));
  const pick = targets.find((c) => c.isolated) ?? targets[0];
  if (pick) return `passthrough plan --device ${view.device ?? pick.address}${input}`;
  if (report.candidates.length > 0)
    return `passthrough check --device ADDRESS${input} (one of the devices above)`;
  return "nothing to pass on this host";
}

/** A path as one shell word: as typed when that is safe, else single-quoted. */
function shellWord(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

export function candidateJson(c: Candidate, targets: readonly string[]) {
  return {
    address: c.address,
    kind: c.kind,
    title: c.title,
    functions: c.functions.map((f) => ({
      address: f.address,
      vendorId: f.vendorId,
      deviceId: f.deviceId,
      classCode: f.classCode,
      driver: f.driver,
      nativeModules: f.nativeModules,
    })),
    iommuGroup: c.iommuGroup,
    isolated: c.isolated,
    groupMates: c.groupMates,
    bootVga: c.bootVga,
    hostCritical: c.hostCritical,
    resettable: c.resettable,
    assignedTo: c.assignedTo,
    target: targets.includes(c.address),
  };
}

export function findingJson(f: Finding) {
  return {
    id: f.id,
    status: f.status,
    subject: f.subject,
    summary: f.summary,
    fix: f.fix,
    detail: f.detail ?? [],
  };
}

export function checkJson(view: CheckView) {
  const { state, report } = view;
  return {
    host: hostJson(state),
    iommu: iommuJson(state),
    devices: state.pci.map(deviceJson),
    groups: groupsJson(state),
    device: view.device,
    findings: report.findings.map(findingJson),
    candidates: report.candidates.map((c) => candidateJson(c, report.targets)),
    summary: { ready: report.ready, complete: report.complete, ...report.counts },
    next: nextStep(view),
    unknowns: state.unknowns,
  };
}

const LABEL: Record<FindingStatus, string> = {
  pass: "PASS",
  warn: "WARN",
  fail: "FAIL",
  info: "INFO",
  skip: "SKIP",
};

function statusLabel(s: FindingStatus, style: Style): string {
  const l = LABEL[s];
  switch (s) {
    case "pass":
      return style.green(l);
    case "warn":
      return style.yellow(l);
    case "fail":
      return style.red(style.bold(l));
    case "info":
      return style.cyan(l);
    default:
      return style.dim(l);
  }
}

function findingLines(f: Finding, idWidth: number, indent: string, style: Style): string[] {
  const head = `${indent}${statusLabel(f.status, style)}  ${padEnd(f.id, idWidth)}  ${f.summary}`;
  const lines = [head];
  if (f.fix && f.status !== "pass")
    lines.push(`${indent}${" ".repeat(4 + 2 + idWidth + 2)}${style.dim("fix:")} ${f.fix}`);
  return lines;
}

/** Which candidate a finding is about (its slot, or one of its functions), if any. */
function candidateOf(f: Finding, candidates: readonly Candidate[]): Candidate | undefined {
  if (!f.subject) return undefined;
  return candidates.find(
    (c) => c.address === f.subject || c.functions.some((fn) => fn.address === f.subject),
  );
}

function groupsText(c: Candidate, byAddress: Map<string, PciDevice>): string {
  const groups = [
    ...new Set(
      c.functions
        .map((f) => byAddress.get(f.address)?.iommuGroup)
        .filter((g): g is number => typeof g === "number"),
    ),
  ].sort((a, b) => a - b);
  if (groups.length === 0) return "no group";
  if (groups.length === 1) return `group ${groups[0]}`;
  const contiguous = groups.every((g, i) => i === 0 || g === groups[i - 1]! + 1);
  return contiguous
    ? `groups ${groups[0]}-${groups[groups.length - 1]}`
    : `groups ${groups.join(",")}`;
}

function verdict(c: Candidate, state: HostState): string {
  if (!state.iommu.enabled || c.iommuGroup === null) return "IOMMU off";
  if (c.isolated) return "isolated";
  const short = (a: string) => a.replace(/^0000:/, "");
  const more = c.groupMates.length > 3 ? ` +${c.groupMates.length - 3}` : "";
  return `shared with ${c.groupMates.slice(0, 3).map(short).join(", ")}${more}`;
}

function notes(c: Candidate, state: HostState): string[] {
  const out: string[] = [];
  if (c.bootVga) out.push("boot GPU");
  for (const h of state.hostCritical)
    if (c.functions.some((f) => f.address === h.controller))
      out.push(h.role === "root-filesystem" ? "root filesystem" : "default route");
  if (c.assignedTo.length) out.push(`VM ${c.assignedTo.join(", ")}`);
  return out;
}

export function renderCheck(view: CheckView, style: Style): string[] {
  const { state, report } = view;
  const ctx: Pick<CheckContext, "byAddress"> = {
    byAddress: new Map(state.pci.map((d) => [d.address, d])),
  };
  const s = state.system;
  const lines: string[] = [];
  const platform = s.proxmox
    ? `Proxmox VE ${s.proxmox === "unknown" ? "" : s.proxmox}`.trim()
    : (s.distro?.prettyName ?? s.distro?.id ?? "Linux");
  const head = [
    `passthrough check — ${s.hostname ?? "host"}`,
    platform,
    `kernel ${s.kernelRelease ?? "?"}`,
    s.cpuModel ?? s.cpuVendor ?? "CPU unknown",
  ];
  lines.push(style.bold(head.join(" · ")));
  if (state.source.kind === "snapshot")
    lines.push(
      style.dim(
        `snapshot ${state.source.path}${state.source.capturedAt ? `, captured ${state.source.capturedAt}` : ""}`,
      ),
    );
  if (view.device) lines.push(style.dim(`device ${view.device}`));
  lines.push("");

  const idWidth = maxWidth(
    report.findings.map((f) => f.id.length),
    10,
  );
  const targets = report.candidates.filter((c) => report.targets.includes(c.address));
  const hostFindings = report.findings.filter((f) => candidateOf(f, targets) === undefined);
  lines.push(style.bold("Host"));
  for (const f of hostFindings) lines.push(...findingLines(f, idWidth, "  ", style));

  const others = report.candidates.filter((c) => !report.targets.includes(c.address));
  if (targets.length > 0) {
    lines.push("", style.bold("Candidates"));
    for (const c of targets) {
      const facts = [groupsText(c, ctx.byAddress), verdict(c, state), ...notes(c, state)];
      lines.push(
        `  ${style.bold(c.address)}  ${candidateLabel(ctx, c)}  ${style.dim(facts.join(" · "))}`,
      );
      const own = report.findings.filter((x) => candidateOf(x, targets) === c);
      // A passing or informational finding about one function reads best as a note on that
      // function's row; problems get their own lines with the fix.
      const inline = (x: Finding) =>
        x.subject !== c.address &&
        (x.status === "pass" || x.status === "info") &&
        c.functions.some((fn) => fn.address === x.subject);
      const rows = c.functions.map((f) => {
        const d = ctx.byAddress.get(f.address);
        const note = own
          .filter((x) => inline(x) && x.subject === f.address && x.id !== "driver.native")
          .map((x) => x.summary.replace(/^\.[0-7] /, ""))
          .join("; ");
        return [
          c.functions.length > 1 ? shortFunction(f.address) : f.address,
          classShortName(f.classCode),
          `${f.vendorId}:${f.deviceId}`,
          f.driver ?? "(none)",
          d?.deviceName ?? "",
          note ? style.dim(note) : "",
        ];
      });
      lines.push(...renderTable(rows, "     "));
      for (const f of own.filter((x) => !inline(x)))
        lines.push(...findingLines(f, idWidth, "     ", style));
      lines.push("");
    }
    lines.pop();
  }
  if (others.length > 0) {
    lines.push("", style.bold(targets.length > 0 ? "Other passable devices" : "Passable devices"));
    const rows = others.map((c) => {
      const drivers = [...new Set(c.functions.map((f) => f.driver ?? "-"))].join(",");
      return [
        c.address,
        c.kind,
        candidateLabel(ctx, c),
        groupsText(c, ctx.byAddress),
        verdict(c, state),
        [drivers, ...notes(c, state)].join(" · "),
      ];
    });
    lines.push(...renderTable(rows, "  "));
  }

  if (state.unknowns.length > 0) {
    // What discovery could not see (unprivileged reads, a rotated log, a file it could not parse).
    const fields = [...new Set(state.unknowns.map((u) => u.field))];
    lines.push(
      "",
      style.dim(
        `Not visible: ${fields.slice(0, 4).join(", ")}${fields.length > 4 ? ` and ${fields.length - 4} more` : ""} (reasons: check --json, "unknowns")`,
      ),
    );
  }
  const c = report.counts;
  const problems = [
    c.fail ? `${c.fail} fail` : "",
    c.warn ? `${c.warn} warn` : "",
    report.complete ? "" : "parts of the host could not be read",
  ]
    .filter(Boolean)
    .join(", ");
  lines.push(
    "",
    `${style.bold("Result:")} ${report.ready ? style.green("ready") : style.red("not ready")}${problems ? ` (${problems})` : ""}`,
  );
  lines.push(`${style.bold("Next:")} ${nextStep(view)}`);
  lines.push(style.dim("What a finding means: passthrough explain ID"));
  return lines;
}

/** One line per candidate for error messages: "0000:01:00 NVIDIA GA102 [GeForce RTX 3080]". */
export function candidateList(state: HostState, candidates: readonly Candidate[]): string {
  const byAddress = new Map(state.pci.map((d) => [d.address, d]));
  return (
    candidates.map((c) => `${c.address} (${candidateLabel({ byAddress }, c)})`).join(", ") || "none"
  );
}
