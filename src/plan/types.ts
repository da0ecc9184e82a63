// A Plan is what `plan` prints and `apply` runs: file edits (whole-file before/after, so a
// diff and a byte-exact rollback are both trivial), commands (argv arrays, never shell
// strings), and a reboot. `plan --json` prints it in this shape (docs/design.md, README).

import type { PlanFinding } from "../findings/plan-catalog.js";
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
  /**
   * The command that reverses this one, when it changes files the plan has no bytes for
   * (grubby and kernelstub edit boot entries themselves). Absent: nothing to reverse (a
   * regeneration such as update-grub is undone by restoring the files and running it again).
   */
  undo?: string[];
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
  /** `mode host --persist`: functions that must be back on a host driver, not vfio-pci (absent in older journals). */
  boundToHost?: PciAddress[];
  /** Module parameters the running kernel must show in /sys/module/M/parameters (absent in older journals). */
  moduleParams?: ModuleParam[];
  /** --reset-method: what sysfs reset_method of each function must read after the reboot. */
  resetMethods?: ResetMethodExpectation[];
}

/** One function's reset method as the udev rule sets it (plan/reset-rule.ts). */
export interface ResetMethodExpectation {
  address: PciAddress;
  method: string;
}

/** One module parameter as sysfs prints it ("Y" for a true bool). */
export interface ModuleParam {
  module: string;
  param: string;
  value: string;
}

export interface Plan {
  selection: Selection;
  steps: Step[];
  findings: PlanFinding[];
  expect: Expectation;
  /** Two-phase plans: this phase only enables the IOMMU; binding is planned after the reboot. */
  phase: "enable-iommu" | "bind" | "complete";
  /** The kernel parameters this host needs and why (also those already in place), for people. */
  cmdline?: Array<{ param: string; why: string }>;
  /** `ct configure`: the container config change its one `pct set` step makes (apply/container-undo.ts). */
  container?: ContainerConfigChange;
}

/**
 * What `ct configure` changes in a Proxmox container's config, recorded in its journal so that
 * `rollback` can take exactly those keys back out with `pct set` (the config is the cluster's,
 * written by pct, so there are no file bytes to restore).
 */
export interface ContainerConfigChange {
  ctid: number;
  /** Host path of the config: "/etc/pve/lxc/101.conf". */
  file: string;
  /** Keys set, with their values: {"dev0": "/dev/dri/card0,gid=44,mode=0660"}. */
  set: Record<string, string>;
  /** The value each of those keys had before (null: absent). */
  previous: Record<string, string | null>;
  /** SHA-1 of the config before: the digest `pct set` was given. */
  digestBefore: string;
}

/** What the user asked `plan`/`apply` for (flags of those commands). */
export interface PlanOptions {
  /** --device: slots ("0000:01:00", selects every function) or functions ("0000:01:00.1"). */
  devices: string[];
  /** --group N: every endpoint of these IOMMU groups. */
  groups: number[];
  /** Add iommu=pt (default true; --no-iommu-pt). */
  iommuPt: boolean;
  /** --allow-partial-group: pass part of a group, leaving other endpoints on host drivers. */
  allowPartialGroup: boolean;
  /** --headless-ok: allow passing the only GPU of a host with a console. */
  headlessOk: boolean;
  /** --allow-unsafe-interrupts: proceed without interrupt remapping (writes allow_unsafe_interrupts=1). */
  allowUnsafeInterrupts: boolean;
  /** --acs-override VALUE: add pcie_acs_override=VALUE (security warning). */
  acsOverride: string | null;
  /** --blacklist: also blacklist the native drivers (never one another host device uses). */
  blacklist: boolean;
  /** --disable-idle-d3: keep idle vfio-pci devices in D0 (also chosen when a selected device is stuck in D3cold). */
  disableIdleD3: boolean;
  /** --reset-method METHOD: a udev rule sets sysfs reset_method of the selected functions (plan/reset-rule.ts). */
  resetMethod: string | null;
}

/** The planner's signature: pure, HostState in, Plan out (throws RefusedError when unsafe). */
export type Planner = (state: import("../host/types.js").HostState, opts: PlanOptions) => Plan;
