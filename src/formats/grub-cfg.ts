// The menu of a generated grub.cfg (grub-mkconfig, update-grub): menuentry and submenu blocks
// with their titles, ids and kernels, and the `set default=` statements of its header. The
// header grub-mkconfig writes (util/grub.d/00_header.in) is:
//
//   if [ "${next_entry}" ] ; then            <- grub-reboot's one-shot choice wins
//      set default="${next_entry}" ...
//   else
//      set default="0"                       <- GRUB_DEFAULT; "saved" becomes "${saved_entry}"
//   fi
//
// Only what choosing the default entry needs is read; GRUB script is otherwise not evaluated.
// Fedora/RHEL configs call `blscfg` instead of listing entries: the entries are then the Boot
// Loader Specification files under /boot/loader/entries.

export interface GrubMenuItem {
  kind: "entry" | "submenu";
  title: string;
  /** --id / $menuentry_id_option ("gnulinux-6.1.0-18-amd64-advanced-UUID"). */
  id: string | null;
  /** The path of the first `linux` (linuxefi, linux16) command of an entry. */
  linux: string | null;
  children: GrubMenuItem[];
}

export interface GrubConfig {
  menu: GrubMenuItem[];
  /** The value of the last `set default=` that is not "${next_entry}": "0", "${saved_entry}", an id ... */
  defaultValue: string | null;
  /** The header honours grubenv's next_entry (grub-reboot). */
  nextEntry: boolean;
  /** The config calls blscfg (entries from /boot/loader/entries). */
  blscfg: boolean;
}

/** Split a line into words: quotes removed, backslash escapes resolved, $variables kept as written. */
export function grubWords(line: string): string[] {
  const words: string[] = [];
  let word = "";
  let inWord = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === "#" && !inWord) break;
    if (/\s/.test(c)) {
      if (inWord) words.push(word);
      word = "";
      inWord = false;
      continue;
    }
    inWord = true;
    if (c === "\\" && i + 1 < line.length) word += line[++i];
    else if (c === "'") {
      const end = line.indexOf("'", i + 1);
      const stop = end === -1 ? line.length : end;
      word += line.slice(i + 1, stop);
      i = stop;
    } else if (c === '"') i = doubleQuoted(line, i + 1, (s) => (word += s));
    else word += c;
  }
  if (inWord) words.push(word);
  return words;
}

/** Inside "...": a backslash escapes " \\ and $ (GRUB manual "Quoting"); returns the closing quote's index. */
function doubleQuoted(line: string, from: number, add: (s: string) => void): number {
  let i = from;
  for (; i < line.length && line[i] !== '"'; i++) {
    const c = line[i]!;
    if (c === "\\" && /["\\$]/.test(line[i + 1] ?? "")) add(line[++i]!);
    else add(c);
  }
  return i;
}

/** Options of menuentry/submenu that take a value (GRUB manual "menuentry"). */
const WITH_VALUE = new Set(["--class", "--users", "--hotkey", "--id", "$menuentry_id_option"]);

function menuItem(kind: GrubMenuItem["kind"], words: string[]): GrubMenuItem {
  let title: string | null = null;
  let id: string | null = null;
  for (let i = 1; i < words.length; i++) {
    const w = words[i]!;
    if (w === "{") break;
    if (WITH_VALUE.has(w) || w === "${menuentry_id_option}") {
      if (w !== "--class" && w !== "--users" && w !== "--hotkey") id = words[i + 1] ?? null;
      i++;
    } else if (!w.startsWith("--") && title === null) title = w;
  }
  return { kind, title: title ?? "", id, linux: null, children: [] };
}

export function parseGrubCfg(text: string): GrubConfig {
  const top: GrubMenuItem[] = [];
  // One frame per open brace: a menu item, or null for other blocks (function bodies).
  const stack: (GrubMenuItem | null)[] = [];
  const out: GrubConfig = { menu: top, defaultValue: null, nextEntry: false, blscfg: false };
  const current = () => [...stack].reverse().find((f) => f !== null) ?? null;
  for (const line of text.split("\n")) {
    const words = grubWords(line);
    const first = words[0];
    if (first === undefined) continue;
    if (first === "menuentry" || first === "submenu") {
      const item = menuItem(first === "menuentry" ? "entry" : "submenu", words);
      (current()?.children ?? top).push(item);
      if (words.at(-1) === "{") stack.push(item);
      continue;
    }
    const inEntry = current();
    if (/^linux(efi|16)?$/.test(first) && inEntry?.kind === "entry" && inEntry.linux === null)
      inEntry.linux = words[1] ?? null;
    if (first === "blscfg" && inEntry === null) out.blscfg = true;
    if (first === "set" && inEntry === null) setDefault(out, words[1] ?? "");
    for (const w of words) {
      if (w === "{") stack.push(null);
      if (w === "}") stack.pop();
    }
  }
  return out;
}

function setDefault(out: GrubConfig, assignment: string): void {
  const m = /^default=(.*)$/.exec(assignment);
  if (!m) return;
  if (m[1] === "${next_entry}") out.nextEntry = true;
  else out.defaultValue = m[1]!;
}
