// Properties of every parser and codec that reads host or user input, over generated input
// (fast-check): none throws on arbitrary text, and those that print what they read give it
// back. The number of cases is bounded (NUM_RUNS) so CI time stays predictable; a failure
// prints the shrunk counter-example and the seed to replay it.
import * as zlib from "node:zlib";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  editCmdline,
  formatParam,
  parseCmdline,
  printCmdline,
} from "../../src/formats/kernel-cmdline.js";
import { parseModprobeConf, printModprobeConf } from "../../src/formats/modprobe-conf.js";
import { parseModuleList, appendModules } from "../../src/formats/module-lists.js";
import { parseOsRelease } from "../../src/formats/os-release.js";
import { PciIdsDb } from "../../src/formats/pci-ids.js";
import {
  parsePropertyString,
  printPropertyString,
  setProperty,
  getProperty,
} from "../../src/formats/proxmox-property-string.js";
import { parseVmConfig } from "../../src/formats/proxmox-vm-config.js";
import {
  evaluateShellFiles,
  parseShellFile,
  replaceAssignmentValue,
} from "../../src/formats/shell-assignments.js";
import { parseDeviceArgs, parseGroupArgs } from "../../src/formats/device-selection.js";
import { InputError } from "../../src/errors.js";
import {
  MAX_UNPACKED_BYTES,
  TarFormatError,
  encodeTar,
  gunzipTar,
  parseTar,
} from "../../src/host/tar-format.js";

const NUM_RUNS = 400;
const run = <T>(arb: fc.Arbitrary<T>, check: (v: T) => void, numRuns = NUM_RUNS) =>
  fc.assert(fc.property(arb, check), { numRuns });

/** Text that looks like a config file: lines of config-ish characters, and some anything. */
const configText = fc.oneof(
  fc
    .array(fc.stringMatching(/^[ \t#a-zA-Z0-9_=.,:*"'\\$-]{0,40}$/), { maxLength: 12 })
    .map((l) => l.join("\n")),
  fc.string({ unit: "binary", maxLength: 200 }),
);
const word = fc.stringMatching(/^[a-z][a-z0-9_.-]{0,11}$/);
const value = fc.stringMatching(/^[a-zA-Z0-9:_.-]{0,12}$/);

describe("kernel command line", () => {
  it("never throws; printing the parsed line gives its parameters back", () =>
    run(configText, (line) => {
      const params = parseCmdline(line);
      expect(parseCmdline(printCmdline(params)).map((p) => p.raw)).toEqual(
        params.map((p) => p.raw),
      );
    }));

  it("a formatted key=value parses back to the same key and value", () =>
    run(fc.tuple(word, fc.option(value, { nil: null })), ([k, v]) => {
      const [p] = parseCmdline(formatParam(k, v));
      expect(p).toMatchObject({ key: k, value: v === "" ? "" : v });
    }));

  it("editCmdline adds what it is asked to and keeps every other parameter in order", () =>
    run(fc.tuple(fc.array(fc.tuple(word, value), { maxLength: 8 }), word), ([pairs, added]) => {
      const line = pairs.map(([k, v]) => formatParam(k, v)).join("  ");
      const before = parseCmdline(line).map((p) => p.raw);
      const raw = formatParam(`zz_${added}`, "1");
      const after = parseCmdline(editCmdline(line, { add: parseCmdline(raw) })).map((p) => p.raw);
      expect(after).toEqual([...before, raw]);
      const removed = parseCmdline(editCmdline(`${line} ${raw}`, { remove: [raw] })).map(
        (p) => p.raw,
      );
      expect(removed).toEqual(before);
    }));
});

describe("modprobe.d and module lists", () => {
  it("never throw; every directive names its 1-based line", () =>
    run(configText, (text) => {
      const lines = text.split("\n").length;
      for (const d of parseModprobeConf("x.conf", text)) {
        expect(d.line).toBeGreaterThanOrEqual(1);
        expect(d.line).toBeLessThanOrEqual(lines);
      }
      parseModuleList("modules", text);
    }));

  it("printed blacklist lines parse back to the same modules", () =>
    run(fc.uniqueArray(word, { maxLength: 8 }), (mods) => {
      const text = printModprobeConf(
        ["# header"],
        mods.map((m) => `blacklist ${m}`),
      );
      const parsed = parseModprobeConf("x.conf", text);
      expect(parsed.map((d) => [d.command, d.module])).toEqual(
        mods.map((m) => ["blacklist", m.replace(/-/g, "_")]),
      );
    }));

  it("appendModules lists each module once and keeps the existing text", () =>
    run(fc.tuple(configText, fc.array(word, { maxLength: 5 })), ([text, mods]) => {
      const out = appendModules(text, mods);
      expect(out.startsWith(text.replace(/\n*$/, ""))).toBe(true);
      const listed = parseModuleList("m", out).map((e) => e.module);
      for (const m of mods) expect(listed).toContain(m.replace(/-/g, "_"));
      expect(appendModules(out, mods)).toBe(out);
    }));
});

describe("shell assignments (/etc/default/grub)", () => {
  it("never throw; replacing a value changes only that value", () =>
    run(configText, (text) => {
      const parsed = parseShellFile("grub", text);
      evaluateShellFiles([parsed]);
      for (const a of parsed.assignments.slice(0, 3)) {
        const edited = replaceAssignmentValue(text, a, "quiet iommu=pt");
        const again = parseShellFile("grub", edited);
        expect(evaluateShellFiles([again]).vars[a.name] !== undefined).toBe(true);
        const lines = text.split("\n");
        const editedLines = edited.split("\n");
        expect(editedLines.length).toBe(lines.length);
        lines.forEach((l, i) => i !== a.line - 1 && expect(editedLines[i]).toBe(l));
      }
    }));

  it("a value written with replaceAssignmentValue reads back exactly", () =>
    run(
      fc.string({ maxLength: 40 }).filter((v) => !v.includes("\n")),
      (v) => {
        const text = 'GRUB_DEFAULT=0\nGRUB_CMDLINE_LINUX_DEFAULT="quiet"\n';
        const a = parseShellFile("grub", text).assignments[1]!;
        const out = replaceAssignmentValue(text, a, v);
        expect(
          evaluateShellFiles([parseShellFile("grub", out)]).vars.GRUB_CMDLINE_LINUX_DEFAULT,
        ).toBe(v);
      },
    ));
});

describe("Proxmox property strings and VM configs", () => {
  const entry = fc.tuple(
    word.filter((k) => k !== "host"),
    value.filter((v) => !v.includes(",")),
  );
  it("print(parse(x)) round-trips a property string with its default key", () =>
    run(
      fc.tuple(
        fc.stringMatching(/^[0-9a-f:.]{1,12}$/),
        fc.uniqueArray(entry, { selector: ([k]) => k, maxLength: 6 }),
      ),
      ([host, entries]) => {
        const text = [host, ...entries.map(([k, v]) => `${k}=${v}`)].join(",");
        const ps = parsePropertyString(text, "host");
        expect(printPropertyString(ps, "host")).toBe(text);
        expect(getProperty(setProperty(ps, "pcie", "1"), "pcie")).toBe("1");
        expect(getProperty(setProperty(ps, "pcie", null), "pcie")).toBeUndefined();
      },
    ));

  it("parseVmConfig never throws; values come without surrounding blanks", () =>
    run(configText, (text) => {
      const c = parseVmConfig(text);
      for (const v of Object.values(c.main)) expect(v).toBe(v.trim());
    }));

  it("a config printed as key: value lines parses back", () =>
    run(
      fc.uniqueArray(
        fc.tuple(
          fc.stringMatching(/^[a-z][a-z_]{0,8}\d?$/),
          fc.stringMatching(/^[!-~][ -~]{0,30}[!-~]$/),
        ),
        { selector: ([k]) => k, maxLength: 10 },
      ),
      (pairs) => {
        const c = parseVmConfig(pairs.map(([k, v]) => `${k}: ${v}`).join("\n"));
        expect(c.main).toEqual(Object.fromEntries(pairs));
      },
    ));
});

describe("pci.ids, os-release, --device and --group", () => {
  it("PciIdsDb answers lookups on any text without throwing", () =>
    run(
      fc.tuple(configText, fc.stringMatching(/^[0-9a-f]{4}$/), fc.stringMatching(/^[0-9a-f]{4}$/)),
      ([text, v, d]) => {
        const db = PciIdsDb.fromBytes(Buffer.from(text, "latin1"), "x");
        db.vendorName(v);
        db.deviceName(v, d);
        db.className("030000");
      },
    ));

  it("PciIdsDb finds a vendor and device it was given", () =>
    run(
      fc.tuple(
        fc.stringMatching(/^[0-9a-f]{4}$/),
        fc.stringMatching(/^[0-9a-f]{4}$/),
        fc.stringMatching(/^[A-Za-z][A-Za-z0-9 ]{0,20}[A-Za-z0-9]$/),
      ),
      ([v, d, name]) => {
        const db = new PciIdsDb(`# c\n${v}  Vendor ${name}\n\t${d}  Device ${name}\n`, "x");
        expect(db.vendorName(v)).toBe(`Vendor ${name}`);
        expect(db.deviceName(v, d)).toBe(`Device ${name}`);
      },
    ));

  it('os-release: never throws; KEY="value" reads back', () => {
    run(configText, (t) => void parseOsRelease(t));
    run(
      fc.tuple(
        fc.stringMatching(/^[A-Z][A-Z0-9_]{0,10}$/),
        fc.stringMatching(/^([!#-~]([ !#-~]{0,28}[!#-~])?)?$/),
      ),
      ([k, v]) => {
        const quoted = v.replace(/(["\\$`])/g, "\\$1");
        expect(parseOsRelease(`${k}="${quoted}"\n`)[k]).toBe(v);
      },
    );
  });

  it("--device and --group: any value is a selection or an InputError, never another error", () =>
    run(fc.array(fc.string({ maxLength: 30 }), { maxLength: 4 }), (values) => {
      for (const parse of [parseDeviceArgs, parseGroupArgs] as Array<(v: string[]) => unknown>) {
        try {
          parse(values);
        } catch (err) {
          expect(err).toBeInstanceOf(InputError);
          expect((err as Error).message).not.toContain("\n");
          expect((err as Error).message.length).toBeLessThan(600);
        }
      }
    }));
});

describe("tar and gzip", () => {
  const entryArb = fc.record({
    path: fc.stringMatching(/^[a-z0-9_]{1,20}(\/[a-z0-9_.]{1,30}){0,4}$/),
    data: fc.uint8Array({ maxLength: 600 }),
  });
  it("parseTar(encodeTar(x)) gives back the files, paths and bytes", () =>
    run(
      fc.uniqueArray(entryArb, { selector: (e) => e.path, maxLength: 6 }),
      (files) => {
        const tar = encodeTar(
          files.map((f) => ({
            path: f.path,
            type: "File" as const,
            data: Buffer.from(f.data),
            mode: 0o644,
            mtime: new Date(0),
          })),
        );
        const back = parseTar(tar);
        expect(back.map((e) => [e.path, e.type, Buffer.from(e.data).toString("hex")])).toEqual(
          files.map((f) => [f.path, "File", Buffer.from(f.data).toString("hex")]),
        );
        expect(gunzipTar(zlib.gzipSync(tar)).length).toBe(files.length);
      },
      200,
    ));

  it("arbitrary or damaged archives give a TarFormatError, nothing else", () =>
    run(
      fc.tuple(fc.uint8Array({ maxLength: 3000 }), fc.nat(), fc.integer({ min: 0, max: 255 })),
      ([junk, at, byte]) => {
        const base = encodeTar([
          {
            path: "etc/x.conf",
            type: "File",
            data: Buffer.from("blacklist x\n"),
            mode: 0o644,
            mtime: new Date(0),
          },
        ]);
        const damaged = Buffer.from(base);
        damaged[at % damaged.length] = byte;
        for (const input of [Buffer.from(junk), damaged]) {
          try {
            parseTar(input);
          } catch (err) {
            expect(err).toBeInstanceOf(TarFormatError);
          }
          try {
            gunzipTar(input);
          } catch (err) {
            expect(err).toBeInstanceOf(TarFormatError);
          }
        }
      },
    ));

  it("refuses an archive that inflates past the bound", () => {
    const bomb = zlib.gzipSync(Buffer.alloc(MAX_UNPACKED_BYTES + 1024));
    expect(() => gunzipTar(bomb)).toThrow(TarFormatError);
  });
});
