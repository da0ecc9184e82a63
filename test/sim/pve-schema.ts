// Proxmox's own API parameter schema, as contract data for the simulator: every request the
// client sends is checked the way pve-common's PVE::JSONSchema::validate checks it
// (check_prop / check_type / check_format / parse_property_string) before a handler sees it.
//
// The schema is an extract of pve-docs' api-viewer/apidata.js (AGPL-3.0-or-later, © Proxmox
// Server Solutions GmbH), kept OUTSIDE this repository: it is read from a `shared/data/` folder
// next to or above the checkout, or from $PVE_API_EXTRACT. Without it the simulator still runs,
// and the tests that need it skip with a message.

import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export interface SchemaProp {
  type?: string;
  format?: string | Record<string, SchemaProp>;
  pattern?: string;
  enum?: string[];
  minimum?: number;
  maximum?: number;
  maxLength?: number;
  minLength?: number;
  optional?: number | boolean;
  requires?: string;
  items?: SchemaProp;
  default_key?: number | boolean;
  alias?: string;
  default?: unknown;
}

export interface Endpoint {
  path: string;
  method: string;
  parameters: { additionalProperties?: number; properties: Record<string, SchemaProp> };
  returns?: { properties?: Record<string, SchemaProp> };
  permissions?: unknown;
}

interface Extract {
  _meta: unknown;
  endpoints: Record<string, Endpoint>;
  _named_formats_transcribed: Record<string, Record<string, SchemaProp & { note?: string }>>;
}

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = resolve(here, "../..");

/** Where the extract is looked for, in order. */
export function extractCandidates(env: NodeJS.ProcessEnv = process.env): string[] {
  const out: string[] = [];
  if (env.PVE_API_EXTRACT) out.push(env.PVE_API_EXTRACT);
  let dir = repoRoot;
  for (let i = 0; i < 4; i++) {
    dir = dirname(dir);
    out.push(join(dir, "shared/data/pve-api-extract.json"));
  }
  out.splice(env.PVE_API_EXTRACT ? 1 : 0, 0, join(repoRoot, "shared/data/pve-api-extract.json"));
  return out;
}

export const EXTRACT_MISSING_MESSAGE =
  "pve-api-extract.json not found (looked for shared/data/pve-api-extract.json next to and above the checkout; set PVE_API_EXTRACT=PATH): schema validation of the client's requests skipped";

// Indexed options are collapsed in the extract ("hostpci[n]"); their index ranges come from
// qemu-server ($MAX_HOSTPCI_DEVICES = 16, $MAX_USB_DEVICES = 14, ...).
const INDEX_MAX: Record<string, number> = {
  hostpci: 15,
  usb: 13,
  net: 31,
  ide: 3,
  sata: 5,
  scsi: 30,
  virtio: 15,
  serial: 3,
  parallel: 2,
  numa: 7,
  ipconfig: 31,
  unused: 255,
  virtiofs: 9,
};

// Named formats the simulator does not check beyond their type (the client never sends them, or
// they are free-form enough that a check would only restate the type). Any other unknown format
// name fails loudly, so a schema change cannot slip past unnoticed.
const UNCHECKED_FORMATS = new Set([
  "pve-volume-id-or-qm-path",
  "pve-volume-id-or-absolute-path",
  "pve-qemu-sev-fmt",
  "pve-qemu-tdx-fmt",
  "pve-qm-boot",
  "pve-qm-ide",
  "pve-qm-cicustom",
  "pve-hotplug-features",
  "pve-qm-ipconfig",
  "pve-qm-rng",
  "pve-qm-smbios1",
  "pve-startup-order",
  "pve-qm-watchdog",
  "address",
  "CIDR",
  "storage-pair",
  "pve-poolid",
]);

export class PveSchema {
  private readonly endpoints: Record<string, Endpoint>;
  private readonly named: Extract["_named_formats_transcribed"];

  constructor(
    extract: Extract,
    readonly source: string,
  ) {
    this.endpoints = extract.endpoints;
    this.named = extract._named_formats_transcribed;
  }

  static load(env: NodeJS.ProcessEnv = process.env): PveSchema | null {
    for (const p of extractCandidates(env)) {
      if (existsSync(p)) return new PveSchema(JSON.parse(readFileSync(p, "utf8")) as Extract, p);
    }
    return null;
  }

  endpoint(method: string, template: string): Endpoint | undefined {
    return this.endpoints[`${method} ${template}`];
  }

  has(method: string, template: string): boolean {
    return this.endpoint(method, template) !== undefined;
  }

  /** Property schema for a parameter name, expanding "hostpci[n]" to hostpci0..hostpci15. */
  propFor(props: Record<string, SchemaProp>, name: string): SchemaProp | undefined {
    if (props[name]) return props[name];
    const m = /^([a-z_-]+?)(\d+)$/.exec(name);
    if (!m) return undefined;
    const indexed = props[`${m[1]}[n]`];
    if (!indexed) return undefined;
    const max = INDEX_MAX[m[1]!];
    if (max !== undefined && Number(m[2]) > max) return undefined;
    if (/^0\d/.test(m[2]!)) return undefined;
    return indexed;
  }

  /**
   * RESTHandler's normalize_legacy_param_formats: a scalar where an array is expected becomes a
   * one-element array (form bodies cannot say "array of one"), an array where a "-list" string is
   * expected is joined with ",".
   */
  normalize(
    props: Record<string, SchemaProp>,
    params: Record<string, unknown>,
  ): Record<string, unknown> {
    const out: Record<string, unknown> = { ...params };
    for (const [k, v] of Object.entries(out)) {
      const p = this.propFor(props, k);
      if (!p || v === undefined || v === null || v === "" || v === 0 || v === false) continue;
      if (
        Array.isArray(v) &&
        p.type === "string" &&
        typeof p.format === "string" &&
        p.format.endsWith("-list")
      )
        out[k] = v.join(",");
      else if (!Array.isArray(v) && p.type === "array") out[k] = [v];
    }
    return out;
  }

  /** JSONSchema::validate for an endpoint's parameters: {param: message}, empty when valid. */
  validate(endpoint: Endpoint, params: Record<string, unknown>): Record<string, string> {
    const errors: Record<string, string> = {};
    const props = endpoint.parameters.properties;
    this.checkObject(
      "",
      props,
      params,
      endpoint.parameters.additionalProperties ?? 0,
      errors,
      true,
    );
    return errors;
  }

  private checkObject(
    path: string,
    props: Record<string, SchemaProp>,
    value: Record<string, unknown>,
    additional: number | boolean,
    errors: Record<string, string>,
    expandIndexed: boolean,
  ): void {
    for (const [k, schema] of Object.entries(props)) {
      if (k.endsWith("[n]")) continue; // indexed: all optional, checked per present key below
      this.checkProp(value[k], schema, path ? `${path}.${k}` : k, errors);
    }
    for (const [k, v] of Object.entries(value)) {
      const newPath = path ? `${path}.${k}` : k;
      const schema = expandIndexed ? this.propFor(props, k) : props[k];
      if (schema) {
        if (props[k] === undefined) this.checkProp(v, schema, newPath, errors); // indexed key
        if (schema.requires && value[schema.requires] === undefined) {
          addError(
            errors,
            path ? `${path}.${schema.requires}` : schema.requires,
            `missing property - '${newPath}' requires this property`,
          );
        }
        continue;
      }
      if (!additional)
        addError(
          errors,
          newPath,
          "property is not defined in schema and the schema does not allow additional properties",
        );
    }
  }

  private checkProp(
    value: unknown,
    schema: SchemaProp,
    path: string,
    errors: Record<string, string>,
  ): void {
    if (value === undefined || value === null) {
      if (!schema.optional && !schema.alias)
        addError(errors, path, "property is missing and it is not optional");
      return;
    }
    if (!checkType(path, schema.type, value, errors)) return;
    if (Array.isArray(value)) {
      if (schema.items)
        value.forEach((el, i) => this.checkProp(el, schema.items!, `${path}[${i}]`, errors));
      return;
    }
    const text = String(value);
    if (schema.format !== undefined) {
      const err = this.checkFormat(schema.format, text);
      if (err !== null) {
        addError(errors, path, `invalid format - ${err}`);
        return;
      }
    }
    if (schema.pattern !== undefined && !perlPattern(schema.pattern).test(text)) {
      addError(errors, path, "value does not match the regex pattern");
      return;
    }
    if (schema.maxLength !== undefined && text.length > schema.maxLength) {
      addError(errors, path, `value may only be ${schema.maxLength} characters long`);
      return;
    }
    if (schema.minLength !== undefined && text.length < schema.minLength) {
      addError(errors, path, `value must be at least ${schema.minLength} characters long`);
      return;
    }
    if (isNumber(text)) {
      if (schema.maximum !== undefined && Number(text) > schema.maximum) {
        addError(errors, path, `value must have a maximum value of ${schema.maximum}`);
        return;
      }
      if (schema.minimum !== undefined && Number(text) < schema.minimum) {
        addError(errors, path, `value must have a minimum value of ${schema.minimum}`);
        return;
      }
    }
    if (schema.enum && !schema.enum.includes(text))
      addError(
        errors,
        path,
        `value '${text}' does not have a value in the enumeration '${schema.enum.join(", ")}'`,
      );
  }

  /** check_format: null when valid, else the error text. */
  checkFormat(format: string | Record<string, SchemaProp>, value: string): string | null {
    if (typeof format === "object") return this.checkPropertyString(format, value);
    const m = /^(.*?)(?:-(list|opt))?$/.exec(format)!;
    const name = m[1]!;
    const kind = m[2];
    if (kind === "list") {
      for (const v of splitList(value)) {
        const err = this.checkFormat(name, v);
        if (err !== null) return err;
      }
      return null;
    }
    if (kind === "opt" && value === "") return null;
    const hash = this.named[name];
    if (hash) return this.checkPropertyString(hash, value);
    const check = NAMED_FORMATS[name];
    if (check) return check(value);
    if (UNCHECKED_FORMATS.has(name)) return null;
    throw new Error(
      `pve-schema: unknown format '${format}' in the API schema; teach test/sim/pve-schema.ts about it`,
    );
  }

  /** parse_property_string + check_object on the sub-properties. */
  private checkPropertyString(format: Record<string, SchemaProp>, value: string): string | null {
    const res: Record<string, string> = {};
    let defaultKey: string | undefined;
    for (const part of value.split(",")) {
      if (/^\s*$/.test(part)) continue;
      const kv = /^([^=]+)=([\s\S]+)$/.exec(part);
      if (kv) {
        let k = kv[1]!;
        if (res[k] !== undefined) return `duplicate key in comma-separated list property: ${k}`;
        let schema = format[k];
        if (schema?.alias) {
          k = schema.alias;
          schema = format[k];
        }
        if (!schema) return `invalid key in comma-separated list property: ${k}`;
        let v = kv[2]!;
        if (schema.type === "boolean") {
          const b = /^(1|on|yes|true)$/i.test(v) ? "1" : /^(0|off|no|false)$/i.test(v) ? "0" : null;
          if (b !== null) v = b;
        }
        res[k] = v;
      } else if (!part.includes("=")) {
        if (defaultKey !== undefined)
          return `duplicate key in comma-separated list property: ${defaultKey}`;
        defaultKey = Object.keys(format).find((k) => format[k]!.default_key);
        if (defaultKey === undefined)
          return "value without key, but schema does not define a default key";
        if (res[defaultKey] !== undefined)
          return `duplicate key in comma-separated list property: ${defaultKey}`;
        res[defaultKey] = part;
      } else {
        return "missing key in comma-separated list property";
      }
    }
    const errors: Record<string, string> = {};
    this.checkObject("", format, res, 0, errors, false);
    const keys = Object.keys(errors);
    if (keys.length === 0) return null;
    return `format error\n${keys.map((k) => `${k}: ${errors[k]}`).join("\n")}`;
  }
}

function addError(errors: Record<string, string>, path: string, msg: string): void {
  const p = path || "_root";
  errors[p] = errors[p] ? `${errors[p]}\n${msg}` : msg;
}

function isNumber(v: string): boolean {
  return /^[+-]?(\d+\.\d+|\d+\.|\.\d+|\d+)([eE][+-]?\d+)?$/.test(v);
}

/** check_type: top-level booleans are only "0"/"1" (or JSON true/false). */
function checkType(
  path: string,
  type: string | undefined,
  value: unknown,
  errors: Record<string, string>,
): boolean {
  if (!type || type === "any") return true;
  if (type === "array") {
    if (Array.isArray(value)) return true;
    addError(errors, path, `type check ('array') failed`);
    return false;
  }
  if (type === "object") {
    if (value !== null && typeof value === "object" && !Array.isArray(value)) return true;
    addError(errors, path, `type check ('object') failed`);
    return false;
  }
  if (typeof value === "object") {
    addError(
      errors,
      path,
      `type check ('${type}') failed - got ${Array.isArray(value) ? "ARRAY" : "HASH"}`,
    );
    return false;
  }
  if (type === "boolean") {
    if (typeof value === "boolean" || value === "1" || value === "0" || value === 1 || value === 0)
      return true;
    addError(errors, path, `type check ('boolean') failed - got '${String(value)}'`);
    return false;
  }
  if (type === "integer") {
    if (/^[+-]?\d+$/.test(String(value))) return true;
    addError(errors, path, `type check ('integer') failed - got '${String(value)}'`);
    return false;
  }
  if (type === "number") {
    if (isNumber(String(value))) return true;
    addError(errors, path, `type check ('number') failed - got '${String(value)}'`);
    return false;
  }
  return true;
}

const patternCache = new Map<string, RegExp>();
/** Perl qr// stringification "(?^:" and atomic groups "(?>" rewritten; anchored like m/^...$/ (grouped). */
export function perlPattern(p: string): RegExp {
  let re = patternCache.get(p);
  if (!re) {
    re = new RegExp(`^(?:${p.replace(/\(\?\^:/g, "(?:").replace(/\(\?>/g, "(?:")})$`);
    patternCache.set(p, re);
  }
  return re;
}

/** PVE::Tools::split_list: NUL-separated, else on [,;] and whitespace. */
export function splitList(v: string): string[] {
  if (v.includes("\0")) return v.split("\0");
  return v
    .replace(/[,;]/g, " ")
    .trim()
    .split(/\s+/)
    .filter((s) => s !== "");
}

// The registered formats the client's requests touch (pve-common JSONSchema.pm, qemu-server).
const NAMED_FORMATS: Record<string, (v: string) => string | null> = {
  string: () => null,
  "pve-node": (v) =>
    /^[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?$/.test(v)
      ? null
      : "value does not look like a valid node name",
  "pve-vmid": (v) =>
    /^[1-9][0-9]{2,8}$/.test(v) ? null : "value does not look like a valid VM ID",
  "pve-configid": (v) => (/^[a-z][a-z0-9_-]+$/i.test(v) ? null : `invalid configuration ID '${v}'`),
  "pve-storage-id": (v) =>
    /^[a-z][a-z0-9\-_.]*[a-z0-9]$/i.test(v)
      ? null
      : `storage ID '${v}' contains illegal characters`,
  "pve-bridge-id": (v) => (/^[-_.\w\d]+$/.test(v) ? null : `invalid bridge ID '${v}'`),
  "pve-volume-id": (v) =>
    /^([a-z][a-z0-9\-_.]*[a-z0-9]):(.+)$/i.test(v) ? null : `unable to parse volume ID '${v}'`,
  "pve-tag": (v) => (/^[a-z0-9_][a-z0-9_\-+.]*$/i.test(v) ? null : "invalid characters in tag"),
  "pve-qm-bootdisk": (v) =>
    /^(?:ide[0-3]|sata[0-5]|scsi(?:[0-9]|[12][0-9]|30)|virtio(?:[0-9]|1[0-5])|efidisk0|tpmstate0)$/.test(
      v,
    )
      ? null
      : `invalid boot disk '${v}'`,
  "pve-cpuset": (v) =>
    v.split(",").every((p) => /^\s*(\d+)(?:-(\d+))?\s*$/.test(p))
      ? null
      : `unable to parse cpuset '${v}'`,
  urlencoded: (v) =>
    /^[-%a-zA-Z0-9_.!~*'()]*$/.test(v) ? null : `invalid urlencoded string: ${v}`,
  "disk-size": (v) =>
    /^(\d+(\.\d+)?)([KMGT])?$/.test(v) ? null : `value does not look like a valid disk size: ${v}`,
  "mac-addr": (v) =>
    /^[a-f0-9][02468ace](?::[a-f0-9]{2}){5}$/i.test(v)
      ? null
      : "value does not look like a valid unicast MAC address",
  "dns-name": (v) =>
    /^(([a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?)\.)*([a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?)$/.test(
      v,
    )
      ? null
      : "value does not look like a valid DNS name",
};
