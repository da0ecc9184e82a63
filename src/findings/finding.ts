// A Finding is one line of a command's report (check, plan, verify, guest check); its id is
// documented in one of the catalogs beside this file, and `passthrough explain ID` prints the
// entry. finding() makes check findings, its id a key of the check catalog (a type error
// otherwise); the other commands type theirs as Finding<TheirId> the same way.

import type { CheckId } from "./check-catalog.js";

export type FindingStatus = "pass" | "warn" | "fail" | "info" | "skip";

/** Id is narrowed by each emitter to the keys of its catalog (check, verify, guest check), so an undocumented id does not compile. */
export interface Finding<Id extends string = string> {
  /** Stable id, dotted: "iommu.enabled", "modprobe.wildcard". `passthrough explain ID` documents it. */
  id: Id;
  status: FindingStatus;
  /** What it is about: a device address, a file:line, or null for the host as a whole. */
  subject: string | null;
  /** One line. */
  summary: string;
  /** The concrete fix: the exact file line or command, firmware menu names; null when nothing to do. */
  fix: string | null;
  /** Extra lines for people (evidence, the lines of a file). */
  detail?: string[];
}

export function finding(
  id: CheckId,
  status: FindingStatus,
  summary: string,
  opts: { subject?: string | null; fix?: string | null; detail?: string[] } = {},
): Finding {
  const f: Finding = { id, status, subject: opts.subject ?? null, summary, fix: opts.fix ?? null };
  if (opts.detail && opts.detail.length > 0) f.detail = opts.detail;
  return f;
}
