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
import { EXIT, InputError, UserError } from "../../errors.js";
import { apiError, printable, PveApiError, redactSecret, taskFailure } from "./api-errors.js";

export { apiError, PveApiError, redactSecret, type ApiErrorKind } from "./api-errors.js";

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
  /** Per request (connect + answer). pveproxy itself gives up on proxied calls after 30 s. */
  requestTimeoutMs?: number;
  /** Every request of this client (its run) must be answered within this from its creation (--timeout). */
  timeoutMs?: number;
  /** Requests in flight at once, and so connections (--parallel). */
  parallel?: number;
  /** Extra attempts for GETs on network errors and proxy/gateway errors. */
  getRetries?: number;
  /** First back-off; doubled per retry. */
  retryDelayMs?: number;
  taskPollMs?: number;
  taskTimeoutMs?: number;
  bodyEncoding?: "json" | "form";
  sleep?: (ms: number) => Promise<void>;
}

export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;
export const DEFAULT_TIMEOUT_MS = 60_000;
export const DEFAULT_PARALLEL = 8;

const MAX_BODY = 32 * 1024 * 1024;
// Connection failures a GET may retry at once. Not a timeout: a node that did not answer in
// 10 s will not in the next 10 s either (and pveproxy already waited for it).
const RETRY_CODES = new Set([
  "ECONNRESET",
  "ECONNREFUSED",
  "EPIPE",
  "EAI_AGAIN",
  "ENETUNREACH",
  "EHOSTUNREACH",
]);

interface Exchange {
  method: string;
  path: string;
  fullPath: string;
  headers: Record<string, string>;
  body?: string;
  /** How long this request may take, connect included (the smaller of the two limits). */
  budgetMs: number;
  /** The limit that `budgetMs` comes from, for the message when it runs out. */
  limit: string;
}

interface Answer {
  status: number;
  reason: string;
  location: string | undefined;
  text: string;
}

export class PveApiClient {
  readonly baseUrl: URL;
  readonly token: PveToken;
  private readonly tlsPolicy: TlsPolicy;
  private readonly tokenSource: string;
  readonly requestTimeoutMs: number;
  readonly timeoutMs: number;
  readonly parallel: number;
  private readonly deadline: number;
  private readonly getRetries: number;
  private readonly retryDelayMs: number;
  readonly taskPollMs: number;
  readonly taskTimeoutMs: number;
  private readonly bodyEncoding: "json" | "form";
  private readonly sleep: (ms: number) => Promise<void>;
  /** Answered requests so far: a 401 after the first is a token that stopped working mid-run. */
  private answered = 0;
  /** Set by a 401 in the middle of a run: every later request fails with it, unsent. */
  private authLost: PveApiError | null = null;
  private inFlight = 0;
  private readonly waiting: Array<() => void> = [];
  private keepAlive: Https.Agent | null = null;

  constructor(opts: PveApiClientOptions) {
    this.baseUrl = new URL(opts.baseUrl);
    if (this.baseUrl.protocol !== "https:")
      throw new UserError(`${opts.baseUrl}: the Proxmox API is only spoken over https`, EXIT.usage);
    this.token = opts.token;
    this.tlsPolicy = opts.tls ?? {};
    this.tokenSource = opts.tokenSource ?? "the API token";
    this.requestTimeoutMs = opts.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.deadline = Date.now() + this.timeoutMs;
    this.parallel = Math.max(1, opts.parallel ?? DEFAULT_PARALLEL);
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

  /**
   * One request. GETs are retried on connection failures and proxy errors (with back-off, while
   * the run's deadline allows); writes never: one that may have run is reported, not resent.
   * `opts.task`: a poll of a task already started, bounded by --task-timeout, not the deadline.
   */
  async request<T>(
    method: "GET" | "POST" | "PUT" | "DELETE",
    path: string,
    params: Params = {},
    opts: { task?: boolean } = {},
  ): Promise<T> {
    const attempts = method === "GET" ? this.getRetries + 1 : 1;
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.once<T>(method, path, params, opts.task === true);
      } catch (err) {
        const delay = this.retryDelayMs * 2 ** (attempt - 1);
        const retry =
          attempt < attempts &&
          err instanceof PveApiError &&
          err.details.retryable === true &&
          (opts.task || Date.now() + delay < this.deadline);
        if (!retry) throw this.redacted(err);
        await this.sleep(delay);
      }
    }
  }

  /** Close the kept-alive connections (the run is over). */
  close(): void {
    this.keepAlive?.destroy();
    this.keepAlive = null;
  }

  /** Wait for a task: poll its status until it stops; OK and "WARNINGS: n" succeed. */
  async waitTask(
    upid: string,
    opts: { timeoutMs?: number; what?: string } = {},
  ): Promise<TaskResult> {
    const task = parseUpid(upid);
    if (!task)
      throw new PveApiError(
        `the API answered '${printable(upid)}' where a task id (UPID:...) was expected`,
        "protocol",
        EXIT.applyFailed,
        { upid },
      );
    const timeoutMs = opts.timeoutMs ?? this.taskTimeoutMs;
    const what = opts.what ?? `task ${task.type} ${task.id}`.trim();
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const st = await this.taskStatus(task.node, upid, what);
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

  /** A task's status; failing to read it once the task runs is a write with an unknown outcome. */
  private async taskStatus(
    node: string,
    upid: string,
    what: string,
  ): Promise<{ status?: string; exitstatus?: string }> {
    try {
      return await this.request<{ status?: string; exitstatus?: string }>(
        "GET",
        apiPath`/nodes/${node}/tasks/${upid}/status`,
        {},
        { task: true },
      );
    } catch (err) {
      if (!(err instanceof PveApiError)) throw err;
      throw new PveApiError(
        `${what} was started (task ${upid}), but following it failed: ${err.message} — the change may have been made or may still be running. Check with \`pvenode task status ${upid}\` on ${node} (or the web UI's task log) before running again`,
        "unknown-outcome",
        EXIT.applyFailed,
        { ...err.details, upid },
      );
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

  /** A free place among the `parallel` requests in flight. */
  private async slot(): Promise<() => void> {
    if (this.inFlight >= this.parallel) await new Promise<void>((r) => this.waiting.push(r));
    this.inFlight++;
    return () => {
      this.inFlight--;
      this.waiting.shift()?.();
    };
  }

  private async once<T>(method: string, path: string, params: Params, task: boolean): Promise<T> {
    if (this.authLost) throw this.authLost;
    const release = await this.slot();
    try {
      if (this.authLost) throw this.authLost;
      const left = task ? Infinity : this.deadline - Date.now();
      if (left <= 0)
        throw new PveApiError(
          `${method} ${this.origin}${path}: not sent, the run's deadline (--timeout ${Math.round(this.timeoutMs / 1000)} s) has passed`,
          "timeout",
          method === "GET" ? EXIT.usage : EXIT.applyFailed,
          { method, path },
        );
      const hasBody = method === "POST" || method === "PUT";
      const form = encodeForm(params);
      const query = !hasBody && form !== "" ? `?${form}` : "";
      const body = hasBody ? (this.bodyEncoding === "json" ? jsonBody(params) : form) : undefined;
      const headers: Record<string, string> = {
        Accept: "application/json",
        Authorization: `PVEAPIToken=${this.token.id}=${this.token.secret}`,
      };
      if (body !== undefined) {
        headers["Content-Type"] =
          this.bodyEncoding === "json" ? "application/json" : "application/x-www-form-urlencoded";
        headers["Content-Length"] = String(Buffer.byteLength(body));
      }
      const perRequest = left >= this.requestTimeoutMs;
      const r: Exchange = {
        method,
        path,
        fullPath: `/api2/json${path}${query}`,
        headers,
        ...(body !== undefined ? { body } : {}),
        budgetMs: Math.min(this.requestTimeoutMs, left),
        limit: perRequest
          ? `no answer within ${Math.round(this.requestTimeoutMs / 1000)} s`
          : `no answer before the run's deadline (--timeout ${Math.round(this.timeoutMs / 1000)} s)`,
      };
      const res = method === "GET" ? await this.viaKeepAlive(r) : await this.viaOwnConnection(r);
      return this.interpret<T>(method, path, res, params);
    } finally {
      release();
    }
  }

  // Reads share kept-alive connections: one TLS handshake per connection, not per request. Each
  // new connection is opened and checked by `connect` (the pin, or the CA and name) before the
  // agent may write to it.
  private agent(): Https.Agent {
    if (this.keepAlive) return this.keepAlive;
    const agent = new (https().Agent)({ keepAlive: true, maxSockets: this.parallel });
    const override = agent as unknown as {
      createConnection: (o: unknown, cb: (err: Error | null, s?: Tls.TLSSocket) => void) => void;
    };
    override.createConnection = (_o, cb) => {
      this.connect().then(
        (s) => {
          // Closed while connecting (the run ended, e.g. on a 401): nothing may hold the process.
          if (this.keepAlive !== agent) {
            s.destroy();
            cb(new Error("the client was closed"));
          } else cb(null, s);
        },
        (err: Error) => cb(err),
      );
    };
    this.keepAlive = agent;
    return agent;
  }

  private viaKeepAlive(r: Exchange): Promise<Answer> {
    return this.exchange(r, { agent: this.agent() }, null);
  }

  // A write goes out on a connection of its own, opened for it: never on a kept-alive one the
  // server may be closing at that moment, where a reset would leave its outcome unknown.
  private async viaOwnConnection(r: Exchange): Promise<Answer> {
    const timer = deadlineTimer(r.budgetMs);
    let socket: Tls.TLSSocket;
    try {
      socket = await Promise.race([this.connect(), timer.expired]);
    } catch (err) {
      throw this.failed(r, err as NodeJS.ErrnoException, false);
    } finally {
      timer.clear();
    }
    return this.exchange(
      { ...r, budgetMs: r.budgetMs },
      { createConnection: () => socket },
      socket,
    );
  }

  /**
   * One request and its answer, within its budget. `own`: the socket given for this request alone
   * (a write), destroyed on any failure so nothing keeps the process alive.
   */
  private exchange(
    r: Exchange,
    how: { agent: Https.Agent } | { createConnection: () => Tls.TLSSocket },
    own: Tls.TLSSocket | null,
  ): Promise<Answer> {
    return new Promise((resolve, reject) => {
      let sent = false;
      let settled = false;
      const fail = (err: unknown) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        own?.destroy();
        reject(this.failed(r, err as NodeJS.ErrnoException, sent));
      };
      let req: ReturnType<ReturnType<typeof https>["request"]>;
      const timer = setTimeout(
        () => req?.destroy(Object.assign(new Error(r.limit), { code: "ETIMEDOUT" })),
        r.budgetMs,
      );
      try {
        req = https().request(
          {
            method: r.method,
            host: this.baseUrl.hostname,
            port: this.port,
            path: r.fullPath,
            headers: r.headers,
            ...how,
          },
          (res) => {
            const chunks: Buffer[] = [];
            let size = 0;
            res.on("data", (c: Buffer) => {
              size += c.length;
              if (size > MAX_BODY) req.destroy(new Error(`answer larger than ${MAX_BODY} bytes`));
              else chunks.push(c);
            });
            res.on("end", () => {
              if (settled) return;
              settled = true;
              clearTimeout(timer);
              resolve({
                status: res.statusCode ?? 0,
                reason: res.statusMessage ?? "",
                location: res.headers.location,
                text: Buffer.concat(chunks).toString("utf8"),
              });
            });
            res.on("error", fail);
          },
        );
      } catch (err) {
        fail(err);
        return;
      }
      req.on("finish", () => (sent = true));
      req.on("error", fail);
      try {
        if (r.body !== undefined) req.write(r.body);
        req.end();
      } catch (err) {
        fail(err);
      }
    });
  }

  private get port(): number {
    return this.baseUrl.port === "" ? 443 : Number(this.baseUrl.port);
  }

  private connect(): Promise<Tls.TLSSocket> {
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
        () =>
          sock.destroy(
            Object.assign(
              new Error(`no connection within ${Math.round(this.requestTimeoutMs / 1000)} s`),
              { code: "ETIMEDOUT" },
            ),
          ),
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
          void this.describeUntrusted(host, err).then(reject, () => reject(err));
        } else reject(err);
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

  /**
   * A request that got no answer, said precisely: which request, what happened, and for a write
   * that was sent, that it may have been made and how to check (it is never sent again).
   */
  private failed(r: Exchange, err: NodeJS.ErrnoException, sent: boolean): PveApiError {
    if (err instanceof PveApiError) return err;
    const code = err.code ?? "";
    const why =
      code === "ECONNREFUSED"
        ? "connection refused (is pveproxy running, is the port 8006?)"
        : code === "ENOTFOUND"
          ? "host name not found"
          : code === "ETIMEDOUT"
            ? err.message
            : code === "ECONNRESET"
              ? "connection reset"
              : err.message;
    const where = `${r.method} ${this.origin}${r.path}`;
    const kind = code === "ETIMEDOUT" ? "timeout" : "network";
    const details = { method: r.method, path: r.path, retryable: RETRY_CODES.has(code) };
    if (r.method === "GET") return new PveApiError(`${where}: ${why}`, kind, EXIT.usage, details);
    if (!sent)
      return new PveApiError(
        `${where}: ${why}; the request was not sent, nothing was changed`,
        kind,
        EXIT.applyFailed,
        details,
      );
    return new PveApiError(
      `${where}: ${why} after the request was sent — the change may have been made. ${checkAdvice(r.method, r.path)}; passthrough never sends a write twice`,
      "unknown-outcome",
      EXIT.applyFailed,
      details,
    );
  }

  private interpret<T>(method: string, path: string, res: Answer, params: Params): T {
    const { status, reason, text } = res;
    const where = `${method} ${this.origin}${path}`;
    if (status >= 300 && status < 400) {
      throw new PveApiError(
        `${where}: the server answered ${status} ${printable(reason)}${res.location ? ` (to ${printable(res.location)})` : ""}; passthrough does not follow redirects, which would send the token elsewhere: give --api the address of a Proxmox VE node itself (https://HOST:8006), not of a proxy or login page`,
        "protocol",
        method === "GET" ? EXIT.usage : EXIT.applyFailed,
        { method, path, status },
      );
    }
    type Envelope = { data?: unknown; message?: string; errors?: Record<string, string> };
    let body: Envelope | null = null;
    let json = true;
    if (text.trim() !== "") {
      try {
        body = JSON.parse(text) as Envelope;
      } catch {
        json = false;
      }
    }
    if (status >= 200 && status < 300) {
      if (!body || typeof body !== "object" || !("data" in body)) {
        const got = json
          ? 'JSON without Proxmox\'s {"data": ...}'
          : `not JSON (${text.trim() === "" ? "an empty body" : `starts "${printable(text.trim().slice(0, 40))}"`})`;
        const write = method !== "GET";
        throw new PveApiError(
          `${where}: a malformed answer (HTTP ${status}, ${got})${write ? ` — the change may have been made. ${checkAdvice(method, path)}` : "; is --api the address of a Proxmox VE node?"}`,
          "protocol",
          write ? EXIT.applyFailed : EXIT.usage,
          { method, path, status },
        );
      }
      this.answered++;
      return body.data as T;
    }
    // The server's words reach the user's terminal: printable, bounded, never the secret.
    const message =
      redactSecret(printable(body?.message ?? reason), this.token.secret).trim() ||
      `HTTP ${status}`;
    const err = apiError({
      method,
      path,
      status,
      message,
      paramErrors: body?.errors,
      tokenId: this.token.id,
      tokenSource: this.tokenSource,
      write: method === "GET" ? undefined : checkAdvice(method, path, params),
    });
    if (status === 401 && this.answered > 0)
      this.authLost = midRun(err, this.answered, where, this.token.id);
    throw this.authLost ?? err;
  }
}

/** The token worked for `answered` requests, then a 401: it was revoked or expired during the run. */
function midRun(err: PveApiError, answered: number, where: string, token: string): PveApiError {
  return new PveApiError(
    `${where}: the token was refused (401 ${err.details.reason ?? ""}) after ${answered} request${answered === 1 ? " was" : "s were"} answered in this run: token ${token} was deleted, expired or its user disabled meanwhile (\`pveum user token list USER\` shows it). The requests after it were not sent`,
    "auth",
    EXIT.usage,
    err.details,
  );
}

/** How to find out whether a write whose answer was lost was made. */
export function checkAdvice(method: string, path: string, params: Params = {}): string {
  const config = /^\/nodes\/([^/]+)\/qemu\/(\d+)\/config$/.exec(path);
  if (config)
    return `Check with \`qm config ${config[2]}\` on ${decodeURIComponent(config[1]!)} (or rerun \`passthrough vm plan\`: an empty diff means it was made)`;
  const create = /^\/nodes\/([^/]+)\/qemu$/.exec(path);
  if (create) {
    const vmid =
      typeof params.vmid === "number" || typeof params.vmid === "string" ? params.vmid : "VMID";
    return `Check with \`qm config ${vmid}\` (or \`qm list\`) on ${decodeURIComponent(create[1]!)}`;
  }
  if (/^\/cluster\/mapping\/pci(\/|$)/.test(path))
    return "Check with `passthrough vm mapping list` (or `pvesh get /cluster/mapping/pci`)";
  return `Check the state with \`pvesh get ${path}\` on a node`;
}

/** A timer that rejects after `ms` like a socket timeout, for steps outside a request. */
function deadlineTimer(ms: number): { expired: Promise<never>; clear: () => void } {
  let t: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    t = setTimeout(
      () =>
        reject(
          Object.assign(new Error(`no connection within ${Math.round(ms / 1000)} s`), {
            code: "ETIMEDOUT",
          }),
        ),
      ms,
    );
  });
  expired.catch(() => undefined);
  return { expired, clear: () => clearTimeout(t) };
}

function isCertificateError(err: NodeJS.ErrnoException): boolean {
  const code = err.code ?? "";
  return (
    code === "ERR_TLS_CERT_ALTNAME_INVALID" ||
    /CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)|DEPTH_ZERO/.test(code)
  );
}
