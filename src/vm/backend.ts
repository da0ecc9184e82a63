// One interface for every VM backend: read the VM as it is, plan the change, apply it, read it
// back. Proxmox (local qm/pvesh, the REST API, or a snapshot's /etc/pve: proxmox/backend.ts),
// libvirt (libvirt/backend.ts) and a plain QEMU command line (qemu/backend.ts) implement it;
// select-backend.ts picks one. `vm plan|configure|create` is a single flow over it: the CLI
// (src/cli/commands/vm.ts) parses options into a VmRequest, shows the VmPlan, asks, and shows
// the VmReadBack. Backends speak in plain data and the project's typed errors (errors.ts).

import { readHostMemory } from "../host/meminfo.js";
import type { HostRoot } from "../host/root.js";
import type { HostState } from "../host/types.js";
import { readHostPrep } from "./host-prep.js";
import {
  buildVmSpec,
  type CreateOptions,
  type SpecResult,
  type VmOptions,
  type VmSpec,
} from "./spec.js";

export type VmMode = "plan" | "configure" | "create";

/** What the user asked of a `vm` command, as plain values (the CLI builds it from its flags). */
export interface VmRequest {
  mode: VmMode;
  options: VmOptions;
  /** `vm create`: the new VM (its bridge already defaulted by the backend); null otherwise. */
  create: CreateOptions | null;
  /** A guest's name and size where no VM config says them (QEMU: --name, --memory, --cores). */
  guest: { name: string | null; memoryMiB: number | null; cores: number | null };
  /** --dry-run: show the change, write nothing. */
  dryRun: boolean;
}

/** The machine whose devices are passed, as read (live, or a snapshot of it). */
export interface VmHost {
  state: HostState;
  root: HostRoot;
  /** The state is a Proxmox node's as its REST API lists it (drivers not known). */
  remote?: boolean;
}

/** Two texts to show as a unified diff (src/vm/diff.ts). */
export interface VmDiff {
  oldName: string;
  newName: string;
  before: string;
  after: string;
}

/** The change for people. */
export interface VmReport {
  /** What is changed, after "passthrough vm MODE — ": `VM 100 "gaming" on node pve (qm)`. */
  subject: string;
  /** null: there is nothing to change, and `unchanged` says so. */
  diff: VmDiff | null;
  unchanged: string;
  /** Why each changed key changes (a table after the diff); empty when the diff says it all. */
  why: Record<string, string>;
}

export interface VmPlan {
  /** What a refusal refuses: "configure VM 100", "create libvirt domain gpu". */
  action: string;
  /** Reasons not to go ahead, each saying what to do instead. Empty: go ahead. */
  refusals: string[];
  warnings: string[];
  /** For --json: the backend's own fields (backend, spec, the change ...). */
  json: Record<string, unknown>;
  /** null: this backend shows only its artefact (QEMU). */
  report: VmReport | null;
  /** Nothing to change. */
  empty: boolean;
  /** What a dry run prints on stdout (complete domain XML, a QEMU command line); null: the report. */
  artefact: string | null;
  /** Set when the target cannot be changed from here (a snapshot): why, and what to do instead. */
  readOnly: string | null;
  /**
   * The question asked before applying, and what is stopped when nobody can answer it. null:
   * this backend only shows (--emit, QEMU), so every mode is a dry run.
   */
  confirm: { question: string; doing: string } | null;
}

export interface VmReadBack {
  /** --json fields read back after the change, replacing the plan's ("after"). */
  json: Record<string, unknown>;
  /** What now holds, and what to do next. */
  message: string;
}

/**
 * A VM backend. `read` fails with InputError/RefusedError when the target is missing (or, for
 * create, taken); `plan` is the change with every refusal and warning; `apply` writes it in one
 * step; `readBack` checks what was written and throws ApplyError when it is not the plan.
 */
export interface VmBackend<Current = unknown, Plan extends VmPlan = VmPlan> {
  /** Its --backend name (select-backend.ts), or "snapshot" for a snapshot's Proxmox configs. */
  readonly kind: string;
  /** A new VM's NIC bridge when --bridge is not given; null: the backend's default network. */
  readonly defaultBridge: string | null;
  read(request: VmRequest, host: VmHost): Promise<Current>;
  plan(request: VmRequest, current: Current, host: VmHost): Promise<Plan>;
  apply(plan: Plan): Promise<void>;
  readBack(plan: Plan): Promise<VmReadBack>;
}

/** Read the VM, then plan its change. */
export async function planVmChange(
  backend: VmBackend,
  request: VmRequest,
  host: VmHost,
): Promise<VmPlan> {
  return backend.plan(request, await backend.read(request, host), host);
}

/** Apply a plan `backend` made, and read it back. */
export async function applyVmChange(backend: VmBackend, plan: VmPlan): Promise<VmReadBack> {
  await backend.apply(plan);
  return backend.readBack(plan);
}

/** The VmSpec for this request; the host's journal and memory are read here, at the edge. */
export function specFor(
  request: VmRequest,
  host: VmHost,
  guestMemoryMiB: number | null,
): SpecResult {
  return buildVmSpec({
    state: host.state,
    options: request.options,
    prep: readHostPrep(host.root),
    memory: readHostMemory(host.root),
    guestMemoryMiB,
    create: request.create,
    driversUnknown: host.remote === true,
  });
}

/** Whether an absolute host path exists on the host read (live or snapshot): OVMF lookups. */
export function hostPathExists(host: VmHost): (hostPath: string) => boolean {
  return (p) => host.root.exists(p.replace(/^\//, ""));
}

/** Every PCI function the spec passes, for read-back checks. */
export function passedFunctions(spec: VmSpec): string[] {
  return spec.pci.flatMap((d) => d.functions.map((f) => f.address));
}
