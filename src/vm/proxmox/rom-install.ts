// Proxmox reads a hostpci romfile from /usr/share/kvm on the node that starts the VM
// (qm.conf(5): "romfile: Custom pci device rom filename (must be located in /usr/share/kvm/)").
// `vm configure|create --romfile` copies the file there before the config names it: atomically
// (apply's FileWriter), never over a different file of the same name (another VM's ROM, or a
// file a package ships there), and not at all when the same bytes are there already. Only a
// backend running on the node can: the REST API has no call that writes there, and setting
// romfile is root@pam's alone (qemu-server API2/Qemu.pm check_hostpci_perm).
//
// The copy is a one-file plan carried out by apply's executor, so it has a journal under
// /var/lib/passthrough/journal like every host change and `passthrough rollback` removes the
// file again. The ROM's bytes travel in the plan as host text (formats/host-text.ts), which
// round-trips any byte sequence.

import * as fs from "node:fs";
import * as os from "node:os";
import { applyPlan } from "../../apply/executor.js";
import { ListingRunner } from "../../apply/command-runner.js";
import { FileWriter } from "../../apply/file-writer.js";
import { ApplyError, RefusedError, UserError, describeFsError } from "../../errors.js";
import { decodeHostText } from "../../formats/host-text.js";
import { bootTimeOf } from "../../host/system.js";
import type { Plan } from "../../plan/types.js";
import { VERSION } from "../../version.js";
import { PVE_ROM_DIR, type SpecRomFile } from "../romfile.js";
import type { VmSpec } from "../spec.js";
import type { ProxmoxBackend } from "../types.js";

export interface RomInstall {
  /** "/usr/share/kvm/NAME". */
  hostPath: string;
  bytes: Buffer;
  /** The same bytes are there already: nothing to copy. */
  present: boolean;
}

/** The spec's romfile, if a device has one. */
export function specRom(spec: VmSpec): SpecRomFile | null {
  return spec.pci.find((d) => d.romfile)?.romfile ?? null;
}

/** Why this client cannot put a ROM on its node, or null when it can (it runs there, as root). */
export function romInstallBlocker(client: ProxmoxBackend): string | null {
  if (client.kind === "qm") return null;
  if (!client.canSetRawHostpci)
    return "--romfile: Proxmox lets only root@pam set a hostpci romfile, and an API token cannot (qemu-server check_hostpci_perm); run `passthrough vm configure --backend qm ... --romfile FILE` on the node as root";
  if (client.node !== os.hostname().split(".")[0])
    return `--romfile: the REST API cannot copy a file onto node ${client.node}; run the command on ${client.node} itself (--backend qm), or copy the file to ${PVE_ROM_DIR}/ there first`;
  return null;
}

/** What copying the ROM takes, or the reason not to (a different file of that name is there). */
export function planRomInstall(
  writer: FileWriter,
  rom: SpecRomFile,
  bytes: Buffer,
): { install: RomInstall | null; refusal: string | null } {
  const hostPath = `${PVE_ROM_DIR}/${rom.name}`;
  try {
    const now = writer.read(hostPath);
    if (now.exists && !now.bytes.equals(bytes))
      return { install: null, refusal: differentFile(hostPath, rom) };
    return { install: { hostPath, bytes, present: now.exists }, refusal: null };
  } catch (err) {
    return { install: null, refusal: `${hostPath}: ${reason(err)}` };
  }
}

/** The copy as a plan of one file step: what the journal records and rollback undoes. */
export function romCopyPlan(rom: SpecRomFile, install: RomInstall): Plan {
  return {
    selection: { requested: [], functions: [], groups: [] },
    steps: [
      {
        kind: "file",
        path: install.hostPath,
        before: null,
        after: decodeHostText(install.bytes),
        mode: 0o644,
        why: `--romfile: Proxmox reads a hostpci romfile from ${PVE_ROM_DIR} (copied from ${rom.path})`,
      },
    ],
    findings: [],
    expect: { cmdline: [], modulesLoaded: [], boundToVfio: [] },
    phase: "complete",
  };
}

/**
 * Copy the ROM through the apply journal (checked again: the folder may have changed since
 * the plan). Returns the journal id, or null when the same bytes were there already.
 */
export function installRom(
  writer: FileWriter,
  rom: SpecRomFile,
  install: RomInstall,
): string | null {
  try {
    const now = writer.read(install.hostPath);
    if (now.exists) {
      if (now.bytes.equals(install.bytes)) return null;
      throw new RefusedError(differentFile(install.hostPath, rom));
    }
    const result = applyPlan({
      plan: romCopyPlan(rom, install),
      writer,
      runner: new ListingRunner(),
      version: VERSION,
      bootedAt: bootTimeOf(procStat(writer)),
    });
    if (result.status !== "ok") throw new ApplyError(result.failure?.error ?? "copy failed");
    return result.journalId;
  } catch (err) {
    if (err instanceof RefusedError) throw err;
    const why = err instanceof UserError ? err.message : describeFsError(err);
    throw new ApplyError(
      `could not copy ${rom.path} to ${install.hostPath}: ${why}; the VM config was not changed`,
    );
  }
}

/** The node's boot time decides which applies `rollback` undoes together (apply/history.ts). */
function procStat(writer: FileWriter): string | null {
  try {
    return fs.readFileSync(writer.resolve("/proc/stat"), "utf8");
  } catch {
    return null;
  }
}

function differentFile(hostPath: string, rom: SpecRomFile): string {
  return `${hostPath} exists already with other contents than ${rom.path}; refusing to overwrite it (another VM may use it): rename your file (e.g. ${rom.name.replace(/(\.[^.]*)?$/, "-2$1")}) and run again`;
}

function reason(err: unknown): string {
  return err instanceof UserError ? err.message : describeFsError(err);
}
