// `passthrough rom inspect` and `rom dump` on the crafted ROMs (test/fixtures/roms) and on
// fixture trees with a `rom` attribute or an ACPI VFCT table: verdicts, exit codes, the
// refusals, and that bad input writes nothing.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { romSwitch } from "../../src/apply/rom-dump.js";
import { seedAfter, seedBefore } from "../fixtures/specs/seed.js";
import { pveSystemdBoot } from "../fixtures/specs/pve-systemd-boot.js";
import { cli } from "../helpers/cli.js";
import { REPO, fixturePath, writeSpec } from "../helpers/fixtures.js";

const ROMS = path.join(REPO, "test/fixtures/roms");
const rom = (name: string) => path.join(ROMS, name);
const SEED = fixturePath("seed-before");

describe("rom inspect FILE", () => {
  it("a legacy + UEFI ROM for the card: usable, exit 0", async () => {
    const r = await cli([
      "rom",
      "inspect",
      rom("nvidia-gop.rom"),
      "--device",
      "01:00.0",
      "--snapshot",
      SEED,
    ]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("image 2 at 0x10000: UEFI x64 boot service driver, 10de:2206");
    expect(r.stdout).toContain("UEFI GOP: yes (image 2)");
    expect(r.stdout).toContain("usable as the romfile of 0000:01:00.0 (10de:2206)");
  });

  it("says when OVMF has no UEFI image to run", async () => {
    for (const name of ["amd-legacy-only.rom", "arm64-only.rom"]) {
      const r = await cli(["rom", "inspect", rom(name)]);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain("UEFI GOP: no x64 UEFI image");
    }
  });

  it("exit 1 with the fix for an nvflash header, a bad checksum, a broken chain", async () => {
    const nv = await cli(["rom", "inspect", rom("nvidia-nvflash.rom")]);
    expect(nv.code).toBe(1);
    expect(nv.stdout).toMatch(
      /nvflash header of 1536 bytes .* dd if=.*nvidia-nvflash.rom of=stripped.rom bs=4096 iflag=skip_bytes skip=1536/,
    );
    expect((await cli(["rom", "inspect", rom("bad-checksum.rom")])).stdout).toContain(
      "fails its checksum",
    );
    expect((await cli(["rom", "inspect", rom("broken-chain.rom")])).code).toBe(1);
  });

  it("the ROM BAR bounds what the card can carry", async () => {
    const { dir, cleanup } = writeSpec(
      withRom(seedAfter, fs.readFileSync(rom("amd-legacy-only.rom")).subarray(0, 64 * 1024)),
    );
    try {
      const r = await cli([
        "rom",
        "inspect",
        rom("nvidia-gop.rom"),
        "--device",
        "01:00.0",
        "--root",
        dir,
      ]);
      expect(r.code).toBe(1);
      expect(r.stdout).toContain("its images take 124 KiB, more than the card's 64 KiB ROM BAR");
    } finally {
      cleanup();
    }
  });

  it("one line and exit 2 for a truncated, non-ROM, oversized or wrong-vendor file", async () => {
    const big = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "rom-")), "big.rom");
    fs.writeFileSync(big, Buffer.alloc(16 * 1024 * 1024 + 1));
    const cases: Array<[string[], RegExp]> = [
      [[rom("truncated.rom")], /truncated: the UEFI image at 0x10000 is 61440 bytes long/],
      [[rom("not-a-rom.bin")], /not a PCI option ROM/],
      [[big], /larger than 16 MiB/],
      [
        [rom("amd-legacy-only.rom"), "--device", "01:00.0", "--snapshot", SEED],
        /made for 1002:731f, not for the card 10de:2206/,
      ],
      [["/nonexistent.rom"], /nonexistent.rom/],
    ];
    for (const [args, msg] of cases) {
      const r = await cli(["rom", "inspect", ...args]);
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.stderr).toMatch(msg);
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
      expect(r.stdout).toBe("");
    }
    fs.rmSync(path.dirname(big), { recursive: true });
  });
});

function withRom(spec: typeof seedAfter, bytes: Buffer) {
  return {
    ...spec,
    pci: spec.pci.map((f) => (f.address === "0000:01:00.0" ? { ...f, rom: bytes } : f)),
  };
}

describe("rom dump", () => {
  let work: string;
  let switched: boolean[];
  beforeEach(() => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), "rom-dump-"));
    switched = [];
    // A plain tree's `rom` is a regular file: writing "1" would replace the ROM.
    vi.spyOn(romSwitch, "set").mockImplementation((_file, on) => void switched.push(on));
  });
  afterEach(() => {
    vi.restoreAllMocks();
    fs.rmSync(work, { recursive: true, force: true });
  });

  it("enables, reads and disables the sysfs ROM of a card on vfio-pci, and checks it", async () => {
    const bytes = fs.readFileSync(rom("nvidia-gop.rom"));
    const { dir, cleanup } = writeSpec(withRom(seedAfter, bytes));
    try {
      const out = path.join(work, "gpu.rom");
      const r = await cli(["rom", "dump", "--device", "01:00.0", "--root", dir, "-o", out]);
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      expect(switched).toEqual([true, false]);
      expect(fs.readFileSync(out).equals(bytes)).toBe(true);
      expect(r.stdout).toContain(`wrote ${out} (262144 bytes) from /sys/devices/`);
      expect(r.stdout).toContain("UEFI GOP: yes");
      // Never over an existing file.
      const again = await cli(["rom", "dump", "--device", "01:00.0", "--root", dir, "-o", out]);
      expect(again.code).toBe(2);
      expect(again.stderr).toContain("already exists");
    } finally {
      cleanup();
    }
  });

  it("refuses while the host driver runs the card (exit 3), and writes nothing", async () => {
    const { dir, cleanup } = writeSpec(withRom(seedBefore, fs.readFileSync(rom("nvidia-gop.rom"))));
    try {
      const out = path.join(work, "gpu.rom");
      const r = await cli(["rom", "dump", "--device", "01:00.0", "--root", dir, "-o", out]);
      expect(r.code).toBe(3);
      expect(r.stderr).toMatch(
        /0000:01:00.0 is driven by nouveau on the host: .* bind it to vfio-pci first/,
      );
      expect(switched).toEqual([]);
      expect(fs.existsSync(out)).toBe(false);
    } finally {
      cleanup();
    }
  });

  it("refuses the boot GPU under a live framebuffer", async () => {
    const spec = {
      ...seedAfter,
      pci: seedAfter.pci.map((f) =>
        f.address === "0000:01:00.0"
          ? { ...f, bootVga: true, rom: fs.readFileSync(rom("nvidia-gop.rom")) }
          : f,
      ),
    };
    const { dir, cleanup } = writeSpec(spec);
    try {
      fs.mkdirSync(path.join(dir, "proc"), { recursive: true });
      fs.writeFileSync(path.join(dir, "proc/fb"), "0 EFI VGA\n");
      const r = await cli([
        "rom",
        "dump",
        "--device",
        "01:00.0",
        "--root",
        dir,
        "-o",
        path.join(work, "x.rom"),
      ]);
      expect(r.code).toBe(3);
      expect(r.stderr).toContain(
        "is the boot GPU and a framebuffer runs on it (/proc/fb: 0 EFI VGA)",
      );
    } finally {
      cleanup();
    }
  });

  it("takes an AMD APU's VBIOS from the ACPI VFCT table", async () => {
    // The Phoenix table is for 0000:c5:00.0 1002:15bf; point it at this fixture's Cezanne iGPU.
    const table = fs.readFileSync(rom("vfct-phoenix.bin"));
    const spec = {
      ...pveSystemdBoot,
      pci: pveSystemdBoot.pci.map((f) =>
        f.address === "0000:0a:00.0"
          ? { ...f, address: "0000:c5:00.0", device: "15bf", driver: undefined, bootVga: false }
          : f,
      ),
    };
    const { dir, cleanup } = writeSpec(spec);
    try {
      fs.mkdirSync(path.join(dir, "sys/firmware/acpi/tables"), { recursive: true });
      fs.writeFileSync(path.join(dir, "sys/firmware/acpi/tables/VFCT"), table);
      const out = path.join(work, "apu.rom");
      const r = await cli(["rom", "dump", "--device", "c5:00.0", "--root", dir, "-o", out]);
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      expect(r.stdout).toContain("from /sys/firmware/acpi/tables/VFCT");
      expect(fs.readFileSync(out).subarray(0, 2).toString("hex")).toBe("55aa");
      expect(switched).toEqual([]);
      // A card the table does not hold.
      const other = await cli([
        "rom",
        "dump",
        "--device",
        "0a:00.1",
        "--root",
        dir,
        "-o",
        path.join(work, "b.rom"),
      ]);
      expect(other.code).not.toBe(0);
    } finally {
      cleanup();
    }
  });

  it("a card with no ROM at all, and a device that is not there: exit 2", async () => {
    const { dir, cleanup } = writeSpec(seedAfter);
    try {
      const none = await cli(["rom", "dump", "--device", "01:00.0", "--root", dir]);
      expect(none.code).toBe(2);
      expect(none.stderr).toContain("has no ROM the host can read");
      const absent = await cli(["rom", "dump", "--device", "09:00.0", "--root", dir]);
      expect(absent.code).toBe(2);
      expect(absent.stderr).toContain("no PCI function 0000:09:00.0");
    } finally {
      cleanup();
    }
  });
});
