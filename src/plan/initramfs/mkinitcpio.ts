// Arch: MODULES=(...) in /etc/mkinitcpio.conf. The VFIO modules must come before any KMS driver
// in that array (ArchWiki "PCI passthrough via OVMF": MODULES=(vfio_pci vfio vfio_iommu_type1 ...)),
// because mkinitcpio loads them in order; the `modconf` hook copies /etc/modprobe.d into the image.
// Only our tokens are added to this shared file.

import type { PlanFinding } from "../../findings/plan-catalog.js";
import { normalizeModuleName } from "../../formats/modprobe-conf.js";
import type { PlanFiles } from "../files.js";

export const FILE = "etc/mkinitcpio.conf";

/** Drivers that set up a display early (KMS) or may claim a GPU function. */
const KMS = new Set([
  "amdgpu",
  "radeon",
  "nouveau",
  "nvidia",
  "nvidia_modeset",
  "nvidia_uvm",
  "nvidia_drm",
  "i915",
  "xe",
  "snd_hda_intel",
]);

/** Arch's own order: vfio_pci first (it pulls in vfio and vfio_iommu_type1 as dependencies anyway). */
export function order(modules: readonly string[]): string[] {
  const rank = ["vfio_pci", "vfio", "vfio_iommu_type1", "vfio_virqfd"];
  return [...modules].sort((a, b) => rank.indexOf(a) - rank.indexOf(b));
}

export function write(files: PlanFiles, modules: readonly string[], findings: PlanFinding[]): void {
  const text = files.read(FILE);
  const wanted = order(modules);
  if (text === null) {
    files.write(
      FILE,
      `MODULES=(${wanted.join(" ")})\n`,
      `mkinitcpio.conf was missing: create it with the VFIO modules in MODULES`,
    );
    return;
  }
  if (/^\s*HOOKS=\(/m.test(text) && !/^\s*HOOKS=\([^)]*\bmodconf\b/m.test(text)) {
    findings.push({
      id: "initramfs.mkinitcpio-modconf",
      status: "warn",
      subject: `/${FILE}`,
      summary:
        "HOOKS has no modconf: /etc/modprobe.d (the vfio-pci ids and softdeps) does not reach the initramfs",
      fix: `add modconf to HOOKS=(...) in /${FILE}, then run mkinitcpio -P`,
    });
  }
  const lines = text.split("\n");
  const idx = lines.findIndex((l) => /^\s*MODULES=\(/.test(l));
  if (idx === -1) {
    files.write(
      FILE,
      (text.endsWith("\n") || text === "" ? text : `${text}\n`) + `MODULES=(${wanted.join(" ")})\n`,
      "add a MODULES array with the VFIO modules",
    );
    return;
  }
  const m = /^(\s*MODULES=\()([^)]*)(\).*)$/.exec(lines[idx]!);
  if (!m) {
    findings.push({
      id: "initramfs.mkinitcpio-modules",
      status: "fail",
      subject: `/${FILE}:${idx + 1}`,
      summary: "MODULES=( spans several lines; passthrough edits only a one-line array",
      fix: `put ${wanted.join(" ")} first in MODULES=(...) of /${FILE} by hand, then run mkinitcpio -P`,
    });
    return;
  }
  const current = m[2]!.split(/\s+/).filter(Boolean);
  const names = current.map((w) => normalizeModuleName(w.replace(/^["']|["']$/g, "")));
  const firstKms = names.findIndex((n) => KMS.has(n));
  // A VFIO module listed after a KMS driver loads too late: move it to the front.
  const misplaced = wanted.filter(
    (w) => names.includes(w) && firstKms !== -1 && names.indexOf(w) > firstKms,
  );
  const missing = wanted.filter((w) => !names.includes(w));
  if (missing.length === 0 && misplaced.length === 0) return;
  const moved = new Set(misplaced);
  const kept = current.filter((_, i) => !moved.has(names[i]!));
  const front = wanted.filter((w) => missing.includes(w) || moved.has(w));
  lines[idx] = `${m[1]}${[...front, ...kept].join(" ")}${m[3]}`;
  files.write(
    FILE,
    lines.join("\n"),
    `put ${front.join(", ")} at the front of MODULES so vfio-pci loads before ${kept.length ? kept.join(", ") : "any KMS driver"} in the initramfs`,
  );
}
