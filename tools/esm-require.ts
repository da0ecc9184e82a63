// The CLI loads some modules on first use with `require(...)` (ARCHITECTURE.md, "Discovery
// speed"): esbuild bundles those calls into the CommonJS build, and vitest gives each module a
// `require`. The tools run the sources with tsx as ES modules, where there is none: this gives
// them one. Import it first in every tsx entry point.
import { createRequire } from "node:module";

const g = globalThis as { require?: NodeJS.Require };
g.require ??= createRequire(import.meta.url);
