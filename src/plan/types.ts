// A Plan is what `plan` prints and `apply` runs: file edits (whole-file before/after, so a
// diff and a byte-exact rollback are both trivial), commands (argv arrays, never shell
// strings), and a reboot. `plan --json` prints it in this shape (design.md, README).

import type { Finding } from "../checks/types.js";
import type { PciAddress } from "../host/types.js";

export interface FileStep {
  kind: "file";
  /** Host path, absolute ("/etc/modprobe.d/passthrough.conf"), even when planning for --root. */
  path: string;
  /** Contents before (null = the file does not exist). */
  before: string | null;
  /** Contents after (null = remove the file). */
  after: string | null;
  /** File mode for a new file (existing files keep theirs). */
  mode?: number;
  why: string;
}

export interface CommandStep {
  kind: "command";
  argv: string[];
  why: string;
}

export interface RebootStep {
  kind: "reboot";
  why: string;
}

export type Step = FileStep | CommandStep | RebootStep;

export interface Selection {
  /** Slots or functions as the user gave them, normalised ("0000:01:00", "0000:01:00.1"). */
  requested: string[];
  /** Every function that will be bound to vfio-pci. */
  functions: PciAddress[];
  groups: number[];
}

/** What `verify` will check after the reboot, recorded with the plan. */
export interface Expectation {
  cmdline: string[];
  modulesLoaded: string[];
  boundToVfio: PciAddress[];
}

export interface Plan {
  selection: Selection;
  steps: Step[];
  findings: Finding[];
  expect: Expectation;
  /** Two-phase plans: this phase only enables the IOMMU; binding is planned after the reboot. */
  phase: "enable-iommu" | "bind" | "complete";
}
