// Making a `ct plan` change with `pct set`, and proving it by reading the config back. pct(1)
// checks each devN value, and `--digest` (the SHA-1 of the config file, as every PVE config
// API reports it) makes pct refuse when the file changed since it was read, instead of
// overwriting someone's edit. A running container may hold the change in [pve:pending] until
// it restarts; the read-back says so.

import { createHash } from "node:crypto";
import { ApplyError, RefusedError } from "../../errors.js";
import { parseCtConfig } from "../../formats/proxmox-ct-config.js";
import { commandSucceeded, firstErrorLine, type CommandRunner } from "../../process/run.js";
import type { CtPlan } from "./device-plan.js";

/** PVE's config digest: SHA-1 of the file's bytes (PVE::Tools, parse_pct_config's "digest"). */
export function configDigest(text: string): string {
  return createHash("sha1").update(text, "utf8").digest("hex");
}

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

export function runPctSet(runner: CommandRunner, argv: string[]): void {
  const r = runner.run(argv);
  if (!commandSucceeded(r))
    throw new ApplyError(`pct set failed: ${firstErrorLine(r)}; the container config is as it was`);
}

/** Every added key must read back with its value, in the config or its pending section. */
export function checkReadBack(plan: CtPlan, afterText: string, file: string): ReadBack {
  const after = parseCtConfig(afterText);
  const out: ReadBack = { set: [], pending: [] };
  const wrong: string[] = [];
  for (const line of plan.added) {
    const [key, value] = splitLine(line);
    if (after.main.keys[key] === value) out.set.push(key);
    else if (after.pending?.keys[key] === value) out.pending.push(key);
    else wrong.push(`${key} is ${after.main.keys[key] ?? "absent"}, not ${value}`);
  }
  if (wrong.length)
    throw new ApplyError(`read back ${file}: ${wrong.join("; ")}; pct set did not make the change`);
  return out;
}
