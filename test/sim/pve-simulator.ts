// A local Proxmox VE API for tests: HTTPS on 127.0.0.1 (random port, throw-away certificate),
// speaking the endpoints passthrough's API client uses, with Proxmox's semantics as read from its
// sources (docs/proxmox-api.md; pve-http-server AnyEvent.pm, pve-manager HTTPServer.pm and
// API2/Cluster/Mapping/PCI.pm, qemu-server API2/Qemu.pm, pve-guest-common Mapping/PCI.pm):
//
//   - token auth (`PVEAPIToken=USER@REALM!TOKENID=SECRET`); failures are 401 "Authentication
//     failed!" with an empty body (optionally delayed, as the real server delays them 3 s);
//   - request parameters decoded like pve-http-server (query string; JSON body only for
//     Content-Type application/json, else x-www-form-urlencoded split on "&" AND ";", key/value
//     on "="), then validated against Proxmox's schema extract when present: 400
//     "Parameter verification failed." with {errors: {param: msg}} — and recorded in
//     `violations` so tests fail loudly;
//   - privileges per token and ACL path (inherited downwards), 403 "Permission check failed
//     (/vms/100, VM.Config.HWType)"; a token is never root@pam, so raw hostpciN is refused;
//   - VM configs stored as pmxcfs text files, `digest` = SHA-1 of the file; writes go to
//     [PENDING] and are applied at once for stopped VMs (running VMs keep hardware changes
//     pending); a digest mismatch is 500 "checksum mismatch (file change by other user?)";
//   - async config writes and VM creation return a UPID; the task finishes after `taskPolls`
//     status polls (or never), and fails with Proxmox's exit status text when its work dies;
//   - cluster PCI mappings in a SectionConfig pci.cfg with its own digest, `check-node`
//     diagnostics like assert_valid, duplicate/missing/digest errors with Proxmox's words;
//   - container configs (pve-container API2/LXC/Config.pm vm_config): GET with VM.Audit, the
//     pending values unless `current`, raw lxc.* keys as `lxc` pairs, `digest` of the file.
//
// Deliberately independent of src/: the simulator is the oracle the client is tested against,
// so it shares no parsing or checking code with it.

import { createHash, randomUUID } from "node:crypto";
import https from "node:https";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { PveSchema, splitList, type Endpoint, type SchemaProp } from "./pve-schema.js";

export interface SimPci {
  id: string;
  class: string;
  vendor: string;
  device: string;
  subsystem_vendor?: string;
  subsystem_device?: string;
  iommugroup: number;
  vendor_name?: string;
  device_name?: string;
  mdev?: number;
}

export interface SimNode {
  name: string;
  online?: boolean;
  pci: SimPci[];
  storages?: string[];
  /** Snippet file names per storage (GET .../storage/STORAGE/content?content=snippets). */
  snippets?: Record<string, string[]>;
}

export interface SimToken {
  /** "user@realm!tokenid" */
  id: string;
  secret: string;
  /** Privileges by ACL path, inherited by sub-paths ("/" = everything), or "all". */
  privileges: "all" | Record<string, string[]>;
  /** Epoch seconds; 0/undefined = never. */
  expire?: number;
  userEnabled?: boolean;
}

export interface SimVm {
  vmid: number;
  node: string;
  running?: boolean;
  /** Main-section keys; or `raw` for a whole config file. */
  config?: Record<string, string>;
  raw?: string;
}

export interface SimMapping {
  id: string;
  description?: string;
  map: string[];
  mdev?: boolean;
}

export interface SimCluster {
  nodes: SimNode[];
  tokens: SimToken[];
  vms?: SimVm[];
  /** Containers: a whole /etc/pve/lxc/<vmid>.conf each. */
  cts?: SimCt[];
  mappings?: SimMapping[];
}

export interface SimCt {
  vmid: number;
  node: string;
  raw: string;
}

export interface SimOptions {
  cert: { key: string; cert: string };
  /** Proxmox's schema (PveSchema.load()); null: no validation. */
  schema?: PveSchema | null;
  /** Status polls that still say "running" before a task finishes (Infinity: never). */
  taskPolls?: number;
  unauthorizedDelayMs?: number;
}

export interface LoggedRequest {
  method: string;
  path: string;
  route: string | null;
  params: Record<string, unknown>;
  contentType: string | undefined;
  body: string;
  status: number;
  user?: string;
}

class SimError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly errors?: Record<string, string>,
  ) {
    super(message);
  }
}

interface Ctx {
  user: string;
  token: SimToken;
  params: Record<string, unknown>;
}

interface Route {
  method: string;
  template: string;
  re: RegExp;
  keys: string[];
  handler: (ctx: Ctx) => unknown;
  /** Parameter schema for endpoints outside the extract (transcribed from pve-manager). */
  localSchema?: Endpoint["parameters"];
}

interface SimTask {
  upid: string;
  node: string;
  type: string;
  id: string;
  user: string;
  pid: number;
  pstart: number;
  starttime: number;
  pollsLeft: number;
  status: "running" | "stopped";
  exitstatus?: string;
  work: () => void;
}

interface ConfFile {
  description: string[];
  main: Record<string, string>;
  pending: Record<string, string>;
  pendingDelete: Array<{ key: string; force: boolean }>;
  /** Other sections ([special:...], snapshots), verbatim. */
  extra: string;
}

const DRIVE_RE =
  /^(?:ide[0-3]|sata[0-5]|scsi(?:[0-9]|[12][0-9]|30)|virtio(?:[0-9]|1[0-5])|efidisk0|tpmstate0)$/;
// qemu-server API2/Qemu.pm: which privilege guards which option (non-root).
const CPU_OPTS = new Set([
  "cores",
  "cpu",
  "runningcpu",
  "cpulimit",
  "cpuunits",
  "numa",
  "smp",
  "sockets",
  "vcpus",
]);
const MEMORY_OPTS = new Set(["memory", "balloon", "shares", "allow-ksm"]);
const HWTYPE_OPTS = new Set([
  "acpi",
  "hotplug",
  "kvm",
  "machine",
  "runningmachine",
  "scsihw",
  "smbios1",
  "tablet",
  "vga",
  "watchdog",
  "audio0",
  "rng0",
]);
const GENERAL_OPTS = new Set([
  "agent",
  "autostart",
  "bios",
  "description",
  "keyboard",
  "localtime",
  "migrate_downtime",
  "migrate_speed",
  "name",
  "onboot",
  "ostype",
  "protection",
  "reboot",
  "startdate",
  "startup",
  "tdf",
  "template",
]);
const DISK_OPTS = new Set(["boot", "bootdisk", "vmstatestorage"]);
const CLOUDINIT_OPTS = new Set([
  "cicustom",
  "cipassword",
  "citype",
  "ciuser",
  "ciupgrade",
  "nameserver",
  "searchdomain",
  "sshkeys",
]);
// vmconfig_hotplug_pending's $fast_plug_option: applied to a running VM at once.
const FAST_PLUG = new Set([
  "description",
  "hookscript",
  "lock",
  "migrate_downtime",
  "migrate_speed",
  "name",
  "onboot",
  "protection",
  "shares",
  "startup",
  "tags",
  "vmstatestorage",
  ...CLOUDINIT_OPTS,
]);
const CREATE_ONLY = new Set([
  "archive",
  "start",
  "storage",
  "pool",
  "force",
  "unique",
  "live-restore",
  "bwlimit",
  "ha-managed",
  "import-working-storage",
  "vmid",
  "node",
]);
const CONFIG_PERMS = [
  "VM.Config.Disk",
  "VM.Config.CDROM",
  "VM.Config.CPU",
  "VM.Config.Memory",
  "VM.Config.Network",
  "VM.Config.HWType",
  "VM.Config.Options",
  "VM.Config.Cloudinit",
];

const sha1 = (s: string) => createHash("sha1").update(s).digest("hex");

export class PveSimulator {
  readonly requests: LoggedRequest[] = [];
  /** Requests that broke Proxmox's schema (400s from validation). Tests expect none. */
  readonly violations: Array<{ method: string; path: string; errors: Record<string, string> }> = [];
  /** Make the next matching task fail with this exit status (consumed in order). */
  readonly taskFailures: Array<{ type?: string; message: string }> = [];
  /** Make the next matching requests fail at the HTTP level (a proxy error, a dropped connection). */
  readonly httpFailures: Array<{
    method?: string;
    path?: RegExp;
    status?: number;
    reason?: string;
    reset?: boolean;
    /** Answer nothing, ever (a node that hangs): the client's timeout has to end it. */
    hang?: boolean;
    /** This body instead of Proxmox's JSON (malformed answers). */
    body?: string;
    /** A Location header (redirects). */
    location?: string;
    /** Handle the request normally, then drop the connection instead of answering (a lost answer). */
    resetAfter?: boolean;
  }> = [];
  /** Added before every answer (network latency), or per path. */
  latencyMs = 0;
  readonly pathLatency: Array<{ path: RegExp; ms: number }> = [];
  /** TLS handshakes accepted: kept-alive connections make fewer of them than requests. */
  connections = 0;
  taskPolls: number;
  unauthorizedDelayMs: number;
  private readonly schema: PveSchema | null;
  private readonly nodes: Map<string, SimNode>;
  private readonly tokens: SimToken[];
  private readonly vms = new Map<number, { node: string; running: boolean; text: string }>();
  private readonly cts = new Map<number, SimCt>();
  private pciCfg: string;
  private readonly tasks = new Map<string, SimTask>();
  private readonly routes: Route[] = [];
  private server!: https.Server;
  private pidCounter = 0x1000;
  port = 0;

  private constructor(cluster: SimCluster, opts: SimOptions) {
    this.schema = opts.schema ?? null;
    this.taskPolls = opts.taskPolls ?? 1;
    this.unauthorizedDelayMs = opts.unauthorizedDelayMs ?? 0;
    this.nodes = new Map(
      cluster.nodes.map((n) => [n.name, { online: true, storages: ["local", "local-lvm"], ...n }]),
    );
    this.tokens = cluster.tokens;
    for (const vm of cluster.vms ?? []) {
      const text =
        vm.raw ??
        printConf({
          description: [],
          main: { ...(vm.config ?? {}) },
          pending: {},
          pendingDelete: [],
          extra: "",
        });
      this.vms.set(vm.vmid, { node: vm.node, running: vm.running ?? false, text });
    }
    for (const ct of cluster.cts ?? []) this.cts.set(ct.vmid, ct);
    this.pciCfg = printPciCfg(
      (cluster.mappings ?? []).map((m) => ({ id: m.id, props: mappingProps(m) })),
    );
    this.defineRoutes();
  }

  static async start(cluster: SimCluster, opts: SimOptions): Promise<PveSimulator> {
    const sim = new PveSimulator(cluster, opts);
    sim.server = https.createServer(
      { key: opts.cert.key, cert: opts.cert.cert, keepAliveTimeout: 5000 },
      (req, res) => {
        sim.handle(req, res).catch((err: unknown) => {
          res.writeHead(599, "simulator bug");
          res.end(String(err));
        });
      },
    );
    sim.server.on("secureConnection", () => sim.connections++);
    await new Promise<void>((resolve) => sim.server.listen(0, "127.0.0.1", resolve));
    sim.port = (sim.server.address() as AddressInfo).port;
    return sim;
  }

  get url(): string {
    return `https://127.0.0.1:${this.port}`;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections?.();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  // ---- state access for tests -------------------------------------------------------------

  vmConfigText(vmid: number): string | undefined {
    return this.vms.get(vmid)?.text;
  }

  vmConfig(vmid: number): ConfFile | undefined {
    const vm = this.vms.get(vmid);
    return vm ? parseConf(vm.text) : undefined;
  }

  vmNode(vmid: number): string | undefined {
    return this.vms.get(vmid)?.node;
  }

  /** Another user edits the VM (as `qm set` would): the file and its digest change. */
  editVm(vmid: number, key: string, value: string | undefined): void {
    const vm = this.vms.get(vmid);
    if (!vm) throw new Error(`no VM ${vmid}`);
    const conf = parseConf(vm.text);
    if (value === undefined) delete conf.main[key];
    else conf.main[key] = value;
    vm.text = printConf(conf);
  }

  setRunning(vmid: number, running: boolean): void {
    this.vms.get(vmid)!.running = running;
  }

  setNodeOnline(node: string, online: boolean): void {
    this.nodes.get(node)!.online = online;
  }

  /** The node's hardware changes (a card swapped, a slot renumbered). */
  setNodePci(node: string, pci: SimPci[]): void {
    this.nodes.get(node)!.pci = pci;
  }

  pciCfgText(): string {
    return this.pciCfg;
  }

  mappings(): Array<{ id: string; props: Record<string, string | string[]> }> {
    return parsePciCfg(this.pciCfg);
  }

  /** Another user edits the mapping config: its digest changes. */
  editMapping(id: string, key: string, value: string): void {
    const all = parsePciCfg(this.pciCfg);
    const m = all.find((x) => x.id === id);
    if (!m) throw new Error(`no mapping ${id}`);
    m.props[key] = value;
    this.pciCfg = printPciCfg(all);
  }

  runningTasks(): string[] {
    return [...this.tasks.values()].filter((t) => t.status === "running").map((t) => t.upid);
  }

  // ---- HTTP -------------------------------------------------------------------------------

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks).toString("utf8");
    const url = new URL(req.url ?? "/", "https://sim");
    const method = req.method ?? "GET";
    const contentType = req.headers["content-type"];
    const log: LoggedRequest = {
      method,
      path: url.pathname,
      route: null,
      params: {},
      contentType,
      body,
      status: 0,
    };
    this.requests.push(log);

    const latency = this.pathLatency.find((l) => l.path.test(url.pathname))?.ms ?? this.latencyMs;
    if (latency > 0) await new Promise((r) => setTimeout(r, latency));

    let dropAnswer = false;
    const send = (status: number, reason: string, payload: unknown | undefined) => {
      log.status = status;
      if (dropAnswer) {
        req.socket.destroy();
        return;
      }
      const text = payload === undefined ? "" : JSON.stringify(payload);
      res.writeHead(status, reason.replace(/[\r\n]+/g, " ").trim(), {
        "Content-Type": "application/json;charset=UTF-8",
        "Content-Length": Buffer.byteLength(text),
      });
      res.end(text);
    };

    const injected = this.httpFailures.findIndex(
      (f) =>
        (f.method === undefined || f.method === method) &&
        (f.path === undefined || f.path.test(url.pathname)),
    );
    if (injected >= 0) {
      const f = this.httpFailures.splice(injected, 1)[0]!;
      if (f.reset) {
        log.status = -1;
        req.socket.destroy();
        return;
      }
      if (f.hang) {
        log.status = -2;
        return;
      }
      if (f.resetAfter) dropAnswer = true;
      else if (f.body !== undefined || f.location !== undefined) {
        log.status = f.status ?? 200;
        res.writeHead(log.status, f.reason ?? "OK", {
          "Content-Type": "application/json;charset=UTF-8",
          ...(f.location !== undefined ? { Location: f.location } : {}),
        });
        res.end(f.body ?? "");
        return;
      } else {
        send(f.status ?? 503, f.reason ?? "Service Unavailable", undefined);
        return;
      }
    }

    if (!url.pathname.startsWith("/api2/json/")) {
      send(501, "no such uri", undefined);
      return;
    }
    const rel = url.pathname.slice("/api2/json".length);

    // Authentication (pve-manager HTTPServer.pm auth_handler + AccessControl::verify_token).
    const auth = /(?:^|\s)PVEAPIToken(?:=| )([^;]*)/.exec(req.headers.authorization ?? "");
    const token = auth ? this.verifyToken(decodeURIComponent(auth[1]!)) : null;
    if (!token) {
      if (this.unauthorizedDelayMs > 0)
        await new Promise((r) => setTimeout(r, this.unauthorizedDelayMs));
      send(401, auth ? "Authentication failed!" : "No ticket", undefined);
      return;
    }
    log.user = token.id;

    // Parameters (pve-http-server extract_params).
    let params: Record<string, unknown> = {};
    if (method === "POST" || method === "PUT") {
      const ct = (contentType ?? "").split(";")[0]!.trim().toLowerCase();
      if (ct === "application/json") {
        try {
          params = body.trim() === "" ? {} : (JSON.parse(body) as Record<string, unknown>);
        } catch {
          send(400, "malformed JSON", { data: null, message: "malformed JSON\n" });
          return;
        }
      } else params = decodeUrlencoded(body);
    } else if (body !== "") {
      send(501, `Unexpected content for method '${method}'`, undefined);
      return;
    }
    Object.assign(params, decodeUrlencoded(url.search.slice(1)));

    const route = this.routes.find((r) => r.method === method && r.re.test(rel));
    if (!route) {
      const known = this.routes.some((r) => r.re.test(rel));
      send(501, known ? `Method '${method} ${rel}' not implemented` : "no such uri", {
        data: null,
        message: `Method '${method} ${rel}' not implemented\n`,
      });
      return;
    }
    log.route = route.template;
    const m = route.re.exec(rel)!;
    route.keys.forEach((k, i) => {
      params[k] = decodeURIComponent(m[i + 1]!);
    });

    const schemaParams =
      this.schema?.endpoint(method, route.template)?.parameters ?? route.localSchema;
    if (schemaParams) {
      if (this.schema) params = this.schema.normalize(schemaParams.properties, params);
      const errors = this.schema
        ? this.schema.validate({ path: route.template, method, parameters: schemaParams }, params)
        : {};
      if (Object.keys(errors).length > 0) {
        this.violations.push({ method, path: rel, errors });
        send(400, "Parameter verification failed.", {
          data: null,
          message: "Parameter verification failed.\n",
          errors,
        });
        return;
      }
    }
    log.params = params;

    try {
      const data = route.handler({ user: token.id, token, params });
      send(200, "OK", { data: data === undefined ? null : data });
    } catch (err) {
      if (err instanceof SimError) {
        const msg = err.message.endsWith("\n") ? err.message : `${err.message}\n`;
        send(err.status, err.message, {
          data: null,
          message: msg,
          ...(err.errors ? { errors: err.errors } : {}),
        });
      } else throw err;
    }
  }

  private verifyToken(value: string): SimToken | null {
    const m = /^(.*)=(.*)$/.exec(value);
    if (!m) return null;
    const t = this.tokens.find((x) => x.id === m[1]);
    if (!t) return null;
    if (t.userEnabled === false) return null;
    if (t.expire && t.expire < Date.now() / 1000) return null;
    return t.secret === m[2] ? t : null;
  }

  // ---- permissions ------------------------------------------------------------------------

  private can(token: SimToken, path: string, priv: string): boolean {
    if (token.privileges === "all") return true;
    const parts = path.split("/").filter(Boolean);
    for (let i = parts.length; i >= 0; i--) {
      const p = `/${parts.slice(0, i).join("/")}`;
      if (token.privileges[p]?.includes(priv)) return true;
    }
    return false;
  }

  /** RPCEnvironment::check (all privileges) / check_any. */
  private check(ctx: Ctx, path: string, privs: string[], any = false): void {
    if (any) {
      if (!privs.some((p) => this.can(ctx.token, path, p)))
        throw new SimError(403, `Permission check failed (${path}, ${privs.join("|")})`);
      return;
    }
    for (const p of privs)
      if (!this.can(ctx.token, path, p))
        throw new SimError(403, `Permission check failed (${path}, ${p})`);
  }

  private node(name: string): SimNode {
    const n = this.nodes.get(name);
    if (!n)
      throw new SimError(
        500,
        `hostname lookup '${name}' failed - failed to get address info for: ${name}: Name or service not known`,
      );
    // pveproxy proxies /nodes/<other>/... to that node; an offline node surfaces as an
    // AnyEvent::HTTP pseudo status.
    if (!n.online) throw new SimError(595, "Connection timed out");
    return n;
  }

  // ---- routes -----------------------------------------------------------------------------

  private route(
    method: string,
    template: string,
    handler: (ctx: Ctx) => unknown,
    localSchema?: Endpoint["parameters"],
  ): void {
    const keys: string[] = [];
    const re = new RegExp(
      `^${template.replace(/\{([^}]+)\}/g, (_, k: string) => {
        keys.push(k);
        return "([^/]+)";
      })}$`,
    );
    this.routes.push({
      method,
      template,
      re,
      keys,
      handler,
      ...(localSchema ? { localSchema } : {}),
    });
  }

  private defineRoutes(): void {
    // Outside the extract; parameters as pve-manager PVE/API2/Cluster.pm 'resources' declares them.
    this.route("GET", "/cluster/resources", (ctx) => this.resources(ctx), {
      additionalProperties: 0,
      properties: { type: { type: "string", optional: 1, enum: ["vm", "storage", "node", "sdn"] } },
    });
    this.route("GET", "/nodes/{node}/hardware/pci", (ctx) => this.hardwarePci(ctx));
    this.route("GET", "/nodes/{node}/qemu/{vmid}/config", (ctx) => this.getConfig(ctx));
    this.route("POST", "/nodes/{node}/qemu/{vmid}/config", (ctx) => this.updateConfig(ctx, false));
    this.route("PUT", "/nodes/{node}/qemu/{vmid}/config", (ctx) => this.updateConfig(ctx, true));
    this.route("POST", "/nodes/{node}/qemu", (ctx) => this.createVm(ctx));
    this.route("GET", "/nodes/{node}/tasks/{upid}/status", (ctx) => this.taskStatus(ctx));
    // Outside the extract; parameters as pve-container API2/LXC/Config.pm 'vm_config' declares them.
    this.route("GET", "/nodes/{node}/lxc/{vmid}/config", (ctx) => this.getCtConfig(ctx), {
      additionalProperties: 0,
      properties: {
        node: { type: "string" },
        vmid: { type: "integer", minimum: 100, maximum: 999999999 },
        current: { type: "boolean", optional: 1 },
        snapshot: { type: "string", optional: 1 },
      },
    });
    this.route("GET", "/cluster/mapping/pci", (ctx) => this.listMappings(ctx));
    this.route("POST", "/cluster/mapping/pci", (ctx) => this.createMapping(ctx));
    this.route("GET", "/cluster/mapping/pci/{id}", (ctx) => this.getMapping(ctx));
    this.route("PUT", "/cluster/mapping/pci/{id}", (ctx) => this.updateMapping(ctx));
    this.route("DELETE", "/cluster/mapping/pci/{id}", (ctx) => this.deleteMapping(ctx));
    // Outside the extract; parameters as pve-storage PVE/API2/Storage/Content.pm 'index' declares them.
    this.route("GET", "/nodes/{node}/storage/{storage}/content", (ctx) => this.content(ctx), {
      additionalProperties: 0,
      properties: {
        node: { type: "string" },
        storage: { type: "string" },
        content: { type: "string", optional: 1 },
        vmid: { type: "integer", optional: 1 },
      },
    });
  }

  /** Content.pm index: Datastore.Audit or Datastore.AllocateSpace on the storage; volids of one content type. */
  private content(ctx: Ctx): unknown[] {
    const storage = String(ctx.params.storage);
    this.check(ctx, `/storage/${storage}`, ["Datastore.Audit", "Datastore.AllocateSpace"], true);
    const node = this.node(String(ctx.params.node));
    if (!(node.storages ?? []).includes(storage))
      throw new SimError(500, `storage '${storage}' does not exist`);
    if (ctx.params.content !== undefined && ctx.params.content !== "snippets") return [];
    return (node.snippets?.[storage] ?? []).map((name) => ({
      volid: `${storage}:snippets/${name}`,
      content: "snippets",
      format: "snippet",
      size: 512,
    }));
  }

  private resources(ctx: Ctx): unknown[] {
    const type = ctx.params.type as string | undefined;
    const out: unknown[] = [];
    if (!type || type === "vm") {
      for (const [vmid, vm] of [...this.vms.entries()].sort((a, b) => a[0] - b[0])) {
        if (!this.can(ctx.token, `/vms/${vmid}`, "VM.Audit")) continue;
        const conf = parseConf(vm.text);
        out.push({
          id: `qemu/${vmid}`,
          type: "qemu",
          node: vm.node,
          vmid,
          name: conf.main.name ?? `VM ${vmid}`,
          status: vm.running ? "running" : "stopped",
          template: conf.main.template === "1" ? 1 : 0,
          maxmem: Number(conf.main.memory ?? 2048) * 1024 * 1024,
          maxcpu: Number(conf.main.cores ?? 1),
        });
      }
    }
    if (!type || type === "node") {
      for (const n of this.nodes.values())
        out.push({
          id: `node/${n.name}`,
          type: "node",
          node: n.name,
          status: n.online ? "online" : "offline",
          level: "",
        });
    }
    return out;
  }

  private hardwarePci(ctx: Ctx): unknown[] {
    this.check(ctx, "/", ["Sys.Audit", "Sys.Modify"], true);
    const node = this.node(String(ctx.params.node));
    // pve-manager API2/Hardware/PCI.pm pci_scan: `// default`, then split_list.
    const blacklist = (ctx.params["pci-class-blacklist"] as string | undefined) ?? "05;06;0b";
    const classes = splitList(blacklist);
    const verbose =
      ctx.params.verbose === undefined
        ? true
        : String(ctx.params.verbose) === "1" || ctx.params.verbose === true;
    return node.pci
      .filter(
        (d) => classes.length === 0 || !new RegExp(`^0x(?:${classes.join("|")})`).test(d.class),
      )
      .sort((a, b) => a.id.localeCompare(b.id))
      .map((d) => {
        const base: Record<string, unknown> = {
          id: d.id,
          class: d.class,
          vendor: d.vendor,
          device: d.device,
          iommugroup: d.iommugroup,
        };
        if (d.mdev) base.mdev = 1;
        if (!verbose) return base;
        for (const k of [
          "vendor_name",
          "device_name",
          "subsystem_vendor",
          "subsystem_device",
        ] as const)
          if (d[k] !== undefined) base[k] = d[k];
        return base;
      });
  }

  private vmOn(node: string, vmid: number): { node: string; running: boolean; text: string } {
    const vm = this.vms.get(vmid);
    if (!vm || vm.node !== node)
      throw new SimError(
        500,
        `Configuration file 'nodes/${node}/qemu-server/${vmid}.conf' does not exist`,
      );
    return vm;
  }

  private getConfig(ctx: Ctx): Record<string, unknown> {
    const vmid = Number(ctx.params.vmid);
    this.check(ctx, `/vms/${vmid}`, ["VM.Audit"]);
    const node = this.node(String(ctx.params.node));
    const vm = this.vmOn(node.name, vmid);
    const conf = parseConf(vm.text);
    const current = String(ctx.params.current ?? "0") === "1" || ctx.params.current === true;
    const merged: Record<string, string> = { ...conf.main };
    if (conf.description.length) merged.description = conf.description.join("\n");
    if (!current) {
      Object.assign(merged, conf.pending);
      for (const d of conf.pendingDelete) delete merged[d.key];
    }
    // Perl hands numbers to JSON as numbers where the config schema types them so.
    const returns =
      this.schema?.endpoint("GET", "/nodes/{node}/qemu/{vmid}/config")?.returns?.properties ?? {};
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(merged)) {
      const t = (returns[k] ?? returns[k.replace(/\d+$/, "[n]")])?.type;
      out[k] =
        (t === "integer" || t === "number" || t === "boolean") && /^-?\d+(\.\d+)?$/.test(v)
          ? Number(v)
          : v;
    }
    out.digest = sha1(vm.text);
    return out;
  }

  /**
   * vm_config: VM.Audit on /vms/VMID; load_current_config applies [pve:pending] (its "delete"
   * list too) unless `current`; raw lxc.* keys come as [[key, value], ...]; the digest is the
   * SHA-1 of the whole file.
   */
  private getCtConfig(ctx: Ctx): Record<string, unknown> {
    const vmid = Number(ctx.params.vmid);
    this.check(ctx, `/vms/${vmid}`, ["VM.Audit"]);
    const node = this.node(String(ctx.params.node));
    const ct = this.cts.get(vmid);
    if (!ct || ct.node !== node.name)
      throw new SimError(
        500,
        `Configuration file 'nodes/${node.name}/lxc/${vmid}.conf' does not exist`,
      );
    if (ctx.params.snapshot !== undefined)
      throw new SimError(500, "snapshot reads are not simulated");
    const conf = parseCtConf(ct.raw);
    const current = String(ctx.params.current ?? "0") === "1" || ctx.params.current === true;
    const out: Record<string, unknown> = { ...conf.main };
    if (!current) {
      const { delete: deleted, ...pending } = conf.pending;
      for (const k of splitList(deleted ?? "")) delete out[k];
      Object.assign(out, pending);
    }
    if (conf.description.length) out.description = conf.description.join("\n");
    if (conf.lxc.length) out.lxc = conf.lxc;
    // Integer-typed options come out of Perl as numbers.
    for (const k of ["memory", "swap", "cores", "cpuunits", "unprivileged", "onboot", "tty"])
      if (typeof out[k] === "string" && /^\d+$/.test(out[k])) out[k] = Number(out[k]);
    out.digest = sha1(ct.raw);
    return out;
  }

  /** $check_vm_modify_config_perm: drives, cdrom, unused/serial/usb/hostpci/virtiofs and tags are checked elsewhere. */
  private checkOptionPerms(ctx: Ctx, vmid: number, keys: string[]): void {
    for (const opt of keys) {
      if (
        DRIVE_RE.test(opt) ||
        opt === "cdrom" ||
        /^(?:unused|serial|usb|hostpci|virtiofs)\d+$/.test(opt) ||
        opt === "tags"
      )
        continue;
      const path = `/vms/${vmid}`;
      if (CPU_OPTS.has(opt) || /^numa\d+$/.test(opt)) this.check(ctx, path, ["VM.Config.CPU"]);
      else if (MEMORY_OPTS.has(opt)) this.check(ctx, path, ["VM.Config.Memory"]);
      else if (HWTYPE_OPTS.has(opt)) this.check(ctx, path, ["VM.Config.HWType"]);
      else if (GENERAL_OPTS.has(opt)) {
        this.check(ctx, path, ["VM.Config.Options"]);
        if (opt === "startup") this.check(ctx, "/", ["Sys.Modify"]);
      } else if (opt === "freeze") this.check(ctx, path, ["VM.PowerMgmt"]);
      else if (DISK_OPTS.has(opt)) this.check(ctx, path, ["VM.Config.Disk"]);
      else if (/^net\d+$/.test(opt)) this.check(ctx, path, ["VM.Config.Network"]);
      else if (CLOUDINIT_OPTS.has(opt) || /^ipconfig\d+$/.test(opt))
        this.check(ctx, path, ["VM.Config.Cloudinit", "VM.Config.Network"], true);
      else throw new SimError(500, `only root can set '${opt}' config`);
    }
  }

  /** check_hostpci_perm: a token is never root@pam. */
  private checkHostpciPerm(ctx: Ctx, vmid: number, opt: string, value: string): void {
    const dev = parsePropString(value, "host");
    if (dev.host !== undefined)
      throw new SimError(500, `only root can set '${opt}' config for non-mapped devices`);
    if (dev.mapping === undefined)
      throw new SimError(500, "either 'host' or 'mapping' must be set.");
    this.check(ctx, `/mapping/pci/${dev.mapping}`, ["Mapping.Use"]);
    this.check(ctx, `/vms/${vmid}`, ["VM.Config.HWType"]);
    if (dev.romfile !== undefined)
      throw new SimError(400, "Parameter verification failed.", {
        [opt]: "only root@pam can set 'romfile' option",
      });
  }

  private checkUsbPerm(ctx: Ctx, vmid: number, opt: string, value: string): void {
    const dev = parsePropString(value, "host");
    if (dev.host !== undefined && !/^spice$/i.test(dev.host))
      throw new SimError(500, `only root can set '${opt}' config for real devices`);
    if (dev.mapping !== undefined) this.check(ctx, `/mapping/usb/${dev.mapping}`, ["Mapping.Use"]);
    this.check(ctx, `/vms/${vmid}`, ["VM.Config.HWType"]);
  }

  /** $check_storage_access for new disks ("STORAGE:SIZE"). */
  private checkDrivePerms(
    ctx: Ctx,
    vmid: number,
    node: SimNode,
    params: Record<string, unknown>,
  ): void {
    for (const [k, v] of Object.entries(params)) {
      if (!DRIVE_RE.test(k)) continue;
      const file = driveFile(String(v));
      const alloc = /^([a-z][a-z0-9\-_.]*[a-z0-9]):(\d+(\.\d+)?)$/i.exec(file);
      if (/media=cdrom/.test(String(v))) this.check(ctx, `/vms/${vmid}`, ["VM.Config.CDROM"]);
      else this.check(ctx, `/vms/${vmid}`, ["VM.Config.Disk"]);
      if (alloc) {
        if (!node.storages!.includes(alloc[1]!))
          throw new SimError(500, `storage '${alloc[1]}' does not exist`);
        this.check(ctx, `/storage/${alloc[1]}`, ["Datastore.AllocateSpace"]);
      }
    }
  }

  private updateConfig(ctx: Ctx, sync: boolean): string | null {
    const vmid = Number(ctx.params.vmid);
    this.check(ctx, `/vms/${vmid}`, CONFIG_PERMS, true);
    const node = this.node(String(ctx.params.node));
    const params = { ...ctx.params };
    for (const k of ["node", "vmid"]) delete params[k];
    const digest = take(params, "digest") as string | undefined;
    take(params, "background_delay");
    const skiplock = take(params, "skiplock");
    if (skiplock !== undefined && String(skiplock) === "1")
      throw new SimError(400, "Parameter verification failed.", {
        skiplock: "Only root may use this option.",
      });
    const deleteStr = take(params, "delete") as string | undefined;
    const revertStr = take(params, "revert") as string | undefined;
    const force = take(params, "force");
    if (!deleteStr && !revertStr && Object.keys(params).length === 0)
      throw new SimError(500, "no options specified");
    const deletes: string[] = [];
    for (const opt of splitList(deleteStr ?? "")) {
      if (params[opt] !== undefined)
        throw new SimError(400, "Parameter verification failed.", {
          delete: `you can't use '-${opt}' and -delete ${opt}' at the same time`,
        });
      if (!this.optionExists(opt))
        throw new SimError(400, "Parameter verification failed.", {
          delete: `unknown option '${opt}'`,
        });
      deletes.push(opt);
    }
    this.checkOptionPerms(ctx, vmid, deletes);
    this.checkOptionPerms(ctx, vmid, Object.keys(params));
    this.checkDrivePerms(ctx, vmid, node, params);

    const loadAndCheck = () => {
      const vm = this.vmOn(node.name, vmid);
      if (digest && digest !== sha1(vm.text))
        throw new SimError(500, "checksum mismatch (file change by other user?)");
      return vm;
    };
    loadAndCheck(); // early checks before forking

    const work = () => {
      const vm = loadAndCheck();
      const conf = parseConf(vm.text);
      for (const opt of deletes) {
        const val = conf.main[opt] ?? conf.pending[opt];
        if (/^hostpci\d+$/.test(opt) && val !== undefined)
          this.checkHostpciPerm(ctx, vmid, opt, val);
        if (/^usb\d+$/.test(opt) && val !== undefined) this.checkUsbPerm(ctx, vmid, opt, val);
        const wasPendingOnly = conf.pending[opt] !== undefined && conf.main[opt] === undefined;
        delete conf.pending[opt];
        if (!wasPendingOnly && conf.main[opt] !== undefined) {
          conf.pendingDelete = conf.pendingDelete.filter((d) => d.key !== opt);
          conf.pendingDelete.push({ key: opt, force: String(force ?? "0") === "1" });
        }
      }
      for (const [opt, raw] of Object.entries(params)) {
        const value = String(raw);
        if (/[\n\r]/.test(value))
          throw new SimError(500, `detected invalid newline inside property '${opt}'`);
        if (conf.pending[opt] !== undefined && conf.pending[opt] === value) continue;
        if (/^hostpci\d+$/.test(opt)) {
          const old = conf.main[opt] ?? conf.pending[opt];
          if (old !== undefined) this.checkHostpciPerm(ctx, vmid, opt, old);
          this.checkHostpciPerm(ctx, vmid, opt, value);
        }
        if (/^usb\d+$/.test(opt)) this.checkUsbPerm(ctx, vmid, opt, value);
        conf.pending[opt] = DRIVE_RE.test(opt)
          ? this.allocate(node, vmid, opt, value, conf)
          : value;
        conf.pendingDelete = conf.pendingDelete.filter((d) => d.key !== opt);
      }
      // cleanup_pending: pending values equal to the current ones are no change.
      for (const [k, v] of Object.entries(conf.pending))
        if (conf.main[k] === v) delete conf.pending[k];
      applyPending(conf, vm.running);
      vm.text = printConf(conf);
    };
    if (sync) {
      work();
      return null;
    }
    return this.newTask(node.name, "qmconfig", String(vmid), ctx.user, work);
  }

  private optionExists(opt: string): boolean {
    const props = this.schema?.endpoint("POST", "/nodes/{node}/qemu/{vmid}/config")?.parameters
      .properties;
    if (!props) return /^[a-z][a-z0-9_-]*$/.test(opt);
    return (
      this.schema!.propFor(props, opt) !== undefined &&
      ![
        "delete",
        "revert",
        "digest",
        "node",
        "vmid",
        "force",
        "skiplock",
        "background_delay",
      ].includes(opt)
    );
  }

  /** Storage allocation for "STORAGE:SIZE" drive values: "local-lvm:vm-100-disk-0,...,size=4M". */
  private allocate(
    node: SimNode,
    vmid: number,
    opt: string,
    value: string,
    conf: ConfFile,
  ): string {
    const file = driveFile(value);
    const m = /^([a-z][a-z0-9\-_.]*[a-z0-9]):(\d+(\.\d+)?)$/i.exec(file);
    if (!m) return value;
    const storage = m[1]!;
    if (!node.storages!.includes(storage)) throw new Error(`storage '${storage}' does not exist`);
    const used = new Set(
      [...Object.values(conf.main), ...Object.values(conf.pending)].flatMap((v) => {
        const x = new RegExp(`vm-${vmid}-disk-(\\d+)`).exec(v);
        return x ? [Number(x[1])] : [];
      }),
    );
    let n = 0;
    while (used.has(n)) n++;
    const rest = value
      .split(",")
      .slice(1)
      .filter((p) => !p.startsWith("size="));
    const size =
      opt === "efidisk0"
        ? /efitype=4m/.test(value)
          ? "4M"
          : "528K"
        : opt === "tpmstate0"
          ? "4M"
          : `${m[2]}G`;
    return [`${storage}:vm-${vmid}-disk-${n}`, ...rest, `size=${size}`].join(",");
  }

  private createVm(ctx: Ctx): string {
    const vmid = Number(ctx.params.vmid);
    const node = this.node(String(ctx.params.node));
    const params = { ...ctx.params };
    if (!this.can(ctx.token, `/vms/${vmid}`, "VM.Allocate"))
      throw new SimError(403, "Permission check failed");
    const keys = Object.keys(params).filter((k) => !CREATE_ONLY.has(k));
    const conf: Record<string, string> = {};
    for (const k of keys) conf[k] = String(params[k]);
    this.checkDrivePerms(ctx, vmid, node, conf);
    this.checkOptionPerms(ctx, vmid, keys);
    for (const k of keys) {
      if (/^hostpci\d+$/.test(k)) this.checkHostpciPerm(ctx, vmid, k, conf[k]!);
      if (/^usb\d+$/.test(k)) this.checkUsbPerm(ctx, vmid, k, conf[k]!);
    }
    const existing = this.vms.get(vmid);
    if (existing)
      throw new SimError(
        500,
        `unable to create VM ${vmid} - VM ${vmid} already exists on node '${existing.node}'`,
      );
    // create_and_lock_config: the file exists (locked) while the task runs.
    const placeholder = { node: node.name, running: false, text: "lock: create\n" };
    this.vms.set(vmid, placeholder);
    return this.newTask(node.name, "qmcreate", String(vmid), ctx.user, () => {
      const file: ConfFile = {
        description: [],
        main: {},
        pending: {},
        pendingDelete: [],
        extra: "",
      };
      for (const [k, v] of Object.entries(conf)) {
        if (k === "description") file.description = v.split("\n");
        else file.main[k] = DRIVE_RE.test(k) ? this.allocate(node, vmid, k, v, file) : v;
      }
      file.main.smbios1 ??= `uuid=${randomUUID()}`;
      if (file.main.vmgenid === undefined || file.main.vmgenid === "1")
        file.main.vmgenid = randomUUID();
      file.main.meta = `creation-qemu=9.2.0,ctime=${Math.floor(Date.now() / 1000)}`;
      placeholder.text = printConf(file);
    });
  }

  private newTask(node: string, type: string, id: string, user: string, work: () => void): string {
    const pid = this.pidCounter++;
    const pstart = 0x00abcdef + pid;
    const starttime = Math.floor(Date.now() / 1000);
    const hex = (n: number) => n.toString(16).toUpperCase().padStart(8, "0");
    const upid = `UPID:${node}:${hex(pid)}:${hex(pstart)}:${hex(starttime)}:${type}:${id}:${user}:`;
    const failIdx = this.taskFailures.findIndex((f) => f.type === undefined || f.type === type);
    let run = work;
    if (failIdx >= 0) {
      const failure = this.taskFailures.splice(failIdx, 1)[0]!;
      run = () => {
        throw new Error(failure.message);
      };
    }
    this.tasks.set(upid, {
      upid,
      node,
      type,
      id,
      user,
      pid,
      pstart,
      starttime,
      pollsLeft: this.taskPolls,
      status: "running",
      work: run,
    });
    return upid;
  }

  private taskStatus(ctx: Ctx): Record<string, unknown> {
    const node = this.node(String(ctx.params.node));
    const upid = String(ctx.params.upid);
    const task = this.tasks.get(upid);
    if (!/^UPID:/.test(upid))
      throw new SimError(400, "Parameter verification failed.", {
        upid: "unable to parse worker upid",
      });
    if (!task || task.node !== node.name)
      throw new SimError(400, "Parameter verification failed.", { upid: "no such task" });
    if (task.user !== ctx.user) this.check(ctx, `/nodes/${node.name}`, ["Sys.Audit"]);
    if (task.status === "running") {
      if (task.pollsLeft <= 0) {
        try {
          task.work();
          task.exitstatus = "OK";
        } catch (err) {
          // The worker's die message becomes the last log line "TASK ERROR: <msg>" and the
          // exit status is <msg> (pve-common UPID.pm read_status).
          task.exitstatus = (err as Error).message.trim();
          if (task.type === "qmcreate") this.vms.delete(Number(task.id));
        }
        task.status = "stopped";
      } else task.pollsLeft--;
    }
    return {
      upid,
      node: task.node,
      pid: task.pid,
      pstart: task.pstart,
      starttime: task.starttime,
      type: task.type,
      id: task.id,
      user: task.user,
      status: task.status,
      ...(task.exitstatus !== undefined ? { exitstatus: task.exitstatus } : {}),
    };
  }

  // ---- PCI mappings -----------------------------------------------------------------------

  private listMappings(ctx: Ctx): unknown[] {
    const checkNode = ctx.params["check-node"] as string | undefined;
    const node = checkNode !== undefined ? this.node(checkNode) : undefined;
    const digest = sha1(this.pciCfg);
    const out: unknown[] = [];
    for (const m of parsePciCfg(this.pciCfg)) {
      if (
        !["Mapping.Modify", "Mapping.Use", "Mapping.Audit"].some((p) =>
          this.can(ctx.token, `/mapping/pci/${m.id}`, p),
        )
      )
        continue;
      const entry: Record<string, unknown> = {
        id: m.id,
        type: "pci",
        ...mappingJson(m.props),
        digest,
      };
      if (node) {
        const checks: Array<{ severity: string; message: string }> = [];
        const maps = (asArray(m.props.map) ?? [])
          .map((s) => parsePropString(s))
          .filter((e) => e.node === node.name);
        if (maps.length === 0)
          checks.push({ severity: "warning", message: `No mapping for node ${node.name}.` });
        for (const map of maps) {
          try {
            assertValid(m.id, map, node.pci, m.props.mdev === "1");
          } catch (err) {
            checks.push({
              severity: "error",
              message: `Invalid configuration: ${(err as Error).message}`,
            });
          }
        }
        entry.checks = checks;
      }
      out.push(entry);
    }
    return out;
  }

  private getMapping(ctx: Ctx): unknown {
    const id = String(ctx.params.id);
    if (
      !["Mapping.Use", "Mapping.Modify", "Mapping.Audit"].some((p) =>
        this.can(ctx.token, `/mapping/pci/${id}`, p),
      )
    )
      throw new SimError(403, "Permission check failed");
    const m = parsePciCfg(this.pciCfg).find((x) => x.id === id);
    if (!m) throw new SimError(500, `mapping '${id}' not found`);
    return { type: "pci", ...mappingJson(m.props), digest: sha1(this.pciCfg) };
  }

  private mappingInput(params: Record<string, unknown>): Record<string, string | string[]> {
    const out: Record<string, string | string[]> = {};
    for (const k of ["description", "mdev", "live-migration-capable"]) {
      if (params[k] !== undefined)
        out[k] = typeof params[k] === "boolean" ? (params[k] ? "1" : "0") : String(params[k]);
    }
    const map = asArray(params.map as string | string[] | undefined);
    if (map !== undefined) out.map = map.map(String);
    return out;
  }

  private createMapping(ctx: Ctx): null {
    this.check(ctx, "/mapping/pci", ["Mapping.Modify"]);
    const id = String(ctx.params.id);
    const all = parsePciCfg(this.pciCfg);
    if (all.some((m) => m.id === id))
      throw new SimError(500, `create hardware mapping failed: pci ID '${id}' already defined`);
    all.push({ id, props: this.mappingInput(ctx.params) });
    this.pciCfg = printPciCfg(all);
    return null;
  }

  private updateMapping(ctx: Ctx): null {
    const id = String(ctx.params.id);
    this.check(ctx, `/mapping/pci/${id}`, ["Mapping.Modify"]);
    const digest = ctx.params.digest as string | undefined;
    // PVE::Tools::assert_if_modified, inside lock_pci_config's "update hardware mapping failed: ".
    if (digest && digest !== sha1(this.pciCfg))
      throw new SimError(
        500,
        "update hardware mapping failed: detected modified configuration - file changed by other user? Try again.",
      );
    const all = parsePciCfg(this.pciCfg);
    const m = all.find((x) => x.id === id);
    if (!m)
      throw new SimError(500, `update hardware mapping failed: pci ID '${id}' does not exist`);
    for (const k of splitList(String(ctx.params.delete ?? ""))) delete m.props[k];
    Object.assign(m.props, this.mappingInput(ctx.params));
    this.pciCfg = printPciCfg(all);
    return null;
  }

  private deleteMapping(ctx: Ctx): null {
    this.check(ctx, "/mapping/pci", ["Mapping.Modify"]);
    const id = String(ctx.params.id);
    this.pciCfg = printPciCfg(parsePciCfg(this.pciCfg).filter((m) => m.id !== id));
    return null;
  }
}

// ---- helpers (independent transcriptions of Proxmox's behaviour) ----------------------------

/** pve-http-server decode_urlencoded: pairs split on & and ;, key/value on = (first two pieces). */
export function decodeUrlencoded(data: string): Record<string, unknown> {
  const res: Record<string, unknown> = {};
  if (!data) return res;
  const unescape = (s: string) =>
    Buffer.from(
      s
        .replace(/\+/g, " ")
        .replace(/%([0-9a-fA-F]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16))),
      "latin1",
    ).toString("utf8");
  for (const kv of data.split(/[&;]/)) {
    // Perl's split drops trailing empty fields: "k=" gives no value (undef).
    const pieces = kv.split("=");
    while (pieces.length > 0 && pieces[pieces.length - 1] === "") pieces.pop();
    if (pieces.length === 0) continue;
    const k = unescape(pieces[0]!);
    if (pieces.length < 2) {
      res[k] = undefined;
      continue;
    }
    const v = unescape(pieces[1]!);
    const old = res[k];
    res[k] = old === undefined ? v : Array.isArray(old) ? [...old, v] : [old, v];
  }
  return res;
}

function take(obj: Record<string, unknown>, key: string): unknown {
  const v = obj[key];
  delete obj[key];
  return v;
}

function asArray(v: string | string[] | undefined): string[] | undefined {
  if (v === undefined) return undefined;
  return Array.isArray(v) ? v : [v];
}

function parsePropString(value: string, defaultKey?: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of value.split(",")) {
    if (part.trim() === "") continue;
    const eq = part.indexOf("=");
    if (eq < 0) {
      if (defaultKey) out[defaultKey] = part;
    } else out[part.slice(0, eq)] = part.slice(eq + 1);
  }
  return out;
}

function driveFile(value: string): string {
  const first = value.split(",")[0]!;
  return first.startsWith("file=")
    ? first.slice(5)
    : first.includes("=")
      ? (parsePropString(value).file ?? "")
      : first;
}

function applyPending(conf: ConfFile, running: boolean): void {
  for (const [k, v] of Object.entries(conf.pending)) {
    if (running && !FAST_PLUG.has(k)) continue;
    if (k === "description") conf.description = v.split("\n");
    else conf.main[k] = v;
    delete conf.pending[k];
  }
  conf.pendingDelete = conf.pendingDelete.filter((d) => {
    if (running && !FAST_PLUG.has(d.key)) return true;
    delete conf.main[d.key];
    return false;
  });
}

/** pve-guest-common Mapping/PCI.pm assert_valid, against the node's devices. */
function assertValid(
  name: string,
  map: Record<string, string>,
  pci: SimPci[],
  mdev: boolean,
): void {
  const paths = (map.path ?? "").split(";");
  paths.forEach((p, idx) => {
    const path = /\.[a-f0-9]/i.test(p) ? p : `${p}.0`;
    const dev = pci.find((d) => d.id === path);
    if (!dev) throw new Error(`pci device '${path}' not found`);
    const strip = (s: string) => s.replace(/0x/g, "");
    const expected: Record<string, string | undefined> = {
      id: `${strip(dev.vendor)}:${strip(dev.device)}`,
      iommugroup: dev.iommugroup >= 0 ? String(dev.iommugroup) : undefined,
      "subsystem-id":
        dev.subsystem_vendor !== undefined && dev.subsystem_device !== undefined
          ? `${strip(dev.subsystem_vendor)}:${strip(dev.subsystem_device)}`
          : undefined,
      mdev: dev.mdev ? "1" : "0",
    };
    const configured: Record<string, string | undefined> = {
      id: map.id,
      iommugroup: map.iommugroup,
      "subsystem-id": map["subsystem-id"],
      mdev: mdev ? "1" : "0",
    };
    for (const prop of Object.keys(expected).sort()) {
      if (prop === "iommugroup" && idx > 0) continue;
      const e = expected[prop];
      const c = configured[prop];
      if (e === undefined && c === undefined) continue;
      if (e !== undefined && c === undefined)
        throw new Error(`missing expected property '${prop}' for device '${path}'`);
      if (e === undefined && c !== undefined)
        throw new Error(`unexpected property '${prop}' configured for device '${path}'`);
      if (strip(e!) !== strip(c!))
        throw new Error(`'${prop}' does not match for '${name}' (${strip(e!)} != ${strip(c!)})`);
    }
  });
}

function mappingProps(m: SimMapping): Record<string, string | string[]> {
  const p: Record<string, string | string[]> = { map: m.map };
  if (m.description !== undefined) p.description = m.description;
  if (m.mdev !== undefined) p.mdev = m.mdev ? "1" : "0";
  return p;
}

function mappingJson(props: Record<string, string | string[]>): Record<string, unknown> {
  const out: Record<string, unknown> = { map: asArray(props.map) ?? [] };
  if (props.description !== undefined) out.description = props.description;
  if (props.mdev !== undefined) out.mdev = Number(props.mdev);
  if (props["live-migration-capable"] !== undefined)
    out["live-migration-capable"] = Number(props["live-migration-capable"]);
  return out;
}

/** SectionConfig text as PVE::Mapping::PCI writes it: "<id>" header, tab-indented "key value". */
function printPciCfg(
  sections: Array<{ id: string; props: Record<string, string | string[]> }>,
): string {
  return sections
    .map((s) => {
      let out = `${s.id}\n`;
      for (const k of Object.keys(s.props).sort())
        for (const v of asArray(s.props[k]) ?? []) out += `\t${k} ${v}\n`;
      return out;
    })
    .join("\n");
}

function parsePciCfg(
  text: string,
): Array<{ id: string; props: Record<string, string | string[]> }> {
  const out: Array<{ id: string; props: Record<string, string | string[]> }> = [];
  let cur: { id: string; props: Record<string, string | string[]> } | null = null;
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue;
    const prop = /^\t(\S+)\s+(.*)$/.exec(line);
    if (prop && cur) {
      const [, k, v] = prop;
      if (k === "map") cur.props.map = [...(asArray(cur.props.map) ?? []), v!];
      else cur.props[k!] = v!;
    } else {
      cur = { id: line.trim(), props: {} };
      out.push(cur);
    }
  }
  return out;
}

/** qemu-server parse_vm_config, for the sections the simulator cares about. */
function parseConf(text: string): ConfFile {
  const conf: ConfFile = { description: [], main: {}, pending: {}, pendingDelete: [], extra: "" };
  let section: "main" | "pending" | "extra" = "main";
  const extra: string[] = [];
  for (const line of text.split("\n")) {
    if (section === "extra") {
      extra.push(line);
      continue;
    }
    const sec = /^\[([^\]]+)\]\s*$/.exec(line);
    if (sec) {
      if (sec[1] === "PENDING") section = "pending";
      else {
        section = "extra";
        extra.push(line);
      }
      continue;
    }
    if (line.startsWith("#")) {
      if (section === "main") conf.description.push(decodeURIComponent(line.slice(1)));
      continue;
    }
    const m = /^([a-z][a-z_-]*\d*):\s*(.+?)\s*$/.exec(line);
    if (!m) continue;
    if (section === "main") conf.main[m[1]!] = m[2]!;
    else if (m[1] === "delete")
      conf.pendingDelete = m[2]!
        .split(/[,;\s]+/)
        .filter(Boolean)
        .map((k) => ({ key: k.replace(/^!/, ""), force: k.startsWith("!") }));
    else conf.pending[m[1]!] = m[2]!;
  }
  conf.extra = extra.join("\n").replace(/\n+$/, "");
  return conf;
}

/** qemu-server write_vm_config: description as "#" lines, keys sorted, [PENDING] after main. */
function printConf(conf: ConfFile): string {
  let raw = conf.description
    .map((l) => `#${encodeURIComponent(l).replace(/%20/g, " ")}\n`)
    .join("");
  for (const k of Object.keys(conf.main).sort()) raw += `${k}: ${conf.main[k]}\n`;
  if (Object.keys(conf.pending).length > 0 || conf.pendingDelete.length > 0) {
    raw += "\n[PENDING]\n";
    const pending: Record<string, string> = { ...conf.pending };
    if (conf.pendingDelete.length > 0)
      pending.delete = conf.pendingDelete.map((d) => `${d.force ? "!" : ""}${d.key}`).join(",");
    for (const k of Object.keys(pending).sort()) raw += `${k}: ${pending[k]}\n`;
  }
  if (conf.extra) raw += `\n${conf.extra}\n`;
  return raw;
}

export type { SchemaProp };

/** An LXC config as pve-container's parse_pct_config reads it (independent of src/formats). */
function parseCtConf(text: string): {
  main: Record<string, string>;
  pending: Record<string, string>;
  lxc: Array<[string, string]>;
  description: string[];
} {
  const out = { main: {}, pending: {}, lxc: [], description: [] } as ReturnType<typeof parseCtConf>;
  let section: Record<string, string> | null = out.main;
  for (const line of text.split("\n")) {
    const sec = /^\[([^\]]+)\]\s*$/.exec(line);
    if (sec) {
      section = sec[1] === "pve:pending" ? out.pending : null;
      continue;
    }
    if (section === null || line.trim() === "") continue;
    if (line.startsWith("#")) {
      if (section === out.main) out.description.push(decodeURIComponent(line.slice(1)));
      continue;
    }
    const raw = /^(lxc\.[a-z0-9_.-]+)(?::|\s*=)\s*(.*?)\s*$/.exec(line);
    if (raw) {
      if (section === out.main) out.lxc.push([raw[1]!, raw[2]!]);
      continue;
    }
    const kv = /^([a-z][a-z_]*\d*):\s*(.+?)\s*$/.exec(line);
    if (kv) section[kv[1]!] = kv[2]!;
  }
  return out;
}
