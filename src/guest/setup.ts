// From `guest setup` flags to GuestSetupOptions and the rendered document: checks every flag
// combination, reads the key files, picks the GPU from the host model. No output here; the
// command (src/cli/commands/guest-setup.ts) writes the result and the warnings.

import { parseSingleDevice } from "../formats/device-selection.js";
import { InputError } from "../errors.js";
import type { HostState } from "../host/types.js";
import { renderCloudConfig } from "./cloud-init.js";
import {
  DISTROS,
  distroFromOsRelease,
  findDistro,
  supportedDistroList,
  type Distro,
} from "./distros.js";
import { describeGpu, gpuVendor, selectGpu, type GpuVendor } from "./gpu.js";
import { checkHostname, checkUserName, readAuthKey, readPublicKeys } from "./inputs.js";
import { renderScript } from "./script.js";
import type { GuestGpu, GuestSetupOptions } from "./steps.js";

export interface GuestSetupFlags {
  ssh?: boolean;
  sshKey?: string;
  user?: string;
  tailscale?: boolean;
  tailscaleHostname?: string;
  tailscaleAuthkeyFile?: string;
  embedSecrets?: boolean;
  gpuDriver?: boolean;
  device?: string;
  gpuVendor?: string;
  nvidiaDriver?: string;
  streaming?: string;
  distro?: string;
  format?: string;
  output?: string;
  cloudInit?: string;
  snapshot?: string;
}

export interface GuestSetupDocument {
  format: "script" | "cloud-init";
  content: string;
  options: GuestSetupOptions;
  /** Lines for stderr: never the key itself. */
  warnings: string[];
  /** One line: what it sets up, for messages. */
  summary: string;
}

const VENDORS: GpuVendor[] = ["nvidia", "amd", "intel"];

/** Whether these flags need the host model (to pick the GPU, or the distro of a guest). */
export function needsHostModel(f: GuestSetupFlags): boolean {
  return (f.gpuDriver === true && f.gpuVendor === undefined) || f.distro === undefined;
}

export function resolveDistro(f: GuestSetupFlags, state: HostState | null): Distro {
  if (f.distro !== undefined) {
    const d = findDistro(f.distro);
    if (!d)
      throw new InputError(
        `--distro ${f.distro} is not supported; supported: ${supportedDistroList()} (or the codename: ${DISTROS.map((x) => `${x.os}:${x.codename}`).join(", ")})`,
      );
    return d;
  }
  const distro = state?.system.distro;
  if (state?.system.virtualMachine && distro) {
    const d = distroFromOsRelease(distro.id, distro.versionId);
    if (d) return d;
    throw new InputError(
      `this guest runs ${distro.prettyName ?? `${distro.id} ${distro.versionId ?? ""}`}, which guest setup does not support; supported: ${supportedDistroList()}`,
    );
  }
  throw new InputError(
    `give the guest's release with --distro (supported: ${supportedDistroList()}); it is only detected when guest setup runs inside the guest`,
  );
}

function resolveGpu(
  f: GuestSetupFlags,
  state: HostState | null,
  source: string,
  distro: Distro,
): GuestGpu | null {
  if (!f.gpuDriver) {
    for (const [flag, v] of [
      ["--device", f.device],
      ["--gpu-vendor", f.gpuVendor],
      ["--nvidia-driver", f.nvidiaDriver],
    ] as const) {
      if (v !== undefined)
        throw new InputError(`${flag} chooses the driver for --gpu-driver; add --gpu-driver`);
    }
    return null;
  }
  let vendor: GpuVendor;
  let description: string;
  if (f.gpuVendor !== undefined) {
    if (f.device !== undefined)
      throw new InputError("give --device (the GPU from the host model) or --gpu-vendor, not both");
    if (!VENDORS.includes(f.gpuVendor as GpuVendor))
      throw new InputError(`--gpu-vendor ${f.gpuVendor}: use one of ${VENDORS.join(", ")}`);
    vendor = f.gpuVendor as GpuVendor;
    description = `--gpu-vendor ${vendor}`;
  } else {
    if (!state)
      throw new InputError(
        "--gpu-driver needs the GPU: give --device ADDRESS (with --snapshot of the host) or --gpu-vendor nvidia|amd|intel",
      );
    const gpu = selectGpu(state, parseSingleDevice(f.device, "guest setup --gpu-driver"), source);
    const v = gpuVendor(gpu);
    if (!v)
      throw new InputError(
        `${describeGpu(gpu)}: no driver recipe for vendor ${gpu.vendorId} (NVIDIA 10de, AMD 1002 and Intel 8086 are supported)`,
      );
    vendor = v;
    description = describeGpu(gpu);
  }
  let nvidiaDriver: string | null = null;
  if (f.nvidiaDriver !== undefined) {
    if (vendor !== "nvidia")
      throw new InputError(`--nvidia-driver is for NVIDIA GPUs; this one is ${vendor}`);
    if (distro.nvidia.method !== "ubuntu-drivers")
      throw new InputError(
        `--nvidia-driver picks Ubuntu's nvidia-driver-NNN; ${distro.name} has one nvidia-driver package (leave the flag out)`,
      );
    if (!/^\d{3}(-open|-server|-server-open)?$/.test(f.nvidiaDriver))
      throw new InputError(
        `--nvidia-driver ${f.nvidiaDriver}: give the branch, e.g. 535 or 550-open (apt-cache search nvidia-driver- lists them)`,
      );
    nvidiaDriver = f.nvidiaDriver;
  }
  return { vendor, description, nvidiaDriver };
}

export interface BuildContext {
  state: HostState | null;
  /** "this host" or the snapshot path, for messages. */
  source: string;
  version: string;
}

export function buildGuestSetup(f: GuestSetupFlags, ctx: BuildContext): GuestSetupDocument {
  const wantSsh = f.ssh === true || f.sshKey !== undefined;
  if (!wantSsh && !f.tailscale && !f.gpuDriver && f.streaming === undefined) {
    throw new InputError(
      "choose what to set up: --ssh [--ssh-key FILE], --tailscale, --gpu-driver, --streaming sunshine (any together)",
    );
  }
  if (f.streaming !== undefined && f.streaming !== "sunshine")
    throw new InputError(`--streaming ${f.streaming}: only sunshine is supported`);
  let format: "script" | "cloud-init";
  if (f.cloudInit !== undefined) {
    if (f.format !== undefined && f.format !== "cloud-init")
      throw new InputError(`--cloud-init writes cloud-init user-data; drop --format ${f.format}`);
    format = "cloud-init";
  } else if (f.format === undefined || f.format === "script" || f.format === "cloud-init") {
    format = (f.format ?? "script") as "script" | "cloud-init";
  } else {
    throw new InputError(`--format ${f.format}: use script or cloud-init`);
  }

  const distro = resolveDistro(f, ctx.state);
  const gpu = resolveGpu(f, ctx.state, ctx.source, distro);
  const user = f.user === undefined ? null : checkUserName(f.user);

  const warnings: string[] = [];
  let embeddedKey: string | null = null;
  if (f.embedSecrets || f.tailscaleAuthkeyFile !== undefined) {
    if (!f.tailscale)
      throw new InputError(
        "--embed-secrets and --tailscale-authkey-file are for --tailscale; add it",
      );
    if (!f.embedSecrets) {
      throw new InputError(
        "--tailscale-authkey-file is read only with --embed-secrets; without it the script reads the key when it runs: sudo TS_AUTHKEY_FILE=/path/to/key bash setup.sh",
      );
    }
    if (f.tailscaleAuthkeyFile === undefined)
      throw new InputError(
        "--embed-secrets needs --tailscale-authkey-file FILE (the key is never taken from the command line)",
      );
    if (f.output === undefined && f.cloudInit === undefined)
      throw new InputError(
        "--embed-secrets needs -o FILE (or --cloud-init VMID): the key is never printed to the terminal",
      );
    embeddedKey = readAuthKey(f.tailscaleAuthkeyFile);
    const where = [
      f.output,
      f.cloudInit !== undefined ? `the cloud-init snippet for VM ${f.cloudInit}` : undefined,
    ]
      .filter(Boolean)
      .join(" and ");
    warnings.push(
      `warning: ${where} embed${f.output !== undefined && f.cloudInit !== undefined ? "" : "s"} the Tailscale auth key from ${f.tailscaleAuthkeyFile}: keep it private and delete it after the first run (a one-off, ephemeral, pre-approved key limits the damage)`,
    );
  }

  const options: GuestSetupOptions = {
    distro,
    user,
    ssh: wantSsh ? { keys: f.sshKey !== undefined ? readPublicKeys(f.sshKey) : [] } : null,
    tailscale: f.tailscale
      ? {
          hostname: f.tailscaleHostname === undefined ? null : checkHostname(f.tailscaleHostname),
          embeddedKey,
          keyFile: null,
        }
      : null,
    gpu,
    streaming: f.streaming === "sunshine" ? "sunshine" : null,
  };
  if (f.tailscaleHostname !== undefined && !f.tailscale)
    throw new InputError("--tailscale-hostname is for --tailscale; add it");
  if (wantSsh && f.sshKey === undefined)
    warnings.push(
      "note: no --ssh-key: password logins stay on (give your .pub file to turn them off)",
    );
  if (format === "cloud-init" && f.sshKey === undefined) {
    // Proxmox's ciuser/cipassword/sshkeys only reach the guest through the user-data it builds,
    // which cicustom user= replaces.
    warnings.push(
      `note: this user-data sets no password and no SSH key for ${user ?? distro.cloudUser}: add --ssh-key FILE, or you can only log in on a console`,
    );
  }

  const meta = { version: ctx.version, command: commandLine(f, distro, format) };
  const content =
    format === "script" ? renderScript(options, meta) : renderCloudConfig(options, meta);
  const summary = [
    options.ssh
      ? `ssh${options.ssh.keys.length ? ` (${options.ssh.keys.length} key${options.ssh.keys.length > 1 ? "s" : ""}, password logins off)` : ""}`
      : null,
    options.tailscale ? `tailscale${embeddedKey ? " (key embedded)" : ""}` : null,
    gpu ? `${gpu.vendor} driver` : null,
    options.streaming,
  ]
    .filter(Boolean)
    .join(", ");
  return {
    format,
    content,
    options,
    warnings,
    summary: `${format === "script" ? "script" : "cloud-init user-data"} for ${distro.name}: ${summary}`,
  };
}

/** The flags that shaped the document, for its header: paths and choices, never a secret. */
function commandLine(f: GuestSetupFlags, distro: Distro, format: string): string {
  const parts = ["passthrough guest setup", `--distro ${distro.id}`];
  if (f.ssh || f.sshKey) parts.push("--ssh");
  if (f.sshKey) parts.push("--ssh-key FILE");
  if (f.user) parts.push(`--user ${f.user}`);
  if (f.tailscale) parts.push("--tailscale");
  if (f.tailscaleHostname) parts.push(`--tailscale-hostname ${f.tailscaleHostname}`);
  if (f.embedSecrets) parts.push("--embed-secrets");
  if (f.gpuDriver) parts.push("--gpu-driver");
  if (f.device) parts.push(`--device ${f.device}`);
  if (f.gpuVendor) parts.push(`--gpu-vendor ${f.gpuVendor}`);
  if (f.nvidiaDriver) parts.push(`--nvidia-driver ${f.nvidiaDriver}`);
  if (f.streaming) parts.push(`--streaming ${f.streaming}`);
  parts.push(`--format ${format}`);
  return parts.join(" ");
}
