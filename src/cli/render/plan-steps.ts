// A plan for people: numbered steps, each file change as a unified diff (what a reviewer
// reads in a terminal or pastes into a forum post), commands as they will run.

import { createTwoFilesPatch } from "diff";
import { formatArgv } from "../../apply/command-runner.js";
import { describeStep } from "../../apply/executor.js";
import type { Finding } from "../../checks/types.js";
import type { Plan, Step } from "../../plan/types.js";
import type { Style } from "./style.js";

/** Steps that change something (a reboot is the user's to do). */
export function changeCount(plan: Plan): number {
  return plan.steps.filter((s) => s.kind !== "reboot").length;
}

export function renderDiff(path: string, before: string | null, after: string | null, style: Style): string[] {
  const patch = createTwoFilesPatch(before === null ? "/dev/null" : path, after === null ? "/dev/null" : path, before ?? "", after ?? "", "", "", { context: 3 });
  return patch
    .split("\n")
    .filter((l) => !l.startsWith("====") && !l.startsWith("Index:") && l !== "")
    .map((l) => {
      if (l.startsWith("+++") || l.startsWith("---")) return style.bold(l.replace(/\t$/, ""));
      if (l.startsWith("+")) return style.green(l);
      if (l.startsWith("-")) return style.red(l);
      if (l.startsWith("@@")) return style.cyan(l);
      return l;
    });
}

export function renderStep(s: Step, index: number, total: number, style: Style): string[] {
  const width = String(total).length;
  const num = `${String(index + 1).padStart(width)}.`;
  const head = `${num} ${style.bold(describeStep(s))}${s.why ? style.dim(` — ${s.why}`) : ""}`;
  if (s.kind !== "file") return [head];
  return [head, ...renderDiff(s.path, s.before, s.after, style).map((l) => `${" ".repeat(width + 2)}${l}`)];
}

export function renderPlanSteps(plan: Plan, style: Style): string[] {
  const lines: string[] = [];
  plan.steps.forEach((s, i) => {
    lines.push(...renderStep(s, i, plan.steps.length, style));
    if (s.kind === "file") lines.push("");
  });
  return lines.length && lines[lines.length - 1] === "" ? lines.slice(0, -1) : lines;
}

const STATUS_WORD: Record<Finding["status"], string> = { pass: "PASS", warn: "WARN", fail: "FAIL", info: "INFO", skip: "SKIP" };

/** One finding as `check` prints it: status, id, summary, and the fix on its own line. */
export function renderFinding(f: Finding, style: Style, idWidth = 22): string[] {
  const colour = f.status === "fail" ? style.red : f.status === "warn" ? style.yellow : f.status === "pass" ? style.green : style.dim;
  const word = colour(STATUS_WORD[f.status].padEnd(4));
  const pad = " ".repeat(2 + 4 + 2 + idWidth + 2);
  // The subject is part of every summary already (style.md: the line names the file/device).
  const lines = [`  ${word}  ${f.id.padEnd(idWidth)}  ${f.summary}`];
  for (const d of f.detail ?? []) lines.push(`${pad}${style.dim(d)}`);
  if (f.fix) lines.push(`${pad}fix: ${f.fix}`);
  return lines;
}

export { formatArgv };
