// The terminal's text in the page: lines as `check`, `plan` and `verify` print them with
// colour on (src/cli/render, SGR codes from style.ts), shown as the same characters with the
// colours as spans. Control characters are escaped first exactly as on a terminal
// (terminalSafe), so the only escape sequences left are SGR codes; those become spans of a
// fixed set of classes, always balanced, and all text between them is HTML-escaped.

import { terminalSafe } from "../style.js";
import { Html, escapeText } from "./html.js";

const SGR_CLASS: Record<string, string> = {
  "1": "t-bold",
  "2": "t-dim",
  "31": "t-red",
  "32": "t-green",
  "33": "t-yellow",
  "36": "t-cyan",
};

/** One line of terminal output as HTML (no trailing newline). */
export function terminalLineHtml(line: string): string {
  const safe = terminalSafe(line, true);
  let out = "";
  let open = 0;
  let last = 0;
  // eslint-disable-next-line no-control-regex
  const sgr = /\u001b\[([0-9;]*)m/g;
  for (let m = sgr.exec(safe); m; m = sgr.exec(safe)) {
    out += escapeText(safe.slice(last, m.index));
    last = m.index + m[0].length;
    for (const code of (m[1] || "0").split(";")) {
      const cls = SGR_CLASS[code];
      if (cls) {
        out += `<span class="${cls}">`;
        open++;
      } else if (code === "0") {
        out += "</span>".repeat(open);
        open = 0;
      } else if (open > 0 && (code === "22" || code === "39")) {
        out += "</span>";
        open--;
      }
    }
  }
  out += escapeText(safe.slice(last)) + "</span>".repeat(open);
  return out;
}

/** Lines of terminal output as the body of a <pre>. */
export function terminalHtml(lines: readonly string[]): Html {
  return new Html(lines.map(terminalLineHtml).join("\n"));
}
