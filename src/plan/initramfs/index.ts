// The initramfs generator of this host: which file lists early modules (one module per
// generator, one case per InitramfsKind); the rebuild command comes from src/boot/initramfs.ts.
// Every generator gets the same VFIO modules; the image must agree with /etc/modprobe.d, so
// any change to modprobe or module files is followed by a rebuild (docs/domain-facts.md §3).

import { INITRAMFS } from "../../boot/initramfs.js";
import type { PlanFinding } from "../../findings/plan-catalog.js";
import type { InitramfsKind } from "../../host/types.js";
import type { PlanFiles } from "../files.js";
import type { CommandStep } from "../types.js";
import * as booster from "./booster.js";
import * as dracut from "./dracut.js";
import * as initramfsTools from "./initramfs-tools.js";
import * as mkinitcpio from "./mkinitcpio.js";

const KNOWN = Object.keys(INITRAMFS).filter((k) => k !== "unknown");

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
    case "unknown":
      findings.push({
        id: "initramfs.unknown",
        status: "warn",
        subject: null,
        summary: `no initramfs generator recognised (${KNOWN.join(", ")}): the VFIO modules are not added to the initramfs`,
        fix: `include ${modules.join(" ")} in your initramfs and rebuild it`,
      });
      return;
    default:
      return kind satisfies never;
  }
}

/** The table's rebuild command for this generator (src/boot/initramfs.ts), as a plan step. */
export function rebuildCommand(kind: InitramfsKind, why: string): CommandStep | null {
  const argv = INITRAMFS[kind].rebuild;
  return argv ? { kind: "command", argv: [...argv], why } : null;
}
