// A thin client for the Proxmox VE REST API (https://HOST:8006/api2/json), token auth only.
// Why our own and not the npm `proxmox-api` package: ARCHITECTURE.md "Proxmox REST API client".
//
// Transport rules, from pve-http-server and pve-manager (docs/proxmox-api.md §2):
//   - `Authorization: PVEAPIToken=USER@REALM!TOKENID=SECRET`; no CSRF token needed with tokens.
//   - TLS: either the system CAs (plus --ca-file) with host name checks, or the SHA-256
//     fingerprint of the server's leaf certificate, as Proxmox's own client pins it
//     (pve-apiclient LWP.pm: leaf only, host name not checked when pinned). The fingerprint is
//     compared before a single byte of the request (and so the token) is written.
//   - Bodies are JSON (decoded by the server only for Content-Type exactly application/json) or
//     x-www-form-urlencoded. The server's form decoder splits pairs on "&" AND ";" and key from
//     value on every "=", so `hostpci0=mapping=gpu0` or `cpu=host,flags=+aes;+pcid` must be
//     percent-encoded (encodeForm) — JSON avoids the question.
//   - Answers are {"data": ...}; errors carry the message in the HTTP reason phrase (and
//     `message`), parameter errors in `errors: {param: msg}` (400), privilege errors are 403
//     "Permission check failed (/vms/100, VM.Config.HWType)", and every plain `die` is a 500.
//   - Long operations return a task id (UPID) to poll at /nodes/{node}/tasks/{upid}/status.
//   - Retries: only GETs are idempotent. A POST that timed out may have run, so it is never
//     resent (the npm package resends any request once, POSTs included).

import type * as Https from "node:https";
import type * as Net from "node:net";
import type * as Tls from "node:tls";
import { EXIT, InputError, UserError, type ExitCode } from "../../errors.js";

// https/tls/net are required on first use, not at start-up: they pull in http, crypto and
// OpenSSL set-up (~7 ms of every command's cold start, BENCHMARKS.md), and only `--api` needs them.
const https = (): typeof Https => require("node:https") as typeof Https;
const tls = (): typeof Tls => require("node:tls") as typeof Tls;
const isIP = (host: string): number => (require("node:net") as typeof Net).isIP(host);

export interface PveToken {
  /** "user@realm!tokenid" */
  id: string;
  secret: string;
}

// pve-access-control AccessControl.pm: $user_regex, $realm_regex, $token_subid_regex.
const SECRET_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const TOKEN_ID_RE = /^[^\s:/]+@[A-Za-z][A-Za-z0-9.\-_]+![A-Za-z][A-Za-z0-9.\-_]+$/;

/**
 * "USER@REALM!TOKENID=SECRET" (optionally prefixed "PVEAPIToken=", as in the header). Split at the
 * last "=", as the server does (verify_token: /^(.*)=(.*)$/). Errors never repeat the input.
 */
export function parseToken(raw: string, source: string): PveToken {
  let text = raw.trim();
  if (text.startsWith("PVEAPIToken=")) text = text.slice("PVEAPIToken=".length);
  const eq = text.lastIndexOf("=");
  const id = eq > 0 ? text.slice(0, eq) : "";
  const secret = eq > 0 ? text.slice(eq + 1) : "";
  if (!TOKEN_ID_RE.test(id) || secret === "") {
    throw new InputError(
      `${source} does not hold an API token in the form USER@REALM!TOKENID=SECRET (\`pveum user token add USER TOKENID\` prints the two parts as full-tokenid and value)`,
    );
  }
  // Proxmox makes every token secret a UUID (pve-access-control, PVE::API2::TokenConfig:
  // generate_uuid); checking the form here catches a pasted wrong value, and a character HTTP
  // headers cannot carry, before any request is built.
  if (!SECRET_RE.test(secret)) {
    throw new InputError(
      `${source}: the secret after "${id}=" is not a Proxmox token secret (a UUID, 8-4-4-4-12 hex digits, as \`pveum user token add\` prints it as value)`,
    );
  }
  return { id, secret };
}

/** "aa:bb:…" or 64 hex digits → "AA:BB:…" (the form Proxmox shows and Node's fingerprint256 uses). */
export function normalizeFingerprint(input: string): string | null {
  const hex = input.trim().replace(/:/g, "");
  if (!/^[0-9a-fA-F]{64}$/.test(hex)) return null;
  return hex.toUpperCase().match(/.{2}/g)!.join(":");
}

export interface TlsPolicy {
  /** Pin the server's leaf certificate by SHA-256 fingerprint ("AA:BB:…"); no CA or name check then. */
  fingerprint?: string;
  /** Extra trusted CAs (PEM), e.g. a copy of the cluster's /etc/pve/pve-root-ca.pem. */
  ca?: string[];
}

export type ApiErrorKind =
  | "tls"
  | "network"
  | "timeout"
  | "auth"
  | "permission"
  | "parameter"
  | "root-only"
  | "conflict"
  | "not-found"
  | "not-implemented"
  | "server"
  | "task-failed"
  | "protocol";

/**
 * Certificate verification failures by their OpenSSL code (X509_V_ERR_* without the prefix,
 * openssl-verify(1)), in our words: the library's own text differs between OpenSSL versions
 * and the BoringSSL of the standalone executable ("self signed" / "self-signed").
 */
const VERIFY_ERRORS: Record<string, string> = {
  DEPTH_ZERO_SELF_SIGNED_CERT: "self-signed certificate",
  SELF_SIGNED_CERT_IN_CHAIN: "self-signed certificate in the chain",
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: "issued by a CA this system does not know",
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: "issued by a CA this system does not know",
  CERT_HAS_EXPIRED: "expired",
  CERT_NOT_YET_VALID: "not valid yet",
};

export class PveApiError extends UserError {
  constructor(
    message: string,
    readonly kind: ApiErrorKind,
    exitCode: ExitCode,
    readonly details: {
      method?: string;
      path?: string;
      status?: number;
      reason?: string;
      paramErrors?: Record<string, string>;
      upid?: string;
      /** Network-level errors and proxy errors that a GET may retry. */
      retryable?: boolean;
    } = {},
  ) {
    super(message, exitCode);
    this.name = "PveApiError";
  }
}

export interface Upid {
  node: string;
  pid: number;
  pstart: number;
  starttime: number;
  type: string;
  id: string;
  user: string;
}

/** pve-common src/PVE/UPID.pm decode: `UPID:node:pid:pstart:starttime:type:id:user:`. */
export function parseUpid(upid: string): Upid | null {
  const m =
    /^UPID:([a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?):([0-9A-Fa-f]{8}):([0-9A-Fa-f]{8,9}):([0-9A-Fa-f]{8}):([^:\s/]+):([^:\s/]*):([^:\s/]+):$/.exec(
      upid,
    );
  if (!m) return null;
  return {
    node: m[1]!,
    pid: parseInt(m[3]!, 16),
    pstart: parseInt(m[4]!, 16),
    starttime: parseInt(m[5]!, 16),
    type: m[6]!,
    id: m[7]!,
    user: m[8]!,
  };
}

export type ParamValue = string | number | boolean | string[] | undefined;
export type Params = Record<string, ParamValue>;

/** x-www-form-urlencoded the way the server decodes it: everything but [A-Za-z0-9-_.!~*'()] escaped. */
export function encodeForm(params: Params): string {
  const parts: string[] = [];
  const enc = (s: string) => encodeURIComponent(s);
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined) continue;
    const values = Array.isArray(v) ? v : [v];
    for (const one of values)
      parts.push(`${enc(k)}=${enc(typeof one === "boolean" ? (one ? "1" : "0") : String(one))}`);
  }
  return parts.join("&");
}

function jsonBody(params: Params): string {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(params)) if (v !== undefined) out[k] = v;
  return JSON.stringify(out);
}

/** Tagged template for API paths: each interpolated value is one percent-encoded path segment. */
export function apiPath(strings: TemplateStringsArray, ...values: Array<string | number>): string {
  let out = strings[0]!;
  values.forEach((v, i) => {
    out += encodeURIComponent(String(v)) + strings[i + 1]!;
  });
  return out;
}

export interface TaskResult {
  upid: string;
  exitstatus: string;
  warnings: number;
}

export interface PveApiClientOptions {
  /** "https://host:8006" */
  baseUrl: string;
  token: PveToken;
  tls?: TlsPolicy;
  /** Where the token came from, for error messages ("PASSTHROUGH_PVE_TOKEN", "--token-file X"). */
  tokenSource?: string;
  /** Per request (connect + answer). pveproxy gives up on proxied calls after 30 s. */
  requestTimeoutMs?: number;
  /** Extra attempts for GETs on network errors and proxy/gateway errors. */
  getRetries?: number;
  /** First back-off; doubled per retry. */
  retryDelayMs?: number;
  taskPollMs?: number;
  taskTimeoutMs?: number;
  bodyEncoding?: "json" | "form";
  sleep?: (ms: number) => Promise<void>;
}

const MAX_BODY = 32 * 1024 * 1024;
// pveproxy's proxy errors (AnyEvent::HTTP pseudo statuses) and gateway errors: the request did
// not reach the code that answers it. 500 is not retried: Proxmox uses it for every plain `die`
// ("mapping 'x' not found", "Configuration file ... does not exist"), which a retry repeats.
const RETRY_STATUS = new Set([502, 503, 504, 595, 596, 597, 598, 599]);
const RETRY_CODES = new Set([
  "ECONNRESET",
  "ECONNREFUSED",
  "EPIPE",
  "ETIMEDOUT",
  "EAI_AGAIN",
  "ENETUNREACH",
  "EHOSTUNREACH",
]);

export class PveApiClient {
  readonly baseUrl: URL;
  readonly token: PveToken;
  private readonly tlsPolicy: TlsPolicy;
  private readonly tokenSource: string;
  private readonly requestTimeoutMs: number;
  private readonly getRetries: number;
  private readonly retryDelayMs: number;
  readonly taskPollMs: number;
  readonly taskTimeoutMs: number;
  private readonly bodyEncoding: "json" | "form";
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(opts: PveApiClientOptions) {
    this.baseUrl = new URL(opts.baseUrl);
    if (this.baseUrl.protocol !== "https:")
      throw new UserError(`${opts.baseUrl}: the Proxmox API is only spoken over https`, EXIT.usage);
    this.token = opts.token;
    this.tlsPolicy = opts.tls ?? {};
    this.tokenSource = opts.tokenSource ?? "the API token";
    this.requestTimeoutMs = opts.requestTimeoutMs ?? 30_000;
    this.getRetries = opts.getRetries ?? 3;
    this.retryDelayMs = opts.retryDelayMs ?? 500;
    this.taskPollMs = opts.taskPollMs ?? 1000;
    this.taskTimeoutMs = opts.taskTimeoutMs ?? 120_000;
    this.bodyEncoding = opts.bodyEncoding ?? "json";
    this.sleep = opts.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
  }

  get origin(): string {
    return this.baseUrl.origin;
  }

  get<T = unknown>(path: string, params: Params = {}): Promise<T> {
    return this.request<T>("GET", path, params);
  }
  post<T = unknown>(path: string, params: Params = {}): Promise<T> {
    return this.request<T>("POST", path, params);
  }
  put<T = unknown>(path: string, params: Params = {}): Promise<T> {
    return this.request<T>("PUT", path, params);
  }
  delete<T = unknown>(path: string, params: Params = {}): Promise<T> {
    return this.request<T>("DELETE", path, params);
  }

  async request<T>(
    method: "GET" | "POST" | "PUT" | "DELETE",
    path: string,
    params: Params = {},
  ): Promise<T> {
    const attempts = method === "GET" ? this.getRetries + 1 : 1;
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.once<T>(method, path, params);
      } catch (err) {
        if (attempt < attempts && err instanceof PveApiError && err.details.retryable) {
          await this.sleep(this.retryDelayMs * 2 ** (attempt - 1));
          continue;
        }
        throw this.redacted(err);
      }
    }
  }

  /** Wait for a task: poll its status until it stops; OK and "WARNINGS: n" succeed. */
  async waitTask(
    upid: string,
    opts: { timeoutMs?: number; what?: string } = {},
  ): Promise<TaskResult> {
    const task = parseUpid(upid);
    if (!task)
      throw new PveApiError(
        `the API answered '${upid}' where a task id (UPID:...) was expected`,
        "protocol",
        EXIT.applyFailed,
        { upid },
      );
    const timeoutMs = opts.timeoutMs ?? this.taskTimeoutMs;
    const what = opts.what ?? `task ${task.type} ${task.id}`.trim();
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const st = await this.get<{ status?: string; exitstatus?: string }>(
        apiPath`/nodes/${task.node}/tasks/${upid}/status`,
      );
      if (st && st.status !== "running") {
        const exit = st.exitstatus ?? "unknown";
        if (exit === "OK") return { upid, exitstatus: exit, warnings: 0 };
        const w = /^WARNINGS: (\d+)$/.exec(exit);
        if (w) return { upid, exitstatus: exit, warnings: Number(w[1]) };
        throw this.redacted(taskFailure(what, exit, upid, this.token.id));
      }
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new PveApiError(
          `${what} still running after ${Math.round(timeoutMs / 1000)} s; it goes on on the server: watch it in the web UI's task log or with \`pvenode task status ${upid}\` on ${task.node} (raise the limit with --task-timeout)`,
          "timeout",
          EXIT.applyFailed,
          { upid },
        );
      }
      await this.sleep(Math.min(this.taskPollMs, left));
    }
  }

  private redacted(err: unknown): unknown {
    if (!(err instanceof Error)) return err;
    const msg = redactSecret(err.message, this.token.secret);
    if (msg !== err.message) {
      err.message = msg;
      if (err.stack) err.stack = redactSecret(err.stack, this.token.secret);
    }
    return err;
  }

  private async once<T>(method: string, path: string, params: Params): Promise<T> {
    const hasBody = method === "POST" || method === "PUT";
    const form = encodeForm(params);
    const query = !hasBody && form !== "" ? `?${form}` : "";
    const body = hasBody ? (this.bodyEncoding === "json" ? jsonBody(params) : form) : undefined;
    const fullPath = `/api2/json${path}${query}`;
    const headers: Record<string, string> = {
      Accept: "application/json",
      Authorization: `PVEAPIToken=${this.token.id}=${this.token.secret}`,
    };
    if (body !== undefined) {
      headers["Content-Type"] =
        this.bodyEncoding === "json" ? "application/json" : "application/x-www-form-urlencoded";
      headers["Content-Length"] = String(Buffer.byteLength(body));
    }

    const socket = await this.connect(method, path);
    const res = await this.exchange(socket, { method, fullPath, headers, body }).catch(
      (err: NodeJS.ErrnoException) => {
        throw this.networkError(method, path, err);
      },
    );
    return this.interpret<T>(method, path, res.status, res.reason, res.text);
  }

  /** One request and its answer on a connected, verified socket (destroyed on any failure). */
  private exchange(
    socket: Tls.TLSSocket,
    r: { method: string; fullPath: string; headers: Record<string, string>; body?: string },
  ): Promise<{ status: number; reason: string; text: string }> {
    const { method, fullPath, headers, body } = r;
    return new Promise((resolve, reject) => {
      // Whatever fails from here on (a header Node refuses, a reset) must not leave the
      // verified socket open: an open socket keeps the process alive with nothing to do.
      const fail = (err: unknown) => {
        socket.destroy();
        reject(err);
      };
      let req: ReturnType<ReturnType<typeof https>["request"]>;
      try {
        req = https().request(
          {
            method,
            host: this.baseUrl.hostname,
            port: this.port,
            path: fullPath,
            headers,
            // No agent: with `createConnection` and no agent, Node uses this socket, already
            // connected and verified (connect below), with nothing sent on it yet.
            createConnection: () => socket,
          },
          (r) => {
            const chunks: Buffer[] = [];
            let size = 0;
            r.on("data", (c: Buffer) => {
              size += c.length;
              if (size > MAX_BODY) req.destroy(new Error(`answer larger than ${MAX_BODY} bytes`));
              else chunks.push(c);
            });
            r.on("end", () =>
              resolve({
                status: r.statusCode ?? 0,
                reason: r.statusMessage ?? "",
                text: Buffer.concat(chunks).toString("utf8"),
              }),
            );
            r.on("error", fail);
          },
        );
      } catch (err) {
        fail(err);
        return;
      }
      req.setTimeout(this.requestTimeoutMs, () =>
        req.destroy(Object.assign(new Error("no answer"), { code: "ETIMEDOUT" })),
      );
      req.on("error", fail);
      try {
        if (body !== undefined) req.write(body);
        req.end();
      } catch (err) {
        fail(err);
      }
    });
  }

  private get port(): number {
    return this.baseUrl.port === "" ? 443 : Number(this.baseUrl.port);
  }

  /** A TLS connection that passed our policy, before anything is written to it. */
  private connect(method: string, path: string): Promise<Tls.TLSSocket> {
    const host = this.baseUrl.hostname.replace(/^\[|\]$/g, "");
    const pin = this.tlsPolicy.fingerprint;
    return new Promise((resolve, reject) => {
      const sock = tls().connect({
        host,
        port: this.port,
        servername: isIP(host) ? undefined : host,
        ALPNProtocols: ["http/1.1"],
        // Pinned: trust is the fingerprint compared below, not a CA chain (Proxmox's default
        // certificate is signed by a per-cluster CA nobody else trusts). Otherwise Node's own chain
        // and host-name verification, against the system CAs plus --ca-file.
        rejectUnauthorized: pin === undefined,
        ca:
          this.tlsPolicy.ca && this.tlsPolicy.ca.length > 0
            ? [...tls().rootCertificates, ...this.tlsPolicy.ca]
            : undefined,
      });
      const timer = setTimeout(
        () => sock.destroy(Object.assign(new Error("connect timed out"), { code: "ETIMEDOUT" })),
        this.requestTimeoutMs,
      );
      sock.once("secureConnect", () => {
        clearTimeout(timer);
        if (pin !== undefined) {
          const presented = sock.getPeerCertificate().fingerprint256?.toUpperCase() ?? "";
          if (presented !== pin) {
            sock.destroy();
            reject(
              new PveApiError(
                `${this.origin} presented a certificate with SHA-256 fingerprint ${presented || "(none)"}, not the pinned ${pin}: refusing to send the token. If the node's certificate was renewed, compare with \`pvenode cert info\` on the node and pass the new --fingerprint`,
                "tls",
                EXIT.usage,
                { method, path },
              ),
            );
            return;
          }
        }
        resolve(sock);
      });
      sock.once("error", (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        if (pin === undefined && isCertificateError(err)) {
          void this.describeUntrusted(host, err).then(reject, () =>
            reject(this.networkError(method, path, err)),
          );
        } else reject(this.networkError(method, path, err));
      });
    });
  }

  /**
   * The system CAs do not vouch for the server: say why and what its fingerprint is, read from a
   * second connection that sends nothing. Pinning it is the user's decision, after comparing.
   */
  private async describeUntrusted(host: string, err: NodeJS.ErrnoException): Promise<PveApiError> {
    const fp = await new Promise<string | null>((resolve) => {
      const probe = tls().connect({
        host,
        port: this.port,
        servername: isIP(host) ? undefined : host,
        rejectUnauthorized: false,
      });
      const done = (v: string | null) => {
        probe.destroy();
        resolve(v);
      };
      probe.setTimeout(5000, () => done(null));
      probe.once("secureConnect", () => done(probe.getPeerCertificate().fingerprint256 ?? null));
      probe.once("error", () => done(null));
    });
    const why =
      err.code === "ERR_TLS_CERT_ALTNAME_INVALID"
        ? `its certificate is not for ${host}`
        : `its certificate is not trusted (${VERIFY_ERRORS[err.code ?? ""] ?? err.message})`;
    return new PveApiError(
      `${this.origin}: ${why}. Proxmox signs node certificates with its own cluster CA. Either pass --ca-file with a copy of /etc/pve/pve-root-ca.pem, or pin the certificate with --fingerprint${fp ? ` ${fp}` : ""} after checking that \`pvenode cert info\` on the node shows the same fingerprint`,
      "tls",
      EXIT.usage,
    );
  }

  private networkError(method: string, path: string, err: NodeJS.ErrnoException): PveApiError {
    if (err instanceof PveApiError) return err;
    const code = err.code ?? "";
    const why =
      code === "ECONNREFUSED"
        ? "connection refused (is pveproxy running, is the port 8006?)"
        : code === "ENOTFOUND"
          ? "host name not found"
          : code === "ETIMEDOUT"
            ? `no answer within ${Math.round(this.requestTimeoutMs / 1000)} s`
            : code === "ECONNRESET"
              ? "connection reset"
              : err.message;
    return new PveApiError(
      `${method} ${this.origin}${path}: ${why}`,
      code === "ETIMEDOUT" ? "timeout" : "network",
      method === "GET" ? EXIT.usage : EXIT.applyFailed,
      {
        method,
        path,
        retryable: RETRY_CODES.has(code),
      },
    );
  }

  private interpret<T>(
    method: string,
    path: string,
    status: number,
    reason: string,
    text: string,
  ): T {
    type Envelope = { data?: unknown; message?: string; errors?: Record<string, string> };
    let body: Envelope | null = null;
    if (text.trim() !== "") {
      try {
        body = JSON.parse(text) as Envelope;
      } catch {
        body = null;
      }
    }
    if (status >= 200 && status < 300) {
      if (!body || typeof body !== "object" || !("data" in body)) {
        throw new PveApiError(
          `${method} ${this.origin}${path}: the answer is not a Proxmox API answer ({"data": ...}); is --api the address of a Proxmox VE node?`,
          "protocol",
          EXIT.usage,
          {
            method,
            path,
            status,
          },
        );
      }
      return body.data as T;
    }
    // The server's words reach the user's terminal: printable, bounded, never the secret.
    const message =
      redactSecret(printable(body?.message ?? reason), this.token.secret).trim() ||
      `HTTP ${status}`;
    throw apiError({
      method,
      path,
      status,
      message,
      paramErrors: body?.errors,
      tokenId: this.token.id,
      tokenSource: this.tokenSource,
    });
  }
}

function isCertificateError(err: NodeJS.ErrnoException): boolean {
  const code = err.code ?? "";
  return (
    code === "ERR_TLS_CERT_ALTNAME_INVALID" ||
    /CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)|DEPTH_ZERO/.test(code)
  );
}

const ROOT_ONLY_HOSTPCI =
  /only root can (?:set|modify|delete) '(hostpci\d+)' config for (?:non-mapped|real) devices/;
const ROOT_ONLY_OPTION = /only root can set '([^']+)' config/;
const PERMISSION = /^Permission check failed(?: \((.*), ([^,()]+)\))?/;

/** What a Proxmox error means for the user, and what to do about it. */
export function apiError(e: {
  method: string;
  path: string;
  status: number;
  message: string;
  paramErrors?: Record<string, string> | undefined;
  tokenId: string;
  tokenSource?: string;
}): PveApiError {
  const where = `${e.method} ${e.path}`;
  const details = {
    method: e.method,
    path: e.path,
    status: e.status,
    reason: e.message,
    paramErrors: e.paramErrors,
  };
  const writes = e.method !== "GET";
  if (e.status === 401) {
    return new PveApiError(
      `the Proxmox API refused token ${e.tokenId} (401 ${e.message}): check the secret in ${e.tokenSource ?? "the token"}; the token must exist (\`pveum user token list USER\`), not be expired, and its user must be enabled`,
      "auth",
      EXIT.usage,
      details,
    );
  }
  if (e.status === 403) return permissionError(e.message, where, e.tokenId, details);
  if (e.status === 400) {
    const params = Object.entries(e.paramErrors ?? {}).map(([k, v]) => `${k}: ${String(v).trim()}`);
    return new PveApiError(
      `Proxmox rejected the request ${where}: ${params.length ? params.join("; ") : e.message}`,
      "parameter",
      writes ? EXIT.applyFailed : EXIT.usage,
      details,
    );
  }
  if (e.status === 501) {
    return new PveApiError(
      `${where}: ${e.message} — this Proxmox VE does not have that API (resource mappings need Proxmox VE 8.0 or newer)`,
      "not-implemented",
      EXIT.usage,
      details,
    );
  }
  if (e.status >= 595 && e.status <= 599) {
    return new PveApiError(
      `${where}: ${e.message} (the API node could not reach the node that owns this; is it online?)`,
      "network",
      writes ? EXIT.applyFailed : EXIT.usage,
      { ...details, retryable: true },
    );
  }
  if (RETRY_STATUS.has(e.status)) {
    return new PveApiError(
      `${where}: ${e.status} ${e.message}`,
      "server",
      writes ? EXIT.applyFailed : EXIT.usage,
      { ...details, retryable: true },
    );
  }
  const explained = explainServerMessage(e.message, e.tokenId);
  if (explained)
    return new PveApiError(
      `${where}: ${explained.message}`,
      explained.kind,
      explained.exitCode,
      details,
    );
  return new PveApiError(
    `${where}: ${e.message}`,
    "server",
    writes ? EXIT.applyFailed : EXIT.usage,
    details,
  );
}

function permissionError(
  message: string,
  where: string,
  tokenId: string,
  details: PveApiError["details"],
): PveApiError {
  const m = PERMISSION.exec(message);
  if (m && m[1] !== undefined) {
    const privs = m[2]!.split("|");
    const which = privs.length > 1 ? `one of ${privs.join(", ")}` : privs[0]!;
    return new PveApiError(
      `token ${tokenId} lacks ${which} on ${m[1]} (${where}): grant it, e.g. \`pveum acl modify ${m[1]} --tokens '${tokenId}' --roles Passthrough\` (README "Proxmox API token"); a privilege-separated token needs it on its user too`,
      "permission",
      EXIT.usage,
      details,
    );
  }
  // Checks with several alternatives ('or') fail with a bare "Permission check failed": name
  // what the endpoint wants (pve-manager API2/Cluster/Mapping/PCI.pm, qemu-server create_vm).
  const mapping = /^GET \/cluster\/mapping\/pci\/([^/]+)$/.exec(where);
  const create = /^POST \/nodes\/[^/]+\/qemu$/.test(where);
  if (mapping || create) {
    const acl = mapping ? `/mapping/pci/${decodeURIComponent(mapping[1]!)}` : "/vms/VMID";
    const what = mapping
      ? `Mapping.Audit, Mapping.Use or Mapping.Modify on ${acl}`
      : `VM.Allocate on ${acl} (or on the VM's pool)`;
    return new PveApiError(
      `token ${tokenId} lacks ${what} (${where}: ${message.trim()}): grant it, e.g. \`pveum acl modify ${mapping ? "/mapping/pci" : "/vms"} --tokens '${tokenId}' --roles Passthrough\` (README "Proxmox API token")`,
      "permission",
      EXIT.usage,
      details,
    );
  }
  return new PveApiError(
    `token ${tokenId} was refused: ${message.trim()} (${where}); README "Proxmox API token" lists the privileges passthrough needs`,
    "permission",
    EXIT.usage,
    details,
  );
}

/** The 500 messages (and task exit statuses) that have a known cause and a known way out. */
function explainServerMessage(
  message: string,
  tokenId: string,
): { message: string; kind: ApiErrorKind; exitCode: ExitCode } | null {
  const hostpci = ROOT_ONLY_HOSTPCI.exec(message);
  if (hostpci) {
    return {
      message: `${message} — Proxmox lets only root@pam set a raw PCI address in ${hostpci[1]}, and an API token (${tokenId}) is never root@pam. Use a cluster resource mapping instead: \`passthrough vm mapping create --name gpu0 --device 0000:01:00\`, then \`${hostpci[1]}: mapping=gpu0\` (needs Mapping.Use on /mapping/pci/gpu0 and VM.Config.HWType)`,
      kind: "root-only",
      exitCode: EXIT.usage,
    };
  }
  const option = ROOT_ONLY_OPTION.exec(message);
  if (option) {
    return {
      message: `${message} — '${option[1]}' can only be set by root@pam, which an API token never is: set it on the node with \`qm set VMID --${option[1]} ...\` (passthrough's local qm backend) or leave it out`,
      kind: "root-only",
      exitCode: EXIT.usage,
    };
  }
  if (
    /checksum mismatch \(file change by other user\?\)|detected modified configuration - file changed by other user\?/.test(
      message,
    )
  ) {
    return {
      message: `${message.trim()} — someone changed it after passthrough read it; nothing was overwritten. Rerun to plan against the current state`,
      kind: "conflict",
      exitCode: EXIT.refused,
    };
  }
  if (/^mapping '[^']+' not found|^Configuration file '[^']+' does not exist/.test(message)) {
    return { message, kind: "not-found", exitCode: EXIT.usage };
  }
  return null;
}

function taskFailure(what: string, exitstatus: string, upid: string, tokenId: string): PveApiError {
  // Checks that run inside the worker (hostpci/usb permissions) end the task, not the request.
  if (PERMISSION.test(exitstatus))
    return permissionError(exitstatus, what, tokenId, { upid, reason: exitstatus });
  const explained = explainServerMessage(exitstatus, tokenId);
  if (explained)
    return new PveApiError(
      `${what} failed: ${explained.message}`,
      explained.kind,
      explained.exitCode,
      { upid, reason: exitstatus },
    );
  return new PveApiError(
    `${what} failed: ${exitstatus} (task log: \`pvenode task log ${upid}\`)`,
    "task-failed",
    EXIT.applyFailed,
    { upid, reason: exitstatus },
  );
}

/**
 * `text` with every piece of `secret` of 8 or more characters replaced by <secret>: a server
 * or proxy that echoes part of the token (a cut status line, a log excerpt) must not print it.
 */
export function redactSecret(text: string, secret: string): string {
  const PIECE = 8;
  if (secret.length < PIECE) return secret === "" ? text : text.split(secret).join("<secret>");
  const covered = new Uint8Array(text.length);
  for (let i = 0; i + PIECE <= secret.length; i++) {
    const piece = secret.slice(i, i + PIECE);
    for (let at = text.indexOf(piece); at !== -1; at = text.indexOf(piece, at + 1))
      covered.fill(1, at, at + PIECE);
  }
  let out = "";
  for (let i = 0; i < text.length; i++) {
    if (!covered[i]) out += text[i];
    else if (i === 0 || !covered[i - 1]) out += "<secret>";
  }
  return out;
}

/** At most 300 characters, control characters dropped: how a server's message is shown. */
function printable(text: string): string {
  // eslint-disable-next-line no-control-regex
  const clean = text.replace(/[\u0000-\u001f\u007f-\u009f]+/g, " ");
  return clean.length > 300 ? `${clean.slice(0, 300)}…` : clean;
}
