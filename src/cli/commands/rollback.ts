// `passthrough rollback [ID]`: restore every file of a journal byte for byte (src/apply/rollback.ts),
// then re-run the refresh commands. The latest journal not yet rolled back by default.

import type { Command } from "commander";
import { quoteArgv } from "../../process/quote.js";
import { describeOutcome, ProcessRunner } from "../../process/run.js";
import { listJournals, rollbackChain } from "../../apply/history.js";
import { readJournal, writerSource, type LoadedJournal } from "../../apply/journal.js";
import { ApplyLock } from "../../apply/lock.js";
import {
  assertNoConflicts,
  conflicts,
  executeRollback,
  planChainRollback,
  type RollbackPlan,
  type RollbackProgress,
} from "../../apply/rollback.js";
import { ApplyError, EXIT, InputError } from "../../errors.js";
import {
  addTargetOptions,
  applyTarget,
  type ApplyTarget,
  type TargetOptions,
} from "../apply-target.js";
import { confirmed, requireAnswerable } from "../confirm.js";
import type { CommandContext } from "../context.js";
import type { RunAction } from "../registration.js";

interface RollbackOptions extends TargetOptions {
  yes?: boolean;
  force?: boolean;
}

export function registerRollback(program: Command, run: RunAction): void {
  const cmd = program
    .command("rollback [id]")
    .description(
      "undo an apply: restore every file of its journal byte for byte and re-run the refresh commands",
    )
    .addHelpText(
      "after",
      `
ID is a journal id from \`passthrough history\`. Without it: the newest apply not yet rolled
back, together with every older one made in the same boot (applies before a reboot build
on each other; undoing only the last would leave the earlier ones' files changed), so the
host returns to its state before the first of them. Every file goes back to its saved bytes, mode and owner; files the apply created are
removed. Then the boot loader and initramfs commands run again (update-grub,
proxmox-boot-tool refresh, update-initramfs ...) so the next boot uses the restored files.

A file someone else changed since the apply is not overwritten: rollback refuses (exit 3)
and names it. --force overwrites it and keeps the displaced content in the journal.

A \`ct configure\` journal is undone with \`pct set CTID --delete devN,...\` (\`--revert\` for
entries a running container still holds as pending; \`--digest\` so a concurrent edit fails).
A container config changed since (its digest differs) is refused (exit 3); --force then
takes back only the entries that still hold what ct configure set.
A rollback that was interrupted is finished by running it again.

Examples:
  sudo passthrough rollback
  sudo passthrough rollback 20250301-142233-9f3a --yes
  passthrough rollback --root /mnt/image`,
    );
  addTargetOptions(cmd)
    .option("-y, --yes", "answer the confirmation (required without a terminal)")
    .option(
      "--force",
      "also overwrite files changed by someone else since the apply (their content is kept in the journal)",
    )
    .action(run<RollbackOptions>(rollbackCommand));
}

/** The journals to undo, newest first: the one named, or the newest chain (history.ts). */
function pickJournals(target: ApplyTarget, id: string | undefined): LoadedJournal[] {
  const source = writerSource(target.writer);
  if (id !== undefined) return [readJournal(source, id)];
  const entries = listJournals(source);
  if (entries.length === 0)
    throw new InputError(
      `no journal in ${source.where("/var/lib/passthrough/journal")}: nothing was applied${target.live ? " on this host" : ` under ${target.rootDir}`}, so there is nothing to roll back`,
    );
  const chain = rollbackChain(entries);
  if (chain.length > 0) return chain;
  const newest = entries[0]!;
  throw new InputError(
    `every journal is rolled back already (newest: ${newest.ok ? newest.summary.id : newest.id}); \`passthrough history\` lists them`,
  );
}

async function rollbackCommand(
  ctx: CommandContext,
  opts: RollbackOptions,
  id?: string,
): Promise<number> {
  const target = applyTarget(opts, "rollback");
  requireAnswerable(ctx.io, opts.yes, "roll back");
  const lock = ApplyLock.acquire(target.writer, "rollback");
  try {
    const journals = pickJournals(target, id);
    const plans = planChainRollback(journals, target.writer).filter((rp) => !rp.nothingToDo);
    // The command to run again names the journal when there is one: a chain is undone by none.
    const named = journals.length === 1 ? [journals[0]!.id] : [];
    const again = ["passthrough", "rollback", ...named, ...target.flags].join(" ");
    if (plans.length === 0) {
      ctx.out(
        `${journalNames(journals)}: nothing to restore — every file is as it was before ${journals.length === 1 ? "that apply" : "those applies"}.`,
      );
      return EXIT.ok;
    }
    for (const rp of plans) assertNoConflicts(rp, opts.force === true, again);
    showRollback(ctx, target, plans);
    const n = plans.flatMap((rp) => rp.files).filter((f) => f.state !== "original").length;
    const cts = plans.flatMap((rp) => (rp.container ? [rp.container.change.ctid] : []));
    const what = [
      ...(n || cts.length === 0 ? [`Restore ${n} file${n === 1 ? "" : "s"}`] : []),
      ...(cts.length
        ? [`${n ? "undo" : "Undo"} the config change of container ${cts.join(", ")}`]
        : []),
    ];
    const question = `${what.join(" and ")} from ${journalNames(plans.map((rp) => rp.journal))}?`;
    if (!(await confirmed(ctx.io, opts.yes, question, "rolling back"))) {
      ctx.out("Not rolled back; nothing was changed.");
      return EXIT.ok;
    }
    for (const [i, rp] of plans.entries()) runOne(ctx, target, rp, opts, plans.slice(0, i));
    reportEnd(ctx, target, plans);
    return EXIT.ok;
  } finally {
    lock.release();
  }
}

function journalNames(journals: readonly LoadedJournal[]): string {
  return journals.length === 1
    ? `journal ${journals[0]!.id}`
    : `${journals.length} journals (${journals.map((j) => j.id).join(", ")})`;
}

/** What will happen, per journal, newest first. */
function showRollback(
  ctx: CommandContext,
  target: ApplyTarget,
  plans: readonly RollbackPlan[],
): void {
  const { style } = ctx;
  const where = target.live ? "" : ` under ${target.rootDir}`;
  if (plans.length > 1)
    ctx.out(
      style.bold(
        `passthrough rollback — ${plans.length} applies made in the same boot${where}, newest first; the host returns to its state before ${plans[plans.length - 1]!.journal.id}`,
      ),
      "",
    );
  for (const rp of plans) {
    ctx.out(
      style.bold(
        `${plans.length > 1 ? "" : "passthrough rollback — "}journal ${rp.journal.id} (applied ${rp.journal.meta.createdAt}${where})`,
      ),
    );
    for (const f of rp.files) ctx.out(fileLine(ctx, f));
    if (rp.container) ctx.out(containerLine(ctx, rp.container));
    if (rp.files.length === 0 && rp.commands.length === 0)
      ctx.out(
        style.dim("  no file of its own; its refresh commands run once, with the journal below"),
      );
    for (const c of rp.commands)
      ctx.out(
        `  run       ${quoteArgv(c)}${target.live || rp.container || target.flags.includes("--run-commands") ? "" : style.dim(" (listed, not run: --root)")}`,
      );
    for (const u of rp.notUndone)
      ctx.out(style.yellow(`  not undone: ${quoteArgv(u.argv)} — ${u.why}`));
    ctx.out("");
  }
}

function containerLine(ctx: CommandContext, c: NonNullable<RollbackPlan["container"]>): string {
  const keys = Object.keys(c.change.set).join(", ");
  const extra =
    c.state === "changed"
      ? ctx.style.yellow(
          ` (changed since: ${c.differences.join("; ")}; --force takes back what still holds ct configure's values)`,
        )
      : c.state === "gone"
        ? ctx.style.yellow(" (not on this node any more: nothing to run)")
        : "";
  return `  undo      container ${c.change.ctid}: ${keys} in ${c.change.file}${extra}`;
}

function fileLine(ctx: CommandContext, f: RollbackPlan["files"][number]): string {
  const { style } = ctx;
  const verb = f.state === "original" ? "unchanged" : f.record.existed ? "restore" : "remove";
  const extra =
    f.state === "changed"
      ? style.yellow(
          " (changed by someone else since: --force overwrites it; the current content is kept in the journal)",
        )
      : "";
  const saved =
    f.record.existed && f.state !== "original"
      ? style.dim(
          ` (${f.record.size} bytes, mode ${f.record.mode!.toString(8).padStart(4, "0")}, ${f.record.uid}:${f.record.gid})`,
        )
      : "";
  return `  ${verb.padEnd(9)} ${f.record.path}${saved}${extra}`;
}

/** Roll back one journal of the chain; a failure names what the earlier ones already restored. */
function runOne(
  ctx: CommandContext,
  target: ApplyTarget,
  rp: RollbackPlan,
  opts: RollbackOptions,
  done: readonly RollbackPlan[],
): void {
  const again = ["passthrough", "rollback", rp.journal.id, ...target.flags].join(" ");
  if (done.length > 0) ctx.out("", ctx.style.bold(`journal ${rp.journal.id}`));
  const result = executeRollback(rp, {
    writer: target.writer,
    runner: target.runner,
    // pct as `ct configure` ran it: on this host, with the caller's PATH (also with --root).
    containerRunner: new ProcessRunner(ctx.io.env),
    force: opts.force === true,
    rollbackCommand: again,
    onProgress: (p) => progress(ctx, p),
  });
  if (result.journalProblem) ctx.out(ctx.style.yellow(result.journalProblem));
  if (result.status === "failed") {
    const before = done.length
      ? ` (${journalNames(done.map((d) => d.journal))} ${done.length === 1 ? "is" : "are"} rolled back)`
      : "";
    throw new ApplyError(
      `rollback of ${rp.journal.id} stopped: ${result.failure}; the files restored so far stay restored${before} — fix the cause and run \`${again}\` again`,
    );
  }
  const forced = conflicts(rp).length;
  ctx.out(
    ctx.style.green(`Rolled back journal ${rp.journal.id}.`) +
      (forced
        ? ` ${forced} file${forced === 1 ? "" : "s"} changed by someone else ${forced === 1 ? "was" : "were"} overwritten; their content is in ${target.writer.resolve(rp.journal.dir)}/displaced/.`
        : ""),
  );
  const listed = result.commands.filter((c) => !c.ran);
  if (listed.length) {
    ctx.out(`Commands not run (--root without --run-commands); run them inside ${target.rootDir}:`);
    for (const c of listed) ctx.out(`  ${quoteArgv(c.argv)}`);
  }
}

function reportEnd(ctx: CommandContext, target: ApplyTarget, plans: readonly RollbackPlan[]): void {
  const notUndone = plans.flatMap((rp) => rp.notUndone);
  if (notUndone.length)
    ctx.out(
      ctx.style.yellow(
        `Not undone (check by hand): ${notUndone.map((u) => quoteArgv(u.argv)).join("; ")}`,
      ),
    );
  if (plans.length > 1)
    ctx.out(
      `Back to the state before ${plans[plans.length - 1]!.journal.id}${target.live ? "" : ` under ${target.rootDir}`}.`,
    );
  const cts = plans.flatMap((rp) => (rp.container ? [rp.container.change.ctid] : []));
  if (cts.length)
    ctx.out(
      `Container ${cts.join(", ")}: the device entries are gone from its config; a running container keeps the nodes until it restarts.`,
    );
  if (cts.length < plans.length) ctx.out("Reboot for the restored configuration to take effect.");
}

function progress(ctx: CommandContext, p: RollbackProgress): void {
  const { style } = ctx;
  if (p.phase === "file" && p.action !== "unchanged")
    ctx.out(`  ${style.green("✓")} ${p.action.padEnd(12)} ${p.path}`);
  if (p.phase === "command-start") ctx.out(`  ${style.dim("…")} ${quoteArgv(p.argv)} ...`);
  if (p.phase === "command-done")
    ctx.out(
      `  ${p.result.ran && p.result.exitCode !== 0 ? style.red("✗") : style.green("✓")} ${quoteArgv(p.result.argv)}: ${describeOutcome(p.result)}`,
    );
}
