// The option ROM and VFCT parsers (src/formats/option-rom.ts, acpi-vfct.ts) on the crafted
// fixtures (test/fixtures/roms, from test/fixtures/specs/roms.ts): every structure they can
// meet, valid and broken.
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import {
  describeImages,
  parseOptionRom,
  romBody,
  stripHeaderCommand,
  uefiImageForX64,
} from "../../src/formats/option-rom.js";
import { parseVfct, vfctImageFor } from "../../src/formats/acpi-vfct.js";
import { REPO } from "../helpers/fixtures.js";

const rom = (name: string) => fs.readFileSync(path.join(REPO, "test/fixtures/roms", name));
const kinds = (b: Buffer) => parseOptionRom(b).problems.map((p) => p.kind);

describe("parseOptionRom", () => {
  it("walks a legacy + UEFI ROM: signature, PCIR ids, code types, checksum, padding", () => {
    const p = parseOptionRom(rom("nvidia-gop.rom"));
    expect(p.problems).toEqual([]);
    expect(p.prefix).toBe(0);
    expect(p.images.map((i) => [i.offset, i.length, i.codeTypeName, i.last])).toEqual([
      [0, 65536, "legacy x86", false],
      [65536, 61440, "UEFI", true],
    ]);
    expect(p.images.map((i) => `${i.vendorId}:${i.deviceId} ${i.classCode}`)).toEqual([
      "10de:2206 030000",
      "10de:2206 030000",
    ]);
    expect(p.images[0]!.checksum).toEqual({ ok: true, sum: 0, bytes: 65536 });
    expect(p.images[1]!.efi).toMatchObject({
      signatureOk: true,
      machineName: "x64",
      subsystemName: "boot service driver",
      compressed: false,
    });
    expect(p.trailing).toBe(256 * 1024 - 65536 - 61440);
    expect(uefiImageForX64(p)?.offset).toBe(65536);
    expect(describeImages(p)).toBe("legacy x86 (64 KiB), UEFI x64 boot service driver (60 KiB)");
  });

  it("finds the ROM behind nvflash's header and says how to cut it off", () => {
    const b = rom("nvidia-nvflash.rom");
    const p = parseOptionRom(b);
    expect(p.prefix).toBe(0x600);
    expect(p.nvflashHeader).toBe(true);
    expect(p.images).toHaveLength(2);
    expect(romBody(b, p).equals(rom("nvidia-gop.rom"))).toBe(true);
    expect(stripHeaderCommand("/tmp/a b.rom", "out.rom", p.prefix)).toBe(
      "dd 'if=/tmp/a b.rom' of=out.rom bs=4096 iflag=skip_bytes skip=1536",
    );
  });

  it("a ROM without a UEFI image, or with one for another architecture, has none for OVMF", () => {
    expect(uefiImageForX64(parseOptionRom(rom("amd-legacy-only.rom")))).toBeNull();
    const arm = parseOptionRom(rom("arm64-only.rom"));
    expect(arm.images[0]!.efi?.machineName).toBe("aarch64");
    expect(uefiImageForX64(arm)).toBeNull();
  });

  it("names what is broken", () => {
    expect(kinds(rom("bad-checksum.rom"))).toEqual(["checksum"]);
    expect(parseOptionRom(rom("bad-checksum.rom")).problems[0]!.message).toMatch(
      /sum to 0x01, not 0/,
    );
    expect(kinds(rom("truncated.rom"))).toEqual(["truncated"]);
    expect(kinds(rom("broken-chain.rom"))).toEqual(["broken-chain"]);
    expect(kinds(rom("not-a-rom.bin"))).toEqual(["not-a-rom"]);
    expect(kinds(Buffer.alloc(0))).toEqual(["empty"]);
    // The chain ends with the file although no image said it was the last.
    const open = rom("broken-chain.rom").subarray(0, 65536);
    expect(kinds(open)).toEqual(["no-last-image"]);
    // A header cut inside its first bytes.
    expect(kinds(Buffer.from([0x55, 0xaa, 0x80]))).toEqual(["truncated"]);
  });

  it("a 55AA without a PCIR structure is not a ROM, wherever it is", () => {
    const b = Buffer.alloc(4096);
    b[0] = 0x55;
    b[1] = 0xaa;
    b.writeUInt16LE(0x100, 0x18);
    expect(kinds(b)).toEqual(["no-pcir"]);
    expect(kinds(Buffer.concat([Buffer.from("xx"), b]))).toEqual(["not-a-rom"]);
  });
});

describe("parseVfct", () => {
  it("lists the VBIOS images of an APU's VFCT table and finds the iGPU's", () => {
    const v = parseVfct(rom("vfct-phoenix.bin"));
    expect(v.problems).toEqual([]);
    expect(v.checksumOk).toBe(true);
    expect(v.images).toHaveLength(1);
    const img = vfctImageFor(v, "0000:c5:00.0", { vendorId: "1002", deviceId: "15bf" });
    expect(img).not.toBeNull();
    const p = parseOptionRom(img!.image);
    expect(p.problems).toEqual([]);
    expect(p.images.map((i) => i.codeTypeName)).toEqual(["legacy x86", "UEFI"]);
    expect(vfctImageFor(v, "0000:c5:00.1", { vendorId: "1002", deviceId: "15bf" })).toBeNull();
    expect(vfctImageFor(v, "0000:c5:00.0", { vendorId: "1002", deviceId: "1681" })).toBeNull();
  });

  it("refuses what is not one, and notices damage", () => {
    expect(parseVfct(rom("not-a-rom.bin")).problems[0]).toMatch(/not a VFCT table/);
    const b = Buffer.from(rom("vfct-phoenix.bin"));
    b[200] = b[200]! ^ 0xff;
    expect(parseVfct(b).problems).toEqual(["the ACPI table checksum does not add up to 0"]);
    const cut = rom("vfct-phoenix.bin").subarray(0, 1000);
    expect(parseVfct(cut).problems[0]).toMatch(/truncated/);
  });
});
