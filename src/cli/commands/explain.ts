// `passthrough explain ID`: what a finding means, why it matters, how to fix it, and the
// sources, for every id `check`, `plan`/`apply`, `verify` and `guest check` print (one
// merged catalog: src/findings/all-catalogs.ts). `--list` prints every id, grouped by command.

import { quoteInput } from "../../formats/device-selection.js";
import type { Command } from "commander";
import { editDistance } from "../../checks/config-lint.js";
import { EXIT, InputError } from "../../errors.js";
import { printJson, type CommandContext } from "../context.js";
import {
  FINDINGS,
  FINDING_IDS,
  findingEntry,
  reportedBy,
  type FindingId,
} from "../../findings/all-catalogs.js";
import type { RunAction } from "../registration.js";
import { renderTable } from "../render/table.js";

interface ExplainOptions {
  list?: boolean;
  json?: boolean;
}

export function registerExplain(program: Command, run: RunAction): void {
  program
    .command("explain")
    .description(
      "explain a finding id from `check`, `plan`/`apply`, `verify`, `guest check` or `ct check`: what it means, why, and how to fix it",
    )
    .argument(
      "[id]",
      "finding id from check, plan, apply, verify or guest check, e.g. iommu.enabled, plan.partial-group, verify.cmdline, guest.gpu.driver",
    )
    .option("--list", "list every finding id with its title, grouped by the command that prints it")
    .option("--json", "print the catalog entry (or, with --list, every entry) as JSON")
    .addHelpText(
      "after",
      `
Examples:
  passthrough explain cmdline.pending          a finding of \`passthrough check\`
  passthrough explain binding.per-address      of \`passthrough plan\` / \`apply\`
  passthrough explain verify.cmdline           of \`passthrough verify\`, after the reboot
  passthrough explain guest.gpu.driver         of \`passthrough guest check\`, inside the VM
  passthrough explain --list
  passthrough explain iommu.irq-remapping --json`,
    )
    .action(run<ExplainOptions>(explainCommand));
}

/** Ids close to a mistyped one: same prefix group, substring, or a small edit distance. */
export function closeIds(input: string): FindingId[] {
  // Nothing is close to a text far longer than every id (and comparing it would cost time).
  if (input.length > 64) return [];
  const q = input.toLowerCase();
  const qParts = q.split(".");
  const qLast = qParts.length > 1 ? qParts[qParts.length - 1] : "";
  const scored = FINDING_IDS.map((id) => {
    const [group] = id.split(".");
    let score = editDistance(q, id);
    if (id.includes(q) || q.includes(id)) score = Math.min(score, 1);
    if (qParts[0] === group) score = Math.min(score, 2);
    // The same last part under another group or nesting: iommu.irq-remapping / verify.irq-remapping, guest.drm / guest.gpu.drm.
    if (qLast && id.endsWith(`.${qLast}`)) score = Math.min(score, 1);
    return { id, score };
  });
  return scored
    .filter((s) => s.score <= Math.max(3, Math.floor(q.length / 4)))
    .sort((a, b) => a.score - b.score || (a.id < b.id ? -1 : 1))
    .slice(0, 6)
    .map((s) => s.id);
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

/** One aligned table: a heading per command, its ids indented under it, a blank line between. */
function listLines(): string[] {
  const rows: string[][] = [];
  let command: string | null = null;
  for (const f of FINDINGS) {
    if (f.command !== command) {
      if (command !== null) rows.push([""]);
      rows.push([reportedBy(f.command)]);
      command = f.command;
    }
    rows.push([`  ${f.id}`, f.title]);
  }
  return renderTable(rows);
}

function explainCommand(ctx: CommandContext, opts: ExplainOptions, id?: string): number {
  if (opts.list || id === undefined) {
    if (!opts.list)
      throw new InputError(
        "give a finding id (e.g. passthrough explain iommu.enabled), or --list to see them all",
      );
    if (opts.json) printJson(ctx, FINDINGS);
    else ctx.out(listLines());
    return EXIT.ok;
  }
  const e = findingEntry(id);
  if (!e) {
    const close = closeIds(id);
    throw new InputError(
      `unknown finding id ${quoteInput(id)}${close.length ? `; close: ${close.join(", ")}` : ""} (passthrough explain --list shows every id)`,
    );
  }
  if (opts.json) {
    printJson(ctx, e);
    return EXIT.ok;
  }
  const { style } = ctx;
  const width = 88;
  const lines = [
    style.bold(`${e.id} — ${e.title}`),
    style.dim(`Reported by: ${reportedBy(e.command)}`),
    "",
  ];
  lines.push(style.bold("What it means"), ...wrap(e.meaning, width, "  "), "");
  lines.push(style.bold("Why it matters"), ...wrap(e.why, width, "  "), "");
  lines.push(style.bold("How to fix it"), ...wrap(e.fix, width, "  "));
  if (e.sources.length) lines.push("", style.bold("Sources"), ...e.sources.map((s) => `  - ${s}`));
  ctx.out(lines);
  return EXIT.ok;
}
