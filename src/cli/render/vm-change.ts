// A VM change for people (`vm plan|configure|create`): the heading, the diff (or that there is
// nothing to change), and why each Proxmox key changes. The same for every backend.

import type { VmMode, VmReport } from "../../vm/backend.js";
import { unifiedDiff } from "../../vm/diff.js";
import type { Style } from "./style.js";
import { renderTable } from "./table.js";

export function vmReportLines(report: VmReport, mode: VmMode, style: Style): string[] {
  const lines = [style.bold(`passthrough vm ${mode} — ${report.subject}`), ""];
  const d = report.diff;
  if (d === null) return [...lines, report.unchanged];
  lines.push(...unifiedDiff(d.oldName, d.newName, d.before, d.after, style));
  const why = Object.keys(report.why).sort();
  if (why.length > 0)
    lines.push(
      "",
      style.bold("Why"),
      ...renderTable(
        why.map((k) => [k, report.why[k]!]),
        "  ",
      ),
    );
  return lines;
}
