// Which Proxmox backend `guest setup --cloud-init` uses: the same selection as the `vm`
// commands (src/vm/select-backend.ts): local qm/pvesh on the node, or the REST API with --api.
// Only the local one can store a snippet; the API backend is still chosen when asked for, so
// the refusal can say exactly why and what to do instead.

import type { Command } from "commander";
import { InputError } from "../../errors.js";
import { openLiveRoot } from "../../host/open-root.js";
import { readHostState } from "../../host/read-host.js";
import { ProcessRunner } from "../../process/run.js";
import { proxmoxClient } from "../../vm/proxmox/backend.js";
import { apiConnector } from "../../vm/proxmox/connect.js";
import { selectBackend } from "../../vm/select-backend.js";
import type { ProxmoxBackend } from "../../vm/types.js";
import { addApiOptions, apiOptions, type ApiFlags } from "../api-options.js";
import type { CommandContext } from "../context.js";

export interface GuestBackendOptions extends ApiFlags {
  backend?: string;
}

export function addGuestBackendOptions(cmd: Command): Command {
  cmd.option(
    "--backend <name>",
    "with --cloud-init: qm (on the Proxmox node; the default there) or api (with --api)",
  );
  return addApiOptions(cmd);
}

export async function resolveGuestBackend(
  ctx: CommandContext,
  opts: GuestBackendOptions,
): Promise<ProxmoxBackend> {
  if (opts.backend !== undefined && opts.backend !== "qm" && opts.backend !== "api") {
    throw new InputError(
      `--backend ${opts.backend}: --cloud-init works with qm (on the node) or api (--api https://NODE:8006)`,
    );
  }
  // The node is this machine (never a snapshot: a snapshot cannot be changed).
  const opened = openLiveRoot();
  const state = readHostState(opened.root, { manifest: null });
  const backend = await selectBackend(
    {
      backend: opts.backend ?? null,
      emit: null,
      libvirtDomain: null,
      domainXmlFile: null,
      api: opts.api !== undefined,
      node: opts.node ?? null,
    },
    {
      state,
      runner: new ProcessRunner(ctx.io.env),
      env: ctx.io.env,
      connectApi: () => apiConnector(apiOptions(opts), ctx.io.env, (l) => ctx.err(l)),
    },
  );
  const client = proxmoxClient(backend);
  if (!client)
    throw new InputError(
      "--cloud-init attaches to a Proxmox VM: run it on the node (qm), or give --api https://NODE:8006",
    );
  return client;
}
