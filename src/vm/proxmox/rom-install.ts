// Proxmox reads a hostpci romfile from /usr/share/kvm on the node that starts the VM
// (qm.conf(5): "romfile: Custom pci device rom filename (must be located in /usr/share/kvm/)").
// `vm configure|create --romfile` copies the file there before the config names it: atomically
// (apply's FileWriter), never over a different file of the same name (another VM's ROM, or a
// file a package ships there), and not at all when the same bytes are there already. Only a
// backend running on the node can: the REST API has no call that writes there, and setting
// romfile is root@pam's alone (qemu-server API2/Qemu.pm check_hostpci_perm).

import * as os from "node:os";
import { FileWriter } from "../../apply/file-writer.js";
import { ApplyError, RefusedError, UserError, describeFsError } from "../../errors.js";
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

/** Copy the ROM (checked again: the folder may have changed since the plan). */
export function installRom(writer: FileWriter, rom: SpecRomFile, install: RomInstall): void {
  try {
    const now = writer.read(install.hostPath);
    if (now.exists) {
      if (now.bytes.equals(install.bytes)) return;
      throw new RefusedError(differentFile(install.hostPath, rom));
    }
    writer.write(install.hostPath, install.bytes, { mode: 0o644 });
  } catch (err) {
    if (err instanceof UserError) throw err;
    throw new ApplyError(
      `could not copy ${rom.path} to ${install.hostPath}: ${describeFsError(err)}; the VM config was not changed`,
    );
  }
}

function differentFile(hostPath: string, rom: SpecRomFile): string {
  return `${hostPath} exists already with other contents; refusing to overwrite it (another VM may use it): rename your file (e.g. ${rom.name.replace(/(\.[^.]*)?$/, "-2$1")}) and run again`;
}

function reason(err: unknown): string {
  return err instanceof UserError ? err.message : describeFsError(err);
}
