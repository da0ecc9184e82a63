// One finding as `check`-style output prints it (docs/style.md): status word, id, the summary
// that names the file or device, then its fix on its own line.

import type { Finding } from "../../findings/finding.js";
import type { Style } from "./style.js";

const STATUS_WORD: Record<Finding["status"], string> = {
  pass: "PASS",
  warn: "WARN",
  fail: "FAIL",
  info: "INFO",
  skip: "SKIP",
};

export function renderFinding(f: Finding, style: Style, idWidth = 22): string[] {
  const colour =
    f.status === "fail"
      ? style.red
      : f.status === "warn"
        ? style.yellow
        : f.status === "pass"
          ? style.green
          : style.dim;
  const word = colour(STATUS_WORD[f.status].padEnd(4));
  const pad = " ".repeat(2 + 4 + 2 + idWidth + 2);
  const lines = [`  ${word}  ${f.id.padEnd(idWidth)}  ${f.summary}`];
  for (const d of f.detail ?? []) lines.push(`${pad}${style.dim(d)}`);
  if (f.fix) lines.push(`${pad}fix: ${f.fix}`);
  return lines;
}
