// The local Proxmox backend: `qm` and `pvesh` on the node itself, run as root, so they act as
// root@pam and may set raw `hostpciN: <address>` (docs/proxmox-api.md §1.9). Every call is an argv
// array through a CommandRunner.
//
// Reading: `qm config` prints the config but deliberately leaves out `digest`
// (qemu-server src/PVE/CLI/qm.pm, `next if $k eq 'digest'`), and the digest is what makes
// `qm set --digest` fail on a concurrent edit instead of overwriting it. So a VM's config is
// read with `pvesh get /nodes/NODE/qemu/VMID/config --output-format json`: the same API call
// (vm_config), config and digest from one read.

import { ApplyError, InputError } from "../../errors.js";
import { quoteArgv } from "../../process/quote.js";
import { commandSucceeded, firstErrorLine, type CommandRunner } from "../../process/run.js";
import { writeLocalSnippet } from "../snippets.js";
import type { ProxmoxBackend, VmConfig, VmConfigChange, VmRef } from "../types.js";

export class QmBackend implements ProxmoxBackend {
  readonly kind = "qm" as const;
  readonly canSetRawHostpci = true;

  constructor(
    private readonly runner: CommandRunner,
    readonly node: string,
  ) {}

  async getConfig(vmid: number): Promise<{ config: VmConfig; digest: string | null } | null> {
    const argv = [
      "pvesh",
      "get",
      `/nodes/${this.node}/qemu/${vmid}/config`,
      "--output-format",
      "json",
    ];
    const r = this.runner.run(argv);
    if (!commandSucceeded(r)) {
      // qemu-server: "Configuration file 'nodes/pve/qemu-server/101.conf' does not exist"
      if (/does not exist/.test(r.stderr)) return null;
      throw new InputError(
        `could not read VM ${vmid}'s config: \`${quoteArgv(argv)}\` failed: ${firstErrorLine(r)}`,
      );
    }
    return splitDigest(parseJsonObject(r.stdout, argv));
  }

  async listVms(): Promise<VmRef[]> {
    const argv = ["pvesh", "get", "/cluster/resources", "--type", "vm", "--output-format", "json"];
    const r = this.runner.run(argv);
    if (!commandSucceeded(r))
      throw new InputError(
        `could not list the cluster's VMs: \`${quoteArgv(argv)}\` failed: ${firstErrorLine(r)}`,
      );
    const items = parseJson(r.stdout, argv);
    if (!Array.isArray(items)) throw new InputError(`\`${quoteArgv(argv)}\` printed no list`);
    const out: VmRef[] = [];
    for (const it of items as Array<{ type?: unknown; vmid?: unknown; node?: unknown }>) {
      if (it.type !== "qemu" || typeof it.vmid !== "number" || typeof it.node !== "string")
        continue;
      const argvC = [
        "pvesh",
        "get",
        `/nodes/${it.node}/qemu/${it.vmid}/config`,
        "--output-format",
        "json",
      ];
      const c = this.runner.run(argvC);
      // A node that is down cannot answer; its configs are still in /etc/pve, which the host
      // model (HostState.vms) already scanned.
      if (!commandSucceeded(c)) continue;
      out.push({
        vmid: it.vmid,
        node: it.node,
        config: splitDigest(parseJsonObject(c.stdout, argvC)).config,
      });
    }
    return out.sort((a, b) => a.vmid - b.vmid);
  }

  async updateConfig(vmid: number, change: VmConfigChange, digest: string | null): Promise<void> {
    const argv = qmSetArgv(vmid, change, digest);
    const r = this.runner.run(argv);
    if (!commandSucceeded(r)) {
      throw new ApplyError(
        `\`${quoteArgv(argv)}\` failed: ${firstErrorLine(r)}; qm set writes the config in one step, so VM ${vmid} is unchanged — run \`passthrough vm plan --vmid ${vmid}\` again to see why`,
      );
    }
  }

  /** On the node itself: the file `pvesm path STORAGE:snippets/NAME` names (guest setup --cloud-init). */
  writeSnippet(storage: string, filename: string, content: string, mode?: number): Promise<string> {
    return writeLocalSnippet(this.runner, storage, filename, content, mode);
  }

  async createVm(vmid: number, config: VmConfig): Promise<void> {
    const argv = qmCreateArgv(vmid, config);
    const r = this.runner.run(argv);
    if (!commandSucceeded(r))
      throw new ApplyError(
        `\`${quoteArgv(argv)}\` failed: ${firstErrorLine(r)}; VM ${vmid} was not created (check \`qm list\` for leftovers)`,
      );
  }
}

/** `qm set VMID --key value ... --delete a,b --digest D` (keys sorted, as the config file). */
export function qmSetArgv(vmid: number, change: VmConfigChange, digest: string | null): string[] {
  const argv = ["qm", "set", String(vmid)];
  for (const k of Object.keys(change.set).sort()) argv.push(`--${k}`, change.set[k]!);
  if (change.delete.length > 0) argv.push("--delete", change.delete.join(","));
  if (digest) argv.push("--digest", digest);
  return argv;
}

/** `qm create VMID --key value ...`. */
export function qmCreateArgv(vmid: number, config: VmConfig): string[] {
  const argv = ["qm", "create", String(vmid)];
  for (const k of Object.keys(config).sort()) argv.push(`--${k}`, config[k]!);
  return argv;
}

function parseJson(text: string, argv: string[]): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new InputError(
      `\`${quoteArgv(argv)}\` printed something that is not JSON: ${text.trim().split("\n")[0]?.slice(0, 120) ?? ""}`,
    );
  }
}

function parseJsonObject(text: string, argv: string[]): Record<string, unknown> {
  const v = parseJson(text, argv);
  if (v === null || typeof v !== "object" || Array.isArray(v))
    throw new InputError(`\`${quoteArgv(argv)}\` printed no config object`);
  return v as Record<string, unknown>;
}

/** API values are strings or numbers (integers, 0/1 booleans); a config file has text. */
export function splitDigest(obj: Record<string, unknown>): {
  config: VmConfig;
  digest: string | null;
} {
  const config: VmConfig = {};
  let digest: string | null = null;
  for (const [k, v] of Object.entries(obj)) {
    if (k === "digest") {
      digest = typeof v === "string" ? v : null;
      continue;
    }
    if (typeof v === "string") config[k] = v;
    else if (typeof v === "number" || typeof v === "boolean")
      config[k] = typeof v === "boolean" ? (v ? "1" : "0") : String(v);
  }
  return { config, digest };
}
