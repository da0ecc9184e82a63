// The import rules of ARCHITECTURE.md, checked by `npm run lint` (dependency-cruiser):
// no cycles, and no import from a lower layer to a higher one. Layers from the bottom up;
// a folder may import its own layer and the ones listed before it.
const LAYERS = [
  "src/(errors|version|input-file)\\.ts$",
  "src/process/",
  "src/formats/",
  "src/findings/",
  "src/host/",
  "src/boot/",
  "src/checks/",
  "src/plan/",
  "src/apply/",
  "src/vm/",
  "src/guest/",
  "src/cli/",
];

const layerRules = LAYERS.slice(0, -1).map((layer, i) => ({
  name: `layer-${layer.replace(/^src\/|[\\$/().|]+/g, "") || "root"}`,
  comment: "a lower layer must not import a higher one (ARCHITECTURE.md, Layers)",
  severity: "error",
  from: { path: `^${layer}` },
  to: { path: `^(${LAYERS.slice(i + 1).join("|")})` },
}));

module.exports = {
  forbidden: [
    {
      name: "no-circular",
      comment: "import cycles make load order matter and layers meaningless",
      severity: "error",
      from: {},
      to: { circular: true },
    },
    {
      name: "commander-only-in-cli",
      comment: "option parsing belongs to src/cli; lower layers take plain values",
      severity: "error",
      from: { path: "^src/", pathNot: "^src/cli/" },
      to: { path: "node_modules/commander" },
    },
    {
      name: "every-file-in-a-layer",
      comment: "a new top-level folder of src/ needs its place in LAYERS",
      severity: "error",
      from: { path: "^src/", pathNot: `^(${LAYERS.join("|")})` },
      to: {},
    },
    ...layerRules,
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
  },
};
