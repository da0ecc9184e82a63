// What `ct check` reads inside a running container, at the edge: three `pct exec` runs
// (pct(1): "pct exec <vmid> [<extra-args>]" runs a command inside through lxc-attach). stat and
// find exit 1 when one of their paths is missing, and still print the others, so their
// output is read whatever the status; a failed start of `pct exec` itself (container stopped,
// unknown) stops the check.

import { InputError } from "../../errors.js";
import { parseGroupFile } from "../../formats/etc-group.js";
import { firstErrorLine, type CommandRunner } from "../../process/run.js";
import { parseStatOutput, STAT_FORMAT, type NodeStat } from "./check.js";

export interface ContainerProbe {
  groups: Map<string, number>;
  stats: Map<string, NodeStat>;
  /** libnvidia-ml.so.* paths inside; null when not asked. */
  libraries: string[] | null;
}

/** Library folders of Debian/Ubuntu (multiarch under /usr/lib), Fedora/Arch (/usr/lib64, /usr/lib) and NVIDIA's .run installer. */
const LIBRARY_DIRS = ["/usr/lib", "/usr/lib64", "/usr/local/lib"];

function pctExec(runner: CommandRunner, ctid: number, argv: string[], okCodes: number[]) {
  const r = runner.run(["pct", "exec", String(ctid), "--", ...argv]);
  if (r.exitCode === null || !okCodes.includes(r.exitCode))
    throw new InputError(
      `container ${ctid}: \`pct exec ${ctid} -- ${argv[0]}\` failed: ${firstErrorLine(r)}; ct check looks inside a running container (pct start ${ctid})`,
    );
  return r.stdout;
}

/** Runs argv inside a container and returns its stdout; throws when its status is not in okCodes. */
export type ContainerExec = (argv: string[], okCodes: number[]) => string;

/** The way into a Proxmox container: `pct exec CTID --`. */
export function pctExecIn(runner: CommandRunner, ctid: number): ContainerExec {
  return (argv, ok) => pctExec(runner, ctid, argv, ok);
}

/** The probes through any way in: `pct exec` here, `lxc-attach` for plain LXC (lxc-inside.ts). */
export function probeWith(exec: ContainerExec, paths: string[], nvidia: boolean): ContainerProbe {
  const groups = parseGroupFile(exec(["cat", "/etc/group"], [0]));
  const stats = parseStatOutput(exec(["stat", "-L", "-c", STAT_FORMAT, "--", ...paths], [0, 1]));
  const libraries = nvidia
    ? exec(["find", ...LIBRARY_DIRS, "-maxdepth", "2", "-name", "libnvidia-ml.so.*"], [0, 1])
        .split("\n")
        .filter(Boolean)
    : null;
  return { groups, stats, libraries };
}
