// Lists of modules to load: /etc/modules (Debian: "name [args]" per line, "#" comments),
// /etc/modules-load.d/*.conf (systemd: one name per line, "#" or ";" comments) and
// /etc/initramfs-tools/modules (same shape as /etc/modules).

import { normalizeModuleName } from "./modprobe-conf.js";

export interface ModuleLoadEntry {
  file: string;
  line: number;
  module: string;
  args: string[];
}

export function parseModuleList(file: string, text: string): ModuleLoadEntry[] {
  const out: ModuleLoadEntry[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const t = lines[i]!.trim();
    if (t === "" || t.startsWith("#") || t.startsWith(";")) continue;
    const [name, ...args] = t.split(/\s+/);
    out.push({ file, line: i + 1, module: normalizeModuleName(name!), args });
  }
  return out;
}

/** Add module names missing from a list file, keeping the existing bytes. */
export function appendModules(text: string, modules: readonly string[]): string {
  const present = new Set(parseModuleList("", text).map((e) => e.module));
  const missing = modules.filter((m) => !present.has(normalizeModuleName(m)));
  if (missing.length === 0) return text;
  const base = text === "" || text.endsWith("\n") ? text : `${text}\n`;
  return base + missing.map((m) => `${m}\n`).join("");
}
