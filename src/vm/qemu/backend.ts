// A plain QEMU command line as a VmBackend that only shows: there is no VM to change, so every
// mode prints the command (and, for a new VM, the qemu-img command that makes its disk). A
// Proxmox VM's config in the host's /etc/pve (--vmid) supplies the name and size it has.

import {
  hostPathExists,
  specFor,
  type VmBackend,
  type VmHost,
  type VmPlan,
  type VmRequest,
} from "../backend.js";
import { findOvmf, ovmfWarning } from "../firmware.js";
import { configMemoryMiB } from "../proxmox/config-change.js";
import type { HostState } from "../../host/types.js";
import { formatCommand, qemuArgv } from "./argv.js";

/** The Proxmox VM of --vmid in the host's /etc/pve, when there is one. */
export type QemuCurrent = HostState["vms"][number] | null;

export class QemuVmBackend implements VmBackend<QemuCurrent> {
  readonly kind = "qemu" as const;
  readonly defaultBridge = "vmbr0";

  async read(request: VmRequest, host: VmHost): Promise<QemuCurrent> {
    const vmid = request.options.vmid;
    return (vmid === null ? undefined : host.state.vms.find((v) => v.vmid === vmid)) ?? null;
  }

  async plan(request: VmRequest, vm: QemuCurrent, host: VmHost): Promise<VmPlan> {
    const { create, guest } = request;
    const vmid = request.options.vmid;
    const memoryMiB =
      create?.memoryMiB ?? guest.memoryMiB ?? (vm ? configMemoryMiB(vm.config) : 8192);
    const cores = create?.cores ?? guest.cores ?? (vm?.config.cores ? Number(vm.config.cores) : 4);
    const sockets = create?.sockets ?? (vm?.config.sockets ? Number(vm.config.sockets) : 1);
    const name =
      create?.name ??
      guest.name ??
      vm?.config.name ??
      (vmid !== null ? `vm-${vmid}` : "passthrough-vm");
    const result = specFor(request, host, memoryMiB);
    const fw = findOvmf(host.state, request.options.preEnrolledKeys, hostPathExists(host));
    const cmd = qemuArgv(result.spec, {
      name,
      memoryMiB,
      cores,
      sockets,
      firmware: fw,
      disk: create ? `${name}.qcow2` : null,
      iso: create?.iso ?? null,
      bridge: create?.bridge ?? null,
    });
    if (create)
      cmd.prepare.push([
        "qemu-img",
        "create",
        "-f",
        "qcow2",
        `${name}.qcow2`,
        `${create.disk.sizeGiB}G`,
      ]);
    const fwWarning = ovmfWarning(fw);
    const warnings = [...result.warnings, ...(fwWarning ? [fwWarning] : [])];
    if (!create)
      warnings.push(
        `this command line has no disk: add the guest's own -drive${vm ? ` (\`qm showcmd ${vm.vmid} --pretty\` shows VM ${vm.vmid}'s full command line)` : ""}`,
      );
    return {
      action: "emit a QEMU command line",
      refusals: result.refusals,
      warnings,
      json: {
        backend: "qemu",
        spec: result.spec,
        argv: cmd.argv,
        prepare: cmd.prepare,
        everyStart: cmd.everyStart,
        warnings,
      },
      report: null,
      empty: false,
      artefact: [
        "# once, before the first start:",
        ...cmd.prepare.map(formatCommand),
        "",
        ...(cmd.everyStart.length > 0
          ? ["# before every start:", ...cmd.everyStart.map(formatCommand), ""]
          : []),
        formatCommand(cmd.argv),
      ]
        .map((l) => `${l}\n`)
        .join(""),
      readOnly: null,
      confirm: null,
    };
  }

  /** Never called: a plan without `confirm` is only shown. */
  async apply(): Promise<void> {
    throw new Error("a QEMU command line is only shown, never applied");
  }

  async readBack(): Promise<never> {
    throw new Error("a QEMU command line is only shown, never applied");
  }
}
