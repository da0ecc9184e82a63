// Writing a snippet on the Proxmox node itself, for backends that run there (qm): Proxmox
// tells where a volume lives (`pvesm path STORAGE:snippets/NAME`) and which storages take
// snippets (`pvesm status --content snippets`); the file is written atomically, root-only
// (user-data can hold an embedded Tailscale key; a hookscript is 0700, qemu-server runs only an
// executable one). The REST API has no way to do this: its
// upload endpoint accepts iso, vztmpl and import only (pve-storage API2/Storage/Status.pm).

import * as path from "node:path";
import { FileWriter } from "../apply/file-writer.js";
import { ApplyError, RefusedError, describeFsError } from "../errors.js";
import { commandSucceeded, type CommandResult, type CommandRunner } from "../process/run.js";

function firstLine(s: string): string {
  return s.trim().split("\n")[0] ?? "";
}

/** Why pvesm failed: its first stderr line, else why it could not run, else its exit status. */
function why(r: CommandResult): string {
  return firstLine(r.stderr) || r.error || `exit ${r.exitCode}`;
}

/** Storage names in `pvesm status --content snippets` (a header line, then one storage per line). */
export function parsePvesmStatus(text: string): string[] {
  return text
    .split("\n")
    .slice(1)
    .map((l) => l.trim().split(/\s+/)[0] ?? "")
    .filter(Boolean);
}

export async function writeLocalSnippet(
  runner: CommandRunner,
  storage: string,
  filename: string,
  content: string,
  mode = 0o600,
): Promise<string> {
  if (!/^[a-z][a-z0-9_.-]*$/i.test(storage))
    throw new RefusedError(`--snippet-storage ${storage}: not a Proxmox storage id`);
  if (!/^[\w.-]+$/.test(filename))
    throw new RefusedError(`snippet name ${filename}: only letters, digits, ., _ and -`);
  const status = runner.run(["pvesm", "status", "--content", "snippets"]);
  if (!commandSucceeded(status))
    throw new ApplyError(`pvesm status --content snippets failed: ${why(status)}`);
  const storages = parsePvesmStatus(status.stdout);
  if (!storages.includes(storage)) {
    throw new RefusedError(
      `storage ${storage} does not take snippets${storages.length ? ` (these do: ${storages.join(", ")}; pass --snippet-storage NAME)` : ""}; allow them in Datacenter -> Storage -> ${storage} -> Content, or \`pvesm set ${storage} --content <its current types>,snippets\``,
    );
  }
  const volume = `${storage}:snippets/${filename}`;
  const where = runner.run(["pvesm", "path", volume]);
  const file = where.stdout.trim();
  if (!commandSucceeded(where) || !path.isAbsolute(file))
    throw new ApplyError(
      `pvesm path ${volume} failed: ${firstLine(where.stderr) || where.error || `printed "${firstLine(where.stdout)}"`}`,
    );
  try {
    new FileWriter("/").write(file, content, { mode });
  } catch (err) {
    throw new ApplyError(
      `could not write the snippet ${file}: ${describeFsError(err)}; nothing in the VM config was changed`,
    );
  }
  return file;
}
