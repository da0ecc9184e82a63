// Proxmox VM config files (/etc/pve/qemu-server/<vmid>.conf), as qemu-server's
// parse_vm_config reads them: "key: value" lines, "#" lines accumulate into the description,
// and "[NAME]" starts another section ([PENDING], [special:cloudinit], snapshots).
// Only the main section describes the VM as it is configured now.

export interface VmConfigFile {
  /** Main section, "key" -> "value". */
  main: Record<string, string>;
  /** "#" comment lines of the main section (decoded description), in order. */
  description: string[];
  /** Other sections by name ("PENDING", "special:cloudinit", snapshot names). */
  sections: Record<string, Record<string, string>>;
}

const LINE = /^([a-z][a-z_-]*\d*):\s*(.+?)\s*$/;

export function parseVmConfig(text: string): VmConfigFile {
  const result: VmConfigFile = { main: {}, description: [], sections: {} };
  let current = result.main;
  let inMain = true;
  for (const raw of text.split("\n")) {
    const line = raw.replace(/\r$/, "");
    if (line.trim() === "") continue;
    const sec = /^\[([^\]]+)\]\s*$/.exec(line);
    if (sec) {
      current = result.sections[sec[1]!] = {};
      inMain = false;
      continue;
    }
    if (line.startsWith("#")) {
      if (inMain) result.description.push(decodeURIComponentSafe(line.slice(1)));
      continue;
    }
    const m = LINE.exec(line);
    if (m) current[m[1]!] = m[2]!;
  }
  return result;
}

function decodeURIComponentSafe(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
