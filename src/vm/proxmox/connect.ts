// From the connection options (--api, --node, --token-file, ...: plain values the CLI collects)
// and the environment to a connected ApiBackend.
//
// The token never travels in argv (every local user sees argv in `ps`, and shells keep it in
// their history): it comes from PASSTHROUGH_PVE_TOKEN or a file (--token-file); the CLI refuses
// a --token flag (src/cli/api-options.ts). It is never printed; the client redacts it from any
// error text.

import { statSync } from "node:fs";
import { readInputText } from "../../input-file.js";
import { InputError } from "../../errors.js";
import { ApiBackend } from "./api-backend.js";
import {
  DEFAULT_PARALLEL,
  DEFAULT_TIMEOUT_MS,
  normalizeFingerprint,
  parseToken,
  PveApiClient,
  type PveApiClientOptions,
  type PveToken,
} from "./api-client.js";

export const TOKEN_ENV = "PASSTHROUGH_PVE_TOKEN";

export interface ApiOptions {
  api?: string;
  node?: string;
  tokenFile?: string;
  fingerprint?: string;
  caFile?: string;
  taskTimeout?: string;
  /** The run's overall deadline in seconds (--timeout). */
  timeout?: string;
  /** Requests in flight at once (--parallel). */
  parallel?: string;
}

export interface ConnectDeps {
  env: NodeJS.ProcessEnv;
  /** One-line warnings (stderr). */
  warn?: (line: string) => void;
  /** Test hooks: client timings and body encoding. */
  client?: Partial<
    Pick<
      PveApiClientOptions,
      "taskPollMs" | "retryDelayMs" | "requestTimeoutMs" | "bodyEncoding" | "getRetries"
    >
  >;
}

export function readToken(
  opts: ApiOptions,
  deps: ConnectDeps,
): { token: PveToken; source: string } {
  if (opts.tokenFile !== undefined) {
    const source = `--token-file ${opts.tokenFile}`;
    // A token line is ~90 bytes; 4 KiB leaves room for comments, and /dev/zero costs nothing.
    const text = readInputText(opts.tokenFile, { what: "--token-file", maxBytes: 4096 });
    try {
      const mode = statSync(opts.tokenFile).mode;
      if ((mode & 0o077) !== 0)
        deps.warn?.(
          `warning: ${opts.tokenFile} is readable by other users (mode ${(mode & 0o777).toString(8)}): chmod 600 ${opts.tokenFile}`,
        );
    } catch {
      // The read above worked; the mode is advice only.
    }
    const line = text.split("\n").find((l) => l.trim() !== "" && !l.trim().startsWith("#")) ?? "";
    return { token: parseToken(line, opts.tokenFile), source };
  }
  const env = deps.env[TOKEN_ENV];
  if (env !== undefined && env.trim() !== "")
    return { token: parseToken(env, TOKEN_ENV), source: TOKEN_ENV };
  throw new InputError(
    `no API token: set ${TOKEN_ENV}=USER@REALM!TOKENID=SECRET or pass --token-file FILE (README "Proxmox API token" shows how to create one)`,
  );
}

/** "https://pve1" → "https://pve1:8006": pveproxy's port unless one is given. */
export function parseApiUrl(raw: string): string {
  const text = raw.trim();
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new InputError(`--api ${raw}: not a URL; give it as https://HOST:8006`);
  }
  if (url.protocol === "http:")
    throw new InputError(
      `--api ${raw}: Proxmox serves its API over https only (the token must not travel in clear text); use https://${url.host}`,
    );
  if (url.protocol !== "https:") throw new InputError(`--api ${raw}: give it as https://HOST:8006`);
  if (url.username || url.password)
    throw new InputError(
      `--api: no user or password in the URL; the token comes from ${TOKEN_ENV} or --token-file`,
    );
  const explicitPort = /^https:\/\/(\[[^\]]+\]|[^/:?#]+):\d+/i.test(text);
  const path = url.pathname.replace(/\/+$/, "");
  if (path !== "" && path !== "/api2/json")
    throw new InputError(
      `--api ${raw}: give only the server, https://HOST:8006 (passthrough adds /api2/json)`,
    );
  return `https://${url.hostname.includes(":") && !url.hostname.startsWith("[") ? `[${url.hostname}]` : url.hostname}:${explicitPort ? url.port || "443" : "8006"}`;
}

export function connectApi(
  opts: ApiOptions,
  deps: ConnectDeps,
  need: { node: boolean },
): ApiBackend {
  if (opts.api === undefined)
    throw new InputError("--api https://HOST:8006 is needed to talk to Proxmox over its REST API");
  const baseUrl = parseApiUrl(opts.api);
  if (need.node && (opts.node === undefined || opts.node.trim() === ""))
    throw new InputError(
      "--node NAME is needed: the node the devices and VMs are on (as the web UI names it)",
    );
  if (opts.node !== undefined && !/^[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?$/.test(opts.node))
    throw new InputError(`--node ${opts.node}: not a node name`);
  let fingerprint: string | undefined;
  if (opts.fingerprint !== undefined) {
    const fp = normalizeFingerprint(opts.fingerprint);
    if (!fp)
      throw new InputError(
        `--fingerprint ${opts.fingerprint}: expected a SHA-256 fingerprint, 32 hex bytes like AB:CD:...:EF, as \`pvenode cert info\` shows`,
      );
    fingerprint = fp;
  }
  let ca: string[] | undefined;
  if (opts.caFile !== undefined) {
    ca = [readInputText(opts.caFile, { what: "--ca-file", maxBytes: 1024 * 1024 })];
    if (!ca[0]!.includes("-----BEGIN CERTIFICATE-----"))
      throw new InputError(
        `${opts.caFile}: not a PEM certificate (--ca-file expects e.g. a copy of /etc/pve/pve-root-ca.pem)`,
      );
  }
  const taskTimeout = Number(opts.taskTimeout ?? "120");
  if (!Number.isFinite(taskTimeout) || taskTimeout <= 0)
    throw new InputError(`--task-timeout ${opts.taskTimeout}: expected a number of seconds`);
  const timeout = Number(opts.timeout ?? String(DEFAULT_TIMEOUT_MS / 1000));
  if (!Number.isFinite(timeout) || timeout <= 0)
    throw new InputError(`--timeout ${opts.timeout}: expected a number of seconds, like 60`);
  const parallel = Number(opts.parallel ?? String(DEFAULT_PARALLEL));
  if (!Number.isInteger(parallel) || parallel < 1 || parallel > 64)
    throw new InputError(
      `--parallel ${opts.parallel}: expected a whole number of requests from 1 to 64`,
    );
  const { token, source } = readToken(opts, deps);
  const client = new PveApiClient({
    baseUrl,
    token,
    tokenSource: source,
    tls: { ...(fingerprint ? { fingerprint } : {}), ...(ca ? { ca } : {}) },
    taskTimeoutMs: taskTimeout * 1000,
    timeoutMs: timeout * 1000,
    parallel,
    ...pollFromEnv(deps.env),
    ...deps.client,
  });
  return new ApiBackend(client, opts.node ?? "");
}

/**
 * The API backend for `vm plan|configure|create --api` and `guest setup --cloud-init --api`:
 * like connectApi, and without --node on a single-node cluster that node.
 */
export async function apiConnector(
  opts: ApiOptions,
  env: NodeJS.ProcessEnv,
  warn: (line: string) => void = (l) => process.stderr.write(`${l}\n`),
): Promise<ApiBackend> {
  const backend = connectApi(opts, { env, warn }, { node: false });
  if (backend.node !== "") return backend;
  const nodes = await backend.clusterNodes();
  if (nodes.length === 1) return new ApiBackend(backend.client, nodes[0]!.node);
  throw new InputError(
    `--node NAME is needed: the node the VM is (or will be) on; this cluster has ${nodes.map((n) => n.node).join(", ") || "no nodes this token may see"}`,
  );
}

// Tests (here and in other suites driving the CLI against the simulator) poll faster than the
// 1 s that suits a real server.
function pollFromEnv(env: NodeJS.ProcessEnv): { taskPollMs?: number } {
  const ms = Number(env.PASSTHROUGH_PVE_TASK_POLL_MS);
  return Number.isFinite(ms) && ms > 0 ? { taskPollMs: ms } : {};
}
