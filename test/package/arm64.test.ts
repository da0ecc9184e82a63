// The arm64 executable (npm run package builds it from the npm registry's Bun for aarch64)
// runs and prints what the x86-64 one prints, under qemu-user with a Debian 12 arm64 sysroot
// (debootstrap --foreign, cached). Skipped without qemu-user-static, root or the executable.
import { execFile, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { promisify } from "node:util";
import { beforeAll, describe, expect, it } from "vitest";
import { REPO } from "../helpers/fixtures.js";
import { ensureDebianRoot, type GuestRoot } from "../helpers/guest-root.js";

const ARM64 = path.join(REPO, "dist/passthrough-arm64");
const X64 = path.join(REPO, "dist/passthrough");
const QEMU = "qemu-aarch64-static";
const run = promisify(execFile);

function skipReason(): string | null {
  if (process.getuid?.() !== 0) return "needs root (debootstrap)";
  if (!fs.existsSync(ARM64)) return "dist/passthrough-arm64 is missing: run npm run package";
  if (spawnSync("sh", ["-c", `command -v ${QEMU}`]).status !== 0)
    return `${QEMU} is not installed (apt-get install qemu-user-static)`;
  return null;
}
const skip = skipReason();
if (skip) console.log(`arm64 test skipped: ${skip}`);

const out = async (argv: string[]) => {
  try {
    const r = await run(argv[0]!, argv.slice(1), { env: { PATH: process.env.PATH, LC_ALL: "C" } });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
};

describe.skipIf(skip !== null)("the arm64 executable", () => {
  let root: GuestRoot;
  beforeAll(async () => {
    root = await ensureDebianRoot("bookworm", [], "arm64");
  }, 900_000);

  it("is an aarch64 ELF and prints what the x86-64 one prints", { timeout: 300_000 }, async () => {
    if (!root.ok) throw new Error(root.reason);
    expect(fs.readFileSync(ARM64).readUInt16LE(18)).toBe(183); // e_machine EM_AARCH64
    const example = path.join(REPO, "examples/seed-host.tar.gz");
    for (const args of [["--version"], ["check", "--snapshot", example], ["explain", "--list"]]) {
      const arm = await out([QEMU, "-L", root.dir, ARM64, ...args]);
      expect(arm, args.join(" ")).toEqual(await out([X64, ...args]));
    }
  });
});
