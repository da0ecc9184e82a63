#!/usr/bin/env node
// A fake `pvesm` for the guest tests, next to the vm tests' fake qm/pvesh (fake-pve.cjs):
// `pvesm status --content snippets` lists the storages in $FAKE_PVESM_SNIPPETS (default
// "local") in pvesm's table format; `pvesm path STORAGE:snippets/NAME` prints the file a
// directory storage keeps it in, $FAKE_PVE_DIR/storage/STORAGE/snippets/NAME (on a real node:
// /var/lib/vz/snippets/NAME for "local"), and fails like pvesm for an unknown storage.
"use strict";
const fs = require("node:fs");
const path = require("node:path");

const root = process.env.FAKE_PVE_DIR;
if (!root) {
  process.stderr.write("FAKE_PVE_DIR is not set\n");
  process.exit(255);
}
const args = process.argv.slice(2);
fs.appendFileSync(path.join(root, "calls.jsonl"), JSON.stringify(["pvesm", ...args]) + "\n");
const snippetStorages = (process.env.FAKE_PVESM_SNIPPETS ?? "local").split(",").filter(Boolean);
const all = [
  "local",
  "local-lvm",
  ...snippetStorages.filter((s) => s !== "local" && s !== "local-lvm"),
];

if (args[0] === "status") {
  const only = args[1] === "--content" ? args[2] : null;
  const rows = all.filter(
    (s) => only === null || (only === "snippets" ? snippetStorages.includes(s) : true),
  );
  process.stdout.write(
    "Name             Type     Status           Total            Used       Available        %\n",
  );
  for (const s of rows)
    process.stdout.write(
      `${s.padEnd(16)} ${s === "local-lvm" ? "lvmthin" : "dir    "}  active        98497780        12345678        81089624   12.53%\n`,
    );
  process.exit(0);
}
if (args[0] === "path") {
  const m = /^([a-z][a-z0-9_.-]*):snippets\/([\w.-]+)$/i.exec(args[1] ?? "");
  if (!m) {
    process.stderr.write(`unable to parse volume ID '${args[1] ?? ""}'\n`);
    process.exit(255);
  }
  if (!all.includes(m[1])) {
    process.stderr.write(`storage '${m[1]}' does not exist\n`);
    process.exit(255);
  }
  process.stdout.write(path.join(root, "storage", m[1], "snippets", m[2]) + "\n");
  process.exit(0);
}
process.stderr.write(`fake pvesm: unsupported: ${args.join(" ")}\n`);
process.exit(255);
