// `snapshot --redact`: the identifying values must be gone from every file, path and link of
// the archive, and the snapshot must still diagnose the same.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { snapshotToFile } from "../../src/cli/commands/snapshot.js";
import { diskIdSecret, zeroDeviceSerialNumber } from "../../src/host/capture/redact.js";
import { openSnapshot } from "../../src/host/open-root.js";
import { readHostState } from "../../src/host/read-host.js";
import type { FakeHostSpec } from "../../tools/fakehost/spec.js";
import { seedAfter } from "../fixtures/specs/seed.js";
import { readArchive } from "../helpers/archive.js";
import { writeSpec } from "../helpers/fixtures.js";

const HOST = "tower-7f3a";
const NVME = "sys/devices/pci0000:00/0000:00:01.2/0000:02:00.0";
const NIC = "sys/devices/pci0000:00/0000:00:02.1/0000:03:00.0/0000:04:08.0/0000:08:00.0";
const MAC = "a8:a1:59:12:34:56";
const WIFI_MAC = "d4:d8:53:ab:cd:ef";
const SECRETS = [
  HOST,
  "KBD0SERIAL4242",
  "SNVME9X8Y7Z6",
  "DMIPRODSER123",
  "BRDSER-556677",
  "ace42e0035a1b2c3",
  "1324021012345",
  "GPU-5f6e7d8c-1111-2222-3333-444455556666",
  MAC,
  WIFI_MAC,
  MAC.replace(/:/g, ""),
];

/** The seed host with every kind of identifying value filled in. */
function identifiableHost(): FakeHostSpec {
  const byId = "dev/disk/by-id/nvme-SK_hynix_Platinum_P41_2TB_SNVME9X8Y7Z6";
  return {
    ...seedAfter,
    name: "identifiable",
    hostname: HOST,
    proxmox: {
      ...seedAfter.proxmox!,
      node: HOST,
      mappingPci: `gpu\n\tmap id=10de:2206,iommugroup=12,node=${HOST},path=0000:01:00.0,subsystem-id=19da:1612\n`,
    },
    usb: seedAfter.usb!.map((u) => (u.name === "3-1" ? { ...u, serial: "KBD0SERIAL4242" } : u)),
    dmesg: [
      ...seedAfter.dmesg,
      `systemd[1]: Hostname set to <${HOST}>.`,
      `r8169 0000:08:00.0 eth0: RTL8125B, ${MAC}, XID 641, IRQ 138`,
      "usb 3-1: SerialNumber: KBD0SERIAL4242",
    ],
    files: {
      ...seedAfter.files,
      [`${NVME}/nvme/nvme0/serial`]: "SNVME9X8Y7Z6        \n",
      [`${NVME}/nvme/nvme0/model`]: "SHPP41-2000GM                           \n",
      [`${NIC}/net/enp8s0/address`]: `${MAC}\n`,
      "sys/devices/virtual/net/vmbr0/address": `${MAC}\n`,
      "sys/devices/pci0000:00/0000:00:02.1/0000:03:00.0/0000:04:00.0/0000:07:00.0/net/wlp7s0/address": `${WIFI_MAC}\n`,
      "sys/devices/virtual/dmi/id/product_serial": "DMIPRODSER123\n",
      "sys/devices/virtual/dmi/id/board_serial": "BRDSER-556677\n",
      "sys/devices/virtual/dmi/id/chassis_serial": "Default string\n",
      "cmd/zpool-status": `  pool: rpool\n state: ONLINE\nconfig:\n\n\tNAME  STATE  READ WRITE CKSUM\n\trpool  ONLINE  0 0 0\n\t  /${byId}-part3  ONLINE  0 0 0\n`,
      "cmd/nvidia-smi-q":
        "    Serial Number                         : 1324021012345\n    GPU UUID                              : GPU-5f6e7d8c-1111-2222-3333-444455556666\n",
    },
    links: {
      "sys/class/nvme/nvme0": `../../devices/pci0000:00/0000:00:01.2/0000:02:00.0/nvme/nvme0`,
      [byId]: "../../nvme0n1",
      [`${byId}-part3`]: "../../nvme0n1p3",
      "dev/disk/by-id/nvme-eui.ace42e0035a1b2c3": "../../nvme0n1",
    },
  };
}

/** Add a PCIe Device Serial Number capability (id 3) at 0x1c0, chained after the last extended capability. */
function addDsn(config: Buffer, serial: Buffer): Buffer {
  const b = Buffer.from(config);
  let off = 0x100;
  for (;;) {
    const next = (b.readUInt32LE(off) >>> 20) & 0xffc;
    if (next === 0) break;
    off = next;
  }
  b.writeUInt32LE((b.readUInt32LE(off) & 0x000fffff) | (0x1c0 << 20), off);
  b.writeUInt32LE(0x00010003, 0x1c0);
  serial.copy(b, 0x1c4);
  return b;
}

describe("snapshot --redact", () => {
  let tmp: string;
  let plain: string;
  let redacted: string;
  let src: { dir: string; cleanup: () => void };
  const dsn = Buffer.from([0x56, 0x34, 0x12, 0xfe, 0xff, 0x59, 0xa1, 0xa8]);

  beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "passthrough-redact-"));
    src = writeSpec(identifiableHost());
    const cfg = path.join(src.dir, NIC, "config");
    fs.writeFileSync(cfg, addDsn(fs.readFileSync(cfg), dsn));
    const now = new Date("2026-02-03T04:05:06Z");
    plain = (await snapshotToFile({ source: src.dir, output: path.join(tmp, "plain.tar.gz"), now }))
      .file;
    redacted = (
      await snapshotToFile({
        source: src.dir,
        output: path.join(tmp, "red.tar.gz"),
        now,
        redact: true,
      })
    ).file;
  });
  afterAll(() => {
    src.cleanup();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it("the plain snapshot does contain every value (so the test below can fail)", () => {
    const all = readArchive(plain)
      .map((e) => `${e.path}\n${e.linkpath}\n${e.data.toString("latin1")}`)
      .join("\n")
      .toLowerCase();
    for (const s of SECRETS.filter((x) => !/^[0-9a-f]{12}$/.test(x)))
      expect(all, s).toContain(s.toLowerCase());
  });

  it("removes them from every file, path and link target of the archive", () => {
    const entries = readArchive(redacted);
    expect(entries.length).toBeGreaterThan(1000);
    for (const e of entries) {
      for (const s of SECRETS) {
        const needle = s.toLowerCase();
        expect(e.path.toLowerCase(), `${s} in a path`).not.toContain(needle);
        expect(e.linkpath.toLowerCase(), `${s} in link ${e.path}`).not.toContain(needle);
        expect(e.data.toString("latin1").toLowerCase(), `${s} in ${e.path}`).not.toContain(needle);
      }
    }
    // The PCIe Device Serial Number is zeroed inside the binary config space, nothing else changes.
    const cfgOf = (file: string, top: string) =>
      readArchive(file).find((e) => e.path === `${top}/${NIC}/config`)!.data;
    const before = cfgOf(plain, "plain");
    const after = cfgOf(redacted, "red");
    expect(before.subarray(0x1c4, 0x1cc).equals(dsn)).toBe(true);
    expect(after.subarray(0x1c4, 0x1cc).equals(Buffer.alloc(8))).toBe(true);
    expect(
      Buffer.concat([after.subarray(0, 0x1c4), after.subarray(0x1cc)]).equals(
        Buffer.concat([before.subarray(0, 0x1c4), before.subarray(0x1cc)]),
      ),
    ).toBe(true);
  });

  it("records what was redacted in the manifest, without the host name", () => {
    const m = JSON.parse(
      readArchive(redacted)
        .find((e) => e.path === "red/manifest.json")!
        .data.toString(),
    );
    expect(m.hostname).toBeUndefined();
    expect(m.redacted).toEqual(
      expect.arrayContaining([
        "hostname",
        "usb-serial",
        "nvme-serial",
        "dmi-serial",
        "disk-id",
        "mac-address",
        "pci-dsn",
      ]),
    );
    const { manifest } = openSnapshot(redacted);
    expect(readHostState(openSnapshot(redacted).root, { manifest }).source.redacted).toEqual(
      m.redacted,
    );
  });

  it("still diagnoses the same host", () => {
    const read = (f: string) => {
      const { root, manifest } = openSnapshot(f);
      return readHostState(root, { manifest, systemPciIds: false });
    };
    const a = read(plain);
    const b = read(redacted);
    expect(b.pci).toEqual(a.pci);
    expect(b.iommu).toEqual(a.iommu);
    expect(b.hostCritical).toEqual(a.hostCritical);
    expect(b.bootloader).toEqual(a.bootloader);
    expect(b.cmdline).toEqual(a.cmdline);
    expect(b.modules).toEqual(a.modules);
    expect(b.system).toEqual({ ...a.system, hostname: "redacted-host" });
    expect(b.system.proxmox).toBe("8.1.4");
    expect(b.vms.map((v) => [v.vmid, v.node, v.config.hostpci0])).toEqual([
      [100, "redacted-host", "0000:01:00,pcie=1"],
    ]);
    const kbd = b.usb.find((u) => u.name === "3-1")!;
    expect(kbd.serial).toMatch(/^REDACTED-SERIAL-\d+$/);
    expect(b.usb.map((u) => ({ ...u, serial: null }))).toEqual(
      a.usb.map((u) => ({ ...u, serial: null })),
    );
    expect(b.unknowns).toEqual(a.unknowns);
  });

  it("keeps a short host name inside kernel versions and paths (pve, 6.5.13-5-pve, /etc/pve)", async () => {
    const s = writeSpec(seedAfter);
    try {
      const f = (
        await snapshotToFile({ source: s.dir, output: path.join(tmp, "pve.tar.gz"), redact: true })
      ).file;
      const { root, manifest } = openSnapshot(f);
      const st = readHostState(root, { manifest, systemPciIds: false });
      expect(st.system.hostname).toBe("redacted-host");
      expect(st.system.kernelRelease).toBe("6.5.13-5-pve");
      expect(st.system.proxmox).toBe("8.1.4");
      expect(st.vms.map((v) => v.node)).toEqual(["redacted-host"]);
      expect(root.readText("cmd/uname")).toEqual({
        ok: true,
        value: "Linux redacted-host 6.5.13-5-pve #1 SMP PREEMPT_DYNAMIC x86_64 GNU/Linux\n",
      });
      expect(root.readLink("etc/pve/qemu-server")).toBe("nodes/redacted-host/qemu-server");
    } finally {
      s.cleanup();
    }
  });
});

describe("redaction helpers", () => {
  it.each([
    ["nvme-Samsung_SSD_980_PRO_2TB_S6B0NL0T123456X", "S6B0NL0T123456X"],
    ["nvme-Samsung_SSD_980_PRO_2TB_S6B0NL0T123456X-part3", "S6B0NL0T123456X"],
    ["ata-WDC_WD40EFRX-68N32N0_WD-WCC7K1234567", "WD-WCC7K1234567"],
    ["usb-Generic_Flash_Disk_058F63626476-0:0", "058F63626476"],
    ["wwn-0x5000c500a1b2c3d4-part1", "0x5000c500a1b2c3d4"],
    ["nvme-eui.0025385b71b0a1b2", "0025385b71b0a1b2"],
    ["dm-name-pve-root", null],
    ["lvm-pv-uuid-abc123-def", null],
  ])("disk id %s -> %s", (name, secret) => {
    expect(diskIdSecret(name)).toBe(secret);
  });

  it("zeroes only the Device Serial Number capability", () => {
    const cfg = Buffer.alloc(4096);
    cfg.writeUInt32LE(0x14810001, 0x100); // AER -> 0x148
    cfg.writeUInt32LE(0x1601000d, 0x148); // ACS -> 0x160
    cfg.writeUInt32LE(0x00010003, 0x160); // DSN, end
    cfg.fill(0xab, 0x164, 0x16c);
    cfg.fill(0xcd, 0x16c, 0x170);
    const z = zeroDeviceSerialNumber(cfg);
    expect(z.subarray(0x164, 0x16c).equals(Buffer.alloc(8))).toBe(true);
    expect(z.subarray(0x16c, 0x170).equals(Buffer.alloc(4, 0xcd))).toBe(true);
    expect(cfg.subarray(0x164, 0x16c).equals(Buffer.alloc(8, 0xab))).toBe(true); // input untouched
    expect(zeroDeviceSerialNumber(cfg.subarray(0, 64))).toHaveLength(64);
  });
});
