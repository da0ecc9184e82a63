// Files users point passthrough at are read non-blocking, only when regular, and only up to a
// cap: /dev/zero, a FIFO or a huge file is one line, at once, with no memory spent.
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { InputError } from "../../src/errors.js";
import { readInputFile } from "../../src/input-file.js";
import { cli } from "../helpers/cli.js";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "passthrough-input-"));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const read =
  (file: string, maxBytes = 4096) =>
  () =>
    readInputFile(file, { what: "--token-file", maxBytes });

describe("readInputFile", () => {
  it("reads a regular file whole, up to the cap", () => {
    const f = path.join(tmp, "ok");
    fs.writeFileSync(f, "x".repeat(4096));
    expect(read(f)().length).toBe(4096);
  });

  it("refuses devices, FIFOs, folders and files over the cap, by name", () => {
    const fifo = path.join(tmp, "fifo");
    execFileSync("mkfifo", [fifo]);
    const big = path.join(tmp, "big");
    fs.writeFileSync(big, "x".repeat(4097));
    expect(read("/dev/zero")).toThrow(
      "--token-file /dev/zero: a character device, not a regular file",
    );
    expect(read(fifo)).toThrow(`--token-file ${fifo}: a FIFO, not a regular file`);
    expect(read(tmp)).toThrow(`--token-file ${tmp}: a folder, not a regular file`);
    expect(read(big)).toThrow(`--token-file ${big}: larger than 4 KiB; that is not such a file`);
    expect(read(path.join(tmp, "nope"))).toThrow(InputError);
  });

  it("the CLI's token, CA and key files go through it", async () => {
    const fifo = path.join(tmp, "fifo2");
    execFileSync("mkfifo", [fifo]);
    const api = ["vm", "mapping", "list", "--api", "https://127.0.0.1:1"];
    const zero = await cli([...api, "--token-file", "/dev/zero"]);
    expect(zero.code).toBe(2);
    expect(zero.stderr).toBe(
      "error: --token-file /dev/zero: a character device, not a regular file\n",
    );
    const started = Date.now();
    const f = await cli([...api, "--token-file", fifo]);
    expect(f.stderr).toBe(`error: --token-file ${fifo}: a FIFO, not a regular file\n`);
    expect(Date.now() - started).toBeLessThan(5000);
    const key = await cli(["guest", "setup", "--ssh", "--ssh-key", "/dev/zero"]);
    expect(key.code).toBe(2);
    expect(key.stderr).toMatch(/^error: --ssh-key \/dev\/zero: a character device/);
  });
});
