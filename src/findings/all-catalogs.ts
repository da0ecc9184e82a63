// One catalog of every finding id a command prints, for `passthrough explain`: check's
// (check-catalog.ts), plan's (plan-catalog.ts; apply shows the same plan), verify's
// (verify-catalog.ts) and guest check's (guest-catalog.ts) and ct check's (ct-catalog.ts). The code that emits the ids is
// typed by each catalog's keys; here they are only put side by side, in the order of the flow.

import { CHECK_CATALOG, type CatalogEntry, type CheckId } from "./check-catalog.js";
import { VERIFY_CATALOG, type VerifyId } from "./verify-catalog.js";
import { GUEST_CATALOG, type GuestId } from "./guest-catalog.js";
import { PLAN_CATALOG, type PlanId } from "./plan-catalog.js";
import { CT_CATALOG, type CtId } from "./ct-catalog.js";

export type FindingId = CheckId | PlanId | VerifyId | GuestId | CtId;

/** The command whose output carries the id ("plan": plan and apply). */
export type FindingCommand = "check" | "plan" | "verify" | "guest check" | "ct check";

export interface ExplainedFinding extends CatalogEntry {
  id: FindingId;
  command: FindingCommand;
}

const GROUPS: ReadonlyArray<readonly [FindingCommand, Readonly<Record<string, CatalogEntry>>]> = [
  ["check", CHECK_CATALOG],
  ["plan", PLAN_CATALOG],
  ["verify", VERIFY_CATALOG],
  ["guest check", GUEST_CATALOG],
  ["ct check", CT_CATALOG],
];

/** Every entry: check's, plan's, verify's, guest check's, then ct check's, each in its catalog's order. */
export const FINDINGS: readonly ExplainedFinding[] = GROUPS.flatMap(([command, catalog]) =>
  Object.entries(catalog).map(([id, e]) => ({ id: id as FindingId, command, ...e })),
);

export const FINDING_IDS: readonly FindingId[] = FINDINGS.map((f) => f.id);

const BY_ID = new Map<string, ExplainedFinding>(FINDINGS.map((f) => [f.id, f]));

export function findingEntry(id: string): ExplainedFinding | null {
  return BY_ID.get(id) ?? null;
}

/** Who prints an entry's id, in words for people. */
export function reportedBy(command: FindingCommand): string {
  return command === "plan" ? "passthrough plan and apply" : `passthrough ${command}`;
}
