// /etc/kernel/cmdline: one line, the whole command line (proxmox-boot-tool writes its first
// line into each systemd-boot entry's `options`; kernel-install uses it for new kernels). It
// must keep root= (proxmox-boot-tool refresh stops with "No root= parameter in
// /etc/kernel/cmdline found!"), and only our tokens change.

import { InputError } from "../../errors.js";
import { editCmdline, findParams, parseCmdline } from "../../formats/kernel-cmdline.js";
import type { CmdlineParam, HostState } from "../../host/types.js";
import { satisfied } from "../cmdline.js";
import type { PlanFiles } from "../files.js";
import type { CmdlineEdit } from "./common.js";
import { raws } from "./common.js";

export const FILE = "etc/kernel/cmdline";

function theLine(text: string): { lines: string[]; idx: number } {
  const lines = text.split("\n");
  const nonEmpty = lines.map((l, i) => (l.trim() === "" ? -1 : i)).filter((i) => i !== -1);
  if (nonEmpty.length > 1) {
    throw new InputError(
      `/${FILE} has ${nonEmpty.length} lines; the kernel command line must be one line (proxmox-boot-tool and kernel-install read only the first) — join them into one, then run plan again`,
    );
  }
  return { lines, idx: nonEmpty[0] ?? 0 };
}

export function kernelCmdlineParams(files: PlanFiles): CmdlineParam[] | null {
  const text = files.read(FILE);
  if (text === null) return null;
  const { lines, idx } = theLine(text);
  return parseCmdline(lines[idx] ?? "");
}

/** Apply an edit to /etc/kernel/cmdline; create it from the running command line when missing. */
export function editKernelCmdline(
  state: HostState,
  files: PlanFiles,
  edit: CmdlineEdit,
  requireRoot: boolean,
): boolean {
  let text = files.read(FILE);
  let created = false;
  if (text === null) {
    // proxmox-boot-tool falls back to /proc/cmdline when the file is missing; so do we.
    const running = (state.cmdline.running ?? []).filter(
      (p) => !/^(BOOT_IMAGE|initrd)$/.test(p.key),
    );
    text = `${running.map((p) => p.raw).join(" ")}\n`;
    created = true;
  }
  const { lines, idx } = theLine(text);
  const line = lines[idx] ?? "";
  const have = parseCmdline(line);
  const add = edit.add.filter((w) => !satisfied(have, w.param)).map((w) => w.param);
  const remove = edit.remove.map((r) => r.raw).filter((r) => have.some((p) => p.raw === r));
  const newLine = editCmdline(line, { add, remove });
  if (requireRoot && findParams(parseCmdline(newLine), "root").length === 0) {
    throw new InputError(
      `/${FILE} has no root= parameter; proxmox-boot-tool refresh refuses such a file — add the root= of /proc/cmdline to it, then run plan again`,
    );
  }
  lines[idx] = newLine;
  const after = lines.join("\n");
  const whyParts = [
    ...(created
      ? [
          "create it from the running command line (what proxmox-boot-tool uses while it is missing)",
        ]
      : []),
    ...(add.length ? [`add ${add.map((p) => p.raw).join(" ")}`] : []),
    ...edit.remove.filter((r) => remove.includes(r.raw)).map((r) => `remove ${r.raw}: ${r.why}`),
  ];
  const step = files.write(FILE, after, `${whyParts.join("; ")} (one line, root= kept)`);
  return step !== null;
}

/** For repairs: take one token out of /etc/kernel/cmdline. */
export function removeKernelCmdlineToken(files: PlanFiles, raw: string, why: string): boolean {
  const text = files.read(FILE);
  if (text === null) return false;
  const { lines, idx } = theLine(text);
  lines[idx] = editCmdline(lines[idx] ?? "", { remove: [raw] });
  return files.write(FILE, lines.join("\n"), why) !== null;
}

export { raws };
