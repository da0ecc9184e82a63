// `passthrough history`: every journal, newest first, with what became of it.

import type { Command } from "commander";
import * as path from "node:path";
import { FileWriter } from "../../apply/file-writer.js";
import { chainHeads, listJournals } from "../../apply/history.js";
import { JOURNAL_ROOT, writerSource } from "../../apply/journal.js";
import { EXIT, InputError } from "../../errors.js";
import * as fs from "node:fs";
import { printJson, type CommandContext } from "../context.js";
import type { RunAction } from "../registration.js";
import { renderTable } from "../render/table.js";

interface HistoryOptions {
  root?: string;
  json?: boolean;
}

export function registerHistory(program: Command, run: RunAction): void {
  program
    .command("history")
    .description("list the journals of past applies: when, what, and whether each was rolled back")
    .addHelpText(
      "after",
      `
Journals live in /var/lib/passthrough/journal/<id>/ (DIR/var/lib/... with --root). Status:
applied, failed at step N, interrupted (killed or power lost: \`rollback\` still works),
rolled back, rollback failed / interrupted (run \`rollback\` again).

Examples:
  sudo passthrough history
  passthrough history --json | jq -r '.journals[] | select(.status == "applied") | .id'`,
    )
    .option("--root <dir>", "the journals of another root (as given to apply --root)")
    .option("--json", "print one JSON object: {journals: [...], damaged: [...]}")
    .action(run<HistoryOptions>(historyCommand));
}

function historyCommand(ctx: CommandContext, opts: HistoryOptions): number {
  const dir = path.resolve(opts.root ?? "/");
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory())
    throw new InputError(`--root ${opts.root}: no such folder`);
  const writer = new FileWriter(dir);
  const entries = listJournals(writerSource(writer));
  const heads = chainHeads(entries);
  const journals = entries.flatMap((e) =>
    e.ok ? [{ ...e.summary, chain: heads.get(e.summary.id) ?? e.summary.id }] : [],
  );
  const damaged = entries.flatMap((e) => (e.ok ? [] : [{ id: e.id, error: e.error }]));
  if (opts.json) {
    printJson(ctx, { journalRoot: writer.resolve(JOURNAL_ROOT), journals, damaged });
    return EXIT.ok;
  }
  const { style } = ctx;
  if (entries.length === 0) {
    ctx.out(
      `No journals in ${writer.resolve(JOURNAL_ROOT)}: nothing has been applied${opts.root ? ` under ${dir}` : " on this host"}.`,
    );
    return EXIT.ok;
  }
  const rows: string[][] = [["ID", "WHEN", "STATUS", "DEVICES", "CHANGES"].map(style.dim)];
  for (const e of entries) {
    if (!e.ok) {
      rows.push([e.id, "?", style.red("unreadable"), "", e.error]);
      continue;
    }
    const s = e.summary;
    const head = heads.get(s.id);
    const chained = head !== undefined && head !== s.id ? ` (same boot as ${head})` : "";
    const colour =
      s.status === "applied" ? style.green : s.status === "rolled-back" ? style.dim : style.yellow;
    const when = s.createdAt.replace("T", " ").replace(/\.\d+Z$/, "Z");
    rows.push([
      s.id,
      when,
      colour(s.statusText + chained),
      s.devices.join(" ") || "-",
      e.journal.plan.container
        ? `container ${e.journal.plan.container.ctid}: ${Object.keys(e.journal.plan.container.set).join(", ")}`
        : `${s.files.length} file${s.files.length === 1 ? "" : "s"}, ${s.commands.length} command${s.commands.length === 1 ? "" : "s"}`,
    ]);
  }
  ctx.out(renderTable(rows));
  const active = journals.find((j) => j.status !== "rolled-back");
  if (active) {
    const chain = journals.filter((j) => j.chain === active.id && j.status !== "rolled-back");
    const what =
      chain.length > 1
        ? `the newest ${chain.length} applies (one boot, undone together, back to before ${chain[chain.length - 1]!.id})`
        : `the newest apply (${active.id})`;
    ctx.out("", `Undo ${what}: passthrough rollback${opts.root ? ` --root ${dir}` : ""}`);
  }
  return EXIT.ok;
}
