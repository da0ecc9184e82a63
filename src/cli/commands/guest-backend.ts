// Which Proxmox backend `guest setup --cloud-init` uses: the same ones as the `vm` commands.
import type { Command } from "commander";
import { RefusedError } from "../../errors.js";
import type { ProxmoxBackend } from "../../vm/types.js";
import type { CommandContext } from "../context.js";

export interface GuestBackendOptions {
  backend?: string;
}

export function addGuestBackendOptions(cmd: Command): Command {
  return cmd.option("--backend <kind>", "Proxmox backend for --cloud-init: qm (on the node) or api");
}

export async function resolveGuestBackend(_ctx: CommandContext, _opts: GuestBackendOptions): Promise<ProxmoxBackend> {
  throw new RefusedError("PROVISIONAL: the Proxmox backends land with the vm commands");
}
