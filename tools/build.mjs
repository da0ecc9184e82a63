// Builds the CLI twice from the same bundle:
//   dist/passthrough.cjs  one CommonJS file for Node.js >= 18 (Debian 12 / Proxmox VE 8), the npm
//                         package's bin (mode 0755: npm installs it as `passthrough`);
//   dist/passthrough      the standalone executable for this machine (Linux only): the same
//                         bundle compiled with the Bun runtime it embeds (tools/bun-runtime.mjs).
// `npm run package` (tools/package/) builds the release files from these.
// Options: --bundle-only (skip the standalone executable).
import { build } from "esbuild";
import { chmodSync, readFileSync } from "node:fs";
import { compileStandalone, hostArch } from "./bun-runtime.mjs";

/**
 * commander requires node:child_process at load, for stand-alone executable subcommands, which
 * passthrough has none of; the Bun runtime builds that module from JavaScript when it is first
 * required (several ms of every start). commander gets a stand-in that requires it on first use.
 */
const lazyChildProcessForCommander = {
  name: "lazy-child-process-for-commander",
  setup(b) {
    b.onResolve({ filter: /^node:child_process$/ }, (args) =>
      /[\\/]node_modules[\\/]commander[\\/]/.test(args.importer)
        ? { path: "commander-child-process", namespace: "lazy" }
        : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: "lazy" }, () => ({
      contents: 'module.exports = { spawn: (...a) => require("node:child_process").spawn(...a) };',
      loader: "js",
    }));
  },
};

const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8"));

await build({
  entryPoints: ["src/cli/main.ts"],
  outfile: "dist/passthrough.cjs",
  bundle: true,
  platform: "node",
  format: "cjs",
  target: "node18",
  banner: { js: "#!/usr/bin/env node" },
  define: { PASSTHROUGH_VERSION: JSON.stringify(pkg.version) },
  legalComments: "none",
  logLevel: "warning",
  plugins: [lazyChildProcessForCommander],
});
chmodSync("dist/passthrough.cjs", 0o755);

const arch = hostArch();
if (process.argv.includes("--bundle-only")) {
  // asked for
} else if (arch) {
  compileStandalone({ bundle: "dist/passthrough.cjs", outfile: "dist/passthrough", arch });
} else {
  console.error(
    `build: no standalone executable on ${process.platform}-${process.arch} (Linux x86-64 and arm64 only)`,
  );
}
