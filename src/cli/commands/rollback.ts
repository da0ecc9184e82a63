// `passthrough rollback [ID]`: restore every file of a journal byte for byte (src/apply/rollback.ts),
// then re-run the refresh commands. The latest journal not yet rolled back by default.

import type { Command } from "commander";
import { quoteArgv } from "../../process/quote.js";
import { describeOutcome } from "../../process/run.js";
import { isActive, listJournals } from "../../apply/history.js";
import { readJournal, writerSource, type LoadedJournal } from "../../apply/journal.js";
import { ApplyLock } from "../../apply/lock.js";
import {
  assertNoConflicts,
  conflicts,
  executeRollback,
  planRollback,
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
ID is a journal id from \`passthrough history\`; without it, the latest apply not yet rolled
back. Every file goes back to its saved bytes, mode and owner; files the apply created are
removed. Then the boot loader and initramfs commands run again (update-grub,
proxmox-boot-tool refresh, update-initramfs ...) so the next boot uses the restored files.

A file someone else changed since the apply is not overwritten: rollback refuses (exit 3)
and names it. --force overwrites it and keeps the displaced content in the journal.
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

function pickJournal(target: ApplyTarget, id: string | undefined): LoadedJournal {
  const source = writerSource(target.writer);
  if (id !== undefined) return readJournal(source, id);
  const entries = listJournals(source);
  if (entries.length === 0)
    throw new InputError(
      `no journal in ${source.where("/var/lib/passthrough/journal")}: nothing was applied${target.live ? " on this host" : ` under ${target.rootDir}`}, so there is nothing to roll back`,
    );
  for (const e of entries) {
    // Newest first: never skip past a journal that may still hold changes.
    if (!e.ok)
      throw new InputError(
        `journal ${e.id} cannot be read (${e.error}); give an id explicitly once it is dealt with`,
      );
    if (isActive(e.summary)) return e.journal;
  }
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
  const { style } = ctx;
  const lock = ApplyLock.acquire(target.writer, "rollback");
  try {
    const journal = pickJournal(target, id);
    const rp = planRollback(journal, target.writer);
    const again = ["passthrough", "rollback", journal.id, ...target.flags].join(" ");
    if (rp.nothingToDo) {
      ctx.out(
        `Journal ${journal.id}: nothing to restore — every file is as it was before that apply.`,
      );
      return EXIT.ok;
    }
    assertNoConflicts(rp, opts.force === true, again);

    ctx.out(
      style.bold(
        `passthrough rollback — journal ${journal.id} (applied ${journal.meta.createdAt}${target.live ? "" : ` under ${target.rootDir}`})`,
      ),
      "",
    );
    for (const f of rp.files) {
      const verb = f.state === "original" ? "unchanged" : f.record.existed ? "restore" : "remove";
      const extra =
        f.state === "changed"
          ? style.yellow(
              " (changed by someone else since: --force overwrites it; the current content is kept in the journal)",
            )
          : "";
      ctx.out(
        `  ${verb.padEnd(9)} ${f.record.path}${f.record.existed && f.state !== "original" ? style.dim(` (${f.record.size} bytes, mode ${f.record.mode!.toString(8).padStart(4, "0")}, ${f.record.uid}:${f.record.gid})`) : ""}${extra}`,
      );
    }
    for (const c of rp.commands)
      ctx.out(
        `  run       ${quoteArgv(c)}${target.live || target.flags.includes("--run-commands") ? "" : style.dim(" (listed, not run: --root)")}`,
      );
    for (const u of rp.notUndone)
      ctx.out(style.yellow(`  not undone: ${quoteArgv(u.argv)} — ${u.why}`));
    ctx.out("");
    const n = rp.files.filter((f) => f.state !== "original").length;
    if (
      !(await confirmed(
        ctx.io,
        opts.yes,
        `Restore ${n} file${n === 1 ? "" : "s"} from journal ${journal.id}?`,
        "rolling back",
      ))
    ) {
      ctx.out("Not rolled back; nothing was changed.");
      return EXIT.ok;
    }
    const result = executeRollback(rp, {
      writer: target.writer,
      runner: target.runner,
      force: opts.force === true,
      rollbackCommand: again,
      onProgress: (p) => progress(ctx, p),
    });
    ctx.out("");
    if (result.journalProblem) ctx.out(style.yellow(result.journalProblem));
    if (result.status === "failed") {
      throw new ApplyError(
        `rollback of ${journal.id} stopped: ${result.failure}; the files restored so far stay restored — fix the cause and run \`${again}\` again`,
      );
    }
    const forced = conflicts(rp).length;
    ctx.out(
      style.green(`Rolled back journal ${journal.id}.`) +
        (forced
          ? ` ${forced} file${forced === 1 ? "" : "s"} changed by someone else ${forced === 1 ? "was" : "were"} overwritten; their content is in ${target.writer.resolve(journal.dir)}/displaced/.`
          : ""),
    );
    const listed = result.commands.filter((c) => !c.ran);
    if (listed.length) {
      ctx.out(
        `Commands not run (--root without --run-commands); run them inside ${target.rootDir}:`,
      );
      for (const c of listed) ctx.out(`  ${quoteArgv(c.argv)}`);
    }
    if (rp.notUndone.length)
      ctx.out(
        style.yellow(
          `Not undone (check by hand): ${rp.notUndone.map((u) => quoteArgv(u.argv)).join("; ")}`,
        ),
      );
    ctx.out("Reboot for the restored configuration to take effect.");
    return EXIT.ok;
  } finally {
    lock.release();
  }
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
