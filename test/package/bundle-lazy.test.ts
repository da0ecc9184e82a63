// The bundle runs only its output and version modules at start-up; the program (commander and
// the command table) is loaded unless argv is `--version` alone (ARCHITECTURE.md "Command
// registration"): esbuild wraps every module reached by a dynamic import() in an `__esm`
// initialiser, and a module imported statically by the entry point is initialised at load.
// A command, the host-reading context or discovery imported statically would show here.
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { COMMANDS } from "../../src/cli/commands/index.js";

const BUNDLE = path.resolve("dist/passthrough.cjs");
const built = fs.existsSync(BUNDLE);

describe.skipIf(!built)("dist/passthrough.cjs", () => {
  const text = built ? fs.readFileSync(BUNDLE, "utf8") : "";
  /** The module each `init_NAME` initialises. */
  const moduleOf = new Map(
    [...text.matchAll(/^var (init_\w+) = __esm\(\{\n {2}"([^"]+)"/gm)].map((m) => [m[1]!, m[2]!]),
  );

  it("initialises at load only its output and the version: `--version` needs no more", () => {
    const eager = [...text.matchAll(/^(init_\w+)\(\);$/gm)].map((m) => moduleOf.get(m[1]!));
    expect(eager.length).toBeGreaterThan(0);
    for (const m of eager) expect(m).toMatch(/^(src\/cli\/io\.ts|src\/(errors|version)\.ts)/);
  });

  it("loads each command's module from its COMMANDS entry, on first use", () => {
    const lazy = new Set(
      [...text.matchAll(/Promise\.resolve\(\)\.then\(\(\) => \((init_\w+)\(\), \w+\)\)/g)].map(
        (m) => moduleOf.get(m[1]!),
      ),
    );
    for (const c of COMMANDS) expect([...lazy].some((m) => m?.includes(`/${c.name}`))).toBe(true);
    expect(lazy).toContain("src/cli/context.ts");
    expect(lazy).toContain("src/cli/program.ts");
  });
});
