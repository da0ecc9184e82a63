// modprobe configuration as kmod will read it once the planned edits are made: /etc files come
// from the planned file view (so repairs and earlier steps count), the read-only /lib and /usr/lib
// files from discovery. Also small line editors for directives in files we do not own.

import {
  effectiveConfFiles,
  normalizeModuleName,
  parseModprobeConf,
} from "../formats/modprobe-conf.js";
import type { HostState, ModprobeDirective } from "../host/types.js";
import type { PlanFiles } from "./files.js";

export const OWN_MODPROBE = "etc/modprobe.d/passthrough.conf";

/** Directives in kmod's order (files sorted by name across folders, /etc shadowing), leaving out `exclude`. */
export function effectiveModprobe(
  state: HostState,
  files: PlanFiles,
  exclude: string | null = OWN_MODPROBE,
): ModprobeDirective[] {
  const byDir = new Map<string, Set<string>>();
  for (const d of state.modules.modprobe) {
    if (d.file.startsWith("etc/")) continue;
    const dir = d.file.slice(0, d.file.lastIndexOf("/"));
    const set = byDir.get(dir) ?? new Set<string>();
    set.add(d.file.slice(d.file.lastIndexOf("/") + 1));
    byDir.set(dir, set);
  }
  const filesByDir = [
    { dir: "etc/modprobe.d", names: files.list("etc/modprobe.d") },
    ...[...byDir].map(([dir, names]) => ({ dir, names: [...names] })),
  ];
  return effectiveConfFiles(filesByDir)
    .filter((f) => f !== exclude)
    .flatMap((f) =>
      f.startsWith("etc/")
        ? parseModprobeConf(f, files.read(f) ?? "")
        : state.modules.modprobe.filter((d) => d.file === f),
    );
}

/** kmod matches softdep/install names with fnmatch(3): "*", "?" and [...] work there. */
export function kmodNameMatches(pattern: string, module: string): boolean {
  if (!/[*?[]/.test(pattern)) return normalizeModuleName(pattern) === module;
  const re = new RegExp(
    "^" +
      normalizeModuleName(pattern)
        .replace(/[.+^${}()|\\]/g, "\\$&")
        .replace(/\*/g, ".*")
        .replace(/\?/g, ".") +
      "$",
  );
  return re.test(module);
}

/**
 * kmod uses only the FIRST softdep (and the first install) line that matches a module
 * (libkmod-module.c kmod_module_get_softdeps: "find only the first command, as modprobe from
 * module-init-tools does"). So a second softdep line for the same module is silently ignored.
 */
export function firstMatching(
  directives: readonly ModprobeDirective[],
  command: "softdep" | "install",
  module: string,
): ModprobeDirective | null {
  return directives.find((d) => d.command === command && kmodNameMatches(d.module, module)) ?? null;
}

/** Replace (or with null, delete) the directive starting at 1-based `line`, continuation lines included. */
export function replaceDirective(text: string, line: number, replacement: string | null): string {
  const lines = text.split("\n");
  let end = line - 1;
  while (end < lines.length - 1 && lines[end]!.endsWith("\\")) end++;
  lines.splice(line - 1, end - line + 2, ...(replacement === null ? [] : [replacement]));
  return lines.join("\n");
}

/** Delete a 1-based line from a text file. */
export function deleteLine(text: string, line: number): string {
  const lines = text.split("\n");
  lines.splice(line - 1, 1);
  return lines.join("\n");
}
