// GRUB's environment block (/boot/grub/grubenv, /boot/grub2/grubenv): a 1024-byte file that
// starts with "# GRUB Environment Block", then one NAME=VALUE per line, padded with '#'.
// grub-set-default writes saved_entry, grub-reboot next_entry (GRUB manual "Environment block",
// grub-editenv(1)). A backslash escapes the next character (a newline or a backslash).

export type Grubenv = Record<string, string>;

export function parseGrubenv(text: string): Grubenv {
  const out: Grubenv = {};
  // A line ends at a newline that no backslash escapes.
  for (const raw of text.split(/(?<!\\)\n/)) {
    if (raw.startsWith("#")) continue;
    const eq = raw.indexOf("=");
    if (eq <= 0) continue;
    out[raw.slice(0, eq)] = raw.slice(eq + 1).replace(/\\([\s\S])/g, "$1");
  }
  return out;
}
