// One parser of --device (and --group) for every command: the same forms and the same words
// everywhere, and an empty value is an error, never "nothing selected yet" (exit 0).
import { describe, expect, it } from "vitest";
import { InputError } from "../../src/errors.js";
import {
  formatDeviceArgs,
  parseDeviceArgs,
  parseGroupArgs,
  quoteInput,
} from "../../src/formats/device-selection.js";
import { widenToSlots, type SlotFunction } from "../../src/host/whole-slot.js";
import { cli } from "../helpers/cli.js";
import { fixturePath } from "../helpers/fixtures.js";

const addresses = (v: string | string[]) => parseDeviceArgs(v).map((r) => r.address);

describe("parseDeviceArgs", () => {
  it("takes slots and functions in short and full form, comma lists and repeated flags", () => {
    expect(addresses("01:00")).toEqual(["0000:01:00"]);
    expect(addresses("0000:01:00.1")).toEqual(["0000:01:00.1"]);
    expect(addresses("1:0.1")).toEqual(["0000:01:00.1"]);
    expect(addresses("01:00,02:00.0")).toEqual(["0000:01:00", "0000:02:00.0"]);
    expect(addresses(["01:00", " 02:00 "])).toEqual(["0000:01:00", "0000:02:00"]);
    expect(addresses(["01:00", "0000:01:00"])).toEqual(["0000:01:00"]); // once each
    expect(parseDeviceArgs("0a:00.3")[0]).toEqual({ address: "0000:0a:00.3", isFunction: true });
    expect(parseDeviceArgs(undefined)).toEqual([]);
  });

  it("refuses empty entries and non-addresses with one line naming the value", () => {
    for (const bad of ["", " ", ",", "01:00,", ",01:00", "01:00,,02:00"])
      expect(() => parseDeviceArgs(bad), JSON.stringify(bad)).toThrow(
        /an empty entry; give a slot/,
      );
    for (const bad of ["gpu0", "01:00.8", "01:20", "00001:01:00", "01-00"])
      expect(() => parseDeviceArgs(bad), bad).toThrow(InputError);
    expect(() => parseDeviceArgs("gpu0")).toThrow(
      "--device gpu0: not a PCI address; write a slot like 0000:01:00 (every function) or a function like 0000:01:00.1",
    );
  });

  it("echoes hostile input cut and escaped", () => {
    const long = "9".repeat(100_000);
    let message = "";
    try {
      parseDeviceArgs(long);
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message.length).toBeLessThan(250);
    expect(quoteInput("a\u001b[31mb")).toBe('"a\\u001b[31mb"');
    expect(quoteInput("two words")).toBe('"two words"');
    expect(quoteInput("0000:01:00")).toBe("0000:01:00");
  });

  it("formats a selection back into one flag value", () => {
    expect(formatDeviceArgs(parseDeviceArgs(["01:00", "02:00.1"]))).toBe("0000:01:00,0000:02:00.1");
  });
});

describe("parseGroupArgs", () => {
  it("takes group numbers, repeated or comma-separated", () => {
    expect(parseGroupArgs(["12", "3,4"])).toEqual([12, 3, 4]);
    expect(parseGroupArgs(undefined)).toEqual([]);
  });

  it("refuses what is not a kernel group id, echoing the text as typed", () => {
    expect(() => parseGroupArgs(["99999999999999999999999"])).toThrow(
      /^--group 99999999999999999999999: not an IOMMU group number/,
    );
    for (const bad of ["", "-1", "1.5", "twelve", "2147483648", "0x10"])
      expect(() => parseGroupArgs([bad]), bad).toThrow(InputError);
  });
});

describe("every command parses --device the same way", () => {
  const snap = fixturePath("seed-after");
  const commands = [
    ["check", "--snapshot", snap],
    ["plan", "--snapshot", snap],
    ["verify", "--snapshot", snap],
  ];

  it.each(commands)("%s: an empty --device is exit 2 with the same one line", async (...argv) => {
    for (const value of ["", ",", " "]) {
      const r = await cli([...argv, "--device", value]);
      expect(r.code, `${argv[0]} --device ${JSON.stringify(value)}`).toBe(2);
      expect(r.stdout).toBe("");
      expect(r.stderr).toMatch(
        /^error: --device .*: an empty entry; give a slot like 0000:01:00 \(every function\) or a function like 0000:01:00\.1 \(`passthrough check` lists the devices\)\n$/,
      );
    }
  });

  it.each(commands)("%s: a bad address is exit 2 with the same one line", async (...argv) => {
    const r = await cli([...argv, "--device", "zz:00"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      "error: --device zz:00: not a PCI address; write a slot like 0000:01:00 (every function) or a function like 0000:01:00.1\n",
    );
  });

  it("apply refuses an empty --device before touching anything", async () => {
    const r = await cli(["apply", "--device", "", "--yes", "--root", "/nonexistent-root"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^error: --device "": an empty entry/);
  });

  it("check judges a comma list of devices", async () => {
    const two = fixturePath("two-identical-gpus");
    const whole = JSON.parse((await cli(["check", "--snapshot", two, "--json"])).stdout);
    const slots: string[] = whole.candidates.slice(0, 2).map((c: { address: string }) => c.address);
    expect(slots).toHaveLength(2);
    const r = await cli(["check", "--snapshot", two, "--json", "--device", slots.join(",")]);
    const json = JSON.parse(r.stdout);
    expect(json.device).toBe(slots.join(","));
    const subjects = new Set(
      json.findings
        .filter((f: { id: string }) => f.id === "candidate.isolation")
        .map((f: { subject: string }) => f.subject),
    );
    expect(subjects).toEqual(new Set(slots));
  });
});

describe("a function of a multi-function device in one IOMMU group selects its slot", () => {
  const fn = (address: string, iommuGroup: number | null, extra: Partial<SlotFunction> = {}) => ({
    address,
    iommuGroup,
    isBridge: false,
    physfn: null,
    ...extra,
  });

  it("widens 01:00.0 to 01:00 when .0 and .1 share a group, with one note per slot", () => {
    const pci = [fn("0000:01:00.0", 12), fn("0000:01:00.1", 12), fn("0000:02:00.0", 13)];
    const r = widenToSlots(pci, parseDeviceArgs("01:00.0,01:00.1,02:00.0"));
    expect(r.refs).toEqual([
      { address: "0000:01:00", isFunction: false },
      { address: "0000:02:00.0", isFunction: true },
    ]);
    expect(r.notes).toEqual([
      `0000:01:00.0, 0000:01:00.1: 0000:01:00 has 2 functions in IOMMU group 12, which a VM can only get together, so the whole slot 0000:01:00 is selected (Proxmox's "All Functions")`,
    ]);
  });

  it("keeps the function when the others sit in another group, are VFs, or there is no IOMMU", () => {
    const split = [fn("0000:01:00.0", 12), fn("0000:01:00.1", 13)];
    expect(widenToSlots(split, parseDeviceArgs("01:00.0")).refs[0]!.address).toBe("0000:01:00.0");
    const vf = [fn("0000:03:00.0", 5), fn("0000:03:00.1", 5, { physfn: "0000:03:00.0" })];
    expect(widenToSlots(vf, parseDeviceArgs("03:00.1")).notes).toEqual([]);
    const off = [fn("0000:01:00.0", null), fn("0000:01:00.1", null)];
    expect(widenToSlots(off, parseDeviceArgs("01:00.0")).notes).toEqual([]);
  });

  it("plan --device 0000:01:00.0 on the seed host plans the slot and says so in one line", async () => {
    const r = await cli([
      "plan",
      "--snapshot",
      "examples/seed-host.tar.gz",
      "--device",
      "0000:01:00.0",
    ]);
    expect(r.code).toBeLessThan(2);
    expect(r.stderr.trim().split("\n")).toEqual([
      expect.stringMatching(
        /^note: 0000:01:00\.0: 0000:01:00 has 2 functions in IOMMU group \d+, .* whole slot 0000:01:00 is selected/,
      ),
    ]);
    expect(r.stdout).toContain("0000:01:00.1");
  });
});
