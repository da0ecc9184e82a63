// Every VM backend behind the one interface (src/vm/backend.ts): each --backend name opens a
// backend of its kind, plans the seed host's GPU for a VM through planVmChange, applies it (when
// the backend can), reads it back, and then has nothing left to change. The cases are a Record
// over BackendName (the keys of select-backend.ts's BACKENDS), so a backend added there without
// a case here does not compile.
import * as fs from "node:fs";
import * as path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { vmOptions } from "../../src/cli/commands/vm-options.js";
import { InputError } from "../../src/errors.js";
import { openHostRoot } from "../../src/host/open-root.js";
import { readHostState } from "../../src/host/read-host.js";
import { ProcessRunner } from "../../src/process/run.js";
import { applyVmChange, planVmChange, type VmHost, type VmRequest } from "../../src/vm/backend.js";
import { configText } from "../../src/vm/diff.js";
import {
  BACKEND_NAMES,
  selectBackend,
  type BackendName,
  type BackendChoice,
  type SelectContext,
} from "../../src/vm/select-backend.js";
import type {
  PciMapping,
  ProxmoxBackend,
  PveHardwarePci,
  VmConfig,
  VmConfigChange,
  VmRef,
} from "../../src/vm/types.js";
import { cli } from "../helpers/cli.js";
import { fakePve, fakeVirsh } from "../helpers/fake-tools.js";
import { REPO, fixturePath } from "../helpers/fixtures.js";

const SNAP = fixturePath("seed-after");
const opened = openHostRoot(SNAP);
const host: VmHost = {
  state: readHostState(opened.root, { manifest: opened.manifest }),
  root: opened.root,
};
/** VM 100 of the snapshot's /etc/pve, which has the GPU (0000:01:00) already. */
const VM100 = host.state.vms.find((v) => v.vmid === 100)!.config;

const request = (vmid: number | null): VmRequest => ({
  mode: "configure",
  options: vmOptions({
    vmid: vmid === null ? undefined : String(vmid),
    device: ["0000:01:00"],
    pcie: true,
  }),
  create: null,
  guest: { name: null, memoryMiB: null, cores: null },
  dryRun: false,
});

const NONE: BackendChoice = {
  backend: null,
  emit: null,
  libvirtDomain: null,
  domainXmlFile: null,
  api: false,
  node: null,
};

/** A Proxmox node over the REST API, in memory: mappings instead of raw addresses. */
class MemoryApi implements ProxmoxBackend {
  readonly kind = "api" as const;
  readonly node = "pve";
  readonly canSetRawHostpci = false;
  config: VmConfig = { ...VM100, hostpci0: "mapping=gpu0,pcie=1" };
  digest = "d1";
  async getConfig(vmid: number) {
    return vmid === 100 ? { config: { ...this.config }, digest: this.digest } : null;
  }
  async listVms(): Promise<VmRef[]> {
    return [{ vmid: 100, node: "pve", config: { ...this.config } }];
  }
  async updateConfig(_vmid: number, change: VmConfigChange, digest: string | null) {
    if (digest !== this.digest) throw new Error("checksum mismatch");
    Object.assign(this.config, change.set);
    for (const k of change.delete) delete this.config[k];
    this.digest = "d2";
  }
  async createVm(): Promise<void> {
    throw new Error("not used here");
  }
  async listPciMappings(): Promise<PciMapping[]> {
    return [{ id: "gpu0", map: ["node=pve,path=0000:01:00,id=10de:2206"] }];
  }
  async hardwarePci(): Promise<PveHardwarePci[]> {
    return host.state.pci.map((d) => ({
      id: d.address,
      class: `0x${d.classCode}`,
      vendor: `0x${d.vendorId}`,
      device: `0x${d.deviceId}`,
      iommugroup: d.iommuGroup ?? -1,
    }));
  }
}

interface Case {
  /** What picks this backend besides --backend NAME, and the machine it works on. */
  setup(): { choice: Partial<BackendChoice>; ctx: Partial<SelectContext>; cleanup(): void };
  vmid: number | null;
  /** What the backend's own store (config file, domain XML) holds after apply; not the first before. */
  stored: RegExp[];
}

let written: () => string = () => "";
const CASES: Record<BackendName, Case> = {
  qm: {
    vmid: 100,
    stored: [/^cpu: host$/m, /^hostpci0: 0000:01:00,pcie=1$/m, /^balloon: 0$/m],
    setup: () => {
      const pve = fakePve({ 100: configText(VM100) });
      written = () => pve.conf(100)!;
      return { choice: { node: "pve" }, ctx: { env: pve.env }, cleanup: pve.cleanup };
    },
  },
  api: {
    vmid: 100,
    stored: [/^cpu: host$/m, /^hostpci0: mapping=gpu0,pcie=1$/m, /^balloon: 0$/m],
    setup: () => {
      const api = new MemoryApi();
      written = () => configText(api.config);
      return {
        choice: { api: true },
        ctx: { connectApi: async () => api },
        cleanup: () => undefined,
      };
    },
  },
  libvirt: {
    vmid: null,
    stored: [/<hostdev mode="subsystem" type="pci" managed="yes">/, /<cpu mode="host-passthrough"/],
    setup: () => {
      const xml = fs.readFileSync(
        path.join(REPO, "test/fixtures/libvirt/debian12-spice.xml"),
        "utf8",
      );
      const virsh = fakeVirsh({ debian12: xml });
      written = () => virsh.domain("debian12")!;
      return {
        choice: { libvirtDomain: "debian12" },
        ctx: { env: virsh.env },
        cleanup: virsh.cleanup,
      };
    },
  },
  qemu: {
    vmid: null,
    stored: [],
    setup: () => ({ choice: {}, ctx: {}, cleanup: () => undefined }),
  },
};

const cleanups: Array<() => void> = [];
afterEach(() => {
  while (cleanups.length) cleanups.pop()!();
});

function open(name: BackendName) {
  const c = CASES[name];
  const { choice, ctx, cleanup } = c.setup();
  cleanups.push(cleanup);
  const env = ctx.env ?? { PATH: process.env.PATH };
  return selectBackend(
    { ...NONE, backend: name, ...choice },
    {
      state: host.state,
      runner: new ProcessRunner(env),
      env,
      connectApi: async () => {
        throw new Error("not asked for");
      },
      ...ctx,
    },
  );
}

describe("VmBackend: every backend behind one interface", () => {
  it("lists the backends in --help and in the --backend error", async () => {
    expect(BACKEND_NAMES).toEqual(Object.keys(CASES));
    const help = await cli(["vm", "plan", "--help"]);
    expect(help.stdout).toMatch(new RegExp(`--backend <name> +${BACKEND_NAMES.join(" \\| ")} `));
    await expect(
      selectBackend({ ...NONE, backend: "xen" }, { state: host.state } as SelectContext),
    ).rejects.toThrow(new InputError(`--backend "xen": choose one of ${BACKEND_NAMES.join(", ")}`));
  });

  it.each(BACKEND_NAMES)(
    "%s: plans the GPU, applies it if it can, reads it back, then has nothing to change",
    async (name) => {
      const backend = await open(name);
      expect(backend.kind).toBe(name);
      const req = request(CASES[name].vmid);
      const plan = await planVmChange(backend, req, host);
      expect(plan.refusals).toEqual([]);
      expect(plan.json.backend).toBe(name);
      expect(plan.empty).toBe(false);
      if (plan.confirm === null) {
        // Show-only (QEMU): the command line is the whole result.
        expect(plan.artefact).toMatch(/^# once, before the first start:\n[\s\S]*vfio-pci/);
        return;
      }
      const report = plan.report!;
      expect(report.diff!.before).not.toBe(report.diff!.after);
      expect(written()).not.toMatch(CASES[name].stored[0]!);
      const back = await applyVmChange(backend, plan);
      expect(back.message).toMatch(/read back and checked/);
      for (const re of CASES[name].stored) expect(written()).toMatch(re);
      const again = await planVmChange(backend, req, host);
      expect(again.refusals).toEqual([]);
      expect(again.empty).toBe(true);
      expect(again.report!.diff).toBeNull();
    },
  );
});
