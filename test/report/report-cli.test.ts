// `passthrough report` as users run it: the page written atomically where -o says, the plan
// for --device, the journal and verify after an apply, --redact, and bad input as one line.

import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { cli } from "../helpers/cli.js";
import { REPO, fixturePath } from "../helpers/fixtures.js";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "passthrough-report-"));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const SEED = path.join(REPO, "examples/seed-host.tar.gz");

describe("passthrough report", () => {
  it("writes the example host's page, owner-only, under the size budget", async () => {
    const out = path.join(tmp, "host.html");
    const r = await cli(["report", "--snapshot", SEED, "-o", out]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^wrote .*host\.html \(\d+ KB\)\n$/);
    const page = fs.readFileSync(out, "utf8");
    expect(fs.statSync(out).mode & 0o777).toBe(0o600);
    expect(Buffer.byteLength(page)).toBeLessThan(300 * 1024);
    expect(page).toContain('<li class="fail" data-id="modprobe.wildcard">');
    expect(page).toContain('<li class="warn" data-id="cmdline.pending">');
    expect(page).toContain("fix: update-grub, then reboot");
    expect(page).toContain('<pre id="check">');
    expect(page).not.toContain('id="plan"');
    expect(fs.readdirSync(tmp)).toEqual(["host.html"]);
  });

  it("prints the page on standard output when it is not a terminal, and refuses a terminal", async () => {
    const r = await cli(["report", "--snapshot", SEED]);
    expect(r.code).toBe(0);
    expect(r.stdout.startsWith("<!doctype html>")).toBe(true);
    const tty = await cli(["report", "--snapshot", SEED], {}, { tty: true });
    expect(tty.code).toBe(2);
    expect(tty.stderr).toMatch(/give -o FILE\.html/);
  });

  it("adds the plan for --device", async () => {
    const r = await cli(["report", "--snapshot", SEED, "--device", "01:00"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('<pre id="plan">');
    // check judges the selected device, as `check --device` does.
    expect(r.stdout).toContain('<span class="t-dim">device 0000:01:00</span>');
    expect(r.stdout).toContain("/etc/modprobe.d/");
  });

  it("shows the newest applied journal and verify's result after an apply", async () => {
    const r = await cli(["report", "--snapshot", fixturePath("verify-ok")]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/<pre id="journal">journal 20250301-142233-9f3a/);
    expect(r.stdout).toContain("Verified: everything planned is in effect.");
    const bad = await cli(["report", "--snapshot", fixturePath("verify-no-reboot")]);
    expect(bad.stdout).toContain("Not verified:");
  });

  it("--redact removes the host name, serials and MAC addresses", async () => {
    const plain = (await cli(["report", "--snapshot", fixturePath("two-identical-gpus")])).stdout;
    const r = await cli(["report", "--snapshot", fixturePath("two-identical-gpus"), "--redact"]);
    expect(r.code).toBe(0);
    expect(plain).toContain("twins");
    expect(r.stdout).not.toMatch(/\btwins\b/);
    expect(r.stdout).toContain("passthrough report — redacted-host");
    expect(r.stdout).toMatch(/redacted: [a-z-]+(, [a-z-]+)*/);
    for (const mac of plain.match(/\b([0-9a-f]{2}:){5}[0-9a-f]{2}\b/gi) ?? [])
      expect(r.stdout).not.toContain(mac);
  });

  it("refuses a bad -o with one line and writes nothing", async () => {
    const txt = await cli(["report", "--snapshot", SEED, "-o", path.join(tmp, "x.txt")]);
    expect(txt.code).toBe(2);
    expect(txt.stderr).toMatch(
      /^error: -o .*x\.txt: the report is HTML; give a name ending in \.html\n$/,
    );
    const nodir = await cli(["report", "--snapshot", SEED, "-o", path.join(tmp, "no/x.html")]);
    expect(nodir.code).toBe(2);
    expect(nodir.stderr.split("\n")).toHaveLength(2);
    expect(fs.existsSync(path.join(tmp, "x.txt"))).toBe(false);
  });
});
