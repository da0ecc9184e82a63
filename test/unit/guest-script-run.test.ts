// Generated guest scripts, run for real as root in a throw-away Debian 12 root (debootstrap
// --variant=minbase, cached under .cache/), with apt-get, systemctl and the vendor programs
// stubbed (test/fixtures/guest-stubs). Each scenario copies the cached root, runs the script
// twice and checks what it did, that the second run changes nothing (the whole tree hashes
// the same and no install/download/login happens), and that a Tailscale key never reaches a
// command line or the script's output.
//
// Skipped (with the reason) where no root can be built: not root, no debootstrap, no mirror.

import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { renderCloudConfig } from "../../src/guest/cloud-init.js";
import { findDistro, tailscaleListContent } from "../../src/guest/distros.js";
import { renderScript } from "../../src/guest/script.js";
import type { GuestSetupOptions } from "../../src/guest/steps.js";
import { REPO } from "../helpers/fixtures.js";
import { MARKER_AUTHKEY, TEST_PUBKEY, TEST_PUBKEY_QUOTE, combo } from "../helpers/guest.js";
import { copyGuestRoot, ensureGuestRoot, type GuestRoot } from "../helpers/guest-root.js";

const META = { version: "test", command: "passthrough guest setup (test)" };
const STUBS = path.join(REPO, "test/fixtures/guest-stubs");
const PATH =
  "/opt/passthrough-stubs/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
const bookworm = findDistro("debian:12")!;

let guestRoot: GuestRoot = { ok: false, reason: "not built yet" };
beforeAll(async () => {
  guestRoot = await ensureGuestRoot();
  if (!guestRoot.ok) console.warn(`guest script runs skipped: ${guestRoot.reason}`);
}, 900_000);

const roots: string[] = [];
afterEach(() => {
  for (const r of roots.splice(0)) fs.rmSync(r, { recursive: true, force: true });
});

/** A private copy of the cached root with the stubs in place and a desktop user "gamer". */
async function freshRoot(): Promise<string> {
  if (!guestRoot.ok) throw new Error(guestRoot.reason);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "passthrough-guest-root-"));
  roots.push(dir);
  await copyGuestRoot(guestRoot.dir, dir);
  fs.cpSync(STUBS, path.join(dir, "opt/passthrough-stubs"), { recursive: true });
  await chroot(dir, ["useradd", "-m", "-s", "/bin/bash", "gamer"]);
  return dir;
}

interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs argv in the root with a clean environment (asynchronously: the worker must stay responsive). */
function chroot(
  root: string,
  argv: string[],
  env: Record<string, string> = {},
): Promise<RunResult> {
  const envArgs = Object.entries({ PATH, HOME: "/root", LANG: "C", ...env }).map(
    ([k, v]) => `${k}=${v}`,
  );
  return new Promise((resolve, reject) => {
    const child = spawn("chroot", [root, "/usr/bin/env", "-i", ...envArgs, ...argv], {
      stdio: ["ignore", "pipe", "pipe"],
      timeout: 120_000,
    });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

function runScript(
  root: string,
  script: string,
  env: Record<string, string> = {},
): Promise<RunResult> {
  fs.writeFileSync(path.join(root, "root/guest-setup.sh"), script, { mode: 0o755 });
  return chroot(root, ["bash", "/root/guest-setup.sh"], env);
}

const stubLog = (root: string) => {
  try {
    return fs.readFileSync(path.join(root, "var/log/passthrough-stubs.log"), "utf8");
  } catch {
    return "";
  }
};

/**
 * Every file, link and folder of the root, minus the stub call log: type, mode, owner, size,
 * inode and modification time. Stricter than content: rewriting a file with the same bytes
 * (or replacing it by rename) counts as a change too.
 */
function treeHash(root: string): Map<string, string> {
  const out = new Map<string, string>();
  const skip = new Set([
    "proc",
    "sys",
    "dev",
    "tmp",
    "var/log/passthrough-stubs.log",
    "root/guest-setup.sh",
  ]);
  const walk = (rel: string) => {
    for (const name of fs.readdirSync(path.join(root, rel))) {
      const r = rel ? `${rel}/${name}` : name;
      if (skip.has(r)) continue;
      const abs = path.join(root, r);
      const st = fs.lstatSync(abs);
      const meta = `${st.mode.toString(8)} ${st.uid}:${st.gid} ino ${st.ino}`;
      if (st.isSymbolicLink()) out.set(r, `${meta} -> ${fs.readlinkSync(abs)}`);
      else if (st.isDirectory()) {
        out.set(r, `${meta} dir`);
        walk(r);
      } else out.set(r, `${meta} size ${st.size} mtime ${st.mtimeMs}`);
    }
  };
  walk("");
  return out;
}

function changedPaths(a: Map<string, string>, b: Map<string, string>): string[] {
  const keys = new Set([...a.keys(), ...b.keys()]);
  return [...keys].filter((k) => a.get(k) !== b.get(k)).sort();
}

const read = (root: string, rel: string) => fs.readFileSync(path.join(root, rel), "utf8");
const installed = async (root: string, pkg: string) =>
  (await chroot(root, ["dpkg-query", "-W", "-f=${Status}", pkg])).stdout === "install ok installed";

function everything(extra: Partial<GuestSetupOptions> = {}): GuestSetupOptions {
  return {
    ...combo(bookworm, {
      ssh: { keys: [TEST_PUBKEY, TEST_PUBKEY_QUOTE] },
      tailscale: true,
      gpu: "nvidia",
      streaming: true,
    }).options,
    ...extra,
  };
}

describe("guest script in a Debian 12 root", { timeout: 300_000 }, () => {
  it("sets everything up once, then a second run changes nothing", async (ctx) => {
    if (!guestRoot.ok) return ctx.skip();
    const root = await freshRoot();
    const script = renderScript(everything(), META);
    const env = { SUDO_USER: "gamer", TS_AUTHKEY: MARKER_AUTHKEY };

    const first = await runScript(root, script, env);
    expect(first.stderr).toBe("");
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/changed: 1[0-9], already done: \d+, skipped: 0/);
    expect(first.stdout).toContain("next: reboot the VM so the GPU driver takes the device");

    // What it did, in the root's own files and package database.
    expect(read(root, "home/gamer/.ssh/authorized_keys")).toBe(
      `${TEST_PUBKEY}\n${TEST_PUBKEY_QUOTE}\n`,
    );
    expect(fs.statSync(path.join(root, "home/gamer/.ssh")).mode & 0o777).toBe(0o700);
    expect(fs.statSync(path.join(root, "home/gamer/.ssh/authorized_keys")).mode & 0o777).toBe(
      0o600,
    );
    expect(read(root, "etc/ssh/sshd_config.d/10-passthrough.conf")).toContain(
      "PasswordAuthentication no\n",
    );
    expect(read(root, "etc/apt/sources.list.d/tailscale.list")).toBe(
      tailscaleListContent(bookworm),
    );
    expect(read(root, "usr/share/keyrings/tailscale-archive-keyring.gpg")).toContain(
      "bookworm.noarmor.gpg",
    );
    expect(read(root, "etc/apt/sources.list")).toMatch(
      /^deb \S+ bookworm main contrib non-free non-free-firmware$/m,
    );
    for (const p of [
      "openssh-server",
      "tailscale",
      "nvidia-driver",
      "firmware-misc-nonfree",
      "linux-headers-amd64",
      "libnvidia-encode1",
      "sunshine",
      "libcap2-bin",
    ]) {
      expect(await installed(root, p), p).toBe(true);
    }
    expect((await chroot(root, ["id", "-nG", "gamer"])).stdout.split(/\s+/)).toContain("input");
    const log1 = stubLog(root);
    expect(log1).toContain("tailscale up --auth-key=file:/tmp/");
    expect(log1).toContain("--hostname=gaming");
    expect(log1).toContain(
      "curl -fsSL https://github.com/LizardByte/Sunshine/releases/download/v2025.628.4510/sunshine-debian-bookworm-amd64.deb",
    );
    expect(log1).toMatch(/^setcap cap_sys_admin\+p \/usr\/bin\/sunshine$/m);
    // The key went through a private file, which is gone again.
    expect(fs.readdirSync(path.join(root, "tmp"))).toEqual([]);

    const before = treeHash(root);
    const second = await runScript(root, script, env);
    expect(second.code).toBe(0);
    expect(second.stdout).toContain("changed: 0,");
    expect(second.stdout).not.toMatch(/^ {2}change /m);
    expect(changedPaths(before, treeHash(root))).toEqual([]);
    const log2 = stubLog(root).slice(log1.length);
    expect(log2).not.toMatch(
      /apt-get install|apt-get update|curl |tailscale up|setcap |systemctl enable/,
    );

    for (const text of [first.stdout, first.stderr, second.stdout, second.stderr, stubLog(root)])
      expect(text).not.toContain(MARKER_AUTHKEY);
  });

  it("skips `tailscale up` without a key, and logs in on the next run when one is given", async (ctx) => {
    if (!guestRoot.ok) return ctx.skip();
    const root = await freshRoot();
    const script = renderScript(
      combo(bookworm, { ssh: null, tailscale: true, gpu: null, streaming: false }).options,
      META,
    );
    const first = await runScript(root, script);
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(
      /skip {5}Tailscale is connected: no auth key: rerun with TS_AUTHKEY_FILE=/,
    );
    expect(first.stdout).toContain("skipped: 1");
    fs.writeFileSync(path.join(root, "root/ts.key"), `${MARKER_AUTHKEY}\n`, { mode: 0o600 });
    const second = await runScript(root, script, { TS_AUTHKEY_FILE: "/root/ts.key" });
    expect(second.code).toBe(0);
    expect(second.stdout).toMatch(/change {3}Tailscale is connected/);
    expect(second.stdout).toContain("changed: 1, already done: 4, skipped: 0");
    expect(stubLog(root)).toContain("tailscale up --auth-key=file:/root/ts.key --hostname=gaming");
    expect(stubLog(root)).not.toContain(MARKER_AUTHKEY);
  });

  it("keeps password logins when sshd_config does not read sshd_config.d (never locks the user out)", async (ctx) => {
    if (!guestRoot.ok) return ctx.skip();
    const root = await freshRoot();
    expect((await chroot(root, ["apt-get", "install", "-y", "openssh-server"])).code).toBe(0);
    const conf = path.join(root, "etc/ssh/sshd_config");
    fs.writeFileSync(conf, read(root, "etc/ssh/sshd_config").replace(/^Include .*\n/m, ""));
    const r = await runScript(
      root,
      renderScript(
        combo(bookworm, {
          ssh: { keys: [TEST_PUBKEY] },
          tailscale: false,
          gpu: null,
          streaming: false,
        }).options,
        META,
      ),
      { SUDO_USER: "gamer" },
    );
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/skip {5}password logins are off .*does not include sshd_config\.d/);
    expect(fs.existsSync(path.join(root, "etc/ssh/sshd_config.d/10-passthrough.conf"))).toBe(false);
    expect(read(root, "home/gamer/.ssh/authorized_keys")).toBe(`${TEST_PUBKEY}\n`);
  });

  it("refuses to run on another release, changing nothing", async (ctx) => {
    if (!guestRoot.ok) return ctx.skip();
    const root = await freshRoot();
    const before = treeHash(root);
    const r = await runScript(
      root,
      renderScript(everything({ distro: findDistro("ubuntu:22.04")! }), META),
      { SUDO_USER: "gamer" },
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      "this script is for ubuntu:22.04, but this system is debian:12; generate one with: passthrough guest setup --distro debian:12",
    );
    expect(changedPaths(before, treeHash(root))).toEqual([]);
  });

  it("runs as cloud-init would: write_files, then runcmd, with an embedded key that does not outlive the run", async (ctx) => {
    if (!guestRoot.ok) return ctx.skip();
    const root = await freshRoot();
    await chroot(root, ["useradd", "-m", "-s", "/bin/bash", "debian"]);
    // A cloud image's deb822 sources (mirror kept from debootstrap's list), Components before
    // Suites in the first stanza; a third-party .sources file must stay untouched.
    const mirror = /^deb (\S+) bookworm main$/m.exec(read(root, "etc/apt/sources.list"))![1]!;
    fs.rmSync(path.join(root, "etc/apt/sources.list"));
    const sources = [
      `Types: deb\nComponents: main\nURIs: ${mirror}\nSuites: bookworm bookworm-updates\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n`,
      `Types: deb\nURIs: ${mirror}-security\nSuites: bookworm-security\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n`,
      "Types: deb\nURIs: https://pkgs.tailscale.com/stable/debian\nSuites: bookworm\nComponents: main\n",
    ];
    fs.writeFileSync(
      path.join(root, "etc/apt/sources.list.d/debian.sources"),
      sources.slice(0, 2).join("\n"),
    );
    fs.writeFileSync(path.join(root, "etc/apt/sources.list.d/other.sources"), sources[2]!);
    const options = {
      ...combo(bookworm, {
        ssh: { keys: [TEST_PUBKEY] },
        tailscale: true,
        gpu: "amd",
        streaming: false,
        embeddedKey: MARKER_AUTHKEY,
      }).options,
    };
    const doc = parse(renderCloudConfig(options, META)) as {
      write_files: Array<{ path: string; permissions: string; content: string }>;
      runcmd: string[][];
    };
    for (const f of doc.write_files) {
      const abs = path.join(root, f.path);
      fs.mkdirSync(path.dirname(abs), { recursive: true });
      fs.writeFileSync(abs, f.content, { mode: parseInt(f.permissions, 8) });
    }
    const outputs: RunResult[] = [];
    for (const argv of doc.runcmd) outputs.push(await chroot(root, argv));
    expect(outputs.map((o) => o.code)).toEqual([0, 0]);
    expect(outputs[0]!.stdout).toMatch(/change {3}Tailscale is connected/);
    expect(read(root, "home/debian/.ssh/authorized_keys")).toBe(`${TEST_PUBKEY}\n`);
    expect(
      read(root, "etc/apt/sources.list.d/debian.sources")
        .split("\n")
        .filter((l) => l.startsWith("Components:")),
    ).toEqual(["Components: main non-free-firmware", "Components: main non-free-firmware"]);
    expect(read(root, "etc/apt/sources.list.d/other.sources")).toBe(sources[2]);
    expect(await installed(root, "firmware-amd-graphics")).toBe(true);
    expect(fs.existsSync(path.join(root, "run/passthrough/tailscale-authkey"))).toBe(false);
    expect(stubLog(root)).toContain(
      "tailscale up --auth-key=file:/run/passthrough/tailscale-authkey",
    );
    for (const o of outputs) expect(o.stdout + o.stderr).not.toContain(MARKER_AUTHKEY);
    // Run by hand later: nothing left to do, and the missing key file does not matter.
    const again = await chroot(root, ["bash", "/var/lib/passthrough/guest-setup.sh"]);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain("changed: 0,");
  });
});
