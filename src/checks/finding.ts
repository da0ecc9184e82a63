// One way to make a Finding, so every id a check emits is a key of the catalog (a type
// error otherwise) and `passthrough explain ID` can document it.

import type { CheckId } from "./catalog.js";
import type { Finding, FindingStatus } from "./types.js";

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
