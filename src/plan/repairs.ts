// Repairs of what `check` lints in existing files (src/checks/config-lint.ts), each its own
// step with its reason, planned before anything is added so later steps build on the repaired
// text. Only /etc files are edited; anything else becomes a finding with the fix.
//   blacklist-wildcard   `blacklist nvidia*` matches nothing (kmod compares names exactly): the line goes
//   amd-iommu-on         not a valid value: the token goes, from whichever boot loader config holds it
//   vfio-virqfd-merged   vfio_virqfd is part of vfio since 6.2; loading it fails at boot: the entry goes
//   modprobe-not-conf    modprobe reads only *.conf: the file is renamed (unless it looks like a backup)

import type { ConfigProblem } from "../checks/types.js";
import type { PlanFinding } from "../findings/plan-catalog.js";
import { LOADER_ENTRY_DIRS } from "../host/boot-menu.js";
import type { HostState } from "../host/types.js";
import { removeGrubToken } from "./bootloaders/grub.js";
import { FILE as KERNEL_CMDLINE, removeKernelCmdlineToken } from "./bootloaders/kernel-cmdline.js";
import { editEntry, loaderEntries } from "./bootloaders/systemd-boot.js";
import type { CmdlineEdit } from "./bootloaders/common.js";
import type { PlanFiles } from "./files.js";
import { deleteLine } from "./modprobe-view.js";

/** Names that mark a copy someone keeps on purpose: renaming it would switch stale settings on. */
const BACKUP =
  /(\.(bak|old|orig|save|saved|backup|disabled|dpkg-(old|dist|new|bak)|rpm(save|new|orig)|ucf-(old|dist|new)|swp)|~)$/i;

function located(p: ConfigProblem): string {
  return `/${p.file}${p.line ? `:${p.line}` : ""}`;
}

export function planRepairs(
  state: HostState,
  files: PlanFiles,
  problems: readonly ConfigProblem[],
  edit: CmdlineEdit,
  findings: PlanFinding[],
): void {
  const active = new Set(state.cmdline.configured?.files ?? []);
  // Bottom-up within a file, so deleting a line does not move the ones still to repair.
  const ordered = [...problems].sort((a, b) =>
    a.file === b.file ? (b.line ?? 0) - (a.line ?? 0) : 0,
  );
  for (const p of ordered) {
    switch (p.kind) {
      case "blacklist-wildcard": {
        if (!p.file.startsWith("etc/") || p.line === null) {
          findings.push({
            id: "repair.blacklist-wildcard",
            status: "warn",
            subject: located(p),
            summary: p.message,
            fix: `remove "${p.text}" from /${p.file}`,
          });
          break;
        }
        const text = files.read(p.file);
        if (text === null) break;
        files.write(
          p.file,
          deleteLine(text, p.line),
          `${p.message}; the line is removed (passthrough binds the devices by id/address instead)`,
        );
        break;
      }
      case "amd-iommu-on":
        repairCmdlineToken(state, files, p, active, edit, findings);
        break;
      case "vfio-virqfd-merged": {
        const text = files.read(p.file);
        if (text === null || p.line === null || !p.file.startsWith("etc/")) {
          findings.push({
            id: "repair.vfio-virqfd",
            status: "warn",
            subject: located(p),
            summary: p.message,
            fix: `remove vfio_virqfd from /${p.file}`,
          });
          break;
        }
        const lines = text.split("\n");
        const l = lines[p.line - 1] ?? "";
        const why = `${p.message}; it is removed`;
        if (/^\s*vfio[_-]virqfd(\s.*)?$/.test(l)) {
          files.write(p.file, deleteLine(text, p.line), why);
        } else {
          // A list on one line (dracut force_drivers, mkinitcpio MODULES, booster modules_force_load).
          lines[p.line - 1] = removeListWord(l, "vfio_virqfd");
          files.write(p.file, lines.join("\n"), why);
        }
        break;
      }
      case "modprobe-not-conf": {
        const name = p.file.split("/").pop()!;
        const target = `${p.file}.conf`;
        const text = files.read(p.file);
        if (BACKUP.test(name)) {
          findings.push({
            id: "repair.modprobe-not-conf",
            status: "info",
            subject: `/${p.file}`,
            summary: `${p.message}; left alone: the name says it is a backup copy`,
            fix: null,
          });
          break;
        }
        if (text === null || files.exists(target)) {
          findings.push({
            id: "repair.modprobe-not-conf",
            status: "warn",
            subject: `/${p.file}`,
            summary: `${p.message}; not renamed: /${target} already exists`,
            fix: `merge /${p.file} into /${target} by hand`,
          });
          break;
        }
        files.write(
          target,
          text,
          `${p.message}: renamed to ${name}.conf so modprobe reads it (its content unchanged)`,
        );
        files.write(p.file, null, `renamed to /${target} (previous step)`);
        break;
      }
      case "blacklist-unknown-module":
      case "vfio-ids-absent":
        // Reported under check's ids for the same problem, so `passthrough explain` documents them.
        findings.push({
          id: p.kind === "vfio-ids-absent" ? "vfio.ids-absent" : "modprobe.unknown-module",
          status: "warn",
          subject: located(p),
          summary: `${p.message} (not changed by this plan)`,
          fix: null,
        });
        break;
      case "cmdline-pending":
      case "cmdline-wrong-bootloader":
        // Pending parameters get the boot loader refresh; misplaced ones are carried (cmdline.ts).
        break;
    }
  }
}

function repairCmdlineToken(
  state: HostState,
  files: PlanFiles,
  p: ConfigProblem,
  active: Set<string>,
  edit: CmdlineEdit,
  findings: PlanFinding[],
): void {
  const isActive = active.has(p.file);
  const why = `${p.message}; the token is removed`;
  const flavor = state.bootloader.grubFlavor;
  if (
    p.file === "etc/kernelstub/configuration" ||
    (isActive && flavor === "grubby" && p.file.startsWith("etc/default/grub"))
  ) {
    // kernelstub and grubby hosts change their options through their own tool.
    if (isActive) edit.remove.push({ raw: p.text, why: p.message });
    else
      findings.push({
        id: "repair.amd-iommu-on",
        status: "warn",
        subject: located(p),
        summary: p.message,
        fix: `remove ${p.text} from /${p.file}`,
      });
    return;
  }
  let changed = false;
  if (p.file.startsWith("etc/default/grub"))
    changed = removeGrubToken(files, [p.file], p.text, why);
  else if (p.file === KERNEL_CMDLINE) changed = removeKernelCmdlineToken(files, p.text, why);
  else if (LOADER_ENTRY_DIRS.some((d) => p.file.startsWith(`${d}/`))) {
    // Every entry, not only the one lint looked at: they were all written from the same line.
    for (const e of loaderEntries(files))
      changed =
        editEntry(files, e, { add: [], remove: [{ raw: p.text, why }], repaired: [] }, why) ||
        changed;
  }
  if (!changed) {
    findings.push({
      id: "repair.amd-iommu-on",
      status: "warn",
      subject: located(p),
      summary: p.message,
      fix: `remove ${p.text} from /${p.file}`,
    });
    return;
  }
  if (isActive) edit.repaired.push(p.text);
}

/** Remove one module name from a one-line list ("a b c", "(a b c)", "a,b,c"), with one separator. */
export function removeListWord(line: string, name: string): string {
  const re = new RegExp(`(?<=^|[\\s,("'=:])${name.replace(/_/g, "[_-]")}(?=$|[\\s,)"'])`);
  const m = re.exec(line);
  if (!m) return line;
  let from = m.index;
  let to = from + m[0].length;
  if (line[from - 1] === ",") from--;
  else if (line[to] === ",") to++;
  else if (/\s/.test(line[from - 1] ?? "") && !/[("=:]/.test(line[from - 2] ?? "x")) from--;
  else if (/\s/.test(line[to] ?? "")) to++;
  return line.slice(0, from) + line.slice(to);
}
