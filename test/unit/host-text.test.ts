// Host files that are not UTF-8: decoded losslessly, shown with their odd bytes escaped, and
// edited so that every line the plan does not touch keeps its exact bytes.
import * as fs from "node:fs";
import * as path from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  decodeHostText,
  encodeHostText,
  hostTextBytes,
  showUndecodable,
} from "../../src/formats/host-text.js";
import { FIXTURE_SPECS } from "../fixtures/specs/index.js";
import { cli } from "../helpers/cli.js";
import { writeSpec } from "../helpers/fixtures.js";

describe("decodeHostText / encodeHostText", () => {
  it("round-trips any bytes exactly", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        const text = decodeHostText(bytes);
        expect(encodeHostText(text).equals(Buffer.from(bytes))).toBe(true);
        expect(hostTextBytes(text)).toBe(bytes.length);
      }),
      { numRuns: 5000 },
    );
  });

  it("decodes valid UTF-8 like Buffer does, U+FFFD included", () => {
    fc.assert(
      fc.property(fc.string({ unit: "grapheme", maxLength: 80 }), (s) => {
        expect(decodeHostText(Buffer.from(s, "utf8"))).toBe(s);
      }),
    );
    expect(decodeHostText(Buffer.from("a\ufffdb", "utf8"))).toBe("a\ufffdb");
  });

  it("keeps a Latin-1 byte as an escape shown as \\xNN", () => {
    const text = decodeHostText(Buffer.from([0x23, 0x20, 0x52, 0xe9, 0x0a]));
    expect(showUndecodable(text)).toBe("# R\\xe9\n");
    // A character whose surrogate pair ends in the escape range is text (found by the property).
    const astral = Buffer.from([0xf0, 0x90, 0xa2, 0x80, 0xff]);
    expect(encodeHostText(decodeHostText(astral)).equals(astral)).toBe(true);
    expect(showUndecodable(decodeHostText(astral))).toBe("\u{10880}\\xff");
    // Overlong and surrogate encodings are not UTF-8 either.
    expect(showUndecodable(decodeHostText(Buffer.from([0xc0, 0xaf, 0xed, 0xa0, 0x80])))).toBe(
      "\\xc0\\xaf\\xed\\xa0\\x80",
    );
  });
});

describe("a Latin-1 comment in blacklist.conf", () => {
  it("plans, applies and rolls back with the comment's bytes intact", async () => {
    const spec = FIXTURE_SPECS.find((s) => s.name === "seed-after")!;
    const { dir, cleanup } = writeSpec(spec);
    try {
      const file = path.join(dir, "etc/modprobe.d/blacklist.conf");
      const comment = Buffer.from("# R\xe9glages de la carte\n", "latin1");
      const original = Buffer.concat([comment, fs.readFileSync(file)]);
      fs.writeFileSync(file, original);
      const args = ["--device", "0000:01:00", "--root", dir];

      const plan = await cli(["plan", ...args]);
      expect(plan.code).toBe(0);
      expect(plan.stdout).toContain("/etc/modprobe.d/blacklist.conf");
      expect(plan.stdout).not.toContain("\ufffd");

      const applied = await cli(["apply", ...args, "--yes"]);
      expect(applied.stderr).toBe("");
      expect(applied.code).toBe(0);
      const after = fs.readFileSync(file);
      expect(after.subarray(0, comment.length).equals(comment)).toBe(true);
      expect(after.toString("latin1")).not.toContain("blacklist nvidia*");

      const undone = await cli(["rollback", "--root", dir, "--yes"]);
      expect(undone.code).toBe(0);
      expect(fs.readFileSync(file).equals(original)).toBe(true);
    } finally {
      cleanup();
    }
  });

  it("is shown escaped in the diff", async () => {
    const spec = FIXTURE_SPECS.find((s) => s.name === "seed-after")!;
    const { dir, cleanup } = writeSpec(spec);
    try {
      const file = path.join(dir, "etc/modprobe.d/blacklist.conf");
      fs.writeFileSync(file, Buffer.from("blacklist nvidia* # \xe9t\xe9\n", "latin1"));
      const plan = await cli(["plan", "--device", "0000:01:00", "--root", dir]);
      expect(plan.code).toBe(0);
      expect(plan.stdout).toContain("-blacklist nvidia* # \\xe9t\\xe9");
    } finally {
      cleanup();
    }
  });
});
