// The interactive guide: check, pick, plan, and (on a snapshot) how to apply on the host.
import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { runCli } from "../../src/cli/program.js";
import { REPO } from "../helpers/fixtures.js";

async function guided(argv: string[], answers: string, tty = true) {
  let stdout = "";
  let stderr = "";
  const stdin = Object.assign(Readable.from([answers]), { isTTY: tty });
  const code = await runCli(argv, {
    stdout: { write: (s: string) => (stdout += s), isTTY: tty },
    stderr: { write: (s: string) => (stderr += s), isTTY: tty },
    stdin,
    env: { PATH: process.env.PATH, NO_COLOR: "1" },
  });
  return { code, stdout, stderr };
}

const example = `${REPO}/examples/seed-host.tar.gz`;

describe("passthrough guide", () => {
  it("walks check -> pick -> plan on the example host, printing each command it runs", async () => {
    const r = await guided(["guide", "--snapshot", example], "1\n");
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(
      `Step 1 of 4: check the host   $ passthrough check --snapshot ${example}`,
    );
    expect(r.stdout).toContain("FAIL  modprobe.wildcard");
    expect(r.stdout).toMatch(
      / 1\) 0000:01:00 {2}NVIDIA Corporation GA102 \[GeForce RTX 3080\] {2}\(group 12, isolated; in VM 100\)/,
    );
    // Devices the host lives on are not offered.
    expect(r.stdout).not.toMatch(/\d\) 0000:02:00/);
    expect(r.stdout).toContain(
      `Step 3 of 4: the plan for 0000:01:00   $ passthrough plan --device 0000:01:00 --snapshot ${example}`,
    );
    expect(r.stdout).toContain("+++ /etc/modprobe.d/passthrough.conf");
    expect(r.stdout).toContain(
      "This is a snapshot: apply on the host itself with `sudo passthrough apply --device 0000:01:00`.",
    );
    expect(r.stdout).toContain("passthrough verify --device 0000:01:00");
  });

  it("quits on q, refuses an answer that is not on the list", async () => {
    expect((await guided(["guide", "--snapshot", example], "q\n")).code).toBe(0);
    const bad = await guided(["guide", "--snapshot", example], "42\n");
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^error: "42" is not one of 1-\d+/);
  });

  it("needs a terminal; plain `passthrough` without one prints help", async () => {
    const r = await guided(["guide", "--snapshot", example], "", false);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("needs a terminal");
    const help = await guided([], "", false);
    expect(help.stdout).toContain("Usage: passthrough");
  });
});
