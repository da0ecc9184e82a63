// The REST API client and ApiBackend against the local Proxmox simulator (test/sim): real HTTPS
// on 127.0.0.1, Proxmox's semantics, and every request checked against Proxmox's own schema when
// the extract is available.

import { createHash } from "node:crypto";
import https from "node:https";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { EXIT } from "../../src/errors.js";
import { ApiBackend } from "../../src/vm/proxmox/api-backend.js";
import {
  PveApiClient,
  PveApiError,
  type PveApiClientOptions,
} from "../../src/vm/proxmox/api-client.js";
import { haveOpenssl, OPENSSL_MISSING_MESSAGE, testCerts } from "../sim/certs.js";
import {
  pve1Pci,
  SECRETS,
  threeNodeCluster,
  TOKENS,
  type SimClusterToken,
} from "../sim/cluster-fixtures.js";
import { EXTRACT_MISSING_MESSAGE, PveSchema } from "../sim/pve-schema.js";
import { PveSimulator } from "../sim/pve-simulator.js";

const openssl = haveOpenssl();
if (!openssl) console.warn(OPENSSL_MISSING_MESSAGE);
const schema = PveSchema.load();
if (!schema) console.warn(EXTRACT_MISSING_MESSAGE);

async function failure(p: Promise<unknown>): Promise<PveApiError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof PveApiError) return err;
    throw err;
  }
  throw new Error("expected a PveApiError");
}

describe.skipIf(!openssl)("Proxmox API client against the simulator", () => {
  let sim: PveSimulator;
  const certs = openssl ? testCerts() : null!;

  const client = (token: SimClusterToken = "admin", over: Partial<PveApiClientOptions> = {}) =>
    new PveApiClient({
      baseUrl: sim.url,
      token: { id: TOKENS[token].id, secret: SECRETS[token] },
      tls: { fingerprint: certs.selfSigned.fingerprint },
      taskPollMs: 2,
      retryDelayMs: 1,
      ...over,
    });
  const backend = (
    token: SimClusterToken = "admin",
    over: Partial<PveApiClientOptions> = {},
    node = "pve1",
  ) => new ApiBackend(client(token, over), node);

  beforeEach(async () => {
    sim = await PveSimulator.start(threeNodeCluster(), { cert: certs.selfSigned, schema });
  });
  afterEach(async () => {
    // Fail loudly: no request may break Proxmox's schema unless a test expects it (and clears it).
    expect(sim.violations).toEqual([]);
    await sim.stop();
  });

  describe("happy path", () => {
    it("reads a config with its digest (SHA-1 of the config file)", async () => {
      const got = await backend().getConfig(100);
      expect(got!.digest).toBe(createHash("sha1").update(sim.vmConfigText(100)!).digest("hex"));
      expect(got!.config).toMatchObject({
        name: "win11",
        memory: "16384",
        cores: "8",
        bios: "ovmf",
        boot: "order=scsi0;net0",
      });
      expect(got!.config.digest).toBeUndefined();
      expect(await backend().getConfig(999)).toBeNull();
    });

    it("finds VMs on every node and reads each from its own node", async () => {
      const vms = await backend().listVms();
      expect(vms.map((v) => [v.vmid, v.node, v.config.name])).toEqual([
        [100, "pve1", "win11"],
        [101, "pve2", "llm"],
        [102, "pve3", "spare"],
      ]);
      // VM 102 lives on pve3: its config was read there, not on --node pve1.
      expect(
        sim.requests.some(
          (r) =>
            r.method === "GET" &&
            r.path === "/api2/json/nodes/pve3/qemu/102/config" &&
            r.status === 200,
        ),
      ).toBe(true);
      expect((await backend("admin", {}, "pve1").getConfig(102))!.config.name).toBe("spare");
    });

    it("writes a config through the async POST with the digest, waits for the task, and the change lands", async () => {
      const b = backend();
      const before = await b.getConfig(100);
      await b.updateConfig(
        100,
        {
          set: {
            hostpci0: "mapping=gpu0,pcie=1,x-vga=1",
            vga: "none",
            cpu: "host,flags=+pdpe1gb;+aes",
          },
          delete: ["boot"],
        },
        before!.digest,
      );
      const post = sim.requests.find(
        (r) => r.method === "POST" && r.route === "/nodes/{node}/qemu/{vmid}/config",
      )!;
      expect(post.contentType).toBe("application/json");
      expect(post.params).toMatchObject({
        digest: before!.digest,
        delete: "boot",
        hostpci0: "mapping=gpu0,pcie=1,x-vga=1",
      });
      expect(
        sim.requests.filter((r) => r.route === "/nodes/{node}/tasks/{upid}/status").length,
      ).toBeGreaterThanOrEqual(2); // polled while running
      const conf = sim.vmConfig(100)!;
      expect(conf.main).toMatchObject({
        hostpci0: "mapping=gpu0,pcie=1,x-vga=1",
        vga: "none",
        cpu: "host,flags=+pdpe1gb;+aes",
      });
      expect(conf.main.boot).toBeUndefined();
      expect(conf.pending).toEqual({});
    });

    it("sends form bodies the server decodes intact (';' and '=' inside values)", async () => {
      const b = backend("admin", { bodyEncoding: "form" });
      const before = await b.getConfig(100);
      await b.updateConfig(
        100,
        { set: { hostpci0: "mapping=gpu0,pcie=1", cpu: "host,flags=+pdpe1gb;+aes" }, delete: [] },
        before!.digest,
      );
      const post = sim.requests.find(
        (r) => r.method === "POST" && r.route === "/nodes/{node}/qemu/{vmid}/config",
      )!;
      expect(post.contentType).toBe("application/x-www-form-urlencoded");
      expect(sim.vmConfig(100)!.main).toMatchObject({
        hostpci0: "mapping=gpu0,pcie=1",
        cpu: "host,flags=+pdpe1gb;+aes",
      });
    });

    it("(control) an unencoded form body is mangled by the server's decoder, as it would be by Proxmox", async () => {
      const raw = "hostpci0=mapping=gpu0,pcie=1&cpu=host,flags=+aes;+pdpe1gb";
      const status = await new Promise<number>((resolve, reject) => {
        const req = https.request(
          `${sim.url}/api2/json/nodes/pve1/qemu/100/config`,
          {
            method: "POST",
            rejectUnauthorized: false,
            headers: {
              Authorization: `PVEAPIToken=${TOKENS.admin.id}=${SECRETS.admin}`,
              "Content-Type": "application/x-www-form-urlencoded",
              "Content-Length": raw.length,
            },
          },
          (res) => {
            res.resume();
            res.on("end", () => resolve(res.statusCode ?? 0));
          },
        );
        req.on("error", reject);
        req.end(raw);
      });
      // hostpci0 arrives as "mapping", cpu as "host,flags" and "+pdpe1gb" as a key of its own:
      // Proxmox's schema check answers 400; without the schema extract the simulator's handler
      // refuses the mangled hostpci0 itself ("either 'host' or 'mapping' must be set", 500).
      expect(status).toBe(schema ? 400 : 500);
      expect(sim.violations.length).toBe(schema ? 1 : 0);
      sim.violations.length = 0;
    });

    it("keeps hardware changes pending on a running VM", async () => {
      const b = backend();
      const before = await b.getConfig(101);
      await b.updateConfig(
        101,
        { set: { hostpci1: "mapping=gpu0", name: "llm-2" }, delete: [] },
        before!.digest,
      );
      const conf = sim.vmConfig(101)!;
      expect(conf.main.name).toBe("llm-2"); // fast-plug option, applied at once
      expect(conf.pending).toEqual({ hostpci1: "mapping=gpu0" });
      expect((await b.getConfig(101))!.config.hostpci1).toBe("mapping=gpu0"); // GET shows pending values applied
    });

    it("creates a VM with a mapped GPU and allocates its EFI disk", async () => {
      const b = backend();
      await b.createVm(200, {
        name: "gaming",
        machine: "q35",
        bios: "ovmf",
        memory: "16384",
        cores: "8",
        efidisk0: "local-lvm:1,efitype=4m,pre-enrolled-keys=1",
        hostpci0: "mapping=gpu0,pcie=1",
        ostype: "win11",
      });
      const conf = sim.vmConfig(200)!;
      expect(sim.vmNode(200)).toBe("pve1");
      expect(conf.main).toMatchObject({
        name: "gaming",
        hostpci0: "mapping=gpu0,pcie=1",
        efidisk0: "local-lvm:vm-200-disk-0,efitype=4m,pre-enrolled-keys=1,size=4M",
      });
      expect(conf.main.smbios1).toMatch(/^uuid=/);
      expect((await b.getConfig(200))!.config.name).toBe("gaming");
    });

    it("reads every PCI class from hardware/pci (the default blacklist would hide bridges and co-processors)", async () => {
      const pci = await backend().hardwarePci("pve1");
      expect(pci.map((d) => d.id)).toEqual(
        pve1Pci()
          .map((d) => d.id)
          .sort(),
      );
      expect(pci.find((d) => d.id === "0000:01:00.0")).toMatchObject({
        vendor: "0x10de",
        device: "0x2204",
        iommugroup: 14,
        subsystem_vendor: "0x1462",
      });
    });

    it("lists nodes and mappings", async () => {
      const b = backend();
      expect(await b.clusterNodes()).toEqual([
        { node: "pve1", online: true },
        { node: "pve2", online: true },
        { node: "pve3", online: true },
      ]);
      const [gpu0] = await b.listPciMappings();
      expect(gpu0).toMatchObject({
        id: "gpu0",
        description: "RTX 3090",
        map: ["node=pve2,path=0000:01:00,id=10de:2204,iommugroup=12,subsystem-id=1462:3880"],
      });
      expect(gpu0!.digest).toMatch(/^[0-9a-f]{40}$/);
    });
  });

  describe("TLS", () => {
    it("talks to a server whose certificate matches the pinned fingerprint", async () => {
      expect(await client().get("/cluster/resources", { type: "node" })).toHaveLength(3);
    });

    it("accepts the fingerprint in any case and with or without colons", async () => {
      const fp = certs.selfSigned.fingerprint.replace(/:/g, "").toLowerCase();
      const { normalizeFingerprint } = await import("../../src/vm/proxmox/api-client.js");
      expect(
        await client("admin", { tls: { fingerprint: normalizeFingerprint(fp)! } }).get(
          "/cluster/resources",
          { type: "node" },
        ),
      ).toHaveLength(3);
    });

    it("refuses a mismatched fingerprint before the token is sent", async () => {
      const e = await failure(
        client("admin", { tls: { fingerprint: certs.other.fingerprint } }).get(
          "/cluster/resources",
        ),
      );
      expect(e.kind).toBe("tls");
      expect(e.message).toContain(certs.selfSigned.fingerprint);
      expect(e.message).toContain(`not the pinned ${certs.other.fingerprint}`);
      expect(sim.requests).toEqual([]); // nothing reached the HTTP layer
    });

    it("without a pin, refuses a certificate the system CAs do not vouch for, and says how to pin it", async () => {
      const e = await failure(client("admin", { tls: {} }).get("/cluster/resources"));
      expect(e.kind).toBe("tls");
      expect(e.message).toContain("not trusted");
      expect(e.message).toContain(`--fingerprint ${certs.selfSigned.fingerprint}`);
      expect(e.message).toContain("--ca-file");
      expect(sim.requests).toEqual([]);
    });

    it("verifies a CA-signed certificate (like pve-ssl.pem) against --ca-file, host name included", async () => {
      const good = await PveSimulator.start(threeNodeCluster(), { cert: certs.caSigned, schema });
      const misnamed = await PveSimulator.start(threeNodeCluster(), {
        cert: certs.caSignedOtherName,
        schema,
      });
      try {
        const token = { id: TOKENS.admin.id, secret: SECRETS.admin };
        const ok = new PveApiClient({
          baseUrl: good.url,
          token,
          tls: { ca: [certs.caSigned.ca!] },
        });
        expect(await ok.get("/cluster/resources", { type: "node" })).toHaveLength(3);
        // Without the CA: not trusted.
        expect(
          (await failure(new PveApiClient({ baseUrl: good.url, token }).get("/cluster/resources")))
            .message,
        ).toContain("not trusted");
        // Same CA, but the certificate is for pve1.sim, not 127.0.0.1.
        const e = await failure(
          new PveApiClient({ baseUrl: misnamed.url, token, tls: { ca: [certs.caSigned.ca!] } }).get(
            "/cluster/resources",
          ),
        );
        expect(e.kind).toBe("tls");
        expect(e.message).toContain("its certificate is not for 127.0.0.1");
        expect(misnamed.requests).toEqual([]);
        // Pinning it works: pinning trusts the certificate, not its name (as Proxmox's client does).
        const pinned = new PveApiClient({
          baseUrl: misnamed.url,
          token,
          tls: { fingerprint: certs.caSignedOtherName.fingerprint },
        });
        expect(await pinned.get("/cluster/resources", { type: "node" })).toHaveLength(3);
      } finally {
        await good.stop();
        await misnamed.stop();
      }
    });
  });

  describe("authentication and privileges", () => {
    it("maps a wrong secret to a clear 401 without echoing the secret", async () => {
      const c = new PveApiClient({
        baseUrl: sim.url,
        token: { id: TOKENS.admin.id, secret: "deadbeef-0000-4000-8000-000000000000" },
        tls: { fingerprint: certs.selfSigned.fingerprint },
        tokenSource: "PASSTHROUGH_PVE_TOKEN",
      });
      const e = await failure(c.get("/cluster/resources"));
      expect([e.kind, e.details.status, e.exitCode]).toEqual(["auth", 401, EXIT.usage]);
      expect(e.message).toContain("refused token passthrough@pve!cli (401 Authentication failed!)");
      expect(e.message).toContain("PASSTHROUGH_PVE_TOKEN");
      expect(e.message).not.toContain("deadbeef");
      expect(sim.requests).toHaveLength(1); // 401 is not retried
    });

    it("maps an expired token to 401", async () => {
      const e = await failure(client("expired").get("/cluster/resources"));
      expect(e.kind).toBe("auth");
      expect(e.message).toContain("old@pve!gone");
      expect(e.message).not.toContain(SECRETS.expired);
    });

    it("names the missing privilege (403)", async () => {
      const b = backend("viewer");
      const before = await b.getConfig(100);
      const e = await failure(
        b.updateConfig(100, { set: { name: "x" }, delete: [] }, before!.digest),
      );
      expect(e.kind).toBe("permission");
      expect(e.message).toContain("lacks one of VM.Config.Disk, VM.Config.CDROM, VM.Config.CPU");
      expect(e.message).toContain("/vms/100");
      expect(sim.vmConfig(100)!.main.name).toBe("win11");
    });

    it("reports a privilege checked inside the task (Mapping.Use) with the same advice", async () => {
      const b = backend("ops");
      const before = await b.getConfig(100);
      const e = await failure(
        b.updateConfig(
          100,
          { set: { hostpci0: "mapping=gpu0,pcie=1" }, delete: [] },
          before!.digest,
        ),
      );
      expect(e.kind).toBe("permission");
      expect(e.message).toContain("lacks Mapping.Use on /mapping/pci/gpu0");
      expect(sim.vmConfig(100)!.main.hostpci0).toBeUndefined();
    });

    it("raw hostpci is root@pam only: even root@pam's own token gets the mapping advice", async () => {
      const b = backend("root");
      expect(b.canSetRawHostpci).toBe(false);
      const before = await b.getConfig(100);
      const e = await failure(
        b.updateConfig(100, { set: { hostpci0: "0000:01:00,pcie=1" }, delete: [] }, before!.digest),
      );
      expect(e.kind).toBe("root-only");
      expect(e.message).toContain("only root can set 'hostpci0' config for non-mapped devices");
      expect(e.message).toContain("passthrough vm mapping create");
      expect(sim.vmConfig(100)!.main.hostpci0).toBeUndefined();

      // On create the check runs before the task: an HTTP 500.
      const e2 = await failure(b.createVm(201, { name: "x", hostpci0: "0000:01:00" }));
      expect([e2.kind, e2.details.status]).toEqual(["root-only", 500]);
    });

    it("reports the offending parameter of a 400", async () => {
      const b = backend();
      const before = await b.getConfig(100);
      if (schema) {
        // Proxmox checks the value's format (pve-qm-hostpci: pcie is a boolean) before the handler runs.
        const e = await failure(
          b.updateConfig(
            100,
            { set: { hostpci0: "mapping=gpu0,pcie=maybe" }, delete: [] },
            before!.digest,
          ),
        );
        expect([e.kind, e.details.status]).toEqual(["parameter", 400]);
        expect(e.message).toContain("hostpci0: invalid format");
        expect(sim.violations.map((v) => Object.keys(v.errors))).toEqual([["hostpci0"]]);
        sim.violations.length = 0;
      }
      // The handler's own 400 (no schema needed): skiplock, which only root@pam may use.
      const e = await failure(
        b.updateConfig(100, { set: { skiplock: "1" }, delete: [] }, before!.digest),
      );
      expect([e.kind, e.details.status]).toEqual(["parameter", 400]);
      expect(e.message).toContain("skiplock: Only root may use this option.");
    });
  });

  describe("concurrency, tasks, retries", () => {
    it("reports a concurrent edit (digest conflict) instead of overwriting it", async () => {
      const b = backend();
      const before = await b.getConfig(100);
      sim.editVm(100, "memory", "8192"); // someone else, e.g. in the web UI
      const e = await failure(
        b.updateConfig(100, { set: { memory: "32768", vga: "none" }, delete: [] }, before!.digest),
      );
      expect([e.kind, e.exitCode, e.details.status]).toEqual(["conflict", EXIT.refused, 500]);
      expect(e.message).toContain("checksum mismatch (file change by other user?)");
      expect(sim.vmConfig(100)!.main).toMatchObject({ memory: "8192" });
      expect(sim.vmConfig(100)!.main.vga).toBeUndefined();
    });

    it("also when the edit lands between the request and the task (the worker checks again)", async () => {
      let edited = false;
      const b = backend("admin", {
        sleep: async () => {
          if (!edited) sim.editVm(100, "memory", "8192");
          edited = true;
        },
      });
      const before = await b.getConfig(100);
      const e = await failure(
        b.updateConfig(100, { set: { vga: "none" }, delete: [] }, before!.digest),
      );
      expect(e.kind).toBe("conflict");
      expect(sim.vmConfig(100)!.main.vga).toBeUndefined();
    });

    it("reports a failed task with its exit status", async () => {
      sim.taskFailures.push({
        type: "qmconfig",
        message: "can't lock file '/var/lock/qemu-server/lock-100.conf' - got timeout",
      });
      const b = backend();
      const before = await b.getConfig(100);
      const e = await failure(
        b.updateConfig(100, { set: { vga: "none" }, delete: [] }, before!.digest),
      );
      expect([e.kind, e.exitCode]).toEqual(["task-failed", EXIT.applyFailed]);
      expect(e.message).toMatch(
        /^updating VM 100's config failed: can't lock file .* got timeout \(task log: `pvenode task log UPID:pve1:/,
      );
    });

    it("gives up waiting after the timeout and says the task goes on", async () => {
      sim.taskPolls = Infinity;
      const b = backend("admin", { taskTimeoutMs: 60, taskPollMs: 5 });
      const before = await b.getConfig(100);
      const t0 = Date.now();
      const e = await failure(
        b.updateConfig(100, { set: { vga: "none" }, delete: [] }, before!.digest),
      );
      expect(Date.now() - t0).toBeLessThan(5000);
      expect([e.kind, e.exitCode]).toEqual(["timeout", EXIT.applyFailed]);
      expect(e.message).toMatch(
        /still running after 0 s; it goes on on the server.*pvenode task status UPID:pve1:.*--task-timeout/,
      );
      expect(sim.runningTasks()).toHaveLength(1);
    });

    it("retries idempotent GETs on proxy errors and dropped connections", async () => {
      sim.httpFailures.push(
        { method: "GET", status: 503 },
        { method: "GET", reset: true },
        { method: "GET", status: 596, reason: "Connection refused" },
      );
      expect(await client().get("/cluster/resources", { type: "node" })).toHaveLength(3);
      expect(sim.requests.filter((r) => r.method === "GET").map((r) => r.status)).toEqual([
        503, -1, 596, 200,
      ]);
    });

    it("retries a bounded number of times", async () => {
      for (let i = 0; i < 10; i++) sim.httpFailures.push({ method: "GET", status: 503 });
      const e = await failure(client("admin", { getRetries: 2 }).get("/cluster/resources"));
      expect(e.details.status).toBe(503);
      expect(sim.requests).toHaveLength(3);
    });

    it("never resends a POST", async () => {
      sim.httpFailures.push({ method: "POST", status: 503 });
      const b = backend();
      const before = await b.getConfig(100);
      const e = await failure(
        b.updateConfig(100, { set: { vga: "none" }, delete: [] }, before!.digest),
      );
      expect(e.details.status).toBe(503);
      expect(sim.requests.filter((r) => r.method === "POST")).toHaveLength(1);
    });

    it("does not retry a 500 (Proxmox's plain errors repeat)", async () => {
      const e = await failure(client().get("/cluster/mapping/pci/nope"));
      expect(e.kind).toBe("not-found");
      expect(sim.requests).toHaveLength(1);
    });
  });

  describe("PCI mappings on a 3-node cluster", () => {
    it("creates a mapping with entries for several nodes, filled from each node's hardware", async () => {
      const b = backend();
      const r = await b.putPciMapping({
        id: "gpu1",
        description: "RTX 3090 (all nodes)",
        map: [
          "node=pve1,path=0000:01:00,id=10de:2204,iommugroup=14,subsystem-id=1462:3880",
          "node=pve3,path=0000:02:00,id=10de:2204,iommugroup=15,subsystem-id=1462:3880",
        ],
      });
      expect(r.action).toBe("created");
      const post = sim.requests.find(
        (x) => x.method === "POST" && x.route === "/cluster/mapping/pci",
      )!;
      expect(Array.isArray(post.params.map)).toBe(true);
      expect(sim.pciCfgText()).toContain(
        "gpu1\n\tdescription RTX 3090 (all nodes)\n\tmap node=pve1,path=0000:01:00,id=10de:2204,iommugroup=14,subsystem-id=1462:3880\n\tmap node=pve3,",
      );
      for (const node of ["pve1", "pve3"]) {
        const checked = (await b.checkPciMappings(node)).find((m) => m.id === "gpu1")!;
        expect(checked.checks).toEqual([]);
      }
      expect((await b.checkPciMappings("pve2")).find((m) => m.id === "gpu1")!.checks).toEqual([
        { severity: "warning", message: "No mapping for node pve2." },
      ]);
    });

    it("adds a node to an existing mapping with the digest it read, keeping the other entries", async () => {
      const b = backend();
      const r = await b.putPciMapping({
        id: "gpu0",
        map: ["node=pve1,path=0000:01:00,id=10de:2204,iommugroup=14,subsystem-id=1462:3880"],
      });
      expect(r.action).toBe("updated");
      const put = sim.requests.find((x) => x.method === "PUT")!;
      expect(put.params.digest).toMatch(/^[0-9a-f]{40}$/);
      expect(sim.mappings()[0]!.props.map).toEqual([
        "node=pve2,path=0000:01:00,id=10de:2204,iommugroup=12,subsystem-id=1462:3880",
        "node=pve1,path=0000:01:00,id=10de:2204,iommugroup=14,subsystem-id=1462:3880",
      ]);
      expect(sim.mappings()[0]!.props.description).toBe("RTX 3090");
      // Again: nothing to do, nothing written.
      const again = await b.putPciMapping({
        id: "gpu0",
        map: ["node=pve1,path=0000:01:00,id=10de:2204,iommugroup=14,subsystem-id=1462:3880"],
      });
      expect(again.action).toBe("unchanged");
      expect(sim.requests.filter((x) => x.method === "PUT")).toHaveLength(1);
    });

    it("refuses to repoint a node's entry without --replace", async () => {
      const b = backend();
      const entry = "node=pve2,path=0000:02:00,id=10de:2204,iommugroup=12,subsystem-id=1462:3880";
      await expect(b.putPciMapping({ id: "gpu0", map: [entry] })).rejects.toThrow(
        /already maps node pve2 to 0000:01:00.*--replace/,
      );
      expect(sim.requests.filter((x) => x.method === "PUT")).toHaveLength(0);
    });

    it("reports a concurrent edit of the mapping config", async () => {
      const c = client();
      const m = await c.get<{ digest: string }>("/cluster/mapping/pci/gpu0");
      sim.editMapping("gpu0", "description", "edited in the web UI");
      const e = await failure(
        c.put("/cluster/mapping/pci/gpu0", { description: "mine", digest: m.digest }),
      );
      expect(e.kind).toBe("conflict");
      expect(e.message).toContain(
        "detected modified configuration - file changed by other user? Try again.",
      );
      expect(sim.mappings()[0]!.props.description).toBe("edited in the web UI");
    });

    it("check-node finds an entry the hardware no longer matches", async () => {
      sim.setNodePci("pve2", threeNodeCluster().nodes[2]!.pci); // pve2 now has pve3's cards
      const checked = (await backend().checkPciMappings("pve2")).find((m) => m.id === "gpu0")!;
      expect(checked.checks).toEqual([
        {
          severity: "error",
          message: "Invalid configuration: 'id' does not match for 'gpu0' (10de:2206 != 10de:2204)",
        },
      ]);
    });
  });

  it("connects for the vm commands: --node defaults to the only node of a one-node cluster", async () => {
    const { apiConnector } = await import("../../src/vm/proxmox/connect.js");
    const env = { PASSTHROUGH_PVE_TOKEN: `${TOKENS.admin.id}=${SECRETS.admin}` };
    const flags = { api: sim.url, fingerprint: certs.selfSigned.fingerprint };
    await expect(apiConnector(flags, env)).rejects.toThrow(
      "--node NAME is needed: the node the VM is (or will be) on; this cluster has pve1, pve2, pve3",
    );
    expect((await apiConnector({ ...flags, node: "pve2" }, env)).node).toBe("pve2");
    const single = await PveSimulator.start(
      { ...threeNodeCluster(), nodes: [threeNodeCluster().nodes[0]!] },
      { cert: certs.selfSigned, schema },
    );
    try {
      const b = await apiConnector(
        { api: single.url, fingerprint: certs.selfSigned.fingerprint },
        env,
      );
      expect([b.kind, b.node, b.canSetRawHostpci]).toEqual(["api", "pve1", false]);
    } finally {
      await single.stop();
    }
  });

  it("every request above was checked against Proxmox's API schema", () => {
    if (!schema) {
      console.warn(EXTRACT_MISSING_MESSAGE);
      return;
    }
    expect(schema.has("POST", "/nodes/{node}/qemu/{vmid}/config")).toBe(true);
    expect(schema.has("POST", "/cluster/mapping/pci")).toBe(true);
  });
});
