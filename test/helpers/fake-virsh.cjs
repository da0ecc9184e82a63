#!/usr/bin/env node
// A fake `virsh` for tests: domains are $FAKE_VIRSH_DIR/domains/<name>.xml, volumes are files
// under volumes/ named "<pool>:<name>"; calls go to calls.jsonl. Implements the subcommands
// and messages passthrough relies on (dumpxml --inactive --domain, list --all --name,
// define --file, vol-create-as).
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
    const xml = fs.readFileSync(opt("file"), "utf8");
    const m = /<name>([^<]+)<\/name>/.exec(xml);
    if (!m)
      die(
        "error: Failed to define domain from " +
          opt("file") +
          "\nerror: XML error: missing name information",
      );
    fs.writeFileSync(domainFile(m[1]), xml);
    process.stdout.write(`Domain '${m[1]}' defined from ${opt("file")}\n\n`);
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
