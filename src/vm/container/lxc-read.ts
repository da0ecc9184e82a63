// What `ct plan|configure|check --name NAME` reads about a plain LXC container, at the edge:
// its config (LXCPATH/NAME/config; lxc.lxcpath in /etc/lxc/lxc.conf, lxc.system.conf(5)),
// its state (`lxc-info -n NAME -s -H` prints RUNNING, STOPPED, ...; lxc-info(1)), its
// /etc/group from a directory root file system or, while it runs, through
// `lxc-attach -n NAME -- cat /etc/group` (lxc-attach(1)), and the host's /etc/group and
// /etc/subgid.

import { InputError } from "../../errors.js";
import { quoteInput } from "../../formats/device-selection.js";
import { parseGroupFile } from "../../formats/etc-group.js";
import type { HostRoot } from "../../host/root.js";
import { commandSucceeded, firstErrorLine, type CommandRunner } from "../../process/run.js";
import type { GroupSource } from "./device-plan.js";
import type { ContainerExec } from "./inside.js";
import {
  DEFAULT_LXC_PATH,
  lxcPathFrom,
  parseLxcConfig,
  rootfsFolder,
  type LxcEntry,
} from "./lxc-config.js";

export interface LxcContainer {
  name: string;
  lxcPath: string;
  /** Host path of its config: "/var/lib/lxc/media/config". */
  file: string;
  text: string;
  entries: LxcEntry[];
}

/** A name lxc-create accepts and that stays one folder under lxcpath. */
export function checkLxcName(name: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(name))
    throw new InputError(
      `--name ${quoteInput(name)}: not a container name (letters, digits, "_", "." and "-"); \`lxc-ls\` shows them`,
    );
  return name;
}

const rel = (hostPath: string) => hostPath.replace(/^\/+/, "");

export function readLxcContainer(root: HostRoot, name: string): LxcContainer {
  const sys = root.readText("etc/lxc/lxc.conf");
  const lxcPath = lxcPathFrom(sys.ok ? sys.value : null);
  const file = `${lxcPath}/${checkLxcName(name)}/config`;
  const r = root.readText(rel(file));
  if (!r.ok)
    throw new InputError(
      `container ${name}: no ${file} on ${root.label} (${r.reason}); \`lxc-ls\` shows the containers`,
    );
  return { name, lxcPath, file, text: r.value, entries: parseLxcConfig(r.value) };
}

/** lxc-attach/lxc-info's "-n NAME", with -P only for a lxcpath other than the default. */
export function lxcTarget(ct: { name: string; lxcPath: string }): string[] {
  return ["-n", ct.name, ...(ct.lxcPath === DEFAULT_LXC_PATH ? [] : ["-P", ct.lxcPath])];
}

/** "RUNNING", "STOPPED", ... as lxc-info says; null when it cannot say (not installed, unknown). */
export function lxcState(runner: CommandRunner, ct: LxcContainer): string | null {
  const r = runner.run(["lxc-info", ...lxcTarget(ct), "-s", "-H"]);
  if (!commandSucceeded(r)) return null;
  const state = r.stdout.trim().split("\n").pop()?.trim() ?? "";
  return /^[A-Z]+$/.test(state) ? state : null;
}

/** `lxc-attach -n NAME -- argv`, for ct check's probes (inside.ts). */
export function lxcAttachExec(runner: CommandRunner, ct: LxcContainer): ContainerExec {
  return (argv, okCodes) => {
    const r = runner.run(["lxc-attach", ...lxcTarget(ct), "--", ...argv]);
    if (r.exitCode === null || !okCodes.includes(r.exitCode))
      throw new InputError(
        `container ${ct.name}: \`lxc-attach -n ${ct.name} -- ${argv[0]}\` failed: ${firstErrorLine(r)}; ct check looks inside a running container (lxc-start -n ${ct.name})`,
      );
    return r.stdout;
  };
}

/** The container's /etc/group: from its directory root file system, else from inside while it runs. */
export function readLxcGroups(
  root: HostRoot,
  ct: LxcContainer,
  runner: CommandRunner,
  running: boolean,
): GroupSource {
  const folder = rootfsFolder(ct.entries);
  if (folder !== null) {
    const r = root.readText(`${rel(folder)}/etc/group`);
    if (r.ok) return { ok: true, groups: parseGroupFile(r.value), source: `${folder}/etc/group` };
  }
  const why = folder === null ? "its lxc.rootfs.path is not a folder" : `no ${folder}/etc/group`;
  if (!running) return { ok: false, reason: `${why}, and it is not running` };
  const r = runner.run(["lxc-attach", ...lxcTarget(ct), "--", "cat", "/etc/group"]);
  if (!commandSucceeded(r))
    return { ok: false, reason: `${why}, and lxc-attach failed: ${firstErrorLine(r)}` };
  return {
    ok: true,
    groups: parseGroupFile(r.stdout),
    source: "/etc/group inside it (lxc-attach)",
  };
}

/** The host's groups (udev's owners of the nodes). */
export function readHostGroups(root: HostRoot): Map<string, number> {
  const r = root.readText("etc/group");
  return r.ok ? parseGroupFile(r.value) : new Map();
}

/** /etc/subgid (null: absent) when the host has newgidmap, which LXC then maps ids through; else undefined. */
export function readSubgid(root: HostRoot): string | null | undefined {
  if (!root.hasTool("newgidmap")) return undefined;
  const r = root.readText("etc/subgid");
  return r.ok ? r.value : null;
}
