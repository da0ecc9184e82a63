// `passthrough explain ID`: what a finding means, why it matters, how to fix it, and the
// sources, from the catalog (src/checks/catalog.ts). `--list` prints every id.

import type { Command } from "commander";
import { CATALOG, CHECK_IDS, isCheckId, type CheckId } from "../../checks/catalog.js";
import { editDistance } from "../../checks/config-lint.js";
import { EXIT, InputError } from "../../errors.js";
import { printJson, type CommandContext } from "../context.js";
import type { RunAction } from "../program.js";
import { renderTable } from "../render/table.js";

interface ExplainOptions {
  list?: boolean;
  json?: boolean;
}

export function registerExplain(program: Command, run: RunAction): void {
  program
    .command("explain")
    .description("explain a finding id from `check`: what it means, why, and how to fix it")
    .argument("[id]", "finding id, e.g. iommu.enabled or modprobe.wildcard")
    .option("--list", "list every finding id with its title")
    .option("--json", "print the catalog entry (or, with --list, every entry) as JSON")
    .addHelpText(
      "after",
      `
Examples:
  passthrough explain cmdline.pending
  passthrough explain --list
  passthrough explain iommu.irq-remapping --json`,
    )
    .action(run<ExplainOptions>(explainCommand));
}

/** Ids close to a mistyped one: same prefix group, substring, or a small edit distance. */
export function closeIds(input: string): CheckId[] {
  const q = input.toLowerCase();
  const scored = CHECK_IDS.map((id) => {
    const [group] = id.split(".");
    let score = editDistance(q, id);
    if (id.includes(q) || q.includes(id)) score = Math.min(score, 1);
    if (q.split(".")[0] === group) score = Math.min(score, 2);
    if (q.split(".")[1] && id.endsWith(`.${q.split(".")[1]}`)) score = Math.min(score, 2);
    return { id, score };
  });
  return scored.filter((s) => s.score <= Math.max(3, Math.floor(q.length / 4))).sort((a, b) => a.score - b.score || (a.id < b.id ? -1 : 1)).slice(0, 6).map((s) => s.id);
}

function wrap(text: string, width: number, indent: string): string[] {
  const out: string[] = [];
  let line = "";
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line && indent.length + line.length + 1 + word.length > width) {
      out.push(indent + line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) out.push(indent + line);
  return out;
}

function explainCommand(ctx: CommandContext, opts: ExplainOptions, id?: string): number {
  if (opts.list || id === undefined) {
    if (!opts.list) throw new InputError("give a finding id (e.g. passthrough explain iommu.enabled), or --list to see them all");
    if (opts.json) printJson(ctx, CHECK_IDS.map((k) => ({ id: k, ...CATALOG[k] })));
    else ctx.out(...renderTable(CHECK_IDS.map((k) => [k, CATALOG[k].title]), ""));
    return EXIT.ok;
  }
  if (!isCheckId(id)) {
    const close = closeIds(id);
    throw new InputError(`unknown finding id ${JSON.stringify(id)}${close.length ? `; close: ${close.join(", ")}` : ""} (passthrough explain --list shows every id)`);
  }
  const e = CATALOG[id];
  if (opts.json) {
    printJson(ctx, { id, ...e });
    return EXIT.ok;
  }
  const { style } = ctx;
  const width = 88;
  const lines = [style.bold(`${id} — ${e.title}`), ""];
  lines.push(style.bold("What it means"), ...wrap(e.meaning, width, "  "), "");
  lines.push(style.bold("Why it matters"), ...wrap(e.why, width, "  "), "");
  lines.push(style.bold("How to fix it"), ...wrap(e.fix, width, "  "));
  if (e.sources.length) lines.push("", style.bold("Sources"), ...e.sources.map((s) => `  - ${s}`));
  ctx.out(...lines);
  return EXIT.ok;
}
