// Aligned plain-text tables, like lspci and virt-host-validate: no borders, two spaces
// between columns, the last column never padded (so lines carry no trailing blanks).

import { maxWidth, padEnd, visibleWidth } from "./style.js";

export function renderTable(rows: ReadonlyArray<ReadonlyArray<string>>, indent = ""): string[] {
  if (rows.length === 0) return [];
  const cols = maxWidth(rows.map((r) => r.length));
  const widths: number[] = [];
  for (let c = 0; c < cols; c++) widths[c] = maxWidth(rows.map((r) => visibleWidth(r[c] ?? "")));
  return rows.map((r) => {
    const cells = r.map((cell, c) => (c === r.length - 1 ? cell : padEnd(cell, widths[c]!)));
    return (indent + cells.join("  ")).replace(/\s+$/, "");
  });
}
