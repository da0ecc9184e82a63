// The .deb on bare Debian 12 and Debian 13 roots (Proxmox VE 8's and 9's base), without Node.js:
// dpkg installs it, the executable runs, man finds its page, bash completes it; a newer package
// upgrades an older one; journals survive remove and upgrade, and purge keeps them while an
// apply is not rolled back. Each test works in an overlay of a cached debootstrap root, so runs
// are independent. Needs root and debootstrap, and the .deb from `npm run package`.
import { execFile, execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { promisify } from "node:util";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { glibcNeeded } from "../../tools/package/debian.js";
import { REPO, fixturePath } from "../helpers/fixtures.js";
import { copyGuestRoot, ensureDebianRoot, type GuestRoot } from "../helpers/guest-root.js";

const pkg = JSON.parse(fs.readFileSync(path.join(REPO, "package.json"), "utf8")) as {
  version: string;
};
const VERSION = `${pkg.version.replace(/-/g, "~")}-1`;
const DEB = path.join(REPO, "dist", `passthrough_${VERSION}_amd64.deb`);
const DEB_ARM64 = path.join(REPO, "dist", `passthrough_${VERSION}_arm64.deb`);
const run = promisify(execFile);

function skipReason(): string | null {
  if (process.getuid?.() !== 0) return "needs root (debootstrap, chroot, mount)";
  if (process.arch !== "x64") return "the amd64 package installs on x86-64 only";
  if (!fs.existsSync(DEB)) return `${path.relative(REPO, DEB)} is missing: run npm run package`;
  return null;
}
const skip = skipReason();
if (skip) console.log(`deb-install tests skipped: ${skip}`);

interface Chroot {
  dir: string;
  sh(script: string): Promise<{ code: number; stdout: string; stderr: string }>;
  dispose(): Promise<void>;
}

/** An overlay of the cached root (a copy where overlayfs is unavailable), /proc mounted. */
async function chrootOf(base: string): Promise<Chroot> {
  const work = fs.mkdtempSync(path.join(REPO, ".cache/deb-test-"));
  const dir = path.join(work, "root");
  for (const d of ["root", "upper", "work"]) fs.mkdirSync(path.join(work, d));
  let overlay = true;
  try {
    execFileSync(
      "mount",
      [
        "-t",
        "overlay",
        "overlay",
        "-o",
        `lowerdir=${base},upperdir=${work}/upper,workdir=${work}/work`,
        dir,
      ],
      { stdio: "ignore" },
    );
  } catch {
    overlay = false;
    await copyGuestRoot(base, dir);
  }
  // The Bun runtime finds its embedded program through /proc/self/exe.
  execFileSync("mount", ["-t", "proc", "proc", path.join(dir, "proc")]);
  return {
    dir,
    async sh(script) {
      try {
        const r = await run("chroot", [dir, "/bin/sh", "-c", script], {
          env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", LC_ALL: "C.UTF-8", HOME: "/root" },
          maxBuffer: 16 << 20,
        });
        return { code: 0, stdout: r.stdout, stderr: r.stderr };
      } catch (err) {
        const e = err as { code?: number; stdout?: string; stderr?: string };
        if (typeof e.code !== "number") throw err;
        return { code: e.code, stdout: e.stdout ?? "", stderr: e.stderr ?? "" };
      }
    },
    async dispose() {
      execFileSync("umount", ["-l", path.join(dir, "proc")]);
      if (overlay) execFileSync("umount", ["-l", dir]);
      fs.rmSync(work, { recursive: true, force: true });
    },
  };
}

/** The same package with another version (dpkg-deb -R, edit, -b): "older" for upgrades. */
function repackage(deb: string, version: string, out: string): void {
  const tree = `${out}.tree`;
  execFileSync("dpkg-deb", ["-R", deb, tree]);
  const control = path.join(tree, "DEBIAN/control");
  fs.writeFileSync(
    control,
    fs.readFileSync(control, "utf8").replace(/^Version: .*$/m, `Version: ${version}`),
  );
  execFileSync("dpkg-deb", ["--root-owner-group", "-Zgzip", "-z1", "-b", tree, out], {
    stdio: "ignore",
  });
  fs.rmSync(tree, { recursive: true, force: true });
}

const SUITES = [
  ["bookworm", "Debian 12 / Proxmox VE 8"],
  ["trixie", "Debian 13 / Proxmox VE 9"],
] as const;

describe.skipIf(skip !== null).each(SUITES)("the .deb on a bare %s (%s)", (suite) => {
  let root: GuestRoot;
  let c: Chroot | null = null;
  beforeAll(async () => {
    root = await ensureDebianRoot(suite, ["man-db", "bash-completion"]);
  }, 900_000);
  afterEach(async () => {
    await c?.dispose();
    c = null;
  }, 120_000);
  const fresh = async () => {
    if (!root.ok) throw new Error(root.reason);
    c = await chrootOf(root.dir);
    fs.copyFileSync(DEB, path.join(c.dir, "tmp/passthrough.deb"));
    fs.copyFileSync(
      path.join(REPO, "examples/seed-host.tar.gz"),
      path.join(c.dir, "tmp/seed-host.tar.gz"),
    );
    return c;
  };

  it(
    "installs without Node.js; runs, has its manual page and bash completion; purge removes it",
    { timeout: 300_000 },
    async () => {
      const r = await fresh();
      expect((await r.sh("command -v node nodejs")).stdout).toBe("");
      const install = await r.sh("dpkg -i /tmp/passthrough.deb");
      expect(install.code, install.stderr).toBe(0);
      expect(await r.sh("passthrough --version")).toEqual({
        code: 0,
        stdout: `${pkg.version}\n`,
        stderr: "",
      });
      const check = await r.sh("passthrough check --snapshot /tmp/seed-host.tar.gz");
      expect(check.code).toBe(1); // the example host has a FAIL finding
      expect(check.stdout).toContain("Result: not ready");
      expect(check.stdout).toContain(
        "Next: passthrough plan --device 0000:01:00 --snapshot /tmp/seed-host.tar.gz",
      );
      const man = await r.sh("MANWIDTH=100 man -P cat passthrough");
      expect(man.code, man.stderr).toBe(0);
      expect(man.stdout).toMatch(/passthrough vm mapping create \[options\]/);
      // bash-completion loads the file on first use from /usr/share/bash-completion/completions.
      const comp = await r.sh(
        `bash -c '. /usr/share/bash-completion/bash_completion; _completion_loader passthrough; complete -p passthrough; COMP_WORDS=(passthrough vm ""); COMP_CWORD=2; _passthrough; echo "\${COMPREPLY[*]}"'`,
      );
      expect(comp.stdout).toBe(
        "complete -F _passthrough passthrough\nplan configure create mapping\n",
      );
      const purge = await r.sh("dpkg --purge passthrough");
      expect(purge.code, purge.stderr).toBe(0);
      expect((await r.sh("ls /usr/bin/passthrough /var/lib/passthrough")).code).not.toBe(0);
      expect((await r.sh("dpkg -L passthrough")).code).not.toBe(0);
    },
  );

  it(
    "upgrades an older package; remove and upgrade keep journals, purge keeps them while an apply is not rolled back",
    { timeout: 600_000 },
    async () => {
      const r = await fresh();
      repackage(DEB, "0.0.1-1", path.join(r.dir, "tmp/old.deb"));
      expect((await r.sh("dpkg -i /tmp/old.deb")).code).toBe(0);
      expect((await r.sh("dpkg-query -W -f='${Version}' passthrough")).stdout).toBe("0.0.1-1");
      // A real journal: apply to an unpacked fixture host (--root), moved where a live apply keeps it.
      fs.mkdirSync(path.join(r.dir, "srv/host"), { recursive: true });
      fs.copyFileSync(fixturePath("seed-before"), path.join(r.dir, "tmp/host.tar.gz"));
      const apply = await r.sh(
        "tar -xzf /tmp/host.tar.gz -C /srv/host && passthrough apply --device 0000:01:00 --root /srv/host/seed-before --yes && mkdir -p /var/lib/passthrough && cp -a /srv/host/seed-before/var/lib/passthrough/journal /var/lib/passthrough/",
      );
      expect(apply.code, apply.stderr).toBe(0);
      const journals = () => r.sh("ls /var/lib/passthrough/journal");
      const ids = (await journals()).stdout.trim();
      expect(ids).toMatch(/^\d{8}-\d{6}-[0-9a-f]{4}$/);

      const upgrade = await r.sh("dpkg -i /tmp/passthrough.deb");
      expect(upgrade.code, upgrade.stderr).toBe(0);
      expect((await r.sh("dpkg-query -W -f='${Version}' passthrough")).stdout).toBe(VERSION);
      expect((await journals()).stdout.trim()).toBe(ids);
      expect((await r.sh("passthrough history --root / --json")).stdout).toContain(ids);

      expect((await r.sh("dpkg --remove passthrough")).code).toBe(0);
      expect((await journals()).stdout.trim()).toBe(ids);

      const kept = await r.sh("dpkg --purge passthrough");
      expect(kept.code).toBe(0);
      expect(kept.stderr).toContain(
        `passthrough: keeping /var/lib/passthrough: these applies are not rolled back: ${ids}`,
      );
      expect((await journals()).stdout.trim()).toBe(ids);

      // Reinstalled, rolled back: now purge removes the folder.
      expect((await r.sh("dpkg -i /tmp/passthrough.deb")).code).toBe(0);
      const rollback = await r.sh(
        `passthrough rollback --root /srv/host/seed-before --yes && cp /srv/host/seed-before/var/lib/passthrough/journal/${ids}/rollback.log /var/lib/passthrough/journal/${ids}/`,
      );
      expect(rollback.code, rollback.stderr).toBe(0);
      const purge = await r.sh("dpkg --purge passthrough");
      expect(purge.code).toBe(0);
      expect(purge.stderr).not.toContain("keeping");
      expect((await r.sh("test -e /var/lib/passthrough")).code).toBe(1);
    },
  );

  it.runIf(suite === "bookworm")(
    "dpkg refuses the other architecture's package, with the reason",
    { timeout: 300_000 },
    async () => {
      if (!fs.existsSync(DEB_ARM64)) return; // npm run package -- --arch amd64 built none
      const r = await fresh();
      fs.copyFileSync(DEB_ARM64, path.join(r.dir, "tmp/arm64.deb"));
      const i = await r.sh("dpkg -i /tmp/arm64.deb");
      expect(i.code).toBe(1);
      expect(i.stderr).toContain("package architecture (arm64) does not match system (amd64)");
      expect((await r.sh("test -e /usr/bin/passthrough")).code).toBe(1);
    },
  );
});

describe.skipIf(skip !== null)("the .deb's Depends", () => {
  it(
    "is libc6 at the newest GLIBC symbol version the executable needs (objdump's count)",
    { timeout: 120_000 },
    () => {
      const depends = execFileSync("dpkg-deb", ["-f", DEB, "Depends"], { encoding: "utf8" }).trim();
      const tree = fs.mkdtempSync(path.join(REPO, ".cache/deb-depends-"));
      try {
        execFileSync("dpkg-deb", ["-x", DEB, tree]);
        // objdump's version references, an independent reading of what readelf gave the build.
        const refs = execFileSync("objdump", ["-p", path.join(tree, "usr/bin/passthrough")], {
          encoding: "utf8",
        });
        const versions = [...refs.matchAll(/\bGLIBC_(\d+(?:\.\d+)+)\b/g)].map((m) => m[1]!);
        const newest = versions.sort((a, b) => a.localeCompare(b, "en", { numeric: true }))[
          versions.length - 1
        ];
        expect(depends).toBe(`libc6 (>= ${newest})`);
        // readelf's parse, as tools/package reads it, agrees.
        const info = execFileSync("readelf", ["-V", "-W", path.join(tree, "usr/bin/passthrough")], {
          encoding: "utf8",
        });
        expect(glibcNeeded(info)).toBe(newest);
        // Debian 12 has glibc 2.36: the executable must need no newer one.
        expect(newest!.localeCompare("2.36", "en", { numeric: true })).toBeLessThanOrEqual(0);
      } finally {
        fs.rmSync(tree, { recursive: true, force: true });
      }
    },
  );
});
