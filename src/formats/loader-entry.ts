// Boot Loader Specification type #1 entries (loader/entries/*.conf) and systemd-boot's
// loader.conf share one format: "KEY VALUE" lines, '#' comments, the first word the key
// (uapi-group.org Boot Loader Specification; loader.conf(5)).

export type LoaderKeys = Record<string, string>;

/** Keys of an entry or loader.conf; a repeated key (initrd, options) keeps its first value. */
export function parseLoaderKeys(text: string): LoaderKeys {
  const out: LoaderKeys = {};
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const m = /^(\S+)\s*(.*)$/.exec(line)!;
    if (!(m[1]! in out)) out[m[1]!] = m[2]!.trim();
  }
  return out;
}

/** The kernel release a `linux` path names: /vmlinuz-6.1.0-18-amd64, /EFI/proxmox/R/vmlinuz-R, /MACHINE-ID/R/linux. */
export function releaseOfKernelPath(linux: string): string | null {
  const parts = linux.trim().split(/\s+/)[0]!.split("/");
  const base = parts.at(-1) ?? "";
  const m = /^(?:vmlinuz|vmlinux|bzImage|kernel)-(\d[\w.+~-]*)$/.exec(base);
  // Fedora's rescue entry boots /vmlinuz-0-rescue-MACHINE-ID, a copy with no modules of its own.
  if (m) return m[1]!.startsWith("0-rescue") ? null : m[1]!;
  // kernel-install's layout: $BOOT/ENTRY-TOKEN/KERNEL-VERSION/linux.
  const dir = parts.at(-2) ?? "";
  return base === "linux" && /^\d[\w.+~-]*$/.test(dir) ? dir : null;
}
