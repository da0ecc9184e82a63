// The initramfs generator of this host: which file lists early modules, and how to rebuild.
// Every generator gets the same VFIO modules; the image must agree with /etc/modprobe.d, so
// any change to modprobe or module files is followed by a rebuild (domain-facts.md §3).

import type { PlanFinding } from "../../findings/plan-catalog.js";
import type { InitramfsKind } from "../../host/types.js";
import type { PlanFiles } from "../files.js";
import type { CommandStep } from "../types.js";
import * as booster from "./booster.js";
import * as dracut from "./dracut.js";
import * as initramfsTools from "./initramfs-tools.js";
import * as mkinitcpio from "./mkinitcpio.js";

/** Files whose change means the initramfs must be rebuilt. */
export function affectsInitramfs(rel: string): boolean {
  return (
    rel.startsWith("etc/modprobe.d/") ||
    rel.startsWith("etc/modules-load.d/") ||
    rel === "etc/modules" ||
    rel.startsWith("etc/initramfs-tools/") ||
    rel === "etc/dracut.conf" ||
    rel.startsWith("etc/dracut.conf.d/") ||
    rel === "etc/mkinitcpio.conf" ||
    rel.startsWith("etc/mkinitcpio.conf.d/") ||
    rel === "etc/booster.yaml"
  );
}

export function writeInitramfsModules(
  kind: InitramfsKind,
  files: PlanFiles,
  modules: readonly string[],
  findings: PlanFinding[],
): void {
  if (modules.length === 0) return;
  switch (kind) {
    case "initramfs-tools":
      return initramfsTools.write(files, modules);
    case "dracut":
      return dracut.write(files, modules);
    case "mkinitcpio":
      return mkinitcpio.write(files, modules, findings);
    case "booster":
      return booster.write(files, modules);
    default:
      findings.push({
        id: "initramfs.unknown",
        status: "warn",
        subject: null,
        summary:
          "no initramfs generator recognised (initramfs-tools, dracut, mkinitcpio, booster): the VFIO modules are not added to the initramfs",
        fix: `include ${modules.join(" ")} in your initramfs and rebuild it`,
      });
  }
}

export function rebuildCommand(kind: InitramfsKind, why: string): CommandStep | null {
  switch (kind) {
    case "initramfs-tools":
      return initramfsTools.rebuild(why);
    case "dracut":
      return dracut.rebuild(why);
    case "mkinitcpio":
      return mkinitcpio.rebuild(why);
    case "booster":
      return booster.rebuild(why);
    default:
      return null;
  }
}
