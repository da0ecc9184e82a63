// processIo writes to file descriptors 1 and 2 directly (src/cli/io.ts): every byte arrives, in
// order, through a pipe whose reader is slow; a reader that leaves early ends the run quietly.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const IO = path.resolve("src/cli/io.ts");
let dir: string;
let script: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "passthrough-io-"));
  script = path.join(dir, "write.ts");
  fs.writeFileSync(
    script,
    `import { processIo } from ${JSON.stringify(IO)};
const io = processIo();
for (let i = 0; i < 50; i++) io.stdout.write(\`\${i}:\${"x".repeat(40000)}\\n\`);
io.stderr.write(\`isTTY \${String(io.stdout.isTTY)}\\n\`);
process.exitCode = 3;
`,
  );
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const tsx = path.resolve("node_modules/.bin/tsx");
const sh = (cmd: string) => spawnSync("sh", ["-c", cmd], { encoding: "utf8", maxBuffer: 2 ** 24 });

describe("processIo", () => {
  it("writes every byte in order through a slow pipe, and is no terminal there", () => {
    const r = sh(`'${tsx}' '${script}' | (sleep 1; cat)`);
    const lines = r.stdout.split("\n").slice(0, -1);
    expect(lines.map((l) => l.split(":")[0])).toEqual(Array.from({ length: 50 }, (_, i) => `${i}`));
    expect(lines.every((l) => l.length === l.indexOf(":") + 40001)).toBe(true);
    expect(r.stderr).toBe("isTTY false\n");
  });

  it("exits 0, quietly, when the reader leaves early (EPIPE; not killed by SIGPIPE: 141)", () => {
    const r = sh(
      `bash -c "'${tsx}' '${script}' | head -c 10 >/dev/null; echo \\\${PIPESTATUS[0]}"`,
    );
    // No error message. The script's own stderr line may still come: where the pipe was
    // left non-blocking (by the tsx parent sharing it) the rest goes through the stream, whose
    // EPIPE arrives after the script's synchronous last line.
    expect(r.stderr).not.toMatch(/EPIPE|[Ee]rror/);
    // 0 when EPIPE comes during a write (the run has no exit code yet); through the stream it
    // comes later, with the run's own code (3 here). Never 141 (killed by SIGPIPE).
    expect(["0", "3"]).toContain(r.stdout.trim());
  });
});
