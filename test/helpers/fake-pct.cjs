#!/usr/bin/env node
// A fake `pct` for tests (first on PATH). Container configs live in $FAKE_PCT_LXC_DIR/<ctid>.conf
// in the real file format; every call is appended to $FAKE_PCT_LXC_DIR/calls.jsonl. Only
// `pct set CTID [--devN VALUE]... [--delete KEYS] [--revert KEYS] [--digest SHA1]`, following
// pve-container: devN property-string checks, --digest compared with the SHA-1 of the file,
// keys written sorted with raw lxc.* keys after them and the other sections kept; --revert
// drops pending values; with $FAKE_PCT_RUNNING=1 the change goes to [pve:pending] (deletes as
// its "delete:" list), as for a running container. Errors exit 255 like a Perl die.
// `pct exec CTID -- CMD...` (only with $FAKE_PCT_RUNNING=1, as pct refuses a stopped container)
// runs CMD against the container described by $FAKE_PCT_LXC_DIR/<ctid>.inside.json:
// {"nodes": {"/dev/dri/renderD128": {"major": 226, "minor": 128, "gid": 104, "mode": "660"}},
//  "files": {"/etc/group": "..."}}; it knows `cat FILE`, `stat -L -c '%n|%F|%t|%T|%g|%a' -- PATH...`
// and `find DIR... -maxdepth N -name GLOB`, with their real output, messages and exit codes.
"use strict";
const fs = require("node:fs");
const path = require("node:path");
const { createHash } = require("node:crypto");

const dir = process.env.FAKE_PCT_LXC_DIR;
if (!dir) die("FAKE_PCT_LXC_DIR is not set");
const args = process.argv.slice(2);
fs.appendFileSync(path.join(dir, "calls.jsonl"), JSON.stringify(["pct", ...args]) + "\n");

function die(msg, code = 255) {
  process.stderr.write(msg.endsWith("\n") ? msg : msg + "\n");
  process.exit(code);
}

const DEV = /^(path=)?\/dev\/[^,]+(,(gid|uid)=\d+|,mode=0?[0-7]{3,4}|,deny-write=[01])*$/;

/** [main, pending section body or "", the other sections]. */
function splitSections(text) {
  const i = text.search(/^\[/m);
  if (i < 0) return [text, "", ""];
  const [main, rest] = [text.slice(0, i), text.slice(i)];
  if (!rest.startsWith("[pve:pending]\n")) return [main, "", rest];
  const body = rest.slice("[pve:pending]\n".length);
  const j = body.search(/^\[/m);
  return j < 0 ? [main, body, ""] : [main, body.slice(0, j), body.slice(j)];
}

function parseMain(text) {
  const keys = {};
  const lxc = [];
  for (const line of text.split("\n")) {
    const raw = /^(lxc\.[a-z0-9_.-]+):\s*(.*?)\s*$/.exec(line);
    if (raw) lxc.push([raw[1], raw[2]]);
    else {
      const m = /^([a-z][a-z_]*\d*):\s*(.+?)\s*$/.exec(line);
      if (m) keys[m[1]] = m[2];
    }
  }
  return { keys, lxc };
}

function print({ keys, lxc }) {
  return [
    ...Object.keys(keys)
      .sort()
      .map((k) => `${k}: ${keys[k]}\n`),
    ...lxc.map(([k, v]) => `${k}: ${v}\n`),
  ].join("");
}

if (args[0] === "exec") pctExec(args[1], args.slice(3));
if (args[0] !== "set") die(`fake pct: unsupported command '${args[0]}'`);
const ctid = args[1];
const file = path.join(dir, `${ctid}.conf`);
if (!fs.existsSync(file)) die(`Configuration file 'nodes/pve/lxc/${ctid}.conf' does not exist`);
const text = fs.readFileSync(file, "utf8");
const changes = {};
const deletes = [];
const reverts = [];
let digest = null;
for (let i = 2; i < args.length; i += 2) {
  const [opt, value] = [args[i], args[i + 1]];
  if (opt === "--digest") digest = value;
  else if (opt === "--delete") deletes.push(...value.split(","));
  else if (opt === "--revert") reverts.push(...value.split(","));
  else if (/^--dev\d+$/.test(opt)) {
    if (!DEV.test(value ?? ""))
      die(`400 Parameter verification failed.\n${opt.slice(2)}: invalid format - ${value}\n`);
    changes[opt.slice(2)] = value;
  } else
    die(`400 Parameter verification failed.\n${opt.slice(2)}: property is not defined in schema`);
}
if (digest !== null && digest !== createHash("sha1").update(text).digest("hex"))
  die("detected modified configuration - file changed by other user? Try again.");
const [mainText, pendingText, rest] = splitSections(text);
const main = parseMain(mainText);
const pending = parseMain(pendingText);
const pendingDeletes = (pending.keys.delete ?? "").split(",").filter(Boolean);
delete pending.keys.delete;
for (const k of reverts) {
  delete pending.keys[k];
  pendingDeletes.splice(0, pendingDeletes.length, ...pendingDeletes.filter((d) => d !== k));
}
if (process.env.FAKE_PCT_RUNNING === "1") {
  for (const k of deletes) {
    if (!(k in main.keys)) delete pending.keys[k];
    else if (!pendingDeletes.includes(k)) pendingDeletes.push(k);
  }
  Object.assign(pending.keys, changes);
} else {
  for (const k of deletes) {
    delete main.keys[k];
    delete pending.keys[k];
  }
  Object.assign(main.keys, changes);
}
if (pendingDeletes.length) pending.keys.delete = pendingDeletes.join(",");
const pendingOut = Object.keys(pending.keys).length ? `\n[pve:pending]\n${print(pending)}` : "";
fs.writeFileSync(file, `${print(main)}${pendingOut}${rest ? `\n${rest}` : ""}`);

function pctExec(ctid, argv) {
  if (!fs.existsSync(path.join(dir, `${ctid}.conf`)))
    die(`Configuration file 'nodes/pve/lxc/${ctid}.conf' does not exist`);
  if (process.env.FAKE_PCT_RUNNING !== "1") die(`container '${ctid}' not running!`);
  const ct = JSON.parse(fs.readFileSync(path.join(dir, `${ctid}.inside.json`), "utf8"));
  const [cmd, ...rest] = argv;
  let code = 0;
  const err = (line) => {
    process.stderr.write(line + "\n");
    code = 1;
  };
  if (cmd === "cat") {
    for (const f of rest)
      if (f in ct.files) process.stdout.write(ct.files[f]);
      else err(`cat: ${f}: No such file or directory`);
  } else if (cmd === "stat") {
    if (rest[0] !== "-L" || rest[1] !== "-c" || rest[2] !== "%n|%F|%t|%T|%g|%a" || rest[3] !== "--")
      die(`fake pct exec: unsupported stat arguments ${JSON.stringify(rest)}`);
    for (const p of rest.slice(4)) {
      const n = ct.nodes[p];
      if (n)
        process.stdout.write(
          `${p}|${n.type ?? "character special file"}|${n.major.toString(16)}|${n.minor.toString(16)}|${n.gid}|${n.mode}\n`,
        );
      else if (p in ct.files) process.stdout.write(`${p}|regular file|0|0|0|644\n`);
      else err(`stat: cannot statx '${p}': No such file or directory`);
    }
  } else if (cmd === "find") {
    const at = rest.indexOf("-maxdepth");
    const [dirs, depth, glob] = [rest.slice(0, at), Number(rest[at + 1]), rest[at + 3]];
    const re = new RegExp("^" + glob.replace(/[.]/g, "\\.").replace(/\*/g, ".*") + "$");
    for (const d of dirs) {
      const under = Object.keys(ct.files).filter((f) => f.startsWith(d + "/"));
      if (under.length === 0) err(`find: '${d}': No such file or directory`);
      for (const f of under)
        if (f.slice(d.length + 1).split("/").length <= depth && re.test(path.basename(f)))
          process.stdout.write(f + "\n");
    }
  } else die(`fake pct exec: unsupported command '${cmd}'`);
  process.exit(code);
}
