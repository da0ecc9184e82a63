// The Bun runtime that turns the bundle into a standalone executable (ARCHITECTURE.md, "The
// standalone executable"). Bun comes from the npm registry only: the `bun` devDependency (its
// version is pinned in package.json) brings this machine's platform package through its
// optionalDependencies; the runtime for another target is fetched as the same registry
// package with `npm pack` into .cache/bun/. Nothing is downloaded by Bun itself.
import { execFileSync } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  closeSync,
  rmSync,
} from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const REPO = join(dirname(fileURLToPath(import.meta.url)), "..");
const require = createRequire(join(REPO, "package.json"));

/** Debian architecture -> Bun's --target and the npm package carrying that runtime. */
export const TARGETS = {
  amd64: { bunTarget: "bun-linux-x64", pkg: "@oven/bun-linux-x64", machine: "x86_64" },
  arm64: { bunTarget: "bun-linux-arm64", pkg: "@oven/bun-linux-aarch64", machine: "aarch64" },
};

/** The platform package of the machine we build on (bun's install.js uses the same names). */
function hostPackage() {
  const arch = { x64: "x64", arm64: "aarch64" }[process.arch];
  if (!arch || !["linux", "darwin"].includes(process.platform))
    throw new Error(`no Bun runtime package for ${process.platform}-${process.arch}`);
  return `@oven/bun-${process.platform}-${arch}`;
}

export function bunVersion() {
  return JSON.parse(readFileSync(require.resolve("bun/package.json"), "utf8")).version;
}

function isElfOrMachO(file) {
  if (!existsSync(file)) return false;
  const b = Buffer.alloc(4);
  const fd = openSync(file, "r");
  try {
    readSync(fd, b, 0, 4, 0);
  } finally {
    closeSync(fd);
  }
  const magic = b.readUInt32BE(0);
  return magic === 0x7f454c46 || magic === 0xcffaedfe || magic === 0xcefaedfe;
}

/**
 * The bun binary that compiles. npm leaves it in the platform package; when the `bun`
 * package's own postinstall did run (npm before 11, or approved), it moved it to bun/bin/bun.exe.
 */
export function compilerPath() {
  const bunDir = dirname(require.resolve("bun/package.json"));
  const candidates = [];
  try {
    const pkgJson = require.resolve(`${hostPackage()}/package.json`, { paths: [bunDir] });
    candidates.push(join(dirname(pkgJson), "bin/bun"));
  } catch {
    // not installed: npm skipped it, or the postinstall removed it
  }
  candidates.push(join(bunDir, "bin/bun.exe"));
  const found = candidates.find(isElfOrMachO);
  if (!found)
    throw new Error(
      `the bun ${bunVersion()} runtime for this machine is missing from node_modules (run npm ci)`,
    );
  return found;
}

/**
 * The runtime embedded for a Debian architecture: this machine's own when it matches, else
 * the registry package of the same version unpacked under .cache/bun/.
 */
export function runtimePath(arch) {
  const t = TARGETS[arch];
  if (!t) throw new Error(`unknown architecture ${arch} (${Object.keys(TARGETS).join(", ")})`);
  if (process.platform === "linux" && hostPackage() === t.pkg) return compilerPath();
  const version = bunVersion();
  const dir = join(REPO, ".cache/bun", `${t.pkg.replace("/", "+")}-${version}`);
  const bin = join(dir, "package/bin/bun");
  if (isElfOrMachO(bin)) return bin;
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const out = execFileSync(
    "npm",
    ["pack", "--silent", "--pack-destination", dir, `${t.pkg}@${version}`],
    { encoding: "utf8", cwd: dir },
  ).trim();
  const tgz = join(dir, out.split("\n").pop());
  execFileSync("tar", ["-xzf", tgz, "-C", dir]);
  rmSync(tgz);
  if (!isElfOrMachO(bin)) throw new Error(`${t.pkg}@${version} holds no bin/bun`);
  return bin;
}

/**
 * Compiles the bundle into a standalone executable for `arch`. --bytecode: JavaScriptCore's
 * bytecode is stored in the file, so nothing is parsed at start-up. The executable never reads
 * .env, bunfig.toml, tsconfig.json or package.json from the folder it runs in (it runs as root
 * in whatever folder the user is in).
 */
export function compileStandalone({ bundle, outfile, arch }) {
  const t = TARGETS[arch];
  execFileSync(
    compilerPath(),
    [
      "build",
      bundle,
      "--compile",
      "--bytecode",
      "--minify",
      `--target=${t.bunTarget}`,
      `--compile-executable-path=${runtimePath(arch)}`,
      "--no-compile-autoload-dotenv",
      "--no-compile-autoload-bunfig",
      "--no-compile-autoload-tsconfig",
      "--no-compile-autoload-package-json",
      "--outfile",
      outfile,
    ],
    { stdio: ["ignore", "ignore", "inherit"], cwd: REPO },
  );
}

/** This machine's Debian architecture, when Bun has a runtime for it. */
export function hostArch() {
  if (process.platform !== "linux") return null;
  return { x64: "amd64", arm64: "arm64" }[process.arch] ?? null;
}
