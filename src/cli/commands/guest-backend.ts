// Which Proxmox backend `guest setup --cloud-init` uses: the same ones as the `vm` commands
// (local qm/pvesh on the node, or the REST API with --api). Only the local one can store a
// snippet; the API backend is still chosen when asked for, so the refusal says exactly why.

import type { Command } from "commander";
import { InputError } from "../../errors.js";
import { addApiOptions, apiConnector, type ApiOptions } from "../../vm/proxmox/connect.js";
import type { ProxmoxBackend } from "../../vm/types.js";
import type { CommandContext } from "../context.js";

export interface GuestBackendOptions extends ApiOptions {
  backend?: string;
}

export function addGuestBackendOptions(cmd: Command): Command {
  cmd.option("--backend <name>", "with --cloud-init: qm (on the Proxmox node; the default there) or api (with --api)");
  return addApiOptions(cmd);
}

export async function resolveGuestBackend(ctx: CommandContext, opts: GuestBackendOptions): Promise<ProxmoxBackend> {
  const wanted = opts.backend ?? (opts.api !== undefined ? "api" : "qm");
  if (wanted !== "qm" && wanted !== "api") throw new InputError(`--backend ${opts.backend}: --cloud-init works with qm (on the node) or api`);
  if (wanted === "api") {
    if (opts.api === undefined) throw new InputError("--backend api needs --api https://NODE:8006 (and a token: PASSTHROUGH_PVE_TOKEN or --token-file)");
    return apiConnector(opts, ctx.io.env, (l) => ctx.err(l));
  }
  throw new InputError("--cloud-init on the node needs the local qm backend, which this build does not have yet; use -o FILE");
}
