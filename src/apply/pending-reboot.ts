// "Running apply twice changes nothing the second time" — also before the reboot. Until the
// reboot, the re-made plan still lists the boot loader / initramfs refresh commands (the new
// parameters are not in /proc/cmdline yet), although no file needs changing. Re-running those
// commands on unchanged files only produces the same boot config again, so when an applied
// journal written since the last boot already ran them, and every file it wrote still holds
// what it wrote, there is nothing to do but reboot.

import type { HostState } from "../host/types.js";
import type { Plan } from "../plan/types.js";
import type { HistoryEntry } from "./history.js";

export interface PendingReboot {
  journalId: string;
  appliedAt: string;
}

export function alreadyAppliedAwaitingReboot(
  plan: Plan,
  state: HostState,
  journals: readonly HistoryEntry[],
  bootedAt: Date | null,
): PendingReboot | null {
  if (plan.steps.some((s) => s.kind === "file")) return null;
  const commands = plan.steps
    .filter((s) => s.kind === "command")
    .map((s) => (s.kind === "command" ? s.argv.join("\u0000") : ""));
  if (commands.length === 0) return null;
  // The newest journal that is still in effect decides; an older one was superseded.
  // (A `ct configure` journal changed a container, not the host's boot: it does not count.)
  const latest = journals.find(
    (e) => e.ok && e.summary.status !== "rolled-back" && !e.journal.plan.container,
  );
  if (!latest || !latest.ok || latest.summary.status !== "applied" || !latest.summary.finishedAt)
    return null;
  const finished = new Date(latest.summary.finishedAt);
  // Rebooted since: the refresh evidently did not take, so running it again is worth it.
  if (bootedAt !== null && bootedAt.getTime() > finished.getTime()) return null;
  const ran = new Set(
    latest.journal.events
      .filter((e) => e.event === "command" && e.ran && e.exitCode === 0)
      .map((e) => (e.event === "command" ? e.argv.join("\u0000") : "")),
  );
  if (!commands.every((c) => ran.has(c))) return null;
  // Every file the journal wrote must still hold exactly what it wrote.
  for (const s of latest.journal.plan.steps) {
    if (s.kind !== "file") continue;
    const now = state.configFiles[s.path.replace(/^\//, "")];
    if (s.after === null ? now !== undefined : now !== s.after) return null;
  }
  return { journalId: latest.summary.id, appliedAt: latest.summary.finishedAt };
}
