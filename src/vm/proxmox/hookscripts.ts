// VMs whose `hookscript:` names a snippet their storage does not have, read through the REST
// API: the VM list (/cluster/resources), each VM's config, and each storage's snippets
// (GET /nodes/NODE/storage/STORAGE/content?content=snippets, pve-storage's Content.pm). The
// finding is check's vm.hookscript-missing (src/checks/hookscript.ts), the same words for both.

import { hookscriptMissing } from "../../checks/hookscript.js";
import type { Finding } from "../../findings/finding.js";
import { apiPath, type PveApiClient } from "./api-client.js";
import { PveApiError } from "./api-errors.js";

export interface HookscriptScan {
  findings: Finding[];
  /** VMs with a hookscript whose storage could not be listed, with the reason. */
  unchecked: string[];
  /** VMs that have a hookscript, present or not. */
  withHookscript: number;
}

interface VmRef {
  vmid: number;
  node: string;
  volume: string;
}

/** Errors that say the same for every request (a refused token, a certificate) are thrown. */
function reasonOf(err: unknown): string {
  if (!(err instanceof PveApiError) || err.kind === "auth" || err.kind === "tls") throw err;
  return err.message;
}

async function hookscriptOf(
  client: PveApiClient,
  vmid: number,
  node: string,
): Promise<VmRef | null> {
  const config = await client.get<Record<string, unknown>>(
    apiPath`/nodes/${node}/qemu/${vmid}/config`,
  );
  const volume = config?.["hookscript"];
  return typeof volume === "string" && volume ? { vmid, node, volume } : null;
}

export async function scanHookscripts(client: PveApiClient): Promise<HookscriptScan> {
  let res: Array<Record<string, unknown>> | null;
  try {
    res = await client.get<Array<Record<string, unknown>>>("/cluster/resources", { type: "vm" });
  } catch (err) {
    // Past the run's deadline or a failing endpoint: the mappings are still reported.
    return {
      findings: [],
      unchecked: [`the cluster's VM list: ${reasonOf(err)}`],
      withHookscript: 0,
    };
  }
  const vms = (res ?? []).filter((r) => r.type === "qemu" && typeof r.node === "string");
  const unchecked: string[] = [];
  const refs = (
    await Promise.all(
      vms.map((r) =>
        hookscriptOf(client, Number(r.vmid), String(r.node)).catch((err: unknown) => {
          unchecked.push(`VM ${String(r.vmid)}: ${reasonOf(err)}`);
          return null;
        }),
      ),
    )
  ).filter((r): r is VmRef => r !== null);
  // One listing per node and storage, however many VMs use it.
  const listings = new Map<string, Promise<Set<string>>>();
  const listing = (node: string, storage: string) => {
    const key = `${node}/${storage}`;
    if (!listings.has(key))
      listings.set(
        key,
        client
          .get<Array<Record<string, unknown>>>(apiPath`/nodes/${node}/storage/${storage}/content`, {
            content: "snippets",
          })
          .then((items) => new Set((items ?? []).map((i) => String(i.volid)))),
      );
    return listings.get(key)!;
  };
  const findings: Finding[] = [];
  for (const ref of refs.sort((a, b) => a.vmid - b.vmid)) {
    const storage = ref.volume.split(":")[0]!;
    try {
      const volids = await listing(ref.node, storage);
      if (!volids.has(ref.volume)) findings.push(hookscriptMissing(ref.vmid, ref.volume, null));
    } catch (err) {
      unchecked.push(`VM ${ref.vmid} (${ref.volume}): ${reasonOf(err)}`);
    }
  }
  return { findings, unchecked, withHookscript: refs.length };
}
