#!/usr/bin/env node
// A fake `lxc-info` and `lxc-attach` for tests (linked onto PATH under those names). Each
// container NAME is described in $FAKE_LXC_DIR: NAME.state holds its state as lxc-info
// prints it (RUNNING, STOPPED; no file: unknown container), NAME.inside.json what is inside:
// {"nodes": {"/dev/dri/renderD128": {"major": 226, "minor": 128, "gid": 104, "mode": "660"}},
//  "files": {"/etc/group": "..."}}. Every call is appended to $FAKE_LXC_DIR/calls.jsonl.
//   lxc-info -n NAME [-P PATH] -s -H     prints the state (lxc-info(1))
//   lxc-attach -n NAME [-P PATH] -- CMD  runs `cat FILE...` or
//                                        `stat -L -c '%n|%F|%t|%T|%g|%a' -- PATH...`
// with the real commands' output, messages and exit codes; a stopped container fails as
// lxc-attach does (exit 1, "Failed to get init pid").
"use strict";
const fs = require("node:fs");
const path = require("node:path");

const dir = process.env.FAKE_LXC_DIR;
const tool = path.basename(process.argv[1]);
const args = process.argv.slice(2);
if (!dir) fail("FAKE_LXC_DIR is not set");
fs.appendFileSync(path.join(dir, "calls.jsonl"), JSON.stringify([tool, ...args]) + "\n");

function fail(msg, code = 1) {
  process.stderr.write(msg + "\n");
  process.exit(code);
}

const name = args[args.indexOf("-n") + 1];
const stateFile = path.join(dir, `${name}.state`);
const state = fs.existsSync(stateFile) ? fs.readFileSync(stateFile, "utf8").trim() : null;

if (tool === "lxc-info") {
  if (!args.includes("-s") || !args.includes("-H")) fail(`fake lxc-info: unsupported ${args}`);
  if (state === null) fail(`${name} doesn't exist`);
  process.stdout.write(`${state}\n`);
  process.exit(0);
}
if (tool !== "lxc-attach") fail(`fake lxc: unknown tool ${tool}`);
if (state !== "RUNNING")
  fail(
    `lxc-attach: ${name}: ../src/lxc/attach.c: lxc_attach: 1135 Connection refused - Failed to get init pid`,
  );
const ct = JSON.parse(fs.readFileSync(path.join(dir, `${name}.inside.json`), "utf8"));
const [cmd, ...rest] = args.slice(args.indexOf("--") + 1);
let code = 0;
const missing = (line) => {
  process.stderr.write(line + "\n");
  code = 1;
};
if (cmd === "cat") {
  for (const f of rest)
    if (f in ct.files) process.stdout.write(ct.files[f]);
    else missing(`cat: ${f}: No such file or directory`);
} else if (cmd === "stat" && rest.slice(0, 4).join(" ") === "-L -c %n|%F|%t|%T|%g|%a --") {
  for (const p of rest.slice(4)) {
    const n = ct.nodes[p];
    if (!n) missing(`stat: cannot statx '${p}': No such file or directory`);
    else
      process.stdout.write(
        `${p}|character special file|${n.major.toString(16)}|${n.minor.toString(16)}|${n.gid}|${n.mode}\n`,
      );
  }
} else fail(`fake lxc-attach: unsupported command ${JSON.stringify([cmd, ...rest])}`);
process.exit(code);
