// GRUB: the kernel command line is GRUB_CMDLINE_LINUX (every entry) plus
// GRUB_CMDLINE_LINUX_DEFAULT (normal entries, not recovery ones) in /etc/default/grub, turned
// into grub.cfg by grub-mkconfig (`update-grub` on Debian-family; `grub-mkconfig -o
// /boot/grub/grub.cfg` on Arch; `grub2-mkconfig -o /boot/grub2/grub.cfg` on openSUSE).
// Debian's grub-mkconfig also sources /etc/default/grub.d/*.cfg after the main file, in name
// order (docs/proxmox-api.md §4.1), so there we add our parameters in a drop-in we own,
// appending to the value set before it; elsewhere only our tokens are added in place.
// Fedora/RHEL use BootLoaderSpec entries edited by `grubby --update-kernel=ALL --args=...`,
// which also updates GRUB_CMDLINE_LINUX in /etc/default/grub for new kernels.
// We add to GRUB_CMDLINE_LINUX_DEFAULT so the recovery entries stay without our parameters:
// a way back in if a passed device breaks the boot.

import { BOOTLOADERS, GRUBBY } from "../../boot/loaders.js";
import type { PlanFinding } from "../../findings/plan-catalog.js";
import { editCmdline, parseCmdline, printCmdline } from "../../formats/kernel-cmdline.js";
import {
  evaluateShellFiles,
  parseShellFile,
  replaceAssignmentValue,
  type ShellAssignment,
  type ValuePiece,
} from "../../formats/shell-assignments.js";
import type { CmdlineParam, HostState } from "../../host/types.js";
import { satisfied } from "../cmdline.js";
import type { PlanFiles } from "../files.js";
import type { CommandStep } from "../types.js";
import { notRunning, raws, type BootResult, type CmdlineEdit } from "./common.js";

export const OWN_DROPIN = "etc/default/grub.d/passthrough.cfg";
const VARS = ["GRUB_CMDLINE_LINUX", "GRUB_CMDLINE_LINUX_DEFAULT"];

/** The files grub-mkconfig sources, in order, as planned so far. */
export function grubFiles(files: PlanFiles, dropins: boolean): string[] {
  const out = files.exists("etc/default/grub") ? ["etc/default/grub"] : [];
  if (dropins)
    out.push(
      ...files
        .list("etc/default/grub.d")
        .filter((n) => n.endsWith(".cfg"))
        .map((n) => `etc/default/grub.d/${n}`),
    );
  return out;
}

/** The parameters a set of GRUB default files produce (GRUB_CMDLINE_LINUX then _DEFAULT). */
export function grubParams(files: PlanFiles, list: readonly string[]): CmdlineParam[] {
  return grubParamsOf(list.map((f) => parseShellFile(f, files.read(f) ?? "")));
}

function grubParamsOf(parsed: ReturnType<typeof parseShellFile>[]): CmdlineParam[] {
  const { vars } = evaluateShellFiles(parsed);
  return [
    ...parseCmdline(vars.GRUB_CMDLINE_LINUX ?? ""),
    ...parseCmdline(vars.GRUB_CMDLINE_LINUX_DEFAULT ?? ""),
  ];
}

function escapeDq(s: string): string {
  return s.replace(/(["\\$`])/g, "\\$1");
}

/** Rewrite an assignment's value with `edit` applied to its literal text, keeping quoting where we can. */
function editAssignment(
  text: string,
  a: ShellAssignment,
  edit: { add?: CmdlineParam[]; remove?: string[] },
): string {
  const raw = a.rawValue;
  const simple = /^"[^"\\$`]*"$/.test(raw) || /^'[^']*'$/.test(raw);
  let newRaw: string;
  if (simple) {
    const q = raw[0]!;
    newRaw = q + editCmdline(raw.slice(1, -1), edit) + q;
  } else if (a.pieces.every((p) => p.kind === "literal")) {
    return replaceAssignmentValue(text, a, editCmdline(a.pieces.map((p) => p.text).join(""), edit));
  } else {
    // Values with $VARIABLES: edit the literal pieces, keep the references.
    const pieces: ValuePiece[] = a.pieces.map((p) =>
      p.kind === "literal" && edit.remove
        ? { ...p, text: editCmdline(p.text, { remove: edit.remove }) }
        : p,
    );
    if (edit.add?.length)
      pieces.push({ kind: "literal", text: ` ${edit.add.map((p) => p.raw).join(" ")}` });
    newRaw =
      '"' +
      pieces
        .map((p, i) => {
          if (p.kind === "literal") return escapeDq(p.text);
          const next = pieces[i + 1];
          return next && next.kind === "literal" && /^[A-Za-z0-9_]/.test(next.text)
            ? `\${${p.text}}`
            : `$${p.text}`;
        })
        .join("") +
      '"';
  }
  const lines = text.split("\n");
  const l = lines[a.line - 1]!;
  lines[a.line - 1] = l.slice(0, a.valueStart) + newRaw + l.slice(a.valueEnd);
  return lines.join("\n");
}

/** Take a raw token out of every GRUB_CMDLINE_LINUX* assignment in `list` whose literal text has it. */
export function removeGrubToken(
  files: PlanFiles,
  list: readonly string[],
  raw: string,
  why: string,
): boolean {
  let changed = false;
  for (const f of list) {
    let text = files.read(f);
    if (text === null) continue;
    for (;;) {
      const a = parseShellFile(f, text).assignments.find(
        (x) =>
          VARS.includes(x.name) &&
          x.pieces.some(
            (p) => p.kind === "literal" && parseCmdline(p.text).some((q) => q.raw === raw),
          ),
      );
      if (!a) break;
      text = editAssignment(text, a, { remove: [raw] });
    }
    if (files.write(f, text, why)) changed = true;
  }
  return changed;
}

/** The boot loader table's refresh for this GRUB host (grub-mkconfig's flavour, or proxmox-boot-tool). */
export function refreshCommand(state: HostState, why: string): CommandStep {
  const kind = state.bootloader.kind === "proxmox-boot-tool/grub" ? state.bootloader.kind : "grub";
  return { kind: "command", argv: [...BOOTLOADERS[kind].refresh(state.bootloader, []).argv], why };
}

const DROPIN_HEADER = [
  "# Written by passthrough: kernel parameters for PCI passthrough.",
  "# grub-mkconfig sources this after /etc/default/grub; it appends to the value set there.",
  "# Undo with `passthrough rollback` (or delete this file and run update-grub).",
];

export function planGrub(
  state: HostState,
  files: PlanFiles,
  edit: CmdlineEdit,
  findings: PlanFinding[],
): BootResult {
  const running = state.cmdline.running;
  if (state.bootloader.grubFlavor === "grubby") return planGrubby(state, edit);
  const debian =
    state.bootloader.grubFlavor === "update-grub" ||
    state.bootloader.kind === "proxmox-boot-tool/grub";
  const before = new Map(grubFiles(files, true).map((f) => [f, files.read(f)]));

  for (const r of edit.remove)
    removeGrubToken(
      files,
      grubFiles(files, debian).filter((f) => f !== OWN_DROPIN),
      r.raw,
      r.why,
    );

  if (debian) {
    const others = grubFiles(files, true).filter((f) => f !== OWN_DROPIN);
    const elsewhere = grubParams(files, others);
    const missing = edit.add.filter((w) => !satisfied(elsewhere, w.param));
    const content = missing.length
      ? [
          ...DROPIN_HEADER,
          `GRUB_CMDLINE_LINUX_DEFAULT="$GRUB_CMDLINE_LINUX_DEFAULT ${escapeDq(raws(missing))}"`,
        ].join("\n") + "\n"
      : null;
    // A later drop-in that assigns the variable without "$GRUB_CMDLINE_LINUX_DEFAULT" would drop ours.
    const order = [
      "etc/default/grub",
      ...[...others.filter((f) => f !== "etc/default/grub"), OWN_DROPIN].sort(),
    ].filter((f) => f === OWN_DROPIN || others.includes(f));
    const withOurs =
      content === null
        ? []
        : grubParamsOf(
            order.map((f) => parseShellFile(f, f === OWN_DROPIN ? content : (files.read(f) ?? ""))),
          );
    const lost = missing.filter((w) => !satisfied(withOurs, w.param));
    if (lost.length) {
      files.write(
        OWN_DROPIN,
        null,
        "a later /etc/default/grub.d file overrides the drop-in: the value is edited in place instead",
      );
      addInPlace(files, others, lost, findings);
    } else {
      files.write(
        OWN_DROPIN,
        content,
        content
          ? `add ${raws(missing)} to the kernel command line`
          : "the kernel command line already gets these parameters from /etc/default/grub",
      );
    }
  } else {
    const list = grubFiles(files, false);
    const have = grubParams(files, list);
    const missing = edit.add.filter((w) => !satisfied(have, w.param));
    if (missing.length) addInPlace(files, list, missing, findings);
  }

  const list = grubFiles(files, debian);
  const configuredAfter = grubParams(files, list);
  const changed =
    edit.repaired.length > 0 ||
    [...new Set([...before.keys(), ...list])].some(
      (f) => files.read(f) !== (before.get(f) ?? null),
    );
  const pending = notRunning(running, edit.add);
  const removedRunning = edit.remove.filter((r) => (running ?? []).some((p) => p.raw === r.raw));
  const commands: CommandStep[] = [];
  if (changed || pending.length) {
    const why = changed
      ? `regenerate the boot configuration from ${list.map((f) => `/${f}`).join(", ")}: the kernel gets its command line from ${state.bootloader.kind === "proxmox-boot-tool/grub" ? "the grub.cfg on each ESP" : "grub.cfg"}, not from these files`
      : `${raws(pending)} ${pending.length === 1 ? "is" : "are"} configured in ${list.map((f) => `/${f}`).join(", ")} but the running kernel did not get ${pending.length === 1 ? "it" : "them"}: grub.cfg is only rebuilt by this command (editing the file, or update-initramfs, does not do it)`;
    commands.push(refreshCommand(state, why));
  }
  return {
    commands,
    configuredAfter,
    rebootFor: [
      ...pending.map((w) => w.param.raw),
      ...removedRunning.map((r) => `without ${r.raw}`),
    ],
  };
}

/** Add tokens to the last GRUB_CMDLINE_LINUX_DEFAULT assignment (or a new one in /etc/default/grub). */
function addInPlace(
  files: PlanFiles,
  list: readonly string[],
  add: ReadonlyArray<{ param: CmdlineParam }>,
  findings: PlanFinding[],
): void {
  let target: ShellAssignment | null = null;
  for (const f of list) {
    const text = files.read(f);
    if (text === null) continue;
    for (const a of parseShellFile(f, text).assignments)
      if (a.name === "GRUB_CMDLINE_LINUX_DEFAULT") target = a;
  }
  const why = `add ${raws(add)} to GRUB_CMDLINE_LINUX_DEFAULT (only these tokens change)`;
  if (target) {
    files.write(
      target.file,
      editAssignment(files.read(target.file)!, target, { add: add.map((w) => w.param) }),
      why,
    );
    if (target.file !== "etc/default/grub")
      findings.push({
        id: "bootloader.grub-override",
        status: "info",
        subject: `/${target.file}:${target.line}`,
        summary: `/${target.file} sets GRUB_CMDLINE_LINUX_DEFAULT last, so the parameters are added there`,
        fix: null,
      });
    return;
  }
  const text = files.read("etc/default/grub") ?? "";
  const base = text === "" || text.endsWith("\n") ? text : `${text}\n`;
  files.write(
    "etc/default/grub",
    `${base}GRUB_CMDLINE_LINUX_DEFAULT="${escapeDq(printCmdline(add.map((w) => w.param)))}"\n`,
    why,
  );
}

function planGrubby(state: HostState, edit: CmdlineEdit): BootResult {
  const configured = state.cmdline.configured?.params ?? [];
  const running = state.cmdline.running;
  const commands: CommandStep[] = [];
  const removeNow = edit.remove.filter(
    (r) => configured.some((p) => p.raw === r.raw) || (running ?? []).some((p) => p.raw === r.raw),
  );
  if (removeNow.length) {
    const list = removeNow.map((r) => r.raw);
    commands.push({
      kind: "command",
      argv: [...GRUBBY.remove(list)],
      why: removeNow.map((r) => r.why).join("; "),
      undo: [...GRUBBY.add(list)],
    });
  }
  // grubby sets key=value in every BootLoaderSpec entry (replacing an older value) and in
  // GRUB_CMDLINE_LINUX; passing a parameter that is configured but not running is harmless and
  // makes sure the entries have it.
  const missing = edit.add.filter(
    (w) => !satisfied(configured, w.param) || !satisfied(running ?? [], w.param),
  );
  if (missing.length) {
    const list = raws(missing);
    const notConfigured = missing.filter((w) => !satisfied(configured, w.param));
    commands.push({
      kind: "command",
      argv: [...GRUBBY.add(missing.map((w) => w.param.raw))],
      why: notConfigured.length
        ? `add ${list} to every boot entry and to GRUB_CMDLINE_LINUX in /etc/default/grub`
        : `${list} is in /etc/default/grub but the running kernel did not get it: make sure every boot entry has it`,
      ...(notConfigured.length
        ? { undo: [...GRUBBY.remove(notConfigured.map((w) => w.param.raw))] }
        : {}),
    });
  }
  const after = [
    ...configured.filter((p) => !removeNow.some((r) => r.raw === p.raw)),
    ...missing.filter((w) => !satisfied(configured, w.param)).map((w) => w.param),
  ];
  return {
    commands,
    configuredAfter: after,
    rebootFor: [
      ...notRunning(running, edit.add).map((w) => w.param.raw),
      ...removeNow
        .filter((r) => (running ?? []).some((p) => p.raw === r.raw))
        .map((r) => `without ${r.raw}`),
    ],
  };
}
