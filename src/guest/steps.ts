// What a guest bootstrap does, as structured steps: each has a check (bash that succeeds when
// the step is already done), an optional guard (bash that says whether the step can run here,
// printing why not) and an action. script.ts renders them as one bash script; the cloud-init
// renderer ships that same script (cloud-init.ts). Pure: options in, steps out.

import { singleQuote } from "../process/quote.js";
import {
  TAILSCALE_KEYRING,
  TAILSCALE_LIST,
  sunshineUrl,
  tailscaleListContent,
  type Distro,
} from "./distros.js";
import type { GpuVendor } from "./gpu.js";

export interface GuestGpu {
  vendor: GpuVendor;
  /** Where the choice came from, for the script header: "0000:01:00.0 NVIDIA GA102 [10de:2206]". */
  description: string;
  /** --nvidia-driver NNN: that nvidia-driver-NNN (Ubuntu) instead of the recommended one. */
  nvidiaDriver: string | null;
}

export interface GuestSetupOptions {
  distro: Distro;
  /** The account that gets the SSH key and the input group; null = ${SUDO_USER:-root} at run time. */
  user: string | null;
  ssh: { keys: string[] } | null;
  tailscale: { hostname: string | null; embeddedKey: string | null; keyFile: string | null } | null;
  gpu: GuestGpu | null;
  streaming: "sunshine" | null;
}

export interface GuestStep {
  /** Stable id, also the bash function suffix ("ssh_package"). */
  id: string;
  /** What is true once the step is done: "openssh-server is installed". */
  title: string;
  /** Bash lines; exit status 0 = already done. Must only read. */
  check: string[];
  /** Bash lines; exit status non-zero = cannot run here, after printing the reason on stdout. */
  guard?: string[];
  /** Bash lines that make the check pass. */
  apply: string[];
  /** Printed at the end when this step changed something. */
  note?: string;
}

const SSHD_DROPIN = "/etc/ssh/sshd_config.d/10-passthrough.conf";

/**
 * sshd keeps the first value it reads for each keyword, and Debian/Ubuntu's sshd_config
 * includes sshd_config.d/*.conf at its top, in name order: "10-" comes before cloud-init's
 * "50-cloud-init.conf" (which can say PasswordAuthentication yes).
 */
export const SSHD_KEY_ONLY = `# Written by passthrough guest setup: SSH logins by key only (the key is in authorized_keys).
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
`;

export function buildSteps(o: GuestSetupOptions): GuestStep[] {
  const steps: GuestStep[] = [];
  const d = o.distro;

  if (o.ssh) {
    steps.push({
      id: "ssh_package",
      title: `${d.ssh.package} is installed`,
      check: [`is_installed ${d.ssh.package}`],
      apply: [`apt_install ${d.ssh.package}`],
    });
    steps.push({
      id: "ssh_service",
      title: `${d.ssh.unit} is enabled and running`,
      check: [
        `systemctl is-enabled --quiet ${d.ssh.unit} && systemctl is-active --quiet ${d.ssh.unit}`,
      ],
      apply: [`systemctl enable --now ${d.ssh.unit}`],
    });
    if (o.ssh.keys.length > 0) {
      steps.push({
        id: "ssh_key",
        title: `the SSH key${o.ssh.keys.length > 1 ? "s are" : " is"} in ~$PT_USER/.ssh/authorized_keys`,
        check: [
          `local home key`,
          `home=$(user_home "$PT_USER")`,
          `for key in "\${PT_SSH_KEYS[@]}"; do`,
          `  grep -qxF -- "$key" "$home/.ssh/authorized_keys" 2>/dev/null || return 1`,
          `done`,
        ],
        apply: [
          `local home group key`,
          `home=$(user_home "$PT_USER")`,
          `group=$(id -gn "$PT_USER")`,
          `install -d -m 0700 -o "$PT_USER" -g "$group" "$home/.ssh"`,
          `touch "$home/.ssh/authorized_keys"`,
          `for key in "\${PT_SSH_KEYS[@]}"; do`,
          `  if ! grep -qxF -- "$key" "$home/.ssh/authorized_keys"; then printf '%s\\n' "$key" >>"$home/.ssh/authorized_keys"; fi`,
          `done`,
          `chmod 0600 "$home/.ssh/authorized_keys"`,
          `chown "$PT_USER:$group" "$home/.ssh/authorized_keys"`,
        ],
      });
      steps.push({
        id: "ssh_key_only",
        title: `password logins are off (${SSHD_DROPIN})`,
        check: [`printf '%s' "$PT_SSHD_KEY_ONLY" | cmp -s - ${SSHD_DROPIN}`],
        guard: [
          // Only once the key is really there: never lock the user out.
          `if ! check_ssh_key; then echo "the SSH key is not installed"; return 1; fi`,
          `if ! grep -qiE '^[[:space:]]*Include[[:space:]]+/etc/ssh/sshd_config\\.d/\\*\\.conf' /etc/ssh/sshd_config; then`,
          `  echo "/etc/ssh/sshd_config does not include sshd_config.d/*.conf; add 'PasswordAuthentication no' to it by hand"`,
          `  return 1`,
          `fi`,
        ],
        apply: [
          `install -d -m 0755 /etc/ssh/sshd_config.d`,
          `write_file ${SSHD_DROPIN} 0644 "$PT_SSHD_KEY_ONLY"`,
          // sshd -t wants its privilege separation folder, which ssh.service creates when it
          // starts; with socket activation (Ubuntu 24.04) it may not have started yet.
          `install -d -m 0755 /run/sshd`,
          `if ! sshd -t; then`,
          `  rm -f ${SSHD_DROPIN}`,
          `  echo "sshd -t rejected the configuration; ${SSHD_DROPIN} removed again" >&2`,
          `  return 1`,
          `fi`,
          `systemctl try-reload-or-restart ssh.service`,
        ],
      });
    }
  }

  if (o.tailscale) {
    const ts = o.tailscale;
    steps.push({
      id: "tailscale_keyring",
      title: `Tailscale's signing key is in ${TAILSCALE_KEYRING}`,
      check: [`[ -s ${TAILSCALE_KEYRING} ]`],
      apply: [
        `local tmp`,
        `tmp=$(mktemp)`,
        `curl -fsSL ${singleQuote(d.tailscale.keyringUrl)} -o "$tmp"`,
        `install -D -m 0644 "$tmp" ${TAILSCALE_KEYRING}`,
        `rm -f "$tmp"`,
        `PT_APT_FRESH=0`,
      ],
    });
    steps.push({
      id: "tailscale_repo",
      title: `Tailscale's apt repository for ${d.codename} is in ${TAILSCALE_LIST}`,
      check: [`printf '%s' "$PT_TAILSCALE_LIST" | cmp -s - ${TAILSCALE_LIST}`],
      apply: [`write_file ${TAILSCALE_LIST} 0644 "$PT_TAILSCALE_LIST"`, `PT_APT_FRESH=0`],
    });
    steps.push({
      id: "tailscale_package",
      title: "tailscale is installed",
      check: ["is_installed tailscale"],
      apply: ["apt_install tailscale"],
    });
    steps.push({
      id: "tailscale_service",
      title: "tailscaled is enabled and running",
      check: ["systemctl is-enabled --quiet tailscaled && systemctl is-active --quiet tailscaled"],
      apply: ["systemctl enable --now tailscaled"],
    });
    const upArgs = ts.hostname ? ` --hostname=${singleQuote(ts.hostname)}` : "";
    steps.push({
      id: "tailscale_up",
      title: "Tailscale is connected",
      // grep without -q: with pipefail, -q's early exit can kill the writer with SIGPIPE and fail
      // the pipeline although the line matched.
      check: [
        `tailscale status --json 2>/dev/null | grep -E '"BackendState":[[:space:]]*"Running"' >/dev/null`,
      ],
      guard: [
        `if [ -n "\${TS_AUTHKEY_FILE:-}" ]; then`,
        `  if [ -r "$TS_AUTHKEY_FILE" ]; then return 0; fi`,
        `  echo "TS_AUTHKEY_FILE=$TS_AUTHKEY_FILE is not readable"`,
        `  return 1`,
        `fi`,
        `if [ -n "\${TS_AUTHKEY:-}" ] || [ -n "$PT_TS_EMBEDDED_KEY" ]; then return 0; fi`,
        `echo "no auth key: rerun with TS_AUTHKEY_FILE=/path/to/key (or TS_AUTHKEY in the environment), or log in by hand: sudo tailscale up"`,
        `return 1`,
      ],
      // The key reaches tailscale as --auth-key=file:PATH (tailscale up --help: "if it begins
      // with "file:", then it's a path to a file containing the authkey"), so it is never in
      // any process's argv. printf is a bash builtin: no argv there either.
      apply: [
        `local keyfile=""`,
        `if [ -n "\${TS_AUTHKEY_FILE:-}" ]; then`,
        `  tailscale up --auth-key="file:$TS_AUTHKEY_FILE"${upArgs}`,
        `  return 0`,
        `fi`,
        `keyfile=$(mktemp)`,
        `if [ -n "\${TS_AUTHKEY:-}" ]; then printf '%s' "$TS_AUTHKEY" >"$keyfile"; else printf '%s' "$PT_TS_EMBEDDED_KEY" >"$keyfile"; fi`,
        `if ! tailscale up --auth-key="file:$keyfile"${upArgs}; then rm -f "$keyfile"; return 1; fi`,
        `rm -f "$keyfile"`,
      ],
    });
  }

  if (o.gpu) steps.push(...gpuSteps(o, o.gpu));

  if (o.streaming === "sunshine") {
    const url = sunshineUrl(d);
    steps.push({
      id: "sunshine_tools",
      title: "libcap2-bin (setcap) is installed",
      check: ["is_installed libcap2-bin"],
      apply: ["apt_install libcap2-bin"],
    });
    steps.push({
      id: "sunshine_package",
      title: `Sunshine is installed (${d.sunshine.asset}, ${d.sunshine.tag})`,
      check: ["is_installed sunshine"],
      apply: [
        `local dir`,
        `dir=$(mktemp -d)`,
        // apt's download sandbox user must be able to read the file.
        `chmod 0755 "$dir"`,
        `curl -fsSL ${singleQuote(url)} -o "$dir/${d.sunshine.asset}"`,
        `chmod 0644 "$dir/${d.sunshine.asset}"`,
        `apt_install "$dir/${d.sunshine.asset}"`,
        `rm -rf "$dir"`,
      ],
      note: "Sunshine: in the desktop session run: systemctl --user enable --now sunshine; then pair Moonlight at https://<this VM>:47990",
    });
    steps.push({
      // Sunshine's getting-started guide: KMS capture (Wayland, and X11 without NvFBC) needs
      // `setcap cap_sys_admin+p $(readlink -f $(which sunshine))`.
      id: "sunshine_kms",
      title: "Sunshine may capture the screen through KMS (cap_sys_admin)",
      check: [`getcap "$(readlink -f "$(command -v sunshine)")" | grep cap_sys_admin >/dev/null`],
      apply: [`setcap cap_sys_admin+p "$(readlink -f "$(command -v sunshine)")"`],
    });
    steps.push({
      id: "sunshine_input",
      title: "$PT_USER is in the input group (Sunshine's virtual mouse, keyboard and gamepads)",
      check: [`id -nG "$PT_USER" | tr ' ' '\\n' | grep -x input >/dev/null`],
      guard: [
        `if [ "$PT_USER" = root ]; then echo "no desktop user: rerun with PT_USER=NAME (the user who logs in to the desktop)"; return 1; fi`,
      ],
      // udev creates the group on a desktop; a minimal system may not have it yet.
      apply: [
        `getent group input >/dev/null || groupadd --system input`,
        `usermod -aG input "$PT_USER"`,
      ],
      note: "log out and in again so the input group applies",
    });
  }
  return steps;
}

function gpuSteps(o: GuestSetupOptions, gpu: GuestGpu): GuestStep[] {
  const d = o.distro;
  const steps: GuestStep[] = [];
  const components =
    gpu.vendor === "nvidia" ? d.components : d.components.filter((c) => c === "non-free-firmware");
  if (components.length > 0) {
    steps.push({
      id: "apt_components",
      title: `the Debian archive entries include ${components.join(", ")}`,
      check: [`! debian_components_missing`],
      apply: [`debian_components_add`, `PT_APT_FRESH=0`],
    });
  }
  const reboot = "reboot the VM so the GPU driver takes the device";
  if (gpu.vendor === "nvidia") {
    if (d.nvidia.method === "ubuntu-drivers") {
      steps.push({
        id: "gpu_tools",
        title: "ubuntu-drivers-common is installed",
        check: ["is_installed ubuntu-drivers-common"],
        apply: ["apt_install ubuntu-drivers-common"],
      });
      if (gpu.nvidiaDriver) {
        const pkg = `nvidia-driver-${gpu.nvidiaDriver}`;
        steps.push({
          id: "gpu_driver",
          title: `${pkg} is installed`,
          check: [`is_installed ${pkg}`],
          apply: [`apt_install ${pkg}`],
          note: reboot,
        });
      } else {
        steps.push({
          id: "gpu_driver",
          title: "an NVIDIA driver (nvidia-driver-NNN) is installed",
          check: ["nvidia_driver_installed"],
          apply: ["apt_refresh", "ubuntu-drivers install"],
          note: reboot,
        });
      }
    } else {
      const pkgs = [...d.nvidia.packages, ...(o.streaming ? d.nvidia.encode : [])];
      steps.push({
        id: "gpu_driver",
        title: `the NVIDIA driver is installed (${pkgs.join(" ")})`,
        check: [`all_installed ${pkgs.join(" ")}`],
        apply: [`apt_install ${pkgs.join(" ")}`],
        note: reboot,
      });
    }
    return steps;
  }
  const table = gpu.vendor === "amd" ? d.amd : d.intel;
  const module = gpu.vendor === "amd" ? "amdgpu" : "i915";
  if (d.modulesExtra) {
    steps.push({
      id: "gpu_module",
      title: `the ${module} module exists for the running kernel`,
      check: [`modinfo -k "$(uname -r)" ${module} >/dev/null 2>&1`],
      apply: [`apt_install "linux-modules-extra-$(uname -r)"`],
      note: reboot,
    });
  }
  const pkgs = [...table.firmware, ...table.userspace];
  steps.push({
    id: "gpu_firmware",
    title: `${module} firmware and Mesa are installed (${pkgs.join(" ")})`,
    check: [`all_installed ${pkgs.join(" ")}`],
    apply: [`apt_install ${pkgs.join(" ")}`],
    note: reboot,
  });
  return steps;
}

/** Values the script defines once at its top (constants the steps refer to). */
export function stepConstants(o: GuestSetupOptions): Array<[string, string]> {
  const vars: Array<[string, string]> = [];
  if (o.ssh) {
    if (o.ssh.keys.length) vars.push(["PT_SSH_KEYS", `(${o.ssh.keys.map(singleQuote).join(" ")})`]);
    if (o.ssh.keys.length) vars.push(["PT_SSHD_KEY_ONLY", singleQuote(SSHD_KEY_ONLY)]);
  }
  if (o.tailscale) {
    vars.push(["PT_TAILSCALE_LIST", singleQuote(tailscaleListContent(o.distro))]);
    vars.push([
      "PT_TS_EMBEDDED_KEY",
      o.tailscale.embeddedKey ? singleQuote(o.tailscale.embeddedKey) : "''",
    ]);
  }
  if (o.gpu)
    vars.push([
      "PT_DEBIAN_COMPONENTS",
      singleQuote(
        (o.gpu.vendor === "nvidia"
          ? o.distro.components
          : o.distro.components.filter((c) => c === "non-free-firmware")
        ).join(" "),
      ),
    ]);
  return vars;
}
