// Plain systemd-boot (not managed by proxmox-boot-tool): each installed kernel has a Boot
// Loader Specification entry (loader/entries/*.conf on the ESP or /boot) whose `options` line is
// its command line, read by systemd-boot at every boot, so the entries are edited directly.
// kernel-install builds new entries from /etc/kernel/cmdline when it exists (else from
// /proc/cmdline, which has our parameters after the reboot), so that file is edited too.

import type { PlanFinding } from "../../findings/plan-catalog.js";
import { editCmdline, parseCmdline } from "../../formats/kernel-cmdline.js";
import { LOADER_ENTRY_DIRS } from "../../host/boot-menu.js";
import type { HostState } from "../../host/types.js";
import { satisfied } from "../cmdline.js";
import type { PlanFiles } from "../files.js";
import { notRunning, type BootResult, type CmdlineEdit } from "./common.js";
import { FILE, editKernelCmdline, kernelCmdlineParams } from "./kernel-cmdline.js";

export function loaderEntries(files: PlanFiles): string[] {
  return LOADER_ENTRY_DIRS.flatMap((d) =>
    files
      .list(d)
      .filter((n) => n.endsWith(".conf"))
      .map((n) => `${d}/${n}`),
  );
}

/** Edit the `options` line of one entry; returns whether it changed. */
export function editEntry(
  files: PlanFiles,
  entry: string,
  edit: CmdlineEdit,
  why: string,
): boolean {
  const text = files.read(entry);
  if (text === null) return false;
  const lines = text.split("\n");
  let idx = lines.findIndex((l) => /^options(\s|$)/.test(l));
  if (idx === -1) {
    if (!lines.some((l) => /^(linux|efi|uki)\s/.test(l))) return false;
    const linux = lines.findIndex((l) => /^(linux|efi|uki)\s/.test(l));
    lines.splice(linux + 1, 0, "options");
    idx = linux + 1;
  }
  const m = /^options(\s*)(.*)$/.exec(lines[idx]!)!;
  const have = parseCmdline(m[2]!);
  const add = edit.add.filter((w) => !satisfied(have, w.param)).map((w) => w.param);
  const remove = edit.remove.map((r) => r.raw).filter((r) => have.some((p) => p.raw === r));
  if (add.length === 0 && remove.length === 0) return false;
  const body = editCmdline(m[2]!, { add, remove });
  lines[idx] = `options${m[1] || " "}${body}`;
  return files.write(entry, lines.join("\n"), why) !== null;
}

export function planSystemdBoot(
  state: HostState,
  files: PlanFiles,
  edit: CmdlineEdit,
  findings: PlanFinding[],
): BootResult {
  const entries = loaderEntries(files);
  if (files.exists(FILE)) editKernelCmdline(state, files, edit, false);
  const adding = edit.add.map((w) => w.param.raw).join(" ");
  for (const e of entries)
    editEntry(
      files,
      e,
      edit,
      `${adding ? `add ${adding}` : "update the command line"} in this boot entry's options (systemd-boot reads it at boot)`,
    );
  if (entries.length === 0) {
    findings.push({
      id: "bootloader.entries-unseen",
      status: "fail",
      subject: null,
      summary:
        "no systemd-boot entries were visible (loader/entries/*.conf under /boot, /boot/efi or /efi): the command line cannot be planned",
      fix: `add ${adding || "the parameters"} to the options line of your entries (bootctl list shows them), or mount the ESP and run plan again`,
    });
  }
  const running = state.cmdline.running;
  const ownEntry =
    entries.find(
      (e) =>
        state.system.kernelRelease && (files.read(e) ?? "").includes(state.system.kernelRelease),
    ) ?? entries[0];
  const opts = ownEntry ? (/^options\s+(.*)$/m.exec(files.read(ownEntry) ?? "")?.[1] ?? "") : null;
  return {
    commands: [],
    configuredAfter: opts === null ? kernelCmdlineParams(files) : parseCmdline(opts),
    rebootFor: [
      ...notRunning(running, edit.add).map((w) => w.param.raw),
      ...edit.remove
        .filter((r) => (running ?? []).some((p) => p.raw === r.raw))
        .map((r) => `without ${r.raw}`),
    ],
  };
}
