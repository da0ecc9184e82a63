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
