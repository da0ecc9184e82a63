// `passthrough explain` prints every catalog entry's sources to users, so each must be a public
// URL they can open: https, a public host name (no IP address, no local or internal name, no
// port or credentials), nothing but the URL. Man pages are cited by their man7.org /
// manpages.debian.org / man.openbsd.org URL, never as "modprobe.d(5)", and the project's own
// notes (docs/) are for readers of the code, never a source. Every source comes from
// src/findings/sources.ts, so all of them are reviewed in one place.

import { describe, expect, it } from "vitest";
import { FINDINGS } from "../../src/findings/all-catalogs.js";
import * as SOURCES from "../../src/findings/sources.js";

const NON_PUBLIC_SUFFIXES = [
  "localhost",
  "local",
  "internal",
  "intranet",
  "lan",
  "home",
  "corp",
  "test",
  "example",
  "invalid",
];

/** Why `source` is not a public URL a user can open, or null when it is one. */
function sourceProblem(source: string): string | null {
  let url: URL;
  try {
    url = new URL(source);
  } catch {
    return "not an absolute URL";
  }
  if (url.href !== source) return `not a bare, normalized URL (${url.href})`;
  if (url.protocol !== "https:") return "not https";
  if (url.username || url.password) return "carries credentials";
  if (url.port) return "names a port";
  const host = url.hostname;
  if (/^[\d.]+$/.test(host) || host.startsWith("[")) return "an IP address, not a host name";
  const labels = host.split(".");
  if (labels.length < 2) return "a host name without a domain";
  if (NON_PUBLIC_SUFFIXES.includes(labels[labels.length - 1]!)) return "a local or internal host";
  return null;
}

const INTERNAL_NOTE =
  /domain-facts|research\/anchors|anchors §|e2e-lab|proxmox-api\.md|snapshot-format|design\.md|style\.md|write-up|(^|[\s("`])docs\//;

describe("finding sources", () => {
  it("are public https URLs in every catalog entry, at least one per entry", () => {
    const problems: string[] = [];
    for (const f of FINDINGS) {
      if (f.sources.length === 0) problems.push(`${f.id}: no source`);
      for (const s of f.sources) {
        const why = sourceProblem(s);
        if (why) problems.push(`${f.id}: ${JSON.stringify(s)} is ${why}`);
      }
      if (new Set(f.sources).size !== f.sources.length) problems.push(`${f.id}: a source twice`);
    }
    expect(problems).toEqual([]);
  });

  it("all come from src/findings/sources.ts, and every source there is cited", () => {
    const known = new Set<string>(Object.values(SOURCES));
    const cited = new Set(FINDINGS.flatMap((f) => f.sources));
    expect([...cited].filter((s) => !known.has(s))).toEqual([]);
    expect([...known].filter((s) => !cited.has(s))).toEqual([]);
    for (const s of known) expect(sourceProblem(s), s).toBeNull();
  });

  it("leave the project's own notes out of what explain prints", () => {
    const leaks = FINDINGS.flatMap((f) =>
      [f.title, f.meaning, f.why, f.fix]
        .filter((text) => INTERNAL_NOTE.test(text))
        .map((text) => `${f.id}: ${text.slice(0, 80)}`),
    );
    expect(leaks).toEqual([]);
  });

  it("rejects what is not a public URL", () => {
    for (const bad of [
      "domain-facts §1",
      "research/anchors §4b",
      "docs/e2e-lab.md",
      "modprobe.d(5)",
      "Linux 6.2 drivers/vfio/Makefile",
      "http://vfio.blogspot.com/2014/08/iommu-groups-inside-and-out.html",
      "https://localhost/notes",
      "https://10.0.0.5/doc",
      "https://wiki.corp.internal/passthrough",
      "https://docs.kernel.org:8443/x.html",
      "https://user@docs.kernel.org/x.html",
      "https://docs.kernel.org/admin-guide/kernel-parameters.html (amd_iommu)",
    ])
      expect(sourceProblem(bad), bad).not.toBeNull();
    expect(sourceProblem("https://man7.org/linux/man-pages/man5/modprobe.d.5.html")).toBeNull();
    expect(
      sourceProblem(
        "https://wiki.archlinux.org/title/PCI_passthrough_via_OVMF#Bypassing_the_IOMMU_groups_(ACS_override_patch)",
      ),
    ).toBeNull();
  });
});
