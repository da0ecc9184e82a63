// `list --tree` and `list --usb` on every fixture host. The expectations are derived from
// the fixture specs themselves (which bridge each function sits behind, which bus a USB
// controller provides), so fixtures added later are covered without new test code; the seed
// host's output is also checked line by line.
import { stripVTControlCharacters } from "node:util";
import { describe, expect, it } from "vitest";
import type { FakeHostSpec } from "../../tools/fakehost/spec.js";
import { FIXTURE_SPECS } from "../fixtures/specs/index.js";

// A partial fixture (no sys/) has no tree or USB devices to compare against its spec.
const WHOLE_HOSTS = FIXTURE_SPECS.filter((s) => !s.partial);
import { cli, cliJson } from "../helpers/cli.js";
import { fixturePath } from "../helpers/fixtures.js";

interface TreeNode {
  address: string;
  iommuGroup: number | null;
  driver: string | null;
  parent: string | null;
  children: TreeNode[];
}

function flatten(nodes: TreeNode[], depth = 0, out: Array<TreeNode & { depth: number }> = []) {
  for (const n of nodes) {
    out.push({ ...n, depth });
    flatten(n.children, depth + 1, out);
  }
  return out;
}

/** Bridges between a function and its root bus, per the spec. */
function depthOf(spec: FakeHostSpec, address: string): number {
  const byAddr = new Map(spec.pci.map((f) => [f.address, f]));
  let d = 0;
  for (let f = byAddr.get(address); f?.behind; f = byAddr.get(f.behind)) d++;
  return d;
}

describe.each(WHOLE_HOSTS.map((s) => [s.name, s] as const))(
  "list --tree on fixture %s",
  (name, spec) => {
    const snap = fixturePath(name);

    it("--json nests every function under the bridge its spec puts it behind", async () => {
      const { code, json } = await cliJson(["list", "--tree", "--snapshot", snap]);
      expect(code).toBe(0);
      const flat = json.tree.flatMap((r: { devices: TreeNode[] }) => flatten(r.devices));
      expect(flat.map((n: TreeNode) => n.address).sort()).toEqual(
        spec.pci.map((f) => f.address).sort(),
      );
      for (const n of flat) {
        const f = spec.pci.find((x) => x.address === n.address)!;
        expect(n.parent, n.address).toBe(f.behind ?? null);
        expect(n.depth, n.address).toBe(depthOf(spec, n.address));
        expect(n.iommuGroup, n.address).toBe(spec.iommu && f.group !== undefined ? f.group : null);
        expect(n.driver, n.address).toBe(f.driver ?? null);
        for (const c of n.children) expect(c.parent).toBe(n.address);
      }
      // Root buses are the domain:bus of the functions with nothing above them.
      const roots = [
        ...new Set(spec.pci.filter((f) => !f.behind).map((f) => f.address.slice(0, 7))),
      ].sort();
      expect(json.tree.map((r: { bus: string }) => r.bus)).toEqual(roots);
    });

    it("draws one row per function, indented by depth, with its driver and group", async () => {
      const { code, stdout } = await cli(["list", "--tree", "--snapshot", snap]);
      expect(code).toBe(0);
      const lines = stdout.split("\n");
      for (const f of spec.pci) {
        const row = lines.filter((l) => l.includes(`─ ${f.address} `));
        expect(row, f.address).toHaveLength(1);
        const cells = row[0]!.split(/\s{2,}/);
        // "│  ├─ 0000:01:00.0": 3 characters of tree per level above, then the connector.
        expect(row[0]!.indexOf(f.address), f.address).toBe(3 * depthOf(spec, f.address) + 3);
        expect(cells).toContain(f.driver ?? "-");
        expect(cells).toContain(spec.iommu && f.group !== undefined ? String(f.group) : "-");
        expect(cells).toContain(`${f.vendor}:${f.device}`);
      }
      expect(stdout).not.toContain("\u001b["); // not a TTY: no colour
    });

    it("lists groups with several functions, or says the IOMMU is off", async () => {
      const { stdout } = await cli(["list", "--tree", "--snapshot", snap]);
      const groups = new Map<number, string[]>();
      for (const f of spec.pci)
        if (f.group !== undefined) groups.set(f.group, [...(groups.get(f.group) ?? []), f.address]);
      const shared = [...groups].filter(([, a]) => a.length > 1);
      if (!spec.iommu) expect(stdout).toContain("IOMMU off: no groups");
      else
        for (const [id, addrs] of shared)
          expect(stdout).toMatch(
            new RegExp(
              `group ${id}\\s+${addrs
                .sort()
                .map((a) => a.replace(/\./g, "\\.") + "( \\(bridge\\))?")
                .join(", ")}`,
            ),
          );
    });
  },
);

describe.each(WHOLE_HOSTS.map((s) => [s.name, s] as const))(
  "list --usb on fixture %s",
  (name, spec) => {
    const snap = fixturePath(name);
    const controllerOf = (bus: number) => spec.pci.find((f) => f.usbBus === bus)!;

    it("--json gives each device its bus-port, Proxmox host= forms, controller and group", async () => {
      const { code, json } = await cliJson(["list", "--usb", "--snapshot", snap]);
      expect(code).toBe(0);
      const devices = json.usb.filter((u: { rootHub: boolean }) => !u.rootHub);
      expect(devices.map((u: { busPort: string }) => u.busPort).sort()).toEqual(
        (spec.usb ?? []).map((u) => u.name).sort(),
      );
      for (const u of spec.usb ?? []) {
        const got = devices.find((d: { busPort: string }) => d.busPort === u.name);
        const ctrl = controllerOf(Number(u.name.split("-")[0]));
        expect(got).toMatchObject({
          vendorId: u.vendor,
          productId: u.product,
          controller: ctrl.address,
          iommuGroup: spec.iommu ? (ctrl.group ?? null) : null,
          proxmox: { byId: `host=${u.vendor}:${u.product}`, byPort: `host=${u.name}` },
        });
        const kbd = u.interfaces.some(([c, s, p]) => c === "03" && s === "01" && p === "01");
        const mouse = u.interfaces.some(([c, s, p]) => c === "03" && s === "01" && p === "02");
        expect(got.kinds.includes("keyboard"), u.name).toBe(kbd);
        expect(got.kinds.includes("mouse"), u.name).toBe(mouse);
        expect(got.kinds.includes("hub"), u.name).toBe(u.interfaces.some(([c]) => c === "09"));
      }
      // Every USB controller appears, with its buses and the devices behind it.
      const ctrls = spec.pci.filter((f) => f.class.startsWith("0c03"));
      expect(json.usbControllers.map((c: { address: string }) => c.address).sort()).toEqual(
        ctrls.map((c) => c.address).sort(),
      );
      for (const c of json.usbControllers) {
        const f = spec.pci.find((x) => x.address === c.address)!;
        expect(c.buses).toEqual(f.usbBus !== undefined ? [f.usbBus] : []);
        expect(c.devices.sort()).toEqual(
          (spec.usb ?? [])
            .filter((u) => f.usbBus !== undefined && u.name.startsWith(`${f.usbBus}-`))
            .map((u) => u.name)
            .sort(),
        );
      }
    });

    it("prints one aligned row per device", async () => {
      const { stdout } = await cli(["list", "--usb", "--snapshot", snap]);
      const header = stdout.split("\n").find((l) => l.startsWith("BUS-PORT"));
      for (const u of spec.usb ?? []) {
        const row = stdout.split("\n").find((l) => l.startsWith(`${u.name} `));
        expect(row, u.name).toBeDefined();
        // Columns line up under the header.
        expect(row!.indexOf(`${u.vendor}:${u.product}`)).toBe(header!.indexOf("IDS"));
        expect(row!.indexOf(controllerOf(Number(u.name.split("-")[0])).address)).toBe(
          header!.indexOf("CONTROLLER"),
        );
      }
    });
  },
);

describe("list --tree / --usb on the seed host (exact lines)", () => {
  const snap = fixturePath("seed-after");

  it("shows the RTX 3080 behind its GPP bridge, group 12, on vfio-pci", async () => {
    const { stdout } = await cli(["list", "--tree", "--snapshot", snap]);
    const lines = stdout.split("\n");
    expect(lines[0]).toBe("passthrough list — pve · 28 IOMMU groups · 39 PCI functions");
    expect(lines).toContain(
      "├─ 0000:00:01.1           PCI bridge [0604]   1022:14db  pcieport       1      Advanced Micro Devices, Inc. [AMD] Raphael/Granite Ridge GPP Bridge",
    );
    expect(lines).toContain(
      "│  ├─ 0000:01:00.0        VGA [0300]          10de:2206  vfio-pci       12     NVIDIA Corporation GA102 [GeForce RTX 3080]",
    );
    expect(lines).toContain(
      "│  └─ 0000:01:00.1        audio [0403]        10de:1aef  vfio-pci       12     NVIDIA Corporation GA102 High Definition Audio Controller",
    );
    expect(lines).toContain(
      "│     │  └─ 0000:08:00.0  ethernet [0200]     10ec:8125  r8169          18     Realtek Semiconductor Co., Ltd. RTL8125 2.5GbE Controller",
    );
    expect(lines).toContain("  group 12  0000:01:00.0, 0000:01:00.1");
  });

  it("shows the keyboard and mouse on the CPU's xHCI 10:00.3, alone in group 29", async () => {
    const { stdout } = await cli(["list", "--usb", "--snapshot", snap]);
    const lines = stdout.split("\n");
    expect(lines).toContain(
      "3-1       046d:c31c  keyboard, hid  0000:10:00.3  29     Logitech USB Keyboard",
    );
    expect(lines).toContain(
      "3-2       046d:c092  mouse, hid     0000:10:00.3  29     Logitech G203 LIGHTSYNC Gaming Mouse",
    );
    expect(lines).toContain("  qm set VMID --usb0 host=046d:c31c      qm set VMID --usb0 host=3-1");
    expect(lines.find((l) => l.startsWith("  0000:10:00.3"))).toMatch(
      /bus 3\s+group 29\s+alone in its group\s+2 devices: 3-1 3-2/,
    );
  });

  it("colours only on a TTY, and never with NO_COLOR", async () => {
    const tty = await cli(["list", "--tree", "--snapshot", snap], {}, { tty: true });
    expect(tty.stdout).toContain("\u001b[");
    const noColor = await cli(
      ["list", "--tree", "--snapshot", snap],
      { NO_COLOR: "1" },
      { tty: true },
    );
    expect(noColor.stdout).not.toContain("\u001b[");
    // Colour never breaks alignment: stripped, the TTY output equals the plain one.
    const plain = await cli(["list", "--tree", "--snapshot", snap]);
    expect(stripVTControlCharacters(tty.stdout)).toBe(plain.stdout);
  });
});
