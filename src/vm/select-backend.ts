// Which backend a `vm` command talks to. Explicit choices win (--backend, --emit, --libvirt,
// --domain-xml, --api); otherwise local `qm` on a Proxmox node, and a snapshot of a Proxmox
// node can still be planned against (its /etc/pve configs, read only).
//
// BACKENDS is the one table of backends: a new one is a module implementing VmBackend
// (backend.ts) plus its entry here, whose key is its --backend name. Whatever is done per
// backend elsewhere is a Record<BackendName, ...>, so the compiler lists what a new one lacks.

import * as fs from "node:fs";
import * as path from "node:path";
import { InputError } from "../errors.js";
import type { HostState } from "../host/types.js";
import type { CommandRunner } from "../process/run.js";
import type { VmBackend } from "./backend.js";
import { LibvirtVmBackend } from "./libvirt/backend.js";
import { Virsh } from "./libvirt/virsh.js";
import { ProxmoxVmBackend } from "./proxmox/backend.js";
import { QmBackend } from "./proxmox/qm-backend.js";
import { QemuVmBackend } from "./qemu/backend.js";
import type { ProxmoxBackend } from "./types.js";

/** What the user chose, as given (the CLI fills it from its options). */
export interface BackendChoice {
  /** --backend NAME. */
  backend: string | null;
  /** --emit libvirt|qemu: show the domain XML or the command line, change nothing. */
  emit: string | null;
  /** --libvirt DOMAIN. */
  libvirtDomain: string | null;
  /** --domain-xml FILE: a domain's XML instead of `virsh dumpxml`. */
  domainXmlFile: string | null;
  /** --api URL was given: the Proxmox REST API. */
  api: boolean;
  /** --node NAME: the Proxmox node. */
  node: string | null;
}

export interface SelectContext {
  state: HostState;
  runner: CommandRunner;
  env: NodeJS.ProcessEnv;
  /** Connects the REST API client (src/vm/proxmox/connect.ts) when it is chosen. */
  connectApi: () => Promise<ProxmoxBackend>;
}

type Open = (choice: BackendChoice, ctx: SelectContext, emit: boolean) => Promise<VmBackend>;

const BACKENDS = {
  qm: async (choice, ctx) => {
    if (!onPath("qm", ctx.env) || !onPath("pvesh", ctx.env))
      throw new InputError(
        "--backend qm needs `qm` and `pvesh` (this is not a Proxmox VE node); use --api https://NODE:8006 from elsewhere",
      );
    return localNode(choice, ctx);
  },
  api: async (choice, ctx) => {
    if (!choice.api)
      throw new InputError(
        "--backend api needs --api https://NODE:8006 (and a token: PASSTHROUGH_PVE_TOKEN or --token-file)",
      );
    return new ProxmoxVmBackend(await ctx.connectApi());
  },
  libvirt: async (choice, ctx, emit) =>
    new LibvirtVmBackend(new Virsh(ctx.runner), {
      domain: choice.libvirtDomain,
      domainXmlFile: choice.domainXmlFile,
      emitOnly: emit,
    }),
  qemu: async () => new QemuVmBackend(),
} satisfies Record<string, Open>;

export type BackendName = keyof typeof BACKENDS;

/** Every --backend name, in the order help and errors list them. */
export const BACKEND_NAMES = Object.keys(BACKENDS) as BackendName[];

export function parseBackendName(v: string): BackendName {
  if ((BACKEND_NAMES as readonly string[]).includes(v)) return v as BackendName;
  throw new InputError(`--backend ${JSON.stringify(v)}: choose one of ${BACKEND_NAMES.join(", ")}`);
}

export async function selectBackend(choice: BackendChoice, ctx: SelectContext): Promise<VmBackend> {
  const emit = parseEmit(choice.emit);
  const explicit = choice.backend === null ? null : parseBackendName(choice.backend);
  if (emit !== null && explicit !== null && explicit !== emit)
    throw new InputError(
      `--emit ${emit} and --backend ${explicit} contradict each other; give one`,
    );
  const wanted =
    emit ??
    explicit ??
    (choice.libvirtDomain !== null || choice.domainXmlFile !== null
      ? "libvirt"
      : choice.api
        ? "api"
        : null);
  if (wanted !== null) return BACKENDS[wanted](choice, ctx, emit === wanted);
  // Automatic: the local node, else a snapshot of one.
  const { state, env } = ctx;
  if (
    state.source.kind === "live" &&
    state.system.proxmox !== null &&
    onPath("qm", env) &&
    onPath("pvesh", env)
  )
    return localNode(choice, ctx);
  if (state.source.kind === "snapshot" && state.system.proxmox !== null)
    return new ProxmoxVmBackend(null, state.source.path);
  throw new InputError(
    "no VM backend here: this is not a Proxmox VE node; give --api https://NODE:8006 (Proxmox from elsewhere), --libvirt DOMAIN (libvirt), or --emit qemu (a QEMU command line)",
  );
}

function parseEmit(v: string | null): "libvirt" | "qemu" | null {
  if (v === null || v === "libvirt" || v === "qemu") return v;
  throw new InputError(
    `--emit ${JSON.stringify(v)}: choose libvirt (domain XML) or qemu (a qemu-system-x86_64 command line)`,
  );
}

function localNode(choice: BackendChoice, ctx: SelectContext): VmBackend {
  return new ProxmoxVmBackend(new QmBackend(ctx.runner, nodeName(choice, ctx.state)));
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

/** Proxmox node name: --node, else this host's short hostname (what PVE::INotify::nodename uses). */
function nodeName(choice: BackendChoice, state: HostState): string {
  const name =
    choice.node ?? (state.source.kind === "live" ? state.system.hostname : null) ?? readHostname();
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
