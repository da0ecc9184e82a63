// /etc/group (group(5)): "name:password:GID:members" lines. Only names and ids matter here.

/** Group name -> gid; malformed lines are skipped, as getgrnam(3) does. */
export function parseGroupFile(text: string): Map<string, number> {
  const groups = new Map<string, number>();
  for (const line of text.split("\n")) {
    const fields = line.replace(/\r$/, "").split(":");
    if (fields.length < 3 || fields[0] === "" || fields[0]!.startsWith("#")) continue;
    if (!/^\d+$/.test(fields[2]!)) continue;
    if (!groups.has(fields[0]!)) groups.set(fields[0]!, Number(fields[2]));
  }
  return groups;
}
