// `npm run package`: the files users install (README "Install", ARCHITECTURE "Packaging").
//
//   dist/passthrough                    standalone executable, Linux x86-64 (no Node.js needed)
//   dist/passthrough-arm64              the same for Linux arm64
//   dist/passthrough_<ver>_<arch>.deb   /usr/bin/passthrough, passthrough(1), bash/zsh/fish
//                                       completion, copyright and changelog, built with dpkg-deb
//   dist/passthrough-<ver>.tgz          the npm package (npm pack), for Node.js users
//
// Then lintian on each .deb when it is installed (errors fail the build).
// Options: --arch amd64,arm64 (default both)   --no-lintian   --xz-level N (default 6)
import "../esm-require.js"; // first: a `require` for the sources loaded below
import { execFileSync, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
// @ts-expect-error: a plain JavaScript module of the build (no declarations)
import { REPO, bunVersion, compileStandalone } from "../bun-runtime.mjs";
import { liveCommandTree } from "./command-tree.js";
import { bashCompletion, fishCompletion, zshCompletion } from "./completions.js";
import {
  changelog,
  controlFile,
  copyrightFile,
  debianVersion,
  dependsFor,
  type PackageJson,
} from "./debian.js";
import { manPage } from "./man-page.js";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const DIST = path.join(REPO as string, "dist");
const WORK = path.join(REPO as string, ".cache/package");

/** Where each Debian architecture's executable goes. */
export const EXECUTABLES: Record<string, string> = {
  amd64: "passthrough",
  arm64: "passthrough-arm64",
};

function arg(name: string): string | null {
  const i = process.argv.indexOf(`--${name}`);
  return i !== -1 ? (process.argv[i + 1] ?? null) : null;
}

/** The release date: the last commit's (so the same commit packages the same bytes), else now. */
function releaseDate(): Date {
  const env = process.env.SOURCE_DATE_EPOCH;
  if (env && /^\d+$/.test(env)) return new Date(Number(env) * 1000);
  const r = spawnSync("git", ["log", "-1", "--format=%ct"], { cwd: REPO, encoding: "utf8" });
  const t = Number(r.stdout?.trim());
  return r.status === 0 && t > 0 ? new Date(t * 1000) : new Date();
}

function put(root: string, rel: string, data: string | Buffer, mode = 0o644): void {
  const file = path.join(root, rel);
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o755 });
  fs.writeFileSync(file, data);
  fs.chmodSync(file, mode);
}

/** gzip -9n: no name, no time stamp (node's gzip header has neither). */
const gz = (s: string) => gzipSync(Buffer.from(s), { level: 9 });

function filesUnder(dir: string): string[] {
  return fs
    .readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile())
    .map((e) => path.join(e.parentPath, e.name))
    .sort();
}

interface Docs {
  man: Buffer;
  bash: string;
  zsh: string;
  fish: string;
  copyright: string;
  changelog: Buffer;
}

function buildDeb(pkg: PackageJson, arch: string, docs: Docs, date: Date, xzLevel: number): string {
  const binary = path.join(DIST, EXECUTABLES[arch]!);
  const root = path.join(WORK, arch);
  fs.rmSync(root, { recursive: true, force: true });
  fs.mkdirSync(root, { recursive: true, mode: 0o755 });
  fs.chmodSync(root, 0o755);
  put(root, "usr/bin/passthrough", fs.readFileSync(binary), 0o755);
  put(root, "usr/share/man/man1/passthrough.1.gz", docs.man);
  put(root, "usr/share/bash-completion/completions/passthrough", docs.bash);
  put(root, "usr/share/zsh/vendor-completions/_passthrough", docs.zsh);
  put(root, "usr/share/fish/vendor_completions.d/passthrough.fish", docs.fish);
  put(root, "usr/share/doc/passthrough/copyright", docs.copyright);
  put(root, "usr/share/doc/passthrough/changelog.Debian.gz", docs.changelog);
  put(
    root,
    "usr/share/lintian/overrides/passthrough",
    fs.readFileSync(path.join(HERE, "debian/lintian-overrides")),
  );
  const files = filesUnder(root);
  // Installed-Size as dpkg-gencontrol counts it: KiB per file, rounded up.
  const kib = files.reduce((n, f) => n + Math.ceil(fs.statSync(f).size / 1024), 0);
  put(
    root,
    "DEBIAN/md5sums",
    files
      .map(
        (f) =>
          `${createHash("md5").update(fs.readFileSync(f)).digest("hex")}  ${path.relative(root, f)}\n`,
      )
      .join(""),
  );
  put(root, "DEBIAN/postrm", fs.readFileSync(path.join(HERE, "debian/postrm")), 0o755);
  put(
    root,
    "DEBIAN/control",
    controlFile({ pkg, arch, depends: dependsFor(binary), installedSizeKiB: kib }),
  );
  for (const f of filesUnder(root)) fs.utimesSync(f, date, date);
  const deb = path.join(DIST, `${pkg.name}_${debianVersion(pkg.version)}_${arch}.deb`);
  // Built beside its name and renamed: whoever copies the .deb meanwhile gets a whole one.
  const partial = `${deb}.partial`;
  execFileSync(
    "dpkg-deb",
    ["--root-owner-group", "-Zxz", `-z${xzLevel}`, "--build", root, partial],
    {
      stdio: ["ignore", "ignore", "inherit"],
      env: { ...process.env, SOURCE_DATE_EPOCH: String(Math.floor(date.getTime() / 1000)) },
    },
  );
  fs.renameSync(partial, deb);
  return deb;
}

/** lintian's tags for a .deb; throws on an error tag. */
function lint(deb: string): void {
  const r = spawnSync("lintian", ["--tag-display-limit", "0", deb], { encoding: "utf8" });
  const out = `${r.stdout}${r.stderr}`.trim();
  console.log(`lintian ${path.basename(deb)}: ${out ? `\n${out}` : "clean"}`);
  if (/^E: /m.test(out)) throw new Error(`lintian reports errors for ${deb}`);
}

function npmPack(): string {
  const out = execFileSync("npm", ["pack", "--silent", "--pack-destination", DIST], {
    cwd: REPO,
    encoding: "utf8",
  });
  const tgz = path.join(DIST, out.trim().split("\n").pop()!);
  // npm installs the bin with the mode the tarball gives it.
  const listing = execFileSync("tar", ["-tvzf", tgz, "package/dist/passthrough.cjs"], {
    encoding: "utf8",
  });
  if (!listing.startsWith("-rwx"))
    throw new Error(`${tgz}: the bin is not executable (${listing})`);
  return tgz;
}

async function main(): Promise<void> {
  const pkg = JSON.parse(fs.readFileSync(path.join(REPO, "package.json"), "utf8")) as PackageJson;
  const arches = (arg("arch") ?? "amd64,arm64").split(",");
  for (const a of arches)
    if (!EXECUTABLES[a])
      throw new Error(`--arch ${a}: one of ${Object.keys(EXECUTABLES).join(", ")}`);
  const date = releaseDate();
  // xz -6 (dpkg-deb's default) takes minutes for the ~110 MB executable on 2 busy cores;
  // -1 is 5x faster and 12 % larger: for development loops.
  const xzLevel = Number(arg("xz-level") ?? "6");

  execFileSync(process.execPath, [path.join(REPO, "tools/build.mjs"), "--bundle-only"], {
    cwd: REPO,
    stdio: "inherit",
  });
  const bundle = path.join(DIST, "passthrough.cjs");
  for (const arch of arches) {
    compileStandalone({ bundle, outfile: path.join(DIST, EXECUTABLES[arch]!), arch });
    console.log(`dist/${EXECUTABLES[arch]} (linux ${arch})`);
  }

  const tree = await liveCommandTree();
  const docs: Docs = {
    man: gz(manPage(tree, { version: pkg.version, date: date.toISOString().slice(0, 10) })),
    bash: bashCompletion(tree),
    zsh: zshCompletion(tree),
    fish: fishCompletion(tree),
    copyright: copyrightFile({ repo: REPO, pkg, bunVersion: bunVersion() }),
    changelog: gz(changelog(pkg, date)),
  };
  const debs = arches.map((arch) => buildDeb(pkg, arch, docs, date, xzLevel));
  for (const d of debs) console.log(`dist/${path.basename(d)}`);
  console.log(`dist/${path.basename(npmPack())}`);

  if (process.argv.includes("--no-lintian")) return;
  if (spawnSync("lintian", ["--version"]).status !== 0) {
    console.log("lintian is not installed (apt-get install lintian): not checked");
    return;
  }
  for (const d of debs) lint(d);
}

await main();
