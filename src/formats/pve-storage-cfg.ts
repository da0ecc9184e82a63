// /etc/pve/storage.cfg (pvesm(1), "Storage Configuration"): sections "TYPE: ID" followed by
// indented "key value" lines. Only what finds a snippet matters here: each storage's `path`
// (dir, nfs, cifs, cephfs storages keep snippets in PATH/snippets).

/** Storage id -> its path, for the storages that have one. */
export function storagePaths(text: string): Map<string, string> {
  const out = new Map<string, string>();
  let id: string | null = null;
  for (const line of text.split("\n")) {
    const head = /^([a-z][a-z0-9]*):\s*(\S+)\s*$/.exec(line);
    if (head) {
      id = head[2]!;
      continue;
    }
    const kv = /^\s+path\s+(\/\S*)\s*$/.exec(line);
    if (kv && id !== null) out.set(id, kv[1]!);
  }
  return out;
}
