// The one process runner (src/process/run.ts): argv only, output captured, stdin delivered as a
// file of its own, timeouts that kill the child.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { describeOutcome, firstErrorLine, ProcessRunner } from "../../src/process/run.js";
import { anonymousFile, unlinkedFile } from "../../src/process/stdin-file.js";
import { fakeVirsh } from "../helpers/fake-tools.js";

const env = { PATH: process.env.PATH };
const runner = new ProcessRunner(env);
const dirs: string[] = [];
const tmp = () => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), "passthrough-run-"));
  dirs.push(d);
  return d;
};
let virsh: ReturnType<typeof fakeVirsh> | null = null;
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
  virsh?.cleanup();
  virsh = null;
});

describe("ProcessRunner", () => {
  it("passes argv to the program as it is, never through a shell", () => {
    const dir = tmp();
    const hostile = [`$(touch ${dir}/pwned)`, "`id`", "*", "a b", "x;y", "'", '"', "", "-n", "\\"];
    const r = runner.run(["printf", "%s\\n", ...hostile]);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe(hostile.map((h) => `${h}\n`).join(""));
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  it("captures stdout, stderr and the exit status apart", () => {
    const r = runner.run(["bash", "-c", "echo out; echo err >&2; exit 3"]);
    expect(r).toMatchObject({ ran: true, exitCode: 3, signal: null, stdout: "out\n" });
    expect(r.stderr).toBe("err\n");
    expect(r.error).toBeNull();
    expect(describeOutcome(r)).toBe("exited 3");
    expect(firstErrorLine(r)).toBe("err");
  });

  it("delivers stdin from fd 0 and through /dev/stdin; without input stdin is empty", () => {
    const input = `<domain>${"é".repeat(300_000)}</domain>\n`;
    expect(runner.run(["cat"], { input }).stdout).toBe(input);
    expect(runner.run(["cat", "/dev/stdin"], { input }).stdout).toBe(input);
    expect(runner.run(["wc", "-c"], { input: "" }).stdout.trim()).toBe("0");
    const none = runner.run(["cat"]);
    expect(none).toMatchObject({ exitCode: 0, stdout: "", timedOut: false });
  });

  it("kills a child that outlives its timeout and says so", () => {
    // 2 s: time for bash to start and say its pid even on a loaded machine; sleep is that pid.
    const started = Date.now();
    const r = runner.run(["bash", "-c", "echo $$; exec sleep 30"], { timeoutMs: 2000 });
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(r).toMatchObject({ timedOut: true, exitCode: null, signal: "SIGTERM" });
    expect(r.error).toBe("timed out after 2 s");
    const pid = Number(r.stdout.trim());
    expect(pid).toBeGreaterThan(0);
    expect(() => process.kill(pid, 0)).toThrow(/ESRCH/);
  });

  it("runs with only the environment given, in the C locale", () => {
    const r = new ProcessRunner({ ...env, ONLY_THIS: "1" }).run(["env"]);
    const vars = new Set(r.stdout.split("\n").map((l) => l.split("=")[0]));
    expect([...vars].filter((v) => v !== "").sort()).toEqual(
      ["LANG", "LC_ALL", "ONLY_THIS", "PATH"].sort(),
    );
    expect(r.stdout).toContain("LC_ALL=C\n");
  });

  it("says when a program is not there, and keeps only the end of long output", () => {
    const missing = runner.run(["passthrough-no-such-tool"]);
    expect(missing).toMatchObject({
      exitCode: null,
      error: "passthrough-no-such-tool: command not found",
    });
    expect(firstErrorLine(missing)).toBe("passthrough-no-such-tool: command not found");
    const clipped = new ProcessRunner(env, { keepOutput: 10 }).run(["printf", "0123456789abcdef"]);
    expect(clipped.stdout).toBe("[... 6 bytes cut ...]\n6789abcdef");
  });
});

describe("stdin as a file of its own", () => {
  const read = (fd: number) => {
    const r = spawnSync("cat", ["/dev/stdin"], { stdio: [fd, "pipe", "pipe"] });
    return r.stdout.toString();
  };

  it("is unnamed: nothing appears in its folder, and the content reads from the start", () => {
    const dir = tmp();
    const fd = anonymousFile("hello\n", dir);
    try {
      expect(fs.readdirSync(dir)).toEqual([]);
      expect(read(fd)).toBe("hello\n");
    } finally {
      fs.closeSync(fd);
    }
  });

  it("falls back to a file unlinked inside a private folder", () => {
    const dir = tmp();
    const fd = unlinkedFile(dir);
    try {
      expect(fs.readdirSync(dir)).toEqual([]);
      fs.writeSync(fd, "x", 0);
      expect(read(fd)).toBe("x");
    } finally {
      fs.closeSync(fd);
    }
  });

  it("is what virsh needs: /dev/stdin cannot be opened when stdin is Node's socket pipe", () => {
    virsh = fakeVirsh({});
    const xml = "<domain><name>t</name></domain>\n";
    const piped = spawnSync(
      path.join(virsh.dir, "bin", "virsh"),
      ["define", "--file", "/dev/stdin"],
      {
        input: xml,
        env: virsh.env,
      },
    );
    expect(piped.status).toBe(1);
    expect(piped.stderr.toString()).toBe(
      "error: Failed to open file '/dev/stdin': No such device or address\n",
    );
    const r = new ProcessRunner(virsh.env).run(["virsh", "define", "--file", "/dev/stdin"], {
      input: xml,
    });
    expect(r.stdout).toBe("Domain 't' defined from /dev/stdin\n\n");
    expect(virsh.domain("t")).toBe(xml);
  });

  const realVirsh = spawnSync("virsh", ["--version"]).status === 0;
  it.skipIf(!realVirsh)("real virsh reads the domain from /dev/stdin (test driver)", () => {
    const xml =
      "<domain type='test'><name>pt-stdin</name><memory unit='MiB'>64</memory><os><type>hvm</type></os></domain>\n";
    const r = new ProcessRunner(process.env).run(
      ["virsh", "-c", "test:///default", "define", "--file", "/dev/stdin"],
      { input: xml },
    );
    expect(r.stderr).toBe("");
    expect(r.stdout).toContain("Domain 'pt-stdin' defined from /dev/stdin");
  });
});
