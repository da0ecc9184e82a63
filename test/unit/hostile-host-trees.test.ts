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

describe("truth under partial input", () => {
  it("an etc/modprobe.d that cannot be listed is a blind spot, never a pass", async () => {
    // Root reads through mode 000, so as root the folder is made unlistable another way
    // (a link to itself: ELOOP), which discovery must treat the same.
    const dir = path.join(tree, "etc/modprobe.d");
    const aside = `${dir}.aside`;
    const asRoot = process.getuid?.() === 0;
    if (asRoot) {
      fs.renameSync(dir, aside);
      fs.symlinkSync("modprobe.d", dir);
    } else fs.chmodSync(dir, 0o000);
    try {
      const r = await cliJson(["check", "--snapshot", tree]);
      expect(r.code).toBe(1);
      expect(r.json.summary).toMatchObject({ ready: false, complete: false });
      expect(r.json.findings).toContainEqual(
        expect.objectContaining({ id: "host.unreadable", subject: "/etc/modprobe.d" }),
      );
    } finally {
      if (asRoot) {
        fs.rmSync(dir);
        fs.renameSync(aside, dir);
      } else fs.chmodSync(dir, 0o755);
    }
  });

  it("a snapshot without sys/ is unknown, not 'IOMMU off in the firmware'", async () => {
    const r = await cliJson(["check", "--snapshot", fixturePath("seed-partial")]);
    expect(r.code).toBe(1);
    const iommu = r.json.findings.find((f: { id: string }) => f.id === "iommu.enabled");
    expect(iommu.status).toBe("skip");
    expect(iommu.summary).not.toMatch(/firmware/);
    expect(r.json.findings).toContainEqual(
      expect.objectContaining({ id: "host.unreadable", status: "skip", subject: "/sys" }),
    );
    const text = await cli(["check", "--snapshot", fixturePath("seed-partial")]);
    expect(text.stdout).toMatch(/^Result: not ready \(.*parts of the host could not be read\)$/m);
  });

  it("a cpuinfo without flags is unknown, not 'bare metal'", async () => {
    const cpuinfo = path.join(tree, "proc/cpuinfo");
    const saved = fs.readFileSync(cpuinfo);
    fs.writeFileSync(cpuinfo, "\u0000\u0001garbage\nnot: a cpuinfo\n");
    try {
      const r = await cliJson(["check", "--snapshot", tree]);
      const vm = r.json.findings.find((f: { id: string }) => f.id === "host.virtual-machine");
      expect(vm.status).toBe("skip");
      expect(r.json.host.virtualMachine).toBe(false);
      expect(r.json.findings).toContainEqual(
        expect.objectContaining({ id: "host.unreadable", subject: "/proc/cpuinfo" }),
      );
      expect(r.json.summary.ready).toBe(false);
    } finally {
      fs.writeFileSync(cpuinfo, saved);
    }
  });
});
