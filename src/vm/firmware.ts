// Where OVMF lives, for libvirt's <loader>/<nvram> and QEMU's -drive if=pflash. Every
// distribution packages it elsewhere; the first code image that exists on the host wins, else
// the distribution's usual path (with a warning to install the package).
//   Debian/Ubuntu `ovmf`:      /usr/share/OVMF/OVMF_CODE_4M.fd, OVMF_VARS_4M.fd,
//                              Secure Boot: OVMF_CODE_4M.secboot.fd + OVMF_VARS_4M.ms.fd (keys enrolled)
//   Proxmox `pve-edk2-firmware`: /usr/share/pve-edk2-firmware/ (same names)
//   Fedora `edk2-ovmf`:        /usr/share/edk2/ovmf/OVMF_CODE.fd, OVMF_VARS.fd, .secboot.fd variants
//   Arch `edk2-ovmf`:          /usr/share/edk2/x64/OVMF_CODE.4m.fd, OVMF_VARS.4m.fd, OVMF_CODE.secboot.4m.fd

import type { HostState } from "../host/types.js";

export interface OvmfPaths {
  code: string;
  vars: string;
  /** The code image enforces Secure Boot (libvirt: loader secure='yes', needs SMM). */
  secure: boolean;
  /** Found on the host; false = the distribution's default path, package not seen. */
  found: boolean;
  package: string;
}

interface Candidate {
  family: "debian" | "fedora" | "arch" | "proxmox";
  package: string;
  code: string;
  vars: string;
  secureCode: string;
  secureVars: string;
}

const CANDIDATES: Candidate[] = [
  {
    family: "debian",
    package: "ovmf",
    code: "/usr/share/OVMF/OVMF_CODE_4M.fd",
    vars: "/usr/share/OVMF/OVMF_VARS_4M.fd",
    secureCode: "/usr/share/OVMF/OVMF_CODE_4M.secboot.fd",
    secureVars: "/usr/share/OVMF/OVMF_VARS_4M.ms.fd",
  },
  {
    family: "proxmox",
    package: "pve-edk2-firmware",
    code: "/usr/share/pve-edk2-firmware/OVMF_CODE_4M.fd",
    vars: "/usr/share/pve-edk2-firmware/OVMF_VARS_4M.fd",
    secureCode: "/usr/share/pve-edk2-firmware/OVMF_CODE_4M.secboot.fd",
    secureVars: "/usr/share/pve-edk2-firmware/OVMF_VARS_4M.ms.fd",
  },
  {
    family: "fedora",
    package: "edk2-ovmf",
    code: "/usr/share/edk2/ovmf/OVMF_CODE.fd",
    vars: "/usr/share/edk2/ovmf/OVMF_VARS.fd",
    secureCode: "/usr/share/edk2/ovmf/OVMF_CODE.secboot.fd",
    secureVars: "/usr/share/edk2/ovmf/OVMF_VARS.secboot.fd",
  },
  {
    family: "arch",
    package: "edk2-ovmf",
    code: "/usr/share/edk2/x64/OVMF_CODE.4m.fd",
    vars: "/usr/share/edk2/x64/OVMF_VARS.4m.fd",
    secureCode: "/usr/share/edk2/x64/OVMF_CODE.secboot.4m.fd",
    secureVars: "/usr/share/edk2/x64/OVMF_VARS.4m.fd",
  },
];

function family(state: HostState): Candidate["family"] {
  if (state.system.proxmox !== null) return "proxmox";
  const ids = [state.system.distro?.id ?? "", ...(state.system.distro?.idLike ?? [])];
  if (ids.some((i) => ["fedora", "rhel", "centos"].includes(i))) return "fedora";
  if (ids.some((i) => ["arch", "manjaro", "endeavouros"].includes(i))) return "arch";
  return "debian";
}

/** `exists` checks a host path ("/usr/share/OVMF/OVMF_CODE_4M.fd") on the host being configured. */
export function findOvmf(
  state: HostState,
  secure: boolean,
  exists: (hostPath: string) => boolean,
): OvmfPaths {
  const pick = (c: Candidate, found: boolean): OvmfPaths => ({
    code: secure ? c.secureCode : c.code,
    vars: secure ? c.secureVars : c.vars,
    secure,
    found,
    package: c.package,
  });
  const fam = family(state);
  const ordered = [
    ...CANDIDATES.filter((c) => c.family === fam),
    ...CANDIDATES.filter((c) => c.family !== fam),
  ];
  for (const c of ordered) if (exists(secure ? c.secureCode : c.code)) return pick(c, true);
  return pick(ordered[0]!, false);
}

export function ovmfWarning(fw: OvmfPaths): string | null {
  return fw.found
    ? null
    : `OVMF was not found on the host; the paths assume the ${fw.package} package (${fw.code}) — install it before starting the VM`;
}
