// Which kernel modules can drive a device: modules.alias patterns matched against the
// device's modalias (what `lspci -k` prints as "Kernel modules:"). Lets a plan name the
// native driver (for softdep) even while the device is already on vfio-pci.

export class ModuleAliases {
  // Indexed by the 8 vendor digits of the pattern ("pci:v000010DEd..."), so a lookup tests a
  // vendor's few hundred patterns plus the vendor-wildcard ones, not all twenty thousand.
  private readonly byVendor = new Map<string, Array<{ re: RegExp; module: string }>>();
  private readonly anyVendor: Array<{ re: RegExp; module: string }> = [];
  private readonly cache = new Map<string, string[]>();
  private count = 0;

  constructor(text: string) {
    for (const line of text.split("\n")) {
      // "alias pci:v000010DEd*sv*sd*bc03sc*i* nouveau"
      if (!line.startsWith("alias pci:")) continue;
      const parts = line.split(/\s+/);
      if (parts.length < 3) continue;
      const pattern = parts[1]!;
      const entry = { re: globToRegExp(pattern), module: parts[2]! };
      const vendor = pattern.slice(5, 13);
      if (pattern.startsWith("pci:v") && /^[0-9A-Fa-f]{8}$/.test(vendor)) {
        const key = vendor.toUpperCase();
        let list = this.byVendor.get(key);
        if (!list) this.byVendor.set(key, (list = []));
        list.push(entry);
      } else this.anyVendor.push(entry);
      this.count++;
    }
  }

  get size(): number {
    return this.count;
  }

  modulesFor(modalias: string): string[] {
    const cached = this.cache.get(modalias);
    if (cached) return [...cached];
    const found: string[] = [];
    const candidates = [
      ...(this.byVendor.get(modalias.slice(5, 13).toUpperCase()) ?? []),
      ...this.anyVendor,
    ];
    for (const p of candidates)
      if (p.re.test(modalias) && !found.includes(p.module)) found.push(p.module);
    this.cache.set(modalias, found);
    return [...found];
  }
}

/** fnmatch(3) without flags, as kmod uses for aliases: "*", "?" and "[...]". */
export function globToRegExp(glob: string): RegExp {
  let re = "^";
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === "*") re += ".*";
    else if (c === "?") re += ".";
    else if (c === "[") {
      const close = glob.indexOf("]", i + 1);
      if (close === -1) re += "\\[";
      else {
        let cls = glob.slice(i + 1, close);
        if (cls.startsWith("!")) cls = "^" + cls.slice(1);
        re += `[${cls.replace(/\\/g, "\\\\")}]`;
        i = close;
      }
    } else re += c.replace(/[.+^${}()|\\/]/g, "\\$&");
  }
  return new RegExp(re + "$");
}

/**
 * The lines of modules.alias that match at least one of `modaliases` (PCI and USB devices
 * present), plus its header comment: a snapshot keeps what `lspci -k` and discovery would
 * find for its own devices, not the whole 1-2 MB file.
 */
export function filterModulesAlias(
  text: string,
  modaliases: readonly string[],
): { text: string; kept: number; total: number } {
  const byBus = new Map<string, string[]>();
  for (const m of modaliases) {
    const bus = m.slice(0, m.indexOf(":") + 1);
    if (!bus) continue;
    const list = byBus.get(bus) ?? [];
    list.push(m);
    byBus.set(bus, list);
  }
  const out: string[] = [];
  let kept = 0;
  let total = 0;
  let header = true;
  for (const line of text.split("\n")) {
    if (line.startsWith("#")) {
      if (header) out.push(line);
      continue;
    }
    header = false;
    if (!line.startsWith("alias ")) continue;
    total++;
    const pattern = line.split(/\s+/)[1] ?? "";
    const candidates = byBus.get(pattern.slice(0, pattern.indexOf(":") + 1));
    if (!candidates) continue;
    const re = globToRegExp(pattern);
    if (candidates.some((m) => re.test(m))) {
      out.push(line);
      kept++;
    }
  }
  return { text: out.length ? `${out.join("\n")}\n` : "", kept, total };
}
