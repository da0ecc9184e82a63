// Modules each initramfs generator is told to include:
// - initramfs-tools: /etc/initramfs-tools/modules, one module per line;
// - dracut: `force_drivers+=" a b "` / `add_drivers+=` in /etc/dracut.conf and
//   /etc/dracut.conf.d/*.conf (only *.conf files are read, dracut.conf(5));
// - mkinitcpio: the MODULES=(...) array of /etc/mkinitcpio.conf and mkinitcpio.conf.d/*.conf;
// - booster: `modules_force_load: a,b` in /etc/booster.yaml.

import type { ModuleLoadEntry } from "./module-lists.js";
import { normalizeModuleName } from "./modprobe-conf.js";
import { parseModuleList } from "./module-lists.js";

export type InitramfsKind = "initramfs-tools" | "dracut" | "mkinitcpio" | "booster" | "unknown";

type ReadFile = (path: string) => string | null;
type ListDir = (path: string) => string[] | null;

export function parseInitramfsModules(
  kind: InitramfsKind,
  read: ReadFile,
  list: ListDir,
): ModuleLoadEntry[] {
  switch (kind) {
    case "initramfs-tools": {
      const t = read("etc/initramfs-tools/modules");
      return t === null ? [] : parseModuleList("etc/initramfs-tools/modules", t);
    }
    case "dracut":
      return confFiles("etc/dracut.conf", "etc/dracut.conf.d", list).flatMap((f) =>
        parseDracutDrivers(f, read(f) ?? ""),
      );
    case "mkinitcpio":
      return confFiles("etc/mkinitcpio.conf", "etc/mkinitcpio.conf.d", list).flatMap((f) =>
        parseMkinitcpioModules(f, read(f) ?? ""),
      );
    case "booster": {
      const t = read("etc/booster.yaml");
      return t === null ? [] : parseBoosterModules("etc/booster.yaml", t);
    }
    case "unknown":
      return [];
    default:
      return kind satisfies never;
  }
}

function confFiles(main: string, dropinDir: string, list: ListDir): string[] {
  const dropins = (list(dropinDir) ?? [])
    .filter((n) => n.endsWith(".conf"))
    .sort()
    .map((n) => `${dropinDir}/${n}`);
  return [main, ...dropins];
}

export function parseDracutDrivers(file: string, text: string): ModuleLoadEntry[] {
  const out: ModuleLoadEntry[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const m = /^\s*(force_drivers|add_drivers)\+?=\s*(["'])(.*?)\2/.exec(lines[i]!);
    if (!m) continue;
    for (const name of m[3]!.split(/\s+/).filter(Boolean))
      out.push({ file, line: i + 1, module: normalizeModuleName(name), args: [m[1]!] });
  }
  return out;
}

export function parseMkinitcpioModules(file: string, text: string): ModuleLoadEntry[] {
  const out: ModuleLoadEntry[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const m = /^\s*MODULES\+?=\(([^)]*)\)/.exec(lines[i]!);
    if (!m) continue;
    for (const name of m[1]!.split(/\s+/).filter(Boolean))
      out.push({
        file,
        line: i + 1,
        module: normalizeModuleName(name.replace(/^["']|["']$/g, "")),
        args: [],
      });
  }
  return out;
}

export function parseBoosterModules(file: string, text: string): ModuleLoadEntry[] {
  const out: ModuleLoadEntry[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const m = /^\s*modules_force_load:\s*(.*)$/.exec(lines[i]!);
    if (!m) continue;
    for (const name of m[1]!
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean))
      out.push({ file, line: i + 1, module: normalizeModuleName(name), args: [] });
  }
  return out;
}
