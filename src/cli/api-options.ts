// The Proxmox REST API options shared by the vm, vm mapping and guest commands. Their values
// go to src/vm/proxmox/connect.ts as plain ApiOptions.
import { Option, type Command } from "commander";
import { InputError } from "../errors.js";
import { quoteInput } from "../formats/device-selection.js";
import { TOKEN_ENV, type ApiOptions } from "../vm/proxmox/connect.js";

/**
 * --api, --node, --token-file, --fingerprint, --ca-file, --task-timeout, --timeout, --parallel
 * (and a refused --token).
 */
export function addApiOptions(cmd: Command): Command {
  return cmd
    .option(
      "--api <url>",
      "Proxmox VE API of any cluster node, https://HOST:8006 (the token comes from $PASSTHROUGH_PVE_TOKEN or --token-file)",
    )
    .option(
      "--node <name>",
      "the node whose devices and VMs this is about (its name as in the web UI)",
    )
    .option(
      "--token-file <path>",
      "read the API token USER@REALM!TOKENID=SECRET from this file instead of $PASSTHROUGH_PVE_TOKEN",
    )
    .option(
      "--fingerprint <sha256>",
      "pin the node's TLS certificate by its SHA-256 fingerprint (`pvenode cert info`) instead of trusting CAs",
    )
    .option(
      "--ca-file <path>",
      "also trust this CA, e.g. a copy of the cluster's /etc/pve/pve-root-ca.pem",
    )
    .option(
      "--task-timeout <seconds>",
      "how long to wait for a Proxmox task (config write, VM creation)",
      "120",
    )
    .option(
      "--timeout <seconds>",
      "give up on requests not answered within this many seconds of the start (each one gets at most 10 s)",
      "60",
    )
    .option("--parallel <n>", "requests to the cluster's nodes in flight at once", "8")
    .addOption(new Option("--token <secret>").hideHelp());
}

/** The API flags as commander parses them (and a --token that is only there to be refused). */
export interface ApiFlags extends ApiOptions {
  token?: string;
}

/**
 * The connection options from the flags. A secret on the command line is refused: every user
 * sees argv in `ps`, and shells keep it in their history.
 */
export function apiOptions(flags: ApiFlags): ApiOptions {
  if (flags.token !== undefined)
    throw new InputError(
      `--token is refused: a secret on the command line is visible to every user in \`ps\` and stays in shell history. Put it in ${TOKEN_ENV}=USER@REALM!TOKENID=SECRET or in a file (chmod 600) passed with --token-file`,
    );
  const { api, node, tokenFile, fingerprint, caFile, taskTimeout, timeout, parallel } = flags;
  if (taskTimeout !== undefined && !/^[1-9]\d{0,4}$/.test(taskTimeout))
    throw new InputError(
      `--task-timeout ${quoteInput(taskTimeout)}: expected whole seconds from 1 to 99999`,
    );
  return { api, node, tokenFile, fingerprint, caFile, taskTimeout, timeout, parallel };
}

/** The flags to repeat in a suggested command (nothing secret). */
export function connectionFlags(opts: ApiOptions): string {
  const parts: string[] = [];
  if (opts.api) parts.push(`--api ${opts.api}`);
  if (opts.fingerprint) parts.push(`--fingerprint ${opts.fingerprint}`);
  if (opts.caFile) parts.push(`--ca-file ${opts.caFile}`);
  if (opts.tokenFile) parts.push(`--token-file ${opts.tokenFile}`);
  return parts.join(" ");
}
