// `guest setup --cloud-init VMID`: put the user-data on Proxmox as a snippet and point the VM at
// it with `cicustom: user=STORAGE:snippets/FILE`, through the same ProxmoxBackend as the `vm`
// commands. The config change is planned purely (planCloudInitAttach) and applied with the
// config's digest, so a concurrent edit fails instead of being overwritten.
//
// Proxmox facts this relies on (qemu-server, pve-storage):
// - `cicustom` is "[meta=<volume>] [,network=<volume>] [,user=<volume>] [,vendor=<volume>]";
//   `user=` replaces the user-data Proxmox would generate from ciuser/sshkeys/cipassword, the
//   other parts stay as they are.
// - The volume must be on a storage whose content types include `snippets`; on a directory
//   storage it is the file <path>/snippets/<name> (`pvesm path STORAGE:snippets/NAME`).
// - Snippets cannot be uploaded through the REST API: pve-storage's upload (and download-url)
//   endpoints accept only the content types iso, vztmpl and import. A backend that cannot write
//   a snippet says so (ProxmoxBackend.writeSnippet is optional).
// - cloud-init inside the VM reads the NoCloud drive Proxmox builds at VM start from a
//   `STORAGE:cloudinit` disk; without such a drive the snippet is never seen.

import { InputError, RefusedError } from "../errors.js";
import type { ProxmoxBackend, VmConfig, VmConfigChange } from "../vm/types.js";

export interface CloudInitAttachOptions {
  vmid: number;
  /** Storage for the snippet (content type snippets), default "local". */
  snippetStorage: string;
  /** Add a cloud-init drive on this storage when the VM has none (--cloud-init-drive). */
  driveStorage: string | null;
}

export interface CloudInitAttachPlan {
  filename: string;
  volume: string;
  change: VmConfigChange;
  /** What the change does, one line each, for the user. */
  summary: string[];
}

export function snippetFilename(vmid: number): string {
  return `passthrough-guest-${vmid}.yaml`;
}

const DISK_KEY = /^(ide[0-3]|sata[0-5]|scsi\d+|virtio\d+)$/;

/** "local-lvm:vm-100-cloudinit,media=cdrom" is a cloud-init drive. */
export function cloudInitDrive(config: VmConfig): string | null {
  for (const [key, value] of Object.entries(config)) {
    if (!DISK_KEY.test(key)) continue;
    const volume = value.split(",")[0] ?? "";
    // Allocated ("local-lvm:vm-100-cloudinit", "local:100/vm-100-cloudinit.qcow2") or still
    // to allocate ("local-lvm:cloudinit").
    if (/[:/]vm-\d+-cloudinit(\.[a-z0-9]+)?$/.test(volume) || /:cloudinit$/.test(volume))
      return key;
  }
  return null;
}

/** Proxmox puts the GUI's cloud-init drive on ide2 when free; then the other IDE and SATA slots. */
const DRIVE_SLOTS = [
  "ide2",
  "ide0",
  "ide1",
  "ide3",
  "sata0",
  "sata1",
  "sata2",
  "sata3",
  "sata4",
  "sata5",
];

function parseCicustom(value: string | undefined): Array<[string, string]> {
  if (!value) return [];
  return value
    .split(",")
    .map((part) => part.trim())
    .filter(Boolean)
    .map((part) => {
      const eq = part.indexOf("=");
      return eq < 0
        ? (["user", part] as [string, string])
        : ([part.slice(0, eq), part.slice(eq + 1)] as [string, string]);
    });
}

export function planCloudInitAttach(
  config: VmConfig,
  opts: CloudInitAttachOptions,
): CloudInitAttachPlan {
  const filename = snippetFilename(opts.vmid);
  const volume = `${opts.snippetStorage}:snippets/${filename}`;
  const set: VmConfig = {};
  const summary: string[] = [];

  const parts = parseCicustom(config.cicustom);
  const current = parts.find(([k]) => k === "user")?.[1];
  if (current !== volume) {
    const next = [...parts.filter(([k]) => k !== "user"), ["user", volume] as [string, string]];
    // qemu-server prints the keys in this order.
    const order = ["meta", "network", "user", "vendor"];
    next.sort((a, b) => order.indexOf(a[0]) - order.indexOf(b[0]));
    set.cicustom = next.map(([k, v]) => `${k}=${v}`).join(",");
    summary.push(
      current
        ? `cicustom: user=${current} -> user=${volume}`
        : `cicustom: user=${volume}${parts.length ? " (meta/network/vendor kept)" : ""}`,
    );
  } else {
    summary.push(`cicustom already points at ${volume}`);
  }

  const drive = cloudInitDrive(config);
  if (drive) {
    summary.push(`cloud-init drive: ${drive} (${config[drive]})`);
  } else if (opts.driveStorage) {
    const slot = DRIVE_SLOTS.find((s) => config[s] === undefined);
    if (!slot)
      throw new RefusedError(
        `VM ${opts.vmid} has no free IDE or SATA slot for a cloud-init drive; free one (qm set ${opts.vmid} --delete ide0) and rerun`,
      );
    set[slot] = `${opts.driveStorage}:cloudinit`;
    summary.push(`cloud-init drive: ${slot} = ${opts.driveStorage}:cloudinit (new)`);
  } else {
    throw new InputError(
      `VM ${opts.vmid} has no cloud-init drive, so cloud-init in the guest would never see the snippet; add --cloud-init-drive STORAGE (e.g. local-lvm), or run: qm set ${opts.vmid} --ide0 local-lvm:cloudinit`,
    );
  }
  return { filename, volume, change: { set, delete: [] }, summary };
}

export interface CloudInitAttachResult extends CloudInitAttachPlan {
  node: string;
  /** Where the backend put the snippet on the node (a path for qm). */
  snippetLocation: string;
  configChanged: boolean;
}

/** Write the snippet, then change the VM config (only what differs). */
export async function attachCloudInit(
  backend: ProxmoxBackend,
  userData: string,
  opts: CloudInitAttachOptions,
): Promise<CloudInitAttachResult> {
  const current = await backend.getConfig(opts.vmid);
  if (!current)
    throw new InputError(
      `VM ${opts.vmid} does not exist on node ${backend.node}; \`qm list\` shows the VMs`,
    );
  const plan = planCloudInitAttach(current.config, opts);
  if (!backend.writeSnippet) {
    throw new RefusedError(
      `the ${backend.kind} backend cannot store snippets (Proxmox's upload API takes only iso, vztmpl and import); run this on the node itself (qm backend), or save it with -o FILE, copy it to the node's snippets folder (/var/lib/vz/snippets for "local") and run: qm set ${opts.vmid} --cicustom user=${plan.volume}`,
    );
  }
  const location = await backend.writeSnippet(opts.snippetStorage, plan.filename, userData);
  const configChanged = Object.keys(plan.change.set).length > 0;
  if (configChanged) await backend.updateConfig(opts.vmid, plan.change, current.digest);
  return { ...plan, node: backend.node, snippetLocation: location, configChanged };
}
