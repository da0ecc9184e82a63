// The guest releases `guest setup` can write a bootstrap for, with every name that differs
// between them. Sources (as read when this table was written):
//
// - Tailscale: the official "Install Tailscale on Ubuntu/Debian" pages
//   (https://tailscale.com/kb/1476/install-ubuntu-2204 and siblings) fetch
//   https://pkgs.tailscale.com/stable/<distro>/<codename>.noarmor.gpg into
//   /usr/share/keyrings/tailscale-archive-keyring.gpg and
//   https://pkgs.tailscale.com/stable/<distro>/<codename>.tailscale-keyring.list into
//   /etc/apt/sources.list.d/tailscale.list. That .list holds exactly the two lines
//   `tailscaleListContent` returns, so the script writes them itself (no second download,
//   and an exact comparison for idempotence).
// - NVIDIA: Ubuntu's own tool `ubuntu-drivers install` (ubuntu-drivers-common, 22.04 and
//   later) picks the recommended `nvidia-driver-NNN`; `--nvidia-driver NNN` installs that
//   package instead. Debian (wiki.debian.org/NvidiaGraphicsDrivers): `nvidia-driver` and
//   `firmware-misc-nonfree` from the contrib, non-free and non-free-firmware components, with
//   `linux-headers-amd64` for DKMS; `libnvidia-encode1` carries NVENC (Sunshine).
// - AMD / Intel: the drivers (amdgpu, i915) are in the kernel; what differs is firmware
//   (Debian: firmware-amd-graphics / firmware-misc-nonfree from non-free-firmware; Ubuntu:
//   linux-firmware, and linux-modules-extra-$(uname -r), which holds amdgpu/i915 on Ubuntu's
//   generic kernel and is missing from cloud images) and the Mesa VA-API/Vulkan user space
//   that games and Sunshine's encoder use.
// - Sunshine: LizardByte's official release .debs,
//   https://github.com/LizardByte/Sunshine/releases/download/<tag>/sunshine-<distro>-<version>-amd64.deb
//   (docs/getting_started.md, "Debian/Ubuntu": `sunshine-{distro}-{distro-version}-{arch}.deb`).
//   Pinned per release so a rerun installs the same build: v2025.924.154138 ships the
//   Ubuntu 22.04/24.04 and Debian trixie packages; v2025.628.4510 is a release that ships the
//   Debian bookworm one (later releases build for trixie only).
// - SSH: openssh-server everywhere; Ubuntu 24.04 starts sshd through ssh.socket (socket
//   activation is its default), the others run ssh.service.

/**
 * The distribution itself, as os-release ID= names it and Tailscale's repository paths use it
 * (both are of the host's "debian" DistroFamily, src/host/boot.ts).
 */
export type GuestOs = "ubuntu" | "debian";

export interface Distro {
  /** "ubuntu:22.04": what --distro takes. */
  id: string;
  os: GuestOs;
  version: string;
  codename: string;
  name: string;
  /** The account a cloud image creates for its default user (cloud-init `users: [default]`). */
  cloudUser: string;
  ssh: { package: string; unit: string };
  tailscale: { keyringUrl: string; listUrl: string; repo: string };
  nvidia: {
    /** How the driver is chosen: Ubuntu's ubuntu-drivers, or Debian's nvidia-driver package. */
    method: "ubuntu-drivers" | "debian-packages";
    packages: string[];
    /** Extra packages when streaming with NVENC. */
    encode: string[];
  };
  amd: { firmware: string[]; userspace: string[] };
  intel: { firmware: string[]; userspace: string[] };
  /** Debian components the GPU packages need (added to the Debian archive entries). */
  components: string[];
  /** Ubuntu: the kernel's extra modules package holds amdgpu/i915. */
  modulesExtra: boolean;
  sunshine: { tag: string; asset: string };
}

const SUNSHINE_RELEASES = "https://github.com/LizardByte/Sunshine/releases/download";

export const TAILSCALE_KEYRING = "/usr/share/keyrings/tailscale-archive-keyring.gpg";
export const TAILSCALE_LIST = "/etc/apt/sources.list.d/tailscale.list";

function tailscale(os: GuestOs, codename: string): Distro["tailscale"] {
  const base = `https://pkgs.tailscale.com/stable/${os}`;
  return {
    keyringUrl: `${base}/${codename}.noarmor.gpg`,
    listUrl: `${base}/${codename}.tailscale-keyring.list`,
    repo: base,
  };
}

function ubuntu(version: string, codename: string, sshUnit: string): Distro {
  return {
    id: `ubuntu:${version}`,
    os: "ubuntu",
    version,
    codename,
    name: `Ubuntu ${version} (${codename})`,
    cloudUser: "ubuntu",
    ssh: { package: "openssh-server", unit: sshUnit },
    tailscale: tailscale("ubuntu", codename),
    nvidia: { method: "ubuntu-drivers", packages: ["ubuntu-drivers-common"], encode: [] },
    amd: { firmware: ["linux-firmware"], userspace: ["mesa-vulkan-drivers", "mesa-va-drivers"] },
    intel: {
      firmware: ["linux-firmware"],
      userspace: ["mesa-vulkan-drivers", "intel-media-va-driver"],
    },
    components: [],
    modulesExtra: true,
    sunshine: { tag: "v2025.924.154138", asset: `sunshine-ubuntu-${version}-amd64.deb` },
  };
}

function debian(version: string, codename: string, sunshineTag: string): Distro {
  return {
    id: `debian:${version}`,
    os: "debian",
    version,
    codename,
    name: `Debian ${version} (${codename})`,
    cloudUser: "debian",
    ssh: { package: "openssh-server", unit: "ssh.service" },
    tailscale: tailscale("debian", codename),
    nvidia: {
      method: "debian-packages",
      packages: ["linux-headers-amd64", "nvidia-driver", "firmware-misc-nonfree"],
      encode: ["libnvidia-encode1"],
    },
    amd: {
      firmware: ["firmware-amd-graphics"],
      userspace: ["mesa-vulkan-drivers", "mesa-va-drivers"],
    },
    intel: {
      firmware: ["firmware-misc-nonfree"],
      userspace: ["mesa-vulkan-drivers", "intel-media-va-driver"],
    },
    components: ["contrib", "non-free", "non-free-firmware"],
    modulesExtra: false,
    sunshine: { tag: sunshineTag, asset: `sunshine-debian-${codename}-amd64.deb` },
  };
}

export const DISTROS: readonly Distro[] = [
  ubuntu("22.04", "jammy", "ssh.service"),
  ubuntu("24.04", "noble", "ssh.socket"),
  debian("12", "bookworm", "v2025.628.4510"),
  debian("13", "trixie", "v2025.924.154138"),
];

export function sunshineUrl(d: Distro): string {
  return `${SUNSHINE_RELEASES}/${d.sunshine.tag}/${d.sunshine.asset}`;
}

/** Exactly what Tailscale's <codename>.tailscale-keyring.list serves. */
export function tailscaleListContent(d: Distro): string {
  return `# Tailscale packages for ${d.os} ${d.codename}\ndeb [signed-by=${TAILSCALE_KEYRING}] ${d.tailscale.repo} ${d.codename} main\n`;
}

export function supportedDistroList(): string {
  return DISTROS.map((d) => d.id).join(", ");
}

/**
 * "ubuntu:22.04", "ubuntu:jammy", "debian:12", "debian:bookworm" (case-insensitive); null when
 * not supported.
 */
export function findDistro(text: string): Distro | null {
  const t = text.trim().toLowerCase();
  const [os, release] = t.split(":");
  if (!os || !release) return null;
  return (
    DISTROS.find((d) => d.os === os && (d.version === release || d.codename === release)) ?? null
  );
}

/** The distro an os-release describes (ID + VERSION_ID), or null. */
export function distroFromOsRelease(id: string, versionId: string | null): Distro | null {
  if (!versionId) return null;
  return findDistro(`${id}:${versionId}`);
}
