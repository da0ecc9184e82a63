// Making a `ct plan` change with `pct set`, and proving it by reading the config back. pct(1)
// checks each devN value, and `--digest` (the SHA-1 of the config file, as every PVE config
// API reports it) makes pct refuse when the file changed since it was read, instead of
// overwriting someone's edit. A running container may hold the change in [pve:pending] until
// it restarts; the read-back says so.
//
// The change goes through apply's journal (a plan of one command step whose `container`
// record names the keys and their previous values; the config as read back is added to its
// steps.log), so `passthrough rollback` takes it back out (apply/container-undo.ts).

import { applyPlan } from "../../apply/executor.js";
import type { FileWriter } from "../../apply/file-writer.js";
import { JournalWriter } from "../../apply/journal.js";
import { ApplyError, RefusedError } from "../../errors.js";
import { ctConfigDigest, parseCtConfig } from "../../formats/proxmox-ct-config.js";
import type { Plan } from "../../plan/types.js";
import { firstErrorLine, type CommandRunner } from "../../process/run.js";
import { VERSION } from "../../version.js";
import type { CtPlan } from "./device-plan.js";

/** "dev0: /dev/dri/card0,gid=44" -> ["dev0", "/dev/dri/card0,gid=44"]. */
function splitLine(line: string): [string, string] {
  const i = line.indexOf(": ");
  return [line.slice(0, i), line.slice(i + 2)];
}

export function pctSetArgv(ctid: number, plan: CtPlan, digest: string | null): string[] {
  if (plan.style !== "devN")
    throw new RefusedError(
      `this Proxmox VE has no devN keys for containers and pct set cannot write lxc.* keys; add the lines \`passthrough ct plan\` shows to /etc/pve/lxc/${ctid}.conf by hand, or upgrade to Proxmox VE 8.1 or later`,
    );
  const args = plan.added.flatMap((line) => {
    const [key, value] = splitLine(line);
    return [`--${key}`, value];
  });
  return ["pct", "set", String(ctid), ...args, ...(digest ? ["--digest", digest] : [])];
}

/** The command that takes the change back out. */
export function undoArgv(ctid: number, plan: CtPlan): string[] {
  return ["pct", "set", String(ctid), "--delete", plan.added.map((l) => splitLine(l)[0]).join(",")];
}

export interface ReadBack {
  /** Keys in the config as planned. */
  set: string[];
  /** Keys waiting in [pve:pending] (a running container). */
  pending: string[];
}

/** The journal's plan: one `pct set` step, and what it changes for rollback. */
export function journalPlan(args: {
  ctid: number;
  device: string;
  plan: CtPlan;
  /** Host path: "/etc/pve/lxc/101.conf". */
  file: string;
  beforeText: string;
}): Plan {
  const { ctid, plan } = args;
  const digestBefore = ctConfigDigest(args.beforeText);
  const before = parseCtConfig(args.beforeText).main.keys;
  const set = Object.fromEntries(plan.added.map(splitLine));
  return {
    selection: { requested: [args.device], functions: [], groups: [] },
    steps: [
      {
        kind: "command",
        argv: pctSetArgv(ctid, plan, digestBefore),
        why: `give container ${ctid} the device nodes of ${args.device}`,
        undo: undoArgv(ctid, plan),
      },
    ],
    findings: [],
    expect: { cmdline: [], modulesLoaded: [], boundToVfio: [] },
    phase: "complete",
    container: {
      ctid,
      file: args.file,
      set,
      previous: Object.fromEntries(Object.keys(set).map((k) => [k, before[k] ?? null])),
      digestBefore,
    },
  };
}

export interface Configured {
  journalId: string;
  readBack: ReadBack;
}

/**
 * Run the journal's plan (apply's lock and journal), then read the config back, record it in
 * the journal and check every key. `readConfig` reads the file as it is now.
 */
export function configureContainer(args: {
  plan: Plan;
  writer: FileWriter;
  runner: CommandRunner;
  readConfig: () => string | null;
  now?: () => Date;
}): Configured {
  const change = args.plan.container!;
  const result = applyPlan({
    plan: args.plan,
    writer: args.writer,
    runner: args.runner,
    version: VERSION,
    bootedAt: null,
    ...(args.now ? { now: args.now } : {}),
  });
  if (result.status !== "ok") {
    const cmd = result.failure?.command;
    throw new ApplyError(
      `pct set failed: ${cmd ? firstErrorLine(cmd) : result.failure?.error}; the container config is as it was`,
    );
  }
  const text = args.readConfig() ?? "";
  new JournalWriter(args.writer, result.journalId, args.now ?? (() => new Date())).step({
    event: "read-back",
    step: 0,
    path: change.file,
    digest: ctConfigDigest(text),
    text,
  });
  return { journalId: result.journalId, readBack: checkReadBack(change.set, text, change.file) };
}

/** Every added key must read back with its value, in the config or its pending section. */
export function checkReadBack(
  set: Record<string, string>,
  afterText: string,
  file: string,
): ReadBack {
  const after = parseCtConfig(afterText);
  const out: ReadBack = { set: [], pending: [] };
  const wrong: string[] = [];
  for (const [key, value] of Object.entries(set)) {
    if (after.main.keys[key] === value) out.set.push(key);
    else if (after.pending?.keys[key] === value) out.pending.push(key);
    else wrong.push(`${key} is ${after.main.keys[key] ?? "absent"}, not ${value}`);
  }
  if (wrong.length)
    throw new ApplyError(`read back ${file}: ${wrong.join("; ")}; pct set did not make the change`);
  return out;
}
