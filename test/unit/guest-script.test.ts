// Generated guest bootstraps: every supported distro x option combination is valid bash
// (`bash -n`) and shellcheck-clean; cloud-init output is YAML with the expected keys; the
// distro table says what Tailscale's and Sunshine's own install docs say.

import { execFile, execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import {
  CLOUD_KEY_PATH,
  CLOUD_SCRIPT_PATH,
  renderCloudConfig,
} from "../../src/guest/cloud-init.js";
import { DISTROS, findDistro, sunshineUrl, tailscaleListContent } from "../../src/guest/distros.js";
import { renderScript } from "../../src/guest/script.js";
import { buildSteps } from "../../src/guest/steps.js";
import { singleQuote as shq } from "../../src/process/quote.js";
import {
  MARKER_AUTHKEY,
  TEST_PUBKEY,
  TEST_PUBKEY_QUOTE,
  allCombos,
  combo,
  hasTool,
} from "../helpers/guest.js";

const run = promisify(execFile);
const META = { version: "test", command: "passthrough guest setup (test)" };
const distro = (id: string) => findDistro(id)!;

describe("distro table", () => {
  it("knows the four releases by version and codename, and nothing else", () => {
    expect(DISTROS.map((d) => d.id)).toEqual([
      "ubuntu:22.04",
      "ubuntu:24.04",
      "debian:12",
      "debian:13",
    ]);
    expect(findDistro("ubuntu:jammy")?.id).toBe("ubuntu:22.04");
    expect(findDistro("Debian:Bookworm")?.id).toBe("debian:12");
    expect(findDistro("ubuntu:20.04")).toBeNull();
    expect(findDistro("fedora:40")).toBeNull();
    expect(findDistro("ubuntu")).toBeNull();
  });

  it("uses Tailscale's official keyring and list for each release", () => {
    expect(distro("ubuntu:22.04").tailscale).toEqual({
      keyringUrl: "https://pkgs.tailscale.com/stable/ubuntu/jammy.noarmor.gpg",
      listUrl: "https://pkgs.tailscale.com/stable/ubuntu/jammy.tailscale-keyring.list",
      repo: "https://pkgs.tailscale.com/stable/ubuntu",
    });
    expect(distro("ubuntu:24.04").tailscale.keyringUrl).toBe(
      "https://pkgs.tailscale.com/stable/ubuntu/noble.noarmor.gpg",
    );
    expect(distro("debian:12").tailscale.keyringUrl).toBe(
      "https://pkgs.tailscale.com/stable/debian/bookworm.noarmor.gpg",
    );
    expect(tailscaleListContent(distro("ubuntu:22.04"))).toBe(
      "# Tailscale packages for ubuntu jammy\ndeb [signed-by=/usr/share/keyrings/tailscale-archive-keyring.gpg] https://pkgs.tailscale.com/stable/ubuntu jammy main\n",
    );
  });

  it("picks Sunshine's official .deb for the release", () => {
    expect(sunshineUrl(distro("ubuntu:22.04"))).toBe(
      "https://github.com/LizardByte/Sunshine/releases/download/v2025.924.154138/sunshine-ubuntu-22.04-amd64.deb",
    );
    expect(sunshineUrl(distro("debian:12"))).toMatch(/\/sunshine-debian-bookworm-amd64\.deb$/);
  });

  it("uses each release's own NVIDIA route", () => {
    expect(distro("ubuntu:24.04").nvidia.method).toBe("ubuntu-drivers");
    expect(distro("debian:12").nvidia.packages).toEqual([
      "linux-headers-amd64",
      "nvidia-driver",
      "firmware-misc-nonfree",
    ]);
    expect(distro("debian:12").components).toEqual(["contrib", "non-free", "non-free-firmware"]);
    expect(distro("ubuntu:24.04").ssh.unit).toBe("ssh.socket");
    expect(distro("ubuntu:22.04").ssh.unit).toBe("ssh.service");
  });
});

describe("shq", () => {
  it("survives every character bash treats specially", () => {
    for (const v of [
      "plain",
      "it's",
      `a"b`,
      "$HOME `id` $(id)",
      "back\\slash",
      "new\nline",
      "!event",
      "",
    ]) {
      const out = execFileSync("bash", ["-c", `printf '%s' ${shq(v)}`], { encoding: "utf8" });
      expect(out).toBe(v);
    }
  });
});

describe("steps", () => {
  it("asks for exactly what was chosen", () => {
    const ids = (o: Parameters<typeof buildSteps>[0]) => buildSteps(o).map((s) => s.id);
    const ub = distro("ubuntu:22.04");
    expect(
      ids(combo(ub, { ssh: { keys: [] }, tailscale: false, gpu: null, streaming: false }).options),
    ).toEqual(["ssh_package", "ssh_service"]);
    expect(
      ids(
        combo(ub, { ssh: { keys: [TEST_PUBKEY] }, tailscale: false, gpu: null, streaming: false })
          .options,
      ),
    ).toEqual(["ssh_package", "ssh_service", "ssh_key", "ssh_key_only"]);
    expect(
      ids(combo(ub, { ssh: null, tailscale: true, gpu: null, streaming: false }).options),
    ).toEqual([
      "tailscale_keyring",
      "tailscale_repo",
      "tailscale_package",
      "tailscale_service",
      "tailscale_up",
    ]);
    expect(
      ids(combo(ub, { ssh: null, tailscale: false, gpu: "nvidia", streaming: false }).options),
    ).toEqual(["gpu_tools", "gpu_driver"]);
    expect(
      ids(combo(ub, { ssh: null, tailscale: false, gpu: "amd", streaming: false }).options),
    ).toEqual(["gpu_module", "gpu_firmware"]);
    const deb = distro("debian:12");
    expect(
      ids(combo(deb, { ssh: null, tailscale: false, gpu: "nvidia", streaming: true }).options),
    ).toEqual([
      "apt_components",
      "gpu_driver",
      "sunshine_tools",
      "sunshine_package",
      "sunshine_kms",
      "sunshine_input",
    ]);
  });

  it("installs NVENC with the Debian driver only when streaming", () => {
    const deb = distro("debian:12");
    const driver = (streaming: boolean) =>
      buildSteps(combo(deb, { ssh: null, tailscale: false, gpu: "nvidia", streaming }).options)
        .find((s) => s.id === "gpu_driver")!
        .apply.join(" ");
    expect(driver(true)).toContain("libnvidia-encode1");
    expect(driver(false)).not.toContain("libnvidia-encode1");
  });

  it("adds only non-free-firmware for AMD/Intel on Debian", () => {
    const s = renderScript(
      combo(distro("debian:12"), { ssh: null, tailscale: false, gpu: "amd", streaming: false })
        .options,
      META,
    );
    expect(s).toContain("PT_DEBIAN_COMPONENTS='non-free-firmware'");
    expect(s).toContain("apt_install firmware-amd-graphics mesa-vulkan-drivers mesa-va-drivers");
  });

  it("uses a chosen nvidia-driver branch on Ubuntu instead of ubuntu-drivers' pick", () => {
    const s = renderScript(
      combo(distro("ubuntu:24.04"), {
        ssh: null,
        tailscale: false,
        gpu: "nvidia",
        streaming: false,
        nvidiaDriver: "535",
      }).options,
      META,
    );
    expect(s).toContain("is_installed nvidia-driver-535");
    expect(s).not.toContain("ubuntu-drivers install");
  });
});

describe("every distro x option combination", () => {
  const combos = allCombos();
  let dir: string;
  const files: string[] = [];
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "passthrough-guest-scripts-"));
    for (const c of combos) {
      const f = path.join(dir, `${c.name}.sh`);
      fs.writeFileSync(f, renderScript(c.options, META));
      files.push(f);
      // The script cloud-init ships differs only in its constants (fixed user, key file path):
      // check it for the combinations with everything on.
      if (!/ssh.*-ts-.*sunshine$/.test(c.name)) continue;
      const doc = parse(renderCloudConfig(c.options, META)) as {
        write_files: Array<{ path: string; content: string }>;
      };
      const cf = path.join(dir, `${c.name}.cloud.sh`);
      fs.writeFileSync(cf, doc.write_files.find((w) => w.path === CLOUD_SCRIPT_PATH)!.content);
      files.push(cf);
    }
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("covers the whole matrix", () => {
    // 4 releases x (3 ssh x 2 tailscale x 4 gpu x 2 streaming - 1 empty) + an nvidia branch per Ubuntu.
    expect(combos.length).toBe(4 * 47 + 2);
    expect(new Set(combos.map((c) => c.name)).size).toBe(combos.length);
    expect(files.length).toBe(combos.length + 4 * 2 * 4); // ssh or ssh+key, x 4 GPU choices, per release
  });

  it("passes bash -n", async () => {
    const bad: string[] = [];
    for (const f of files) {
      try {
        await run("bash", ["-n", f]);
      } catch (err) {
        bad.push(`${path.basename(f)}: ${(err as { stderr?: string }).stderr ?? err}`);
      }
    }
    expect(bad).toEqual([]);
  });

  it.skipIf(!hasTool("shellcheck"))(
    "passes shellcheck (all severities)",
    { timeout: 600_000 },
    async () => {
      // Two shellcheck processes over batches: the machine has two cores.
      const batches: string[][] = [];
      for (let i = 0; i < files.length; i += 40) batches.push(files.slice(i, i + 40));
      const problems: string[] = [];
      let next = 0;
      const worker = async () => {
        while (next < batches.length) {
          const batch = batches[next++]!;
          try {
            await run("shellcheck", ["--shell=bash", "-f", "gcc", ...batch], {
              maxBuffer: 16 * 1024 * 1024,
            });
          } catch (err) {
            problems.push(((err as { stdout?: string }).stdout ?? String(err)).trim());
          }
        }
      };
      await Promise.all([worker(), worker()]);
      expect(problems.join("\n")).toBe("");
    },
  );
  if (!hasTool("shellcheck"))
    it("shellcheck is not installed: skipped (apt-get install shellcheck)", () => {});

  it("cloud-init output is #cloud-config YAML with users, write_files and runcmd", () => {
    for (const c of combos) {
      const text = renderCloudConfig(c.options, META);
      expect(text.split("\n")[0]).toBe("#cloud-config");
      const doc = parse(text) as Record<string, unknown>;
      expect(Object.keys(doc).sort()).toEqual(["runcmd", "users", "write_files"]);
      const files = doc.write_files as Array<Record<string, string>>;
      expect(files[0]).toMatchObject({
        path: CLOUD_SCRIPT_PATH,
        owner: "root:root",
        permissions: "0700",
      });
      expect(files[0]!.content).toBe(
        renderScript(
          {
            ...c.options,
            user: c.options.distro.cloudUser,
            tailscale: c.options.tailscale && { ...c.options.tailscale, keyFile: null },
          },
          META,
        ),
      );
      expect(doc.runcmd).toEqual([["bash", CLOUD_SCRIPT_PATH]]);
      expect(doc.users).toEqual(["default"]);
    }
  });
});

describe("cloud-init specifics", () => {
  const base = combo(distro("ubuntu:22.04"), {
    ssh: { keys: [TEST_PUBKEY] },
    tailscale: true,
    gpu: "nvidia",
    streaming: false,
  });

  it("adds a named user next to the image's default one", () => {
    const doc = parse(renderCloudConfig({ ...base.options, user: "gamer" }, META)) as {
      users: unknown[];
    };
    expect(doc.users).toEqual([
      "default",
      {
        name: "gamer",
        groups: ["sudo"],
        shell: "/bin/bash",
        sudo: "ALL=(ALL) NOPASSWD:ALL",
        lock_passwd: true,
      },
    ]);
  });

  it("embeds a key only as its own root-only file under /run, removed after the run", () => {
    const o = {
      ...base.options,
      tailscale: { hostname: null, embeddedKey: MARKER_AUTHKEY, keyFile: null },
    };
    const doc = parse(renderCloudConfig(o, META)) as {
      write_files: Array<Record<string, string>>;
      runcmd: string[][];
    };
    const key = doc.write_files.find((f) => f.path === CLOUD_KEY_PATH)!;
    expect(key).toMatchObject({ permissions: "0600", owner: "root:root", content: MARKER_AUTHKEY });
    const script = doc.write_files.find((f) => f.path === CLOUD_SCRIPT_PATH)!.content;
    expect(script).not.toContain(MARKER_AUTHKEY);
    expect(script).toContain(`TS_AUTHKEY_FILE=\${TS_AUTHKEY_FILE:-'${CLOUD_KEY_PATH}'}`);
    expect(doc.runcmd).toEqual([
      ["bash", CLOUD_SCRIPT_PATH],
      ["rm", "-f", CLOUD_KEY_PATH],
    ]);
  });

  it("without an embedded key, says how to log in to Tailscale", () => {
    expect(renderCloudConfig(base.options, META)).toContain("sudo tailscale up");
  });
});

describe("secrets in generated files", () => {
  it("a script never contains an auth key unless one is embedded", () => {
    for (const c of allCombos()) {
      expect(renderScript(c.options, META)).not.toContain("tskey-");
      expect(renderCloudConfig(c.options, META)).not.toContain("tskey-");
    }
  });

  it("an embedded key is in the script once, quoted, and only written to a private temp file", () => {
    const c = combo(distro("debian:12"), {
      ssh: null,
      tailscale: true,
      gpu: null,
      streaming: false,
      embeddedKey: MARKER_AUTHKEY,
    });
    const s = renderScript(c.options, META);
    expect(s.split(MARKER_AUTHKEY).length - 1).toBe(1);
    expect(s).toContain(`PT_TS_EMBEDDED_KEY='${MARKER_AUTHKEY}'`);
    expect(s).toContain("embeds a Tailscale auth key");
    expect(s).toMatch(/printf '%s' "\$PT_TS_EMBEDDED_KEY" >"\$keyfile"/);
    expect(s).toContain('tailscale up --auth-key="file:$keyfile"');
  });

  it("keys with quotes and dollars reach authorized_keys verbatim", () => {
    const c = combo(distro("debian:12"), {
      ssh: { keys: [TEST_PUBKEY_QUOTE] },
      tailscale: false,
      gpu: null,
      streaming: false,
    });
    const s = renderScript(c.options, META);
    const line = s.split("\n").find((l) => l.startsWith("PT_SSH_KEYS="))!;
    const out = execFileSync("bash", ["-c", `${line}\nprintf '%s' "\${PT_SSH_KEYS[0]}"`], {
      encoding: "utf8",
    });
    expect(out).toBe(TEST_PUBKEY_QUOTE);
  });
});
