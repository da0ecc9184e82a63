// `passthrough report` as one HTML page: the host facts, what needs doing (failed and warned
// findings with their fixes), the devices to pass as cards (the ports they sit behind, their
// group, the verdict), the whole topology, then the terminal reports (check, and plan,
// journal and verify when there are any) as the same text `check` prints. Self-contained:
// the style sheet and the search script are inline, nothing is loaded from anywhere.

import type { CheckReport } from "../../../checks/run-checks.js";
import type { Candidate } from "../../../checks/types.js";
import type { Finding } from "../../../findings/finding.js";
import type { HostState, PciDevice } from "../../../host/types.js";
import { bootloaderOf } from "../../../boot/loaders.js";
import { VFIO_DOC } from "../../../findings/sources.js";
import { rootBusOf } from "../pci-tree.js";
import { REPORT_CSS, REPORT_JS } from "./assets.js";
import { VERDICT_TEXT, functionRow, legendHtml, topologyHtml } from "./diagram.js";
import { classes, html, trusted, type Html } from "./html.js";
import { terminalHtml } from "./terminal-html.js";
import { buildTopology, functionInfo, type Verdict } from "./topology.js";

/** A section of terminal text: its heading and the lines as the terminal prints them (SGR colour). */
export interface TextSection {
  id: string;
  title: string;
  lines: string[];
}

export interface ReportView {
  state: HostState;
  check: CheckReport;
  /** check, then plan / journal / verify when there are any. */
  sections: TextSection[];
  version: string;
  generatedAt: string;
}

export function renderReportPage(view: ReportView): string {
  const { state } = view;
  const host = state.system.hostname ?? "host";
  const topology = buildTopology(state, view.check.candidates, view.check.targets);
  const page = html`<!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>passthrough report — ${host}</title>
        <style>
          ${trusted(REPORT_CSS)}
        </style>
      </head>
      <body>
        <header>
          <h1>passthrough report — ${host}</h1>
          <p class="src">${sourceLine(view)}</p>
          ${factsHtml(state)}
        </header>
        <h2 id="problems-title">What needs doing</h2>
        ${problemsHtml(view.check.findings)}
        <h2 id="devices-title">Devices to pass</h2>
        ${cardsHtml(state, view.check)}
        <h2 id="topology-title">PCI topology and IOMMU groups</h2>
        ${legendHtml()}
        <p class="search">
          <input
            id="search"
            type="search"
            placeholder="search: address, vendor:device id, driver, name"
          />
          <span id="search-status"></span>
        </p>
        <div id="topology">${topologyHtml(topology)}</div>
        ${view.sections.map(
          (s) =>
            html`<h2 id="${s.id}-title">${s.title}</h2>
              <pre id="${s.id}">${terminalHtml(s.lines)}</pre>`,
        )}
        <footer>
          Made by passthrough ${view.version} at ${view.generatedAt}. Groups are the kernel's IOMMU
          groups (/sys/kernel/iommu_groups; every function of a group goes to the same VM:
          ${VFIO_DOC}).
        </footer>
        <script>
          ${trusted(REPORT_JS)};
        </script>
      </body>
    </html> `;
  return page.value;
}

function sourceLine(view: ReportView): string {
  const s = view.state.source;
  const from =
    s.kind === "live"
      ? "read from the live host"
      : `from snapshot ${s.path}${s.capturedAt ? `, captured ${s.capturedAt}` : ""}`;
  const redacted = s.redacted.length ? ` · redacted: ${s.redacted.join(", ")}` : "";
  return `${from}${redacted}`;
}

function factsHtml(state: HostState): Html {
  const s = state.system;
  const board = [s.dmi.boardVendor, s.dmi.boardName].filter(Boolean).join(" ");
  const system = [s.dmi.sysVendor, s.dmi.productName].filter(Boolean).join(" ");
  const iommu = state.iommu;
  const facts: Array<[string, string | null]> = [
    [
      "CPU",
      s.cpuModel && `${s.cpuModel}${s.virtualizationFlag ? ` (${s.virtualizationFlag})` : ""}`,
    ],
    ["Board", board || null],
    ["System", system || null],
    ["BIOS", [s.dmi.biosVendor, s.dmi.biosVersion].filter(Boolean).join(" ") || null],
    ["Kernel", s.kernelRelease],
    ["Distribution", s.distro?.prettyName ?? s.distro?.id ?? null],
    ["Proxmox VE", s.proxmox],
    [
      "Boot",
      `${s.bootMode === "uefi" ? "UEFI" : "BIOS"} · ${bootloaderOf(state.bootloader).label}`,
    ],
    ["Initramfs", state.initramfs.kind],
    [
      "IOMMU",
      iommu.enabled
        ? `${iommu.vendor ?? "on"}, ${iommu.groups.length} groups, interrupt remapping ${remapText(iommu.interruptRemapping)}`
        : "off",
    ],
  ];
  return html`<dl class="facts">
    ${facts
      .filter((f): f is [string, string] => f[1] !== null)
      .map(
        ([k, v]) =>
          html`<div>
            <dt>${k}</dt>
            <dd title="${v}">${v}</dd>
          </div>`,
      )}
  </dl>`;
}

function remapText(v: boolean | null): string {
  return v === null ? "unknown" : v ? "on" : "off";
}

function problemsHtml(findings: readonly Finding[]): Html {
  const problems = findings.filter((f) => f.status === "fail" || f.status === "warn");
  if (problems.length === 0) return html`<p>Nothing: every check passed.</p>`;
  const item = (f: Finding) =>
    html`<li class="${classes(f.status)}" data-id="${f.id}">
      <span class="${classes("tag", f.status)}">${f.status.toUpperCase()}</span
      ><code>${f.id}</code> ${f.summary}${f.fix ? html`<span class="fix">fix: ${f.fix}</span>` : ""}
    </li>`;
  // A big server repeats one warning per device: the first few stay in view, the rest fold.
  const shown = problems.slice(0, PROBLEMS_SHOWN);
  const rest = problems.slice(PROBLEMS_SHOWN);
  return html`<ul class="problems">
      ${shown.map(item)}
    </ul>
    ${
      rest.length
        ? html`<details class="more">
            <summary>${rest.length} more</summary>
            <ul class="problems">
              ${rest.map(item)}
            </ul>
          </details>`
        : ""
    }`;
}

const PROBLEMS_SHOWN = 6;

function candidateVerdict(c: Candidate): Verdict {
  if (c.bootVga || c.hostCritical) return "critical";
  return c.isolated ? "passable" : "shared";
}

/** One card per candidate: the ports above it, then its functions and group mates in a box. */
function cardsHtml(state: HostState, check: CheckReport): Html {
  if (check.candidates.length === 0) return html`<p>No device on this host can be passed.</p>`;
  const info = functionInfo(state, check.candidates, check.targets);
  const byAddress = new Map(state.pci.map((d) => [d.address, d]));
  const card = (c: Candidate) => {
    const members = [...c.functions.map((f) => f.address), ...c.groupMates]
      .map((a) => byAddress.get(a))
      .filter((d): d is PciDevice => d !== undefined);
    const first = members[0];
    const ports = (first?.bridgeChain ?? [])
      .map((a) => byAddress.get(a))
      .filter((d): d is PciDevice => d !== undefined)
      .map((d) => {
        const f = info(d);
        const acs = f.port?.acs === true ? " (ACS)" : f.port?.acs === false ? " (no ACS)" : "";
        return `${f.short} ${f.port?.role ?? f.kind}${acs}`;
      });
    const verdict = candidateVerdict(c);
    const group = groupsText(members);
    return html`<div
      class="${classes("card", "box", `v-${verdict}`)}"
      data-candidate="${c.address}"
    >
      <div class="path" title="${ports.join(" → ")}">
        ${first ? `root bus ${rootBusOf(first)}` : ""}${ports.map((p) => ` → ${p}`)} →
      </div>
      <strong>${c.title}</strong> · ${group} · <span class="verdict">${VERDICT_TEXT[verdict]}</span>
      <ul class="fns">
        ${members.map((d) => functionRow({ ...info(d), depth: 0 }))}
      </ul>
    </div>`;
  };
  return html`<div class="cards">${check.candidates.map(card)}</div>`;
}

/** "group 12", "groups 26, 27, 28", or "no IOMMU group". */
function groupsText(members: readonly PciDevice[]): string {
  const groups = [...new Set(members.map((d) => d.iommuGroup))].filter(
    (g): g is number => g !== null,
  );
  if (groups.length === 0) return "no IOMMU group";
  return `group${groups.length === 1 ? "" : "s"} ${groups.sort((a, b) => a - b).join(", ")}`;
}
