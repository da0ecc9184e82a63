// Throw-away Debian roots: `debootstrap --variant=minbase SUITE`, cached under .cache/
// (git-ignored) so each is built once per machine (~1-2 min). The guest-script tests run
// generated scripts in bookworm's; the package tests install the .deb into bookworm's and
// trixie's (Proxmox VE 8 and 9). The mirror comes from this machine's own apt configuration; no package
// host is written into the repository.
//
// Each test copies the cached root to a private folder (`cp -a`), runs in it with chroot, and
// removes it.

import { execFile, execFileSync } from "node:child_process";
import { promisify } from "node:util";
import * as fs from "node:fs";
import * as path from "node:path";
import { REPO } from "./fixtures.js";

export const GUEST_ROOT_SUITE = "bookworm";
const CACHE = path.join(REPO, ".cache/guest-root");
const MARKER = ".passthrough-root-complete";

/** The first Debian archive URI (not -security) from /etc/apt/sources.list{,.d/*.sources,.d/*.list}. */
export function aptMirror(etcApt = "/etc/apt"): string | null {
  const candidates: Array<{ uri: string; suites: string[] }> = [];
  const deb822 = (text: string) => {
    for (const stanza of text.split(/\n\s*\n/)) {
      const field = (name: string) =>
        stanza.match(new RegExp(`^${name}:\\s*(.+)$`, "mi"))?.[1]?.trim();
      const types = field("Types") ?? "";
      const enabled = (field("Enabled") ?? "yes").toLowerCase() !== "no";
      const uris = field("URIs");
      if (!enabled || !uris || !types.split(/\s+/).includes("deb")) continue;
      for (const uri of uris.split(/\s+/))
        candidates.push({ uri, suites: (field("Suites") ?? "").split(/\s+/) });
    }
  };
  const oneLine = (text: string) => {
    for (const line of text.split("\n")) {
      const m = line.match(/^\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)/);
      if (m) candidates.push({ uri: m[1]!, suites: [m[2]!] });
    }
  };
  const read = (p: string) => {
    try {
      return fs.readFileSync(p, "utf8");
    } catch {
      return null;
    }
  };
  const main = read(path.join(etcApt, "sources.list"));
  if (main) oneLine(main);
  let entries: string[] = [];
  try {
    entries = fs.readdirSync(path.join(etcApt, "sources.list.d")).sort();
  } catch {
    // no folder
  }
  for (const e of entries) {
    const text = read(path.join(etcApt, "sources.list.d", e));
    if (!text) continue;
    if (e.endsWith(".sources")) deb822(text);
    else if (e.endsWith(".list")) oneLine(text);
  }
  const debian = candidates.find(
    (c) =>
      /^https?:\/\//.test(c.uri) &&
      c.suites.some((s) => /^[a-z]+$/.test(s)) &&
      !/security/.test(c.uri),
  );
  return debian?.uri ?? null;
}

export type GuestRoot = { ok: true; dir: string } | { ok: false; reason: string };

function have(tool: string): boolean {
  try {
    execFileSync("sh", ["-c", 'command -v "$1"', "sh", tool], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

const run = promisify(execFile);

/** The cached bookworm minbase root the guest scripts run in. */
export function ensureGuestRoot(): Promise<GuestRoot> {
  return ensureDebianRoot(GUEST_ROOT_SUITE);
}

/**
 * The cached minbase root of a Debian suite (with `include`'s packages), built if missing. Returns why not when this
 * machine cannot build one. Asynchronous: a test worker that blocks for a minute loses its
 * connection to vitest.
 */
export async function ensureDebianRoot(
  suite: string,
  include: readonly string[] = [],
  /** Another architecture's root, unpacked only (`--foreign`): a sysroot for qemu-user. */
  foreignArch: string | null = null,
): Promise<GuestRoot> {
  const name = `${suite}${foreignArch ? `-${foreignArch}-foreign` : ""}-minbase`;
  // "+" between package names: a comma would split overlayfs mount options (lowerdir=...).
  const ROOT = path.join(CACHE, `${name}${include.map((p) => `+${p}`).join("")}`);
  if (process.getuid?.() !== 0) return { ok: false, reason: "needs root (debootstrap and chroot)" };
  if (fs.existsSync(path.join(ROOT, MARKER))) return { ok: true, dir: ROOT };
  for (const t of ["debootstrap", "chroot"])
    if (!have(t))
      return { ok: false, reason: `${t} is not installed (apt-get install debootstrap)` };
  const mirror = aptMirror();
  if (!mirror) return { ok: false, reason: "no Debian mirror in /etc/apt/sources.list{,.d}" };
  fs.mkdirSync(CACHE, { recursive: true });
  const tmp = fs.mkdtempSync(path.join(CACHE, "build-"));
  try {
    const extra = [
      ...(include.length ? [`--include=${include.join(",")}`] : []),
      ...(foreignArch ? [`--arch=${foreignArch}`, "--foreign"] : []),
    ];
    await run("debootstrap", ["--variant=minbase", ...extra, suite, tmp, mirror], {
      timeout: 900_000,
      maxBuffer: 64 * 1024 * 1024,
    });
    fs.writeFileSync(path.join(tmp, MARKER), `${new Date().toISOString()} ${mirror}\n`);
    fs.rmSync(ROOT, { recursive: true, force: true });
    fs.renameSync(tmp, ROOT);
    return { ok: true, dir: ROOT };
  } catch (err) {
    fs.rmSync(tmp, { recursive: true, force: true });
    const e = err as { stderr?: string; message: string };
    return {
      ok: false,
      reason: `debootstrap ${suite} failed: ${(e.stderr || e.message).trim().split("\n").slice(-3).join(" / ")}`,
    };
  }
}

/** A private copy of the cached root (cp -a keeps device nodes, owners and links). */
export async function copyGuestRoot(from: string, to: string): Promise<void> {
  await run("cp", ["-a", `${from}/.`, to]);
}
