// What this check could not see. A folder that could not be listed, a file the capture
// skipped, a snapshot without sys/: the checks that depend on them would otherwise judge an
// empty view (no blacklist line, no device) and pass, or fail for the wrong reason. Each such
// gap is one SKIP line naming what was not checked, and the report is then not "ready".

import type { HostState, Unknown } from "../host/types.js";
import { finding, type Finding } from "../findings/finding.js";
import type { CheckContext } from "./context.js";

/** The inputs a verdict rests on, by path prefix, and what their absence leaves unchecked. */
const INPUTS: ReadonlyArray<{ prefixes: readonly string[]; unchecked: string }> = [
  {
    prefixes: ["sys"],
    unchecked: "PCI devices, IOMMU groups, drivers and everything judged on them",
  },
  { prefixes: ["proc/cpuinfo"], unchecked: "CPU virtualization and whether this is a VM" },
  {
    prefixes: ["etc/modprobe.d", "run/modprobe.d", "lib/modprobe.d", "usr/lib/modprobe.d"],
    unchecked: "blacklists, vfio-pci ids, softdeps and other modprobe configuration",
  },
  {
    prefixes: ["etc/modules", "etc/modules-load.d", "usr/lib/modules-load.d"],
    unchecked: "the modules loaded at boot",
  },
  {
    prefixes: [
      "etc/default/grub",
      "etc/kernel/cmdline",
      "etc/kernelstub",
      "boot/loader/entries",
      "boot/efi/loader/entries",
      "efi/loader/entries",
      "proc/cmdline",
    ],
    unchecked: "the kernel command line, configured and running",
  },
  {
    prefixes: ["etc/initramfs-tools", "etc/dracut.conf", "etc/mkinitcpio.conf", "etc/booster.yaml"],
    unchecked: "the initramfs configuration",
  },
];

const covers = (prefix: string, field: string) =>
  field === prefix || field.startsWith(`${prefix}/`) || field.startsWith(`${prefix}.`);

/** The unknowns that hide an input of a verdict, grouped by input. */
export function blindSpots(
  state: Pick<HostState, "unknowns">,
): Array<{ unchecked: string; missing: Unknown[] }> {
  return INPUTS.map((input) => ({
    unchecked: input.unchecked,
    missing: state.unknowns.filter((u) => input.prefixes.some((p) => covers(p, u.field))),
  })).filter((b) => b.missing.length > 0);
}

/** Whether an input (a path or one of its prefixes) could not be read. */
export function unseen(state: Pick<HostState, "unknowns">, path: string): Unknown | null {
  return state.unknowns.find((u) => covers(u.field, path) || covers(path, u.field)) ?? null;
}

export function checkVisibility(ctx: CheckContext): Finding[] {
  const snapshot = ctx.state.source.kind === "snapshot";
  return blindSpots(ctx.state).map(({ unchecked, missing }) =>
    finding(
      "host.unreadable",
      "skip",
      `${missing.map((m) => `/${m.field}`).join(", ")} could not be read: ${unchecked} not checked`,
      {
        subject: `/${missing[0]!.field}`,
        fix: snapshot
          ? "capture the snapshot again as root with `sudo passthrough snapshot` (a copy made otherwise misses files), or run `passthrough check` on the host itself as root"
          : "run `passthrough check` as root",
        detail: missing.slice(0, 10).map((m) => m.reason),
      },
    ),
  );
}
