// What a Proxmox API failure means for the user, and what to do about it: PveApiError (kind,
// exit code, the request it belongs to) and the translation of Proxmox's answers into it. The
// server's words are kept (printable, bounded, the token's secret removed) and followed by the
// way out. Status codes and messages: docs/proxmox-api.md §2.1 (pve-http-server AnyEvent.pm,
// pve-manager HTTPServer.pm) and §1.9 (qemu-server's root-only rules).

import { EXIT, UserError, type ExitCode } from "../../errors.js";

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
  | "protocol"
  /** A write was sent and its answer lost: it may or may not have been made. */
  | "unknown-outcome";

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

// pveproxy's proxy errors (AnyEvent::HTTP pseudo statuses) and gateway errors: the request did
// not reach the code that answers it, or its answer did not come back. 500 is not retried:
// Proxmox uses it for every plain `die` ("mapping 'x' not found", "Configuration file ... does
// not exist"), which a retry repeats.
export const RETRY_STATUS = new Set([502, 503, 504, 595, 596, 597, 598, 599]);
// Of those, the ones after which a write may have reached the node: a gateway that timed out
// waiting (504), AnyEvent::HTTP errors while sending, or while reading the answer (596, 597).
// 595 is a connection that was never made, 503 a server that took nothing.
const MAYBE_DELIVERED = new Set([502, 504, 596, 597, 598, 599]);

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
  /** For a write: how to check whether it was made (said when a proxy error leaves that open). */
  write?: string | undefined;
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
  if (e.write !== undefined && MAYBE_DELIVERED.has(e.status)) {
    return new PveApiError(
      `${where}: ${e.status} ${e.message} from a proxy between here and the node — the change may have been made. ${e.write}; passthrough never sends a write twice`,
      "unknown-outcome",
      EXIT.applyFailed,
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

export function taskFailure(
  what: string,
  exitstatus: string,
  upid: string,
  tokenId: string,
): PveApiError {
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
export function printable(text: string): string {
  // eslint-disable-next-line no-control-regex
  const clean = text.replace(/[\u0000-\u001f\u007f-\u009f]+/g, " ");
  return clean.length > 300 ? `${clean.slice(0, 300)}…` : clean;
}
