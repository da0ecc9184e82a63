// A container's config through the Proxmox REST API (`ct plan|configure --api`), for a machine
// that is not the node: GET /nodes/{node}/lxc/{vmid}/config (VM.Audit on /vms/VMID) answers
// the config with the pending values applied and its `digest` (pve-container API2/LXC/Config.pm).
//
// What the API cannot do, said instead of worked around:
//   - read the container's /etc/group (no call reads a container's files): --gid is required;
//   - write devN entries: pve-container lets only root@pam add or delete them
//     (PVE::LXC::check_ct_modify_config_perm, "configuring device passthrough is only allowed
//     for root@pam"), and an API token is always USER@REALM!TOKENID, never root@pam.

import { InputError, RefusedError } from "../../errors.js";
import { emptySection, printCtConfig, type CtConfigFile } from "../../formats/proxmox-ct-config.js";
import { quoteArgv } from "../../process/quote.js";
import type { PciDevice } from "../../host/types.js";
import { apiPath, PveApiError, type PveApiClient } from "../proxmox/api-client.js";
import type { PveHardwarePci } from "../types.js";
import type { ContainerConfigRead } from "./read-container.js";

/** The JSON answer as a config file: keys, raw lxc pairs, the description as "#" lines. */
export function configFromApi(data: Record<string, unknown>): {
  config: CtConfigFile;
  digest: string;
} {
  const main = emptySection();
  let digest = "";
  for (const [k, v] of Object.entries(data ?? {})) {
    if (v === null || v === undefined) continue;
    if (k === "digest") digest = String(v);
    else if (k === "description") main.description = String(v).split("\n");
    else if (k === "lxc" && Array.isArray(v))
      main.lxc = v
        .filter(Array.isArray)
        .map((p) => [String(p[0]), String(p[1])] as [string, string]);
    else main.keys[k] = String(v);
  }
  return { config: { main, pending: null, snapshots: {}, unparsed: [] }, digest };
}

export async function readContainerConfigApi(
  client: PveApiClient,
  node: string,
  ctid: number,
): Promise<ContainerConfigRead> {
  let data: Record<string, unknown>;
  try {
    data = await client.get<Record<string, unknown>>(apiPath`/nodes/${node}/lxc/${ctid}/config`);
  } catch (err) {
    if (err instanceof PveApiError && err.kind === "not-found")
      throw new InputError(
        `container ${ctid}: node ${node} has no config for it (${err.details.reason ?? "not found"}); \`pct list\` on ${node}, or the web UI, shows its containers`,
      );
    throw err;
  }
  const { config, digest } = configFromApi(data);
  return { file: `etc/pve/lxc/${ctid}.conf`, text: printCtConfig(config), digest, config };
}

/** The host read here must be the node: the card must sit at the same address with the same ids. */
export function cardOnNode(
  card: PciDevice,
  hw: PveHardwarePci[],
  node: string,
  hostLabel: string,
): void {
  const hex = (v: string | undefined) => (v ?? "").replace(/^0x/, "").toLowerCase();
  const item = hw.find((h) => h.id === card.address);
  const here = `${card.vendorId}:${card.deviceId}`;
  const there = item ? `${hex(item.vendor)}:${hex(item.device)}` : null;
  if (there === here) return;
  throw new RefusedError(
    `${card.address} is ${here} in ${hostLabel} but ${there ?? "absent"} on node ${node}: the device nodes come from the host read here, which is not ${node}; run on ${node}, or give --snapshot of it`,
  );
}

/** Why `ct configure --api` stops after the diff, and what to run on the node instead. */
export function apiConfigureRefusal(
  ctid: number,
  node: string,
  device: string,
  pctSet: string[],
): RefusedError {
  return new RefusedError(
    `container ${ctid} on node ${node}: Proxmox lets only root@pam add or remove devN entries (pve-container: "configuring device passthrough is only allowed for root@pam"), and an API token never is root@pam; nothing was changed. On ${node}, as root, run \`passthrough ct configure --ctid ${ctid} --device ${device}\` (journaled, \`passthrough rollback\` undoes it), or \`${quoteArgv(pctSet)}\``,
  );
}
