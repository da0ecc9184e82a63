#!/usr/bin/env node
// A fake `virsh` for tests: domains are $FAKE_VIRSH_DIR/domains/<name>.xml, volumes are files
// under volumes/ named "<pool>:<name>"; calls go to calls.jsonl. Implements the subcommands
// and messages passthrough relies on (dumpxml --inactive --domain, list --all --name,
// define [--file] FILE with the XML on /dev/stdin, vol-create-as), with virsh 9's messages.
"use strict";
const fs = require("node:fs");
const path = require("node:path");

const root = process.env.FAKE_VIRSH_DIR;
const args = process.argv.slice(2);
fs.appendFileSync(path.join(root, "calls.jsonl"), JSON.stringify(["virsh", ...args]) + "\n");
const die = (msg) => {
  process.stderr.write(msg + "\n");
  process.exit(1);
};
const opt = (name) => {
  const i = args.indexOf(`--${name}`);
  return i === -1 ? undefined : args[i + 1];
};
const domainFile = (name) => path.join(root, "domains", `${name}.xml`);
// strerror(3) texts for the open errors virsh reports.
const STRERROR = {
  ENOENT: "No such file or directory",
  ENXIO: "No such device or address",
  EACCES: "Permission denied",
};

switch (args[0]) {
  case "dumpxml": {
    const name = opt("domain");
    if (!fs.existsSync(domainFile(name))) die(`error: failed to get domain '${name}'`);
    process.stdout.write(fs.readFileSync(domainFile(name), "utf8"));
    break;
  }
  case "list":
    for (const f of fs.readdirSync(path.join(root, "domains")).sort())
      process.stdout.write(f.replace(/\.xml$/, "") + "\n");
    process.stdout.write("\n");
    break;
  case "define": {
    // virsh define [--file] FILE: virsh opens FILE by name (virFileReadAll), so /dev/stdin
    // works only when stdin can be opened: a pipe or a file, not a socket (ENXIO).
    const file = opt("file") ?? args[1];
    let xml;
    try {
      xml = fs.readFileSync(file, "utf8");
    } catch (err) {
      die(`error: Failed to open file '${file}': ${STRERROR[err.code] ?? err.message}`);
    }
    const m = /<name>([^<]+)<\/name>/.exec(xml);
    if (!m) die(`error: Failed to define domain from ${file}\nerror: missing name information`);
    fs.writeFileSync(domainFile(m[1]), xml);
    process.stdout.write(`Domain '${m[1]}' defined from ${file}\n\n`);
    break;
  }
  case "vol-create-as": {
    const f = path.join(root, "volumes", `${opt("pool")}:${opt("name")}`);
    if (fs.existsSync(f))
      die(
        `error: Failed to create vol ${opt("name")}\nerror: storage volume name '${opt("name")}' already in use.`,
      );
    fs.writeFileSync(f, `${opt("capacity")} ${opt("format")}\n`);
    process.stdout.write(`Vol ${opt("name")} created\n\n`);
    break;
  }
  default:
    die(`error: unknown command: '${args[0]}'`);
}
