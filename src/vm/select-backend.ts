// Which backend a `vm` command talks to. Explicit flags win (--backend, --emit, --libvirt,
// --domain-xml, --api); otherwise local `qm` on a Proxmox node, and a snapshot of a Proxmox
// node can still be planned against (its /etc/pve configs, read only).

import * as fs from "node:fs";
import * as path from "node:path";
import { InputError } from "../errors.js";
import type { HostState } from "../host/types.js";
import type { CommandRunner } from "../process/run.js";
import { Virsh } from "./libvirt/virsh.js";
import { QmBackend } from "./proxmox/qm-backend.js";
import type { ProxmoxBackend } from "./types.js";

export const BACKENDS = ["qm", "api", "libvirt", "qemu"] as const;
export type BackendName = (typeof BACKENDS)[number];

export interface BackendFlags {
  backend?: string;
  emit?: string;
  /** --api URL of a Proxmox node (https://pve:8006). */
  api?: string;
  node?: string;
  tokenFile?: string;
  fingerprint?: string;
  /** --libvirt DOMAIN. */
  libvirt?: string;
  /** --domain-xml FILE: a domain's XML instead of `virsh dumpxml`. */
  domainXml?: string;
  snapshot?: string;
}

export type VmTarget =
  | { kind: "proxmox"; backend: ProxmoxBackend }
  /** Proxmox VM configs from a snapshot's /etc/pve: plan only. */
  | { kind: "snapshot"; label: string }
  | {
      kind: "libvirt";
      domain: string | null;
      domainXmlFile: string | null;
      virsh: Virsh;
      emitOnly: boolean;
    }
  | { kind: "qemu" };

/** Builds the API backend from --api/--node/--token-file/--fingerprint and the environment. */
export type ApiConnector = (flags: BackendFlags, env: NodeJS.ProcessEnv) => Promise<ProxmoxBackend>;

export interface SelectContext {
  state: HostState;
  runner: CommandRunner;
  env: NodeJS.ProcessEnv;
  /** Connects the REST API backend (src/vm/proxmox/connect.ts) when it is chosen. */
  connectApi: ApiConnector;
}

/** A program on this machine's PATH (the one the commands will run with). */
export function onPath(name: string, env: NodeJS.ProcessEnv): boolean {
  for (const dir of (env.PATH ?? "").split(path.delimiter)) {
    if (!dir) continue;
    try {
      fs.accessSync(path.join(dir, name), fs.constants.X_OK);
      return true;
    } catch {
      // not here
    }
  }
  return false;
}

export function parseBackendName(v: string): BackendName {
  if ((BACKENDS as readonly string[]).includes(v)) return v as BackendName;
  throw new InputError(`--backend ${JSON.stringify(v)}: choose one of ${BACKENDS.join(", ")}`);
}

export async function selectBackend(flags: BackendFlags, ctx: SelectContext): Promise<VmTarget> {
  const { state, env } = ctx;
  let emit: "libvirt" | "qemu" | null = null;
  if (flags.emit !== undefined) {
    if (flags.emit !== "libvirt" && flags.emit !== "qemu")
      throw new InputError(
        `--emit ${JSON.stringify(flags.emit)}: choose libvirt (domain XML) or qemu (a qemu-system-x86_64 command line)`,
      );
    emit = flags.emit;
  }
  const explicit = flags.backend === undefined ? null : parseBackendName(flags.backend);
  if (emit !== null && explicit !== null && explicit !== emit)
    throw new InputError(
      `--emit ${emit} and --backend ${explicit} contradict each other; give one`,
    );

  const wanted: BackendName | null =
    emit ??
    explicit ??
    (flags.libvirt !== undefined || flags.domainXml !== undefined
      ? "libvirt"
      : flags.api !== undefined
        ? "api"
        : null);
  const virsh = new Virsh(ctx.runner);
  switch (wanted) {
    case "qemu":
      return { kind: "qemu" };
    case "libvirt":
      return {
        kind: "libvirt",
        domain: flags.libvirt ?? null,
        domainXmlFile: flags.domainXml ?? null,
        virsh,
        emitOnly: emit === "libvirt",
      };
    case "api":
      if (flags.api === undefined)
        throw new InputError(
          "--backend api needs --api https://NODE:8006 (and a token: PASSTHROUGH_PVE_TOKEN or --token-file)",
        );
      return { kind: "proxmox", backend: await ctx.connectApi(flags, env) };
    case "qm":
      if (!onPath("qm", env) || !onPath("pvesh", env))
        throw new InputError(
          "--backend qm needs `qm` and `pvesh` (this is not a Proxmox VE node); use --api https://NODE:8006 from elsewhere",
        );
      return { kind: "proxmox", backend: new QmBackend(ctx.runner, nodeName(flags, state)) };
    case null:
      break;
  }
  // Automatic: the local node, else a snapshot of one.
  if (
    state.source.kind === "live" &&
    state.system.proxmox !== null &&
    onPath("qm", env) &&
    onPath("pvesh", env)
  ) {
    return { kind: "proxmox", backend: new QmBackend(ctx.runner, nodeName(flags, state)) };
  }
  if (state.source.kind === "snapshot" && state.system.proxmox !== null)
    return { kind: "snapshot", label: state.source.path };
  throw new InputError(
    "no VM backend here: this is not a Proxmox VE node; give --api https://NODE:8006 (Proxmox from elsewhere), --libvirt DOMAIN (libvirt), or --emit qemu (a QEMU command line)",
  );
}

/** Proxmox node name: --node, else this host's short hostname (what PVE::INotify::nodename uses). */
function nodeName(flags: BackendFlags, state: HostState): string {
  const name =
    flags.node ?? (state.source.kind === "live" ? state.system.hostname : null) ?? readHostname();
  if (!name)
    throw new InputError(
      "could not tell this node's name; give --node NAME (as in `pvesh get /nodes`)",
    );
  return name.split(".")[0]!;
}

function readHostname(): string | null {
  try {
    return fs.readFileSync("/etc/hostname", "utf8").trim() || null;
  } catch {
    return null;
  }
}
