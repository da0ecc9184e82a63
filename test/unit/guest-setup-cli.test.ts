// `passthrough guest setup` as a user runs it: choices from the host model, files written
// atomically with the right modes, one-line errors, and the Tailscale key never printed.

import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { cli } from "../helpers/cli.js";
import { fixturePath } from "../helpers/fixtures.js";
import { MARKER_AUTHKEY, TEST_PUBKEY } from "../helpers/guest.js";

const SEED = fixturePath("seed-after");
const dirs: string[] = [];
function tmp(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), "passthrough-guest-cli-"));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

function files(): { dir: string; pub: string; key: string; priv: string } {
  const dir = tmp();
  const pub = path.join(dir, "id_ed25519.pub");
  fs.writeFileSync(pub, `${TEST_PUBKEY}\n`);
  const key = path.join(dir, "ts.key");
  fs.writeFileSync(key, `${MARKER_AUTHKEY}\n`, { mode: 0o600 });
  const priv = path.join(dir, "id_ed25519");
  fs.writeFileSync(
    priv,
    "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n",
  );
  return { dir, pub, key, priv };
}

describe("guest setup: what it generates", () => {
  it("picks the GPU prepared for the VM (vfio-pci) from the host model and prints the script", async () => {
    const r = await cli([
      "guest",
      "setup",
      "--distro",
      "ubuntu:22.04",
      "--gpu-driver",
      "--snapshot",
      SEED,
    ]);
    expect(r.code).toBe(0);
    expect(r.stdout.startsWith("#!/usr/bin/env bash\n")).toBe(true);
    expect(r.stdout).toContain(
      "gpu driver (nvidia: 0000:01:00.0 NVIDIA Corporation GA102 [GeForce RTX 3080] [10de:2206])",
    );
    expect(r.stdout).toContain("ubuntu-drivers install");
    expect(r.stderr).toBe("");
  });

  it("takes --device for another GPU (the Raphael iGPU is AMD)", async () => {
    const r = await cli([
      "guest",
      "setup",
      "--distro",
      "debian:12",
      "--gpu-driver",
      "--device",
      "10:00",
      "--snapshot",
      SEED,
    ]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(
      "apt_install firmware-amd-graphics mesa-vulkan-drivers mesa-va-drivers",
    );
  });

  it("detects the release when run inside the guest", async () => {
    const r = await cli(["guest", "setup", "--ssh", "--snapshot", fixturePath("guest-nvidia-ok")]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("PT_TARGET='ubuntu:22.04'");
  });

  it("writes -o atomically: the script executable, cloud-init readable, and says what is next", async () => {
    const { dir, pub } = files();
    const out = path.join(dir, "setup.sh");
    const r = await cli([
      "guest",
      "setup",
      "--distro",
      "debian:12",
      "--ssh-key",
      pub,
      "--tailscale",
      "-o",
      out,
    ]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(
      `wrote ${out}: script for Debian 12 (bookworm): ssh (1 key, password logins off), tailscale`,
    );
    expect(r.stdout).toContain("sudo TS_AUTHKEY_FILE=/root/ts.key bash setup.sh");
    expect(fs.statSync(out).mode & 0o777).toBe(0o755);
    expect(fs.readFileSync(out, "utf8")).toContain(TEST_PUBKEY);
    expect(fs.readdirSync(dir).sort()).toEqual([
      "id_ed25519",
      "id_ed25519.pub",
      "setup.sh",
      "ts.key",
    ]);

    const yml = path.join(dir, "user-data.yaml");
    const c = await cli([
      "guest",
      "setup",
      "--distro",
      "ubuntu:24.04",
      "--gpu-driver",
      "--gpu-vendor",
      "intel",
      "--format",
      "cloud-init",
      "-o",
      yml,
    ]);
    expect(c.code).toBe(0);
    expect(fs.statSync(yml).mode & 0o777).toBe(0o644);
    expect(c.stderr).toBe(
      "note: this user-data sets no password and no SSH key for ubuntu: add --ssh-key FILE, or you can only log in on a console\n",
    );
    expect(Object.keys(parse(fs.readFileSync(yml, "utf8")))).toEqual([
      "users",
      "write_files",
      "runcmd",
    ]);
  });
});

describe("guest setup: bad input is one line naming the way out", () => {
  const cases: Array<[string, string[], string]> = [
    [
      "nothing chosen",
      ["--distro", "debian:12"],
      "error: choose what to set up: --ssh [--ssh-key FILE], --tailscale, --gpu-driver, --streaming sunshine (any together)\n",
    ],
    [
      "unknown release",
      ["--ssh", "--distro", "ubuntu:20.04"],
      "error: --distro ubuntu:20.04 is not supported; supported: ubuntu:22.04, ubuntu:24.04, debian:12, debian:13 (or the codename: ubuntu:jammy, ubuntu:noble, debian:bookworm, debian:trixie)\n",
    ],
    [
      "no release outside a guest",
      ["--ssh", "--snapshot", SEED],
      "error: give the guest's release with --distro (supported: ubuntu:22.04, ubuntu:24.04, debian:12, debian:13); it is only detected when guest setup runs inside the guest\n",
    ],
    [
      "unknown format",
      ["--ssh", "--distro", "debian:12", "--format", "ansible"],
      "error: --format ansible: use script or cloud-init\n",
    ],
    [
      "unknown streaming",
      ["--streaming", "parsec", "--distro", "debian:12"],
      "error: --streaming parsec: only sunshine is supported\n",
    ],
    [
      "--device alone",
      ["--ssh", "--distro", "debian:12", "--device", "01:00"],
      "error: --device chooses the driver for --gpu-driver; add --gpu-driver\n",
    ],
    [
      "not a GPU",
      ["--gpu-driver", "--distro", "debian:12", "--device", "0000:02:00.0", "--snapshot", SEED],
      "error: --device 0000:02:00.0: 0000:02:00.0 is not a display controller (class 010802); give the GPU's address\n",
    ],
    [
      "nvidia branch on Debian",
      ["--gpu-driver", "--gpu-vendor", "nvidia", "--nvidia-driver", "535", "--distro", "debian:12"],
      "error: --nvidia-driver picks Ubuntu's nvidia-driver-NNN; Debian 12 (bookworm) has one nvidia-driver package (leave the flag out)\n",
    ],
    [
      "bad vendor",
      ["--gpu-driver", "--gpu-vendor", "matrox", "--distro", "debian:12"],
      "error: --gpu-vendor matrox: use one of nvidia, amd, intel\n",
    ],
    [
      "bad user",
      ["--ssh", "--user", "Root;rm", "--distro", "debian:12"],
      "error: --user Root;rm: not a valid Linux user name (lower-case letters, digits, _ and -)\n",
    ],
    [
      "drive without vmid",
      ["--ssh", "--distro", "debian:12", "--cloud-init-drive", "local-lvm"],
      "error: --cloud-init-drive is for --cloud-init VMID; add it\n",
    ],
    [
      "bad vmid",
      ["--ssh", "--distro", "debian:12", "--cloud-init", "abc"],
      "error: --cloud-init abc: give the VM id (a number, 100 or more)\n",
    ],
  ];
  for (const [name, args, message] of cases) {
    it(name, async () => {
      const r = await cli(["guest", "setup", ...args]);
      expect(r.stderr).toBe(message);
      expect(r.code).toBe(2);
      expect(r.stdout).toBe("");
    });
  }

  it("refuses a private key and a file that holds no public key", async () => {
    const { priv, dir } = files();
    const r = await cli(["guest", "setup", "--distro", "debian:12", "--ssh-key", priv]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      `error: --ssh-key ${priv} is a private key; give the public key (${priv}.pub), never the private one\n`,
    );
    const junk = path.join(dir, "junk.pub");
    fs.writeFileSync(junk, "# my key\nhello world\n");
    const j = await cli(["guest", "setup", "--distro", "debian:12", "--ssh-key", junk]);
    expect(j.stderr).toBe(
      `error: --ssh-key ${junk}:2 is not an OpenSSH public key ("ssh-ed25519 AAAA... comment"); give a .pub file\n`,
    );
  });

  it("does not leave a half-written file when -o cannot be written", async () => {
    const r = await cli([
      "guest",
      "setup",
      "--distro",
      "debian:12",
      "--ssh",
      "-o",
      "/nonexistent-dir/setup.sh",
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      "error: -o /nonexistent-dir/setup.sh: does not exist; nothing was written\n",
    );
  });
});

describe("guest setup: the Tailscale key", () => {
  it("is never read without --embed-secrets, and never printed", async () => {
    const { key } = files();
    const r = await cli([
      "guest",
      "setup",
      "--distro",
      "debian:12",
      "--tailscale",
      "--tailscale-authkey-file",
      key,
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      "error: --tailscale-authkey-file is read only with --embed-secrets; without it the script reads the key when it runs: sudo TS_AUTHKEY_FILE=/path/to/key bash setup.sh\n",
    );
  });

  it("is refused on stdout", async () => {
    const { key } = files();
    const r = await cli([
      "guest",
      "setup",
      "--distro",
      "debian:12",
      "--tailscale",
      "--embed-secrets",
      "--tailscale-authkey-file",
      key,
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      "error: --embed-secrets needs -o FILE (or --cloud-init VMID): the key is never printed to the terminal\n",
    );
    expect(r.stdout).toBe("");
  });

  it("is embedded into a root-only file with a warning that does not show it", async () => {
    const { dir, key } = files();
    for (const [format, name] of [
      ["script", "setup.sh"],
      ["cloud-init", "user-data.yaml"],
    ] as const) {
      const out = path.join(dir, name);
      fs.writeFileSync(out, "old", { mode: 0o644 });
      const r = await cli([
        "guest",
        "setup",
        "--distro",
        "ubuntu:24.04",
        "--tailscale",
        "--embed-secrets",
        "--tailscale-authkey-file",
        key,
        "--format",
        format,
        "-o",
        out,
      ]);
      expect(r.code).toBe(0);
      expect(r.stderr.split("\n")[0]).toBe(
        `warning: ${out} embeds the Tailscale auth key from ${key}: keep it private and delete it after the first run (a one-off, ephemeral, pre-approved key limits the damage)`,
      );
      expect(fs.statSync(out).mode & 0o777).toBe(0o600);
      expect(fs.readFileSync(out, "utf8")).toContain(MARKER_AUTHKEY);
      expect(r.stdout + r.stderr).not.toContain(MARKER_AUTHKEY);
    }
  });

  it("never shows up in an error about it", async () => {
    const { dir } = files();
    const bad = path.join(dir, "bad.key");
    fs.writeFileSync(bad, `${MARKER_AUTHKEY} and more\n`);
    const r = await cli([
      "guest",
      "setup",
      "--distro",
      "debian:12",
      "--tailscale",
      "--embed-secrets",
      "--tailscale-authkey-file",
      bad,
      "-o",
      path.join(dir, "x.sh"),
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(
      `--tailscale-authkey-file ${bad} does not hold one Tailscale auth key (tskey-...) on its own`,
    );
    expect(r.stdout + r.stderr).not.toContain("MARKER");
    expect(fs.existsSync(path.join(dir, "x.sh"))).toBe(false);
  });
});
