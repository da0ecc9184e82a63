// ProxmoxBackend over the REST API (token auth). Endpoints and their semantics: docs/proxmox-api.md
// §2.4–2.8; every request this file builds is validated against Proxmox's own API schema by the
// simulator in the tests (test/sim).
//
// - A VM lives on one node; /cluster/resources?type=vm says which, so configs are read and
//   written on the VM's node even when --node names another (any node proxies, but the config
//   path is per node: nodes/<node>/qemu-server/<vmid>.conf).
// - Config writes use the asynchronous POST .../config with the `digest` of the config we
//   planned against: Proxmox refuses ("checksum mismatch") if the file changed since, so a
//   concurrent edit is reported instead of overwritten. The answer is a task id (UPID) we wait for.
// - API tokens are never root@pam, so raw `hostpciN: <address>` is refused (canSetRawHostpci is
//   false); passthrough creates a cluster PCI mapping and writes `hostpciN: mapping=NAME`.

import { EXIT, RefusedError } from "../../errors.js";
import type {
  PciMapping,
  ProxmoxBackend,
  PveHardwarePci,
  VmConfig,
  VmConfigChange,
  VmRef,
} from "../types.js";
import { apiPath, PveApiClient, PveApiError, type Params } from "./api-client.js";
import {
  mergeMapEntries,
  parseMapEntry,
  type ClusterNode,
  type EnsureMappingResult,
  type MappingApi,
  type PciMapEntry,
} from "./mappings.js";

interface ClusterResource {
  id: string;
  type: string;
  node?: string;
  vmid?: number | string;
  name?: string;
  status?: string;
  template?: number | boolean;
}

/** How many config reads run at once: pveproxy has 3 workers by default (docs/proxmox-api.md §2.1). */
const READ_CONCURRENCY = 3;

export class ApiBackend implements ProxmoxBackend, MappingApi {
  readonly kind = "api" as const;
  readonly canSetRawHostpci = false;
  private vmNodes: Map<number, string> | null = null;

  constructor(
    readonly client: PveApiClient,
    readonly node: string,
  ) {}

  /** The node a VM lives on, or null when the cluster (as far as the token may see) has no such VM. */
  async vmNode(vmid: number, refresh = false): Promise<string | null> {
    if (!this.vmNodes || refresh) {
      const vms = await this.clusterVms();
      this.vmNodes = new Map(vms.map((v) => [v.vmid, v.node]));
    }
    const node = this.vmNodes.get(vmid);
    if (node === undefined && !refresh) return this.vmNode(vmid, true);
    return node ?? null;
  }

  private async clusterVms(): Promise<Array<{ vmid: number; node: string; name?: string }>> {
    const res = await this.client.get<ClusterResource[]>("/cluster/resources", { type: "vm" });
    return (res ?? [])
      .filter((r) => r.type === "qemu" && r.node !== undefined && r.vmid !== undefined)
      .map((r) => ({
        vmid: Number(r.vmid),
        node: r.node!,
        ...(r.name !== undefined ? { name: r.name } : {}),
      }));
  }

  async getConfig(vmid: number): Promise<{ config: VmConfig; digest: string | null } | null> {
    const node = await this.vmNode(vmid);
    if (node === null) return null;
    return this.readConfig(node, vmid);
  }

  private async readConfig(
    node: string,
    vmid: number,
  ): Promise<{ config: VmConfig; digest: string | null } | null> {
    let data: Record<string, unknown>;
    try {
      data = await this.client.get<Record<string, unknown>>(
        apiPath`/nodes/${node}/qemu/${vmid}/config`,
      );
    } catch (err) {
      // Deleted or moved between the resource list and this read.
      if (err instanceof PveApiError && err.kind === "not-found") return null;
      throw err;
    }
    const config: VmConfig = {};
    let digest: string | null = null;
    for (const [k, v] of Object.entries(data ?? {})) {
      if (k === "digest") digest = String(v);
      else if (v !== null && v !== undefined) config[k] = String(v);
    }
    return { config, digest };
  }

  async listVms(): Promise<VmRef[]> {
    const vms = await this.clusterVms();
    this.vmNodes = new Map(vms.map((v) => [v.vmid, v.node]));
    const out: VmRef[] = [];
    for (let i = 0; i < vms.length; i += READ_CONCURRENCY) {
      const batch = vms.slice(i, i + READ_CONCURRENCY);
      const configs = await Promise.all(batch.map((v) => this.readConfig(v.node, v.vmid)));
      batch.forEach((v, j) => {
        const c = configs[j];
        if (c) out.push({ vmid: v.vmid, node: v.node, config: c.config });
      });
    }
    return out.sort((a, b) => a.vmid - b.vmid);
  }

  async updateConfig(vmid: number, change: VmConfigChange, digest: string | null): Promise<void> {
    if (Object.keys(change.set).length === 0 && change.delete.length === 0) return;
    const node = (await this.vmNode(vmid)) ?? this.node;
    const params: Params = { ...change.set };
    if (change.delete.length > 0) params.delete = change.delete.join(",");
    if (digest) params.digest = digest;
    const upid = await this.client.post<string | null>(
      apiPath`/nodes/${node}/qemu/${vmid}/config`,
      params,
    );
    if (upid) await this.client.waitTask(upid, { what: `updating VM ${vmid}'s config` });
  }

  async createVm(vmid: number, config: VmConfig): Promise<void> {
    const upid = await this.client.post<string | null>(apiPath`/nodes/${this.node}/qemu`, {
      vmid,
      ...config,
    });
    this.vmNodes = null;
    if (upid) await this.client.waitTask(upid, { what: `creating VM ${vmid} on ${this.node}` });
  }

  async listPciMappings(): Promise<PciMapping[]> {
    return this.mappings({});
  }

  /** Mappings with the server's own check of each against `node`'s hardware (?check-node=). */
  async checkPciMappings(node: string): Promise<PciMapping[]> {
    return this.mappings({ "check-node": node });
  }

  private async mappings(params: Params): Promise<PciMapping[]> {
    const res = await this.client.get<Array<Record<string, unknown>>>(
      "/cluster/mapping/pci",
      params,
    );
    return (res ?? []).map(toMapping).sort((a, b) => a.id.localeCompare(b.id));
  }

  async getPciMapping(id: string): Promise<PciMapping | null> {
    try {
      const data = await this.client.get<Record<string, unknown>>(
        apiPath`/cluster/mapping/pci/${id}`,
      );
      return toMapping({ ...data, id });
    } catch (err) {
      if (err instanceof PveApiError && err.kind === "not-found") return null;
      throw err;
    }
  }

  /**
   * Make mapping `id` contain these entries: create it, or add/refresh the entries of the nodes
   * named, keeping every other node's entries (see mergeMapEntries). The update carries the
   * digest we read, so a concurrent edit of the mapping fails instead of being overwritten.
   */
  async ensurePciMapping(mapping: PciMapping): Promise<void> {
    await this.putPciMapping(mapping);
  }

  /** ensurePciMapping, saying what changed; `replace` allows changing a node's existing entry. */
  async putPciMapping(
    mapping: PciMapping,
    opts: { replace?: boolean } = {},
  ): Promise<EnsureMappingResult> {
    const wanted: PciMapEntry[] = mapping.map.map((m) => parseMapEntry(m));
    const existing = await this.getPciMapping(mapping.id);
    if (!existing) {
      const merged = mergeMapEntries([], wanted);
      await this.client.post("/cluster/mapping/pci", {
        id: mapping.id,
        map: merged.map,
        description: mapping.description,
        mdev: mapping.mdev,
      });
      return { action: "created", id: mapping.id, map: merged.map, changes: merged.changes };
    }
    const merged = mergeMapEntries(existing.map, wanted, opts);
    if (merged.conflicts.length > 0) {
      const c = merged.conflicts[0]!;
      throw new RefusedError(
        `mapping ${mapping.id} already maps node ${c.node} to ${c.existing.map((e) => parseMapEntrySafe(e)?.path ?? e).join(", ")}; VMs using it would get a different device. Pass --replace to change it, or choose another --name`,
        merged.conflicts.map((x) => `${x.node}: has ${x.existing.join(" | ")}, wanted ${x.wanted}`),
      );
    }
    const description =
      mapping.description !== undefined && mapping.description !== existing.description
        ? mapping.description
        : undefined;
    const mdev =
      mapping.mdev !== undefined && mapping.mdev !== (existing.mdev ?? false)
        ? mapping.mdev
        : undefined;
    if (
      merged.changes.every((c) => c.action === "unchanged") &&
      description === undefined &&
      mdev === undefined
    ) {
      return { action: "unchanged", id: mapping.id, map: merged.map, changes: merged.changes };
    }
    await this.client.put(apiPath`/cluster/mapping/pci/${mapping.id}`, {
      map: merged.map,
      description,
      mdev,
      digest: existing.digest,
    });
    return { action: "updated", id: mapping.id, map: merged.map, changes: merged.changes };
  }

  async hardwarePci(node: string): Promise<PveHardwarePci[]> {
    // Every class, not only those outside the default blacklist (memory controllers, bridges,
    // processors): some accelerators are class 0x0b40 "co-processor". The empty list the docs
    // suggest (`pvesh ... --pci-class-blacklist ""`) does not survive HTTP: the server's query
    // decoder turns "k=" into undef, i.e. the default list. "," is an empty list after split_list.
    const path = apiPath`/nodes/${node}/hardware/pci`;
    const res = await this.client.get<unknown>(path, { "pci-class-blacklist": "," });
    return listOf(res, `GET ${path}`).map((d) => {
      const dev: PveHardwarePci = {
        id: String(d.id),
        class: String(d.class),
        vendor: String(d.vendor),
        device: String(d.device),
        iommugroup: Number(d.iommugroup ?? -1),
      };
      for (const k of [
        "subsystem_vendor",
        "subsystem_device",
        "vendor_name",
        "device_name",
      ] as const)
        if (d[k] !== undefined && d[k] !== null) dev[k] = String(d[k]);
      if (d.mdev !== undefined && d.mdev !== null) dev.mdev = Number(d.mdev) ? 1 : 0;
      return dev;
    });
  }

  async clusterNodes(): Promise<ClusterNode[]> {
    const res = await this.client.get<ClusterResource[]>("/cluster/resources", { type: "node" });
    return (res ?? [])
      .filter((r) => r.type === "node" && r.node !== undefined)
      .map((r) => ({ node: r.node!, online: r.status === "online" }))
      .sort((a, b) => a.node.localeCompare(b.node));
  }

  async listNodes(): Promise<string[]> {
    return (await this.clusterNodes()).map((n) => n.node);
  }
}

/** An answer that must be a list of objects; anything else is the server's fault, said as such. */
function listOf(res: unknown, where: string): Array<Record<string, unknown>> {
  if (res === null || res === undefined) return [];
  if (Array.isArray(res) && res.every((d) => typeof d === "object" && d !== null))
    return res as Array<Record<string, unknown>>;
  throw new PveApiError(
    `${where}: a malformed answer (data is not a list of devices)`,
    "protocol",
    EXIT.usage,
    { method: "GET", path: where.replace(/^GET /, "") },
  );
}

function parseMapEntrySafe(text: string): PciMapEntry | null {
  try {
    return parseMapEntry(text);
  } catch {
    return null;
  }
}

function toMapping(d: Record<string, unknown>): PciMapping {
  const map =
    d.map === undefined || d.map === null
      ? []
      : Array.isArray(d.map)
        ? d.map.map(String)
        : [String(d.map)];
  const m: PciMapping = { id: String(d.id), map };
  if (typeof d.description === "string") m.description = d.description;
  if (d.mdev !== undefined && d.mdev !== null) m.mdev = d.mdev === true || Number(d.mdev) === 1;
  if (typeof d.digest === "string") m.digest = d.digest;
  if (Array.isArray(d.checks)) {
    m.checks = d.checks.map((c: { severity?: string; message?: string }) => ({
      severity: c.severity === "error" ? "error" : "warning",
      message: String(c.message ?? "").trim(),
    }));
  }
  return m;
}
