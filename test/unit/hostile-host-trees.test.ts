// Folder snapshots and --root trees are outside input: a FIFO, a device node or an oversized
// file in them is reported as not read (never opened blocking, never read whole), huge hosts
// render without exhausting the stack, and host data never reaches the terminal as escapes.
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeContext } from "../../src/cli/context.js";
import { maxWidth, terminalSafe } from "../../src/cli/render/style.js";
import { renderTable } from "../../src/cli/render/table.js";
import { DirectoryRoot, MAX_FILE_BYTES } from "../../src/host/root.js";
import { cli, cliJson } from "../helpers/cli.js";
import { fixturePath } from "../helpers/fixtures.js";

let tmp: string;
let tree: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "passthrough-trees-"));
  execFileSync("tar", ["-xzf", fixturePath("seed-after"), "-C", tmp]);
  tree = path.join(tmp, "seed-after");
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe("special files in a folder snapshot or --root tree", () => {
  it("a FIFO among the modprobe.d files is listed as not read; check, list and plan finish", async () => {
    const fifo = path.join(tree, "etc/modprobe.d/zz-fifo.conf");
    execFileSync("mkfifo", [fifo]);
    try {
      const check = await cliJson(["check", "--snapshot", tree]);
      expect(check.code).toBe(1); // the snapshot's own blacklist nvidia* FAIL, still found
      expect(check.json.unknowns).toContainEqual({
        field: "etc/modprobe.d/zz-fifo.conf",
        reason: "etc/modprobe.d/zz-fifo.conf: a FIFO, not a regular file; not read",
      });
      expect((await cli(["list", "--snapshot", tree])).code).toBe(0);
      const plan = await cli(["plan", "--device", "01:00", "--root", tree]);
      expect(plan.code).toBe(0);
    } finally {
      fs.rmSync(fifo);
    }
  });

  it("a device node is not read, a file over the cap is not read whole", () => {
    const root = new DirectoryRoot(tree, { kind: "snapshot", label: tree });
    const dev = path.join(tree, "etc/modules");
    fs.rmSync(dev);
    execFileSync("mknod", [dev, "c", "1", "5"]); // /dev/zero's numbers
    expect(root.readText("etc/modules")).toEqual({
      ok: false,
      reason: "etc/modules: a character device, not a regular file; not read",
    });
    fs.rmSync(dev);
    fs.writeFileSync(dev, "");
    fs.truncateSync(dev, MAX_FILE_BYTES + 1); // sparse: no disk used
    expect(root.readText("etc/modules")).toEqual({
      ok: false,
      reason: "etc/modules: larger than 64 MiB; not read",
    });
    fs.writeFileSync(dev, "vfio\n");
    expect(root.readText("etc/modules")).toEqual({ ok: true, value: "vfio\n" });
  });
});

describe("output of very large hosts", () => {
  it("widths and tables of 300 000 rows need no argument spreading", () => {
    const many = Array.from({ length: 300_000 }, (_, i) => [`row${i}`, "x"]);
    expect(maxWidth(many.map((r) => r[0]!.length))).toBe(9);
    expect(renderTable(many)).toHaveLength(300_000);
    let written = 0;
    const ctx = makeContext(
      { stdout: { write: () => (written += 1) }, stderr: { write: () => 0 }, env: {} },
      {},
    );
    ctx.out(renderTable(many));
    expect(written).toBe(300_000);
  });
});

describe("host data on the terminal", () => {
  it("escapes control characters; lets only SGR colour through, and only with colour on", () => {
    const osc52 = "name\u001b]52;c;ZWNobyBwd25lZA==\u0007";
    expect(terminalSafe(osc52, true)).toBe("name\\u001b]52;c;ZWNobyBwd25lZA==\\u0007");
    expect(terminalSafe("a\u001b[2Jb", true)).toBe("a\\u001b[2Jb");
    expect(terminalSafe("\u001b[31mred\u001b[39m", true)).toBe("\u001b[31mred\u001b[39m");
    expect(terminalSafe("\u001b[31mred\u001b[39m", false)).toBe("\\u001b[31mred\\u001b[39m");
    expect(terminalSafe("tab\tok\r\u009b\u007f", false)).toBe("tab\tok\\u000d\\u009b\\u007f");
    // JSON keeps its meaning: the escape is JSON's own.
    const json = JSON.stringify({ s: "\u009b" });
    expect(JSON.parse(terminalSafe(json, false))).toEqual({ s: "\u009b" });
  });

  it("a device name with an escape sequence prints escaped in list and check", async () => {
    const ids = path.join(tree, "usr/share/misc/pci.ids");
    const original = fs.readFileSync(ids);
    fs.writeFileSync(
      ids,
      original.toString("latin1").replace("GA102 [GeForce RTX 3080]", "GA102\u001b]0;pwned\u0007"),
      "latin1",
    );
    try {
      for (const argv of [["list"], ["check"]]) {
        const r = await cli([...argv, "--snapshot", tree]);
        expect(r.stdout).not.toContain("\u001b");
        expect(r.stdout).toContain("GA102\\u001b]0;pwned\\u0007");
      }
    } finally {
      fs.writeFileSync(ids, original);
    }
  });
});
