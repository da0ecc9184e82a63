// The Proxmox REST API options shared by the vm, vm mapping and guest commands. Their values
// go to src/vm/proxmox/connect.ts as plain ApiOptions.
import { Option, type Command } from "commander";

/** --api, --node, --token-file, --fingerprint, --ca-file, --task-timeout (and a refused --token). */
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
    .addOption(new Option("--token <secret>").hideHelp());
}
