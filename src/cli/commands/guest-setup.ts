// `passthrough guest setup`: writes an idempotent bootstrap for the VM (bash script or
// cloud-init user-data, src/guest/), or with --cloud-init VMID stores it as a Proxmox snippet
// and attaches it with `cicustom`, through the same backends as the `vm` commands.

import type { Command } from "commander";
import * as fs from "node:fs";
import * as path from "node:path";
import { FileWriter } from "../../apply/file-writer.js";
import { EXIT, InputError, RefusedError, describeFsError } from "../../errors.js";
import { attachCloudInit, snippetFilename } from "../../guest/cloud-init-attach.js";
import { supportedDistroList } from "../../guest/distros.js";
import { buildGuestSetup, needsHostModel, type GuestSetupFlags } from "../../guest/setup.js";
import { openHostRoot } from "../../host/open-root.js";
import { readHostState } from "../../host/read-host.js";
import type { HostState } from "../../host/types.js";
import { writeDocument, type CommandContext } from "../context.js";
import { type RunAction } from "../registration.js";
import { VERSION } from "../../version.js";
import {
  addGuestBackendOptions,
  resolveGuestBackend,
  type GuestBackendOptions,
} from "./guest-backend.js";
import { guestCommand } from "./guest-group.js";

interface GuestSetupCliOptions extends GuestSetupFlags, GuestBackendOptions {
  snippetStorage: string;
  cloudInitDrive?: string;
}

export function registerGuestSetup(program: Command, run: RunAction): void {
  const cmd = guestCommand(program)
    .command("setup")
    .description(
      "write an idempotent bootstrap for the VM: SSH, Tailscale, the GPU driver, Sunshine (script or cloud-init)",
    )
    .option("--ssh", "openssh-server, enabled")
    .option(
      "--ssh-key <file>",
      "public key(s) to authorize (implies --ssh; password logins are then turned off)",
    )
    .option(
      "--user <name>",
      "account that gets the key and the input group (default: the sudo user; cloud-init: the image's default user)",
    )
    .option(
      "--tailscale",
      "Tailscale from its official apt repository, then `tailscale up` with an auth key read at run time",
    )
    .option("--tailscale-hostname <name>", "machine name in the tailnet")
    .option(
      "--embed-secrets",
      "put the auth key from --tailscale-authkey-file into the output (needs -o or --cloud-init; warned)",
    )
    .option(
      "--tailscale-authkey-file <file>",
      "file holding the auth key, read at generation time with --embed-secrets only",
    )
    .option(
      "--gpu-driver",
      "the driver for the passed GPU's vendor (NVIDIA: distro driver packages; AMD/Intel: firmware + Mesa)",
    )
    .option(
      "--device <address>",
      "the GPU, from the host model (default: the only GPU, preferring one bound to vfio-pci)",
    )
    .option("--gpu-vendor <vendor>", "nvidia, amd or intel, instead of reading the host model")
    .option(
      "--nvidia-driver <branch>",
      "Ubuntu: nvidia-driver-BRANCH (e.g. 535) instead of ubuntu-drivers' choice",
    )
    .option("--streaming <server>", "sunshine: game streaming to Moonlight (official release .deb)")
    .option(
      "--distro <release>",
      `the guest's release: ${supportedDistroList()} (detected when run inside the guest)`,
    )
    .option("--format <format>", "script (bash, default) or cloud-init (#cloud-config user-data)")
    .option("-o, --output <file>", "write to FILE (atomically) instead of stdout")
    .option(
      "--cloud-init <vmid>",
      "Proxmox: store the user-data as a snippet and attach it to VM VMID (cicustom)",
    )
    .option(
      "--snippet-storage <storage>",
      "storage for the snippet (content type snippets)",
      "local",
    )
    .option(
      "--cloud-init-drive <storage>",
      "add a cloud-init drive on STORAGE when the VM has none (e.g. local-lvm)",
    )
    .option(
      "--snapshot <path>",
      "read the host model from a snapshot (to pick the GPU) instead of this host",
    );
  addGuestBackendOptions(cmd)
    .addHelpText(
      "after",
      `
The output is safe to run again: every step checks before it acts (dpkg-query, exact line
matches, systemctl is-enabled), and a second run reports "changed: 0".

Secrets: the Tailscale auth key is read when the script runs, from TS_AUTHKEY_FILE (a file)
or TS_AUTHKEY (environment), and handed to tailscale as --auth-key=file:PATH, never on a
command line. It is embedded only with --embed-secrets, from --tailscale-authkey-file, never
printed to the terminal.

Examples:
  passthrough guest setup --distro ubuntu:22.04 --ssh --ssh-key ~/.ssh/id_ed25519.pub \\
      --tailscale --gpu-driver --snapshot host.tar.gz -o setup.sh
  scp setup.sh vm: && ssh -t vm 'sudo TS_AUTHKEY_FILE=ts.key bash setup.sh'
  passthrough guest setup --distro debian:12 --gpu-driver --gpu-vendor amd --streaming sunshine --format cloud-init
  passthrough guest setup --distro ubuntu:24.04 --ssh --ssh-key me.pub --cloud-init 100 --cloud-init-drive local-lvm`,
    )
    .action(run<GuestSetupCliOptions>(guestSetupCommand));
}

function loadState(snapshot: string | undefined): { state: HostState; source: string } {
  const opened = openHostRoot(snapshot);
  return {
    state: readHostState(opened.root, { manifest: opened.manifest }),
    source: opened.root.label,
  };
}

async function guestSetupCommand(ctx: CommandContext, opts: GuestSetupCliOptions): Promise<number> {
  let vmid: number | null = null;
  if (opts.cloudInit !== undefined) {
    if (!/^\d+$/.test(opts.cloudInit) || Number(opts.cloudInit) < 100)
      throw new InputError(
        `--cloud-init ${opts.cloudInit}: give the VM id (a number, 100 or more)`,
      );
    vmid = Number(opts.cloudInit);
  } else if (opts.cloudInitDrive !== undefined) {
    throw new InputError("--cloud-init-drive is for --cloud-init VMID; add it");
  }
  const host =
    needsHostModel(opts) || opts.snapshot !== undefined ? loadState(opts.snapshot) : null;
  const doc = buildGuestSetup(opts, {
    state: host?.state ?? null,
    source: host?.source ?? "this host",
    version: VERSION,
  });

  if (vmid !== null) {
    const backend = await resolveGuestBackend(ctx, opts);
    if (opts.output !== undefined)
      writeOutput(opts.output, doc.content, doc.options.tailscale?.embeddedKey ? 0o600 : 0o644);
    ctx.err(...doc.warnings);
    if (!backend.writeSnippet) {
      const volume = `${opts.snippetStorage}:snippets/${snippetFilename(vmid)}`;
      const file = opts.output ?? "user-data.yaml";
      throw new RefusedError(
        `the ${backend.kind} backend cannot store snippets (Proxmox's upload API takes only iso, vztmpl and import), so VM ${vmid} was not changed; ${
          opts.output === undefined
            ? "save the user-data with -o user-data.yaml, "
            : `${file} is written; `
        }copy it to the node as the file \`pvesm path ${volume}\` names there (/var/lib/vz/snippets/ for "local"), then run on the node: qm set ${vmid} --cicustom user=${volume}`,
      );
    }
    const result = await attachCloudInit(backend, doc.content, {
      vmid,
      snippetStorage: opts.snippetStorage,
      driveStorage: opts.cloudInitDrive ?? null,
    });
    ctx.out(
      `VM ${vmid} on ${result.node}: ${doc.summary}`,
      `  snippet  ${result.volume}  (${result.snippetLocation})`,
      ...result.summary.map((s) => `  config   ${s}`),
      result.configChanged
        ? ""
        : "  (the VM config already had this: only the snippet was rewritten)",
      `Next: start the VM (qm start ${vmid}); cloud-init runs the setup on its first boot (log: /var/log/cloud-init-output.log in the VM).`,
      "A VM that already ran cloud-init runs new user-data only after `sudo cloud-init clean` in it; or run the script there by hand.",
    );
    if (doc.options.tailscale?.embeddedKey)
      ctx.err(
        `warning: ${result.snippetLocation} on ${result.node} holds the auth key: delete it once the VM has joined the tailnet`,
      );
    return EXIT.ok;
  }

  if (opts.output === undefined) {
    writeDocument(ctx, doc.content);
    ctx.err(...doc.warnings);
    return EXIT.ok;
  }
  // The script is executable; anything holding a key (or user-data, which names accounts) is root-only.
  const mode = doc.options.tailscale?.embeddedKey ? 0o600 : doc.format === "script" ? 0o755 : 0o644;
  writeOutput(opts.output, doc.content, mode);
  ctx.err(...doc.warnings);
  ctx.out(`wrote ${opts.output}: ${doc.summary}`);
  if (doc.format === "script") {
    const name = path.basename(opts.output);
    ctx.out(
      `Next: copy it into the VM and run it as root, e.g.  scp ${opts.output} vm: && ssh -t vm 'sudo bash ${name}'`,
      ...(doc.options.tailscale && !doc.options.tailscale.embeddedKey
        ? [
            `      with the Tailscale key in a file there:  sudo TS_AUTHKEY_FILE=/root/ts.key bash ${name}`,
          ]
        : []),
      "Then, inside the VM: passthrough guest check",
    );
  } else {
    ctx.out(
      "Next: give it to the VM as cloud-init user-data (Proxmox: passthrough guest setup ... --cloud-init VMID); it runs on first boot.",
    );
  }
  return EXIT.ok;
}

function writeOutput(file: string, content: string, mode: number): void {
  try {
    const dir = path.dirname(path.resolve(file));
    if (!fs.statSync(dir).isDirectory())
      throw Object.assign(new Error("not a folder"), { code: "ENOTDIR" });
    // The mode is set explicitly (not kept from an old file): a key must not stay world-readable.
    new FileWriter("/").write(path.resolve(file), content, { mode });
  } catch (err) {
    throw new InputError(`-o ${file}: ${describeFsError(err)}; nothing was written`);
  }
}
