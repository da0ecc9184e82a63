// ESLint: typescript-eslint's recommended rules. Formatting is Prettier's job
// (`npm run format`), layering is dependency-cruiser's (.dependency-cruiser.cjs).
import js from "@eslint/js";
import globals from "globals";
import tseslint from "typescript-eslint";

export default tseslint.config(
  {
    ignores: [
      "dist/",
      "node_modules/",
      ".cache/",
      "e2e-logs/",
      "test/fixtures/",
      "test-artifacts/",
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { ecmaVersion: 2022, sourceType: "module", globals: globals.node },
    rules: {
      // `_name` marks a parameter or binding kept for an interface's shape or a destructuring.
      "@typescript-eslint/no-unused-vars": [
        "error",
        { argsIgnorePattern: "^_", varsIgnorePattern: "^_", destructuredArrayIgnorePattern: "^_" },
      ],
    },
  },
  {
    // Tests read the CLI's JSON output as `any`: the assertions themselves check its shape.
    files: ["test/**/*.ts"],
    rules: { "@typescript-eslint/no-explicit-any": "off" },
  },
  {
    // Libraries only one command needs, and Node.js modules only some commands use, are
    // required on first use, not imported at start-up (ARCHITECTURE.md, "Discovery speed");
    // every other module is imported.
    files: ["src/**/*.ts"],
    rules: {
      "@typescript-eslint/no-require-imports": [
        "error",
        {
          allow: [
            "^yaml$",
            "^@xmldom/xmldom$",
            "^node:(https|tls|net|zlib|crypto|readline|child_process|tty)$",
          ],
        },
      ],
    },
  },
  {
    // The fake Proxmox and libvirt tools are CommonJS scripts run as programs by the tests.
    files: ["**/*.cjs"],
    languageOptions: { sourceType: "commonjs" },
    rules: { "@typescript-eslint/no-require-imports": "off" },
  },
);
