// `proxmox-boot-tool kernel list` (proxmox-kernel-helper; pve-docs sysboot "Kernel
// Management"): the kernels proxmox-boot-tool keeps on the ESPs and the pins that choose which
// one boots. Its sections, each a heading line followed by one release per line:
//
//   Manually selected kernels:        (then "None." when empty)
//   Automatically selected kernels:
//   Pinned kernel:                    (/etc/kernel/proxmox-boot-pin; only when set)
//   Kernel pinned on next-boot:       (/etc/kernel/next-boot-pin; only when set)

export interface ProxmoxKernelList {
  manual: string[];
  automatic: string[];
  pinned: string | null;
  nextBoot: string | null;
}

const SECTIONS: Record<string, keyof ProxmoxKernelList> = {
  "manually selected kernels:": "manual",
  "automatically selected kernels:": "automatic",
  "pinned kernel:": "pinned",
  "kernel pinned on next-boot:": "nextBoot",
};

/** The parsed list, or null when the text has none of the headings (not this command's output). */
export function parseProxmoxKernelList(text: string): ProxmoxKernelList | null {
  const lists: Record<keyof ProxmoxKernelList, string[]> = {
    manual: [],
    automatic: [],
    pinned: [],
    nextBoot: [],
  };
  let section: keyof ProxmoxKernelList | null = null;
  let seen = false;
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    const heading = SECTIONS[line.toLowerCase()];
    if (heading) {
      section = heading;
      seen = true;
      continue;
    }
    if (!section || line === "" || line === "None.") continue;
    if (/^\d[\w.+~-]*$/.test(line)) lists[section].push(line);
  }
  if (!seen) return null;
  return {
    manual: lists.manual,
    automatic: lists.automatic,
    pinned: lists.pinned[0] ?? null,
    nextBoot: lists.nextBoot[0] ?? null,
  };
}
