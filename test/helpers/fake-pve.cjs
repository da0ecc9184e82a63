#!/usr/bin/env node
// A fake `qm` and `pvesh` for tests (installed under both names in a temporary bin folder,
// first on PATH). VM configs live in $FAKE_PVE_DIR/nodes/<node>/qemu-server/<vmid>.conf in
// the real file format (keys sorted, as qemu-server writes them); every call is appended to
// $FAKE_PVE_DIR/calls.jsonl. Behaviour follows qemu-server where the tool relies on it:
// property-string validation of the keys it writes, `--digest` (checksum mismatch), `--delete`,
// volume allocation for "STORAGE:SIZE", messages and exit status 255 of a Perl `die`.
"use strict";
const fs = require("node:fs");
const path = require("node:path");
const { createHash } = require("node:crypto");

const root = process.env.FAKE_PVE_DIR;
const node = process.env.FAKE_PVE_NODE || "pve";
if (!root) die("FAKE_PVE_DIR is not set");
const tool = path.basename(process.argv[1]);
const args = process.argv.slice(2);
fs.appendFileSync(path.join(root, "calls.jsonl"), JSON.stringify([tool, ...args]) + "\n");

function die(msg, code = 255) {
  process.stderr.write(msg.endsWith("\n") ? msg : msg + "\n");
  process.exit(code);
}

function confPath(vmid, onNode = node) {
  return path.join(root, "nodes", onNode, "qemu-server", `${vmid}.conf`);
}
function findConf(vmid) {
  for (const n of fs.existsSync(path.join(root, "nodes"))
    ? fs.readdirSync(path.join(root, "nodes"))
    : []) {
    const p = confPath(vmid, n);
    if (fs.existsSync(p)) return { node: n, file: p };
  }
  return null;
}
function parse(text) {
  const c = {};
  for (const line of text.split("\n")) {
    if (line.startsWith("[")) break; // main section only
    const m = /^([a-z][a-z_-]*\d*):\s*(.+?)\s*$/.exec(line);
    if (m) c[m[1]] = m[2];
  }
  return c;
}
function print(c) {
  return Object.keys(c)
    .sort()
    .map((k) => `${k}: ${c[k]}\n`)
    .join("");
}
function read(vmid, onNode = node) {
  const p = confPath(vmid, onNode);
  if (!fs.existsSync(p))
    die(`Configuration file 'nodes/${onNode}/qemu-server/${vmid}.conf' does not exist`);
  const raw = fs.readFileSync(p, "utf8");
  return { config: parse(raw), digest: createHash("sha1").update(raw).digest("hex") };
}
function write(vmid, c) {
  fs.mkdirSync(path.dirname(confPath(vmid)), { recursive: true });
  fs.writeFileSync(confPath(vmid), print(c));
}

// --- validation (qemu-server schema, the parts passthrough writes) ---------------------------
const PCIRE = "(?:[a-f0-9]{4,}:)?[a-f0-9]{2}:[a-f0-9]{2}(?:\\.[a-f0-9])?";
const BOOL = /^(1|on|yes|true|0|off|no|false)$/i;
function props(value, defaultKey, allowed, check = {}) {
  const seen = new Set();
  const out = {};
  for (const part of value.split(",")) {
    const eq = part.indexOf("=");
    const [k, v] = eq === -1 ? [defaultKey, part] : [part.slice(0, eq), part.slice(eq + 1)];
    if (!allowed.includes(k)) throw new Error(`invalid key in comma-separated list property: ${k}`);
    if (seen.has(k)) throw new Error(`duplicate key in comma-separated list property: ${k}`);
    seen.add(k);
    if (check[k] && !check[k].test(v)) throw new Error(`value '${v}' does not have a valid format`);
    out[k] = v;
  }
  return out;
}
const VALIDATORS = [
  [
    /^hostpci([0-9]|1[0-5])$/,
    (v) => {
      const p = props(
        v,
        "host",
        [
          "host",
          "mapping",
          "pcie",
          "x-vga",
          "rombar",
          "romfile",
          "mdev",
          "legacy-igd",
          "device-id",
          "vendor-id",
          "sub-device-id",
          "sub-vendor-id",
          "driver",
        ],
        {
          host: new RegExp(`^${PCIRE}(;${PCIRE})*$`),
          pcie: BOOL,
          "x-vga": BOOL,
          rombar: BOOL,
          mapping: /^[a-z][a-z0-9_-]+$/i,
        },
      );
      if (p.host && p.mapping) throw new Error("Cannot set both 'host' and 'mapping'.");
      if (!p.host && !p.mapping) throw new Error("Either 'host' or 'mapping' must be set.");
    },
  ],
  [
    /^usb([0-9]|1[0-3])$/,
    (v) =>
      props(v, "host", ["host", "mapping", "usb3"], {
        host: /^((0x)?[0-9a-fA-F]{4}:(0x)?[0-9a-fA-F]{4}|\d+-\d+(\.\d+)*|spice)$/,
        usb3: BOOL,
      }),
  ],
  [
    /^machine$/,
    (v) =>
      props(v, "type", ["type", "viommu", "aw-bits", "enable-s3", "enable-s4"], {
        type: /^(pc|pc(-i440fx)?-\d+(\.\d+)+(\+pve\d+)?(\.pxe)?|q35|pc-q35-\d+(\.\d+)+(\+pve\d+)?(\.pxe)?|virt(?:-\d+(\.\d+)+)?(\+pve\d+)?)$/,
      }),
  ],
  [
    /^bios$/,
    (v) => {
      if (!/^(seabios|ovmf)$/.test(v)) throw new Error("value 'x' does not have a valid format");
    },
  ],
  [
    /^vga$/,
    (v) =>
      props(v, "type", ["type", "memory", "clipboard"], {
        type: /^(cirrus|qxl|qxl2|qxl3|qxl4|none|serial[0-3]|std|virtio|virtio-gl|vmware)$/,
      }),
  ],
  [
    /^cpu$/,
    (v) =>
      props(
        v,
        "cputype",
        [
          "cputype",
          "flags",
          "hidden",
          "hv-vendor-id",
          "phys-bits",
          "guest-phys-bits",
          "reported-model",
        ],
        { hidden: BOOL, "hv-vendor-id": /^[a-zA-Z0-9]{1,12}$/ },
      ),
  ],
  [
    /^(balloon|memory|cores|sockets)$/,
    (v) => {
      if (!/^\d+$/.test(v)) throw new Error(`type check ('integer') failed - got '${v}'`);
    },
  ],
  [
    /^(onboot|agent)$/,
    (v) => {
      if (!/^[01]$/.test(v)) throw new Error(`type check ('boolean') failed - got '${v}'`);
    },
  ],
  [
    /^efidisk0$/,
    (v) =>
      props(v, "file", ["file", "efitype", "pre-enrolled-keys", "size", "format"], {
        efitype: /^(2m|4m)$/,
        "pre-enrolled-keys": BOOL,
      }),
  ],
  [
    /^tpmstate0$/,
    (v) => props(v, "file", ["file", "version", "size"], { version: /^v(1\.2|2\.0)$/ }),
  ],
  [/^(scsi\d+|ide\d+|sata\d+|virtio\d+)$/, () => {}],
  // qemu-server pve-qm-cicustom: meta/network/user/vendor volumes, no default key.
  [
    /^cicustom$/,
    (v) =>
      props(v, "", ["meta", "network", "user", "vendor"], {
        meta: /^[^,]+:snippets\/[^,]+$/,
        network: /^[^,]+:snippets\/[^,]+$/,
        user: /^[^,]+:snippets\/[^,]+$/,
        vendor: /^[^,]+:snippets\/[^,]+$/,
      }),
  ],
  [/^(name|ostype|scsihw|boot|net\d+|description|numa|smbios1|vmgenid|meta)$/, () => {}],
  // PVE::GuestHelpers::check_hookscript: a snippets volume whose file exists and is executable
  // (the file is where the fake pvesm's `path` puts it).
  [
    /^hookscript$/,
    (v) => {
      const m = /^([a-z][a-z0-9_.-]*):snippets\/([\w.-]+)$/i.exec(v);
      if (!m) throw new Error(`'${v}' is not in the snippets directory`);
      const file = path.join(root, "storage", m[1], "snippets", m[2]);
      if (!fs.existsSync(file)) throw new Error(`script '${v}' does not exist`);
      if ((fs.statSync(file).mode & 0o111) === 0)
        throw new Error(`script '${v}' is not executable`);
    },
  ],
];
function validate(key, value) {
  const v = VALIDATORS.find(([re]) => re.test(key));
  if (!v)
    die(
      `400 Parameter verification failed.\n${key}: property is not defined in schema and the schema does not allow additional properties`,
    );
  try {
    v[1](value);
  } catch (e) {
    die(`400 Parameter verification failed.\n${key}: ${e.message}`);
  }
}

/** "local-lvm:1,efitype=4m" -> "local-lvm:vm-101-disk-0,efitype=4m,size=4M" (what pvesm alloc gives back). */
function allocate(vmid, key, value, config) {
  const m = /^([a-zA-Z][a-zA-Z0-9._-]*):(\d+)(,.*)?$/.exec(value);
  if (!m || !/^(efidisk0|tpmstate0|scsi\d+|virtio\d+|sata\d+)$/.test(key)) return value;
  const used = Object.values(config)
    .map((v) => /vm-\d+-disk-(\d+)/.exec(v)?.[1])
    .filter(Boolean)
    .map(Number);
  const n = used.length ? Math.max(...used) + 1 : 0;
  const size = key === "efidisk0" || key === "tpmstate0" ? "4M" : `${m[2]}G`;
  return `${m[1]}:vm-${vmid}-disk-${n}${m[3] ?? ""},size=${size}`;
}

function parseOpts(list) {
  const set = {};
  let del = [];
  let digest = null;
  for (let i = 0; i < list.length; i += 2) {
    const k = list[i];
    const v = list[i + 1];
    if (!k.startsWith("--") || v === undefined) die(`400 unable to parse option ${k}`);
    const key = k.slice(2);
    if (key === "delete") del = v.split(/[,; ]+/).filter(Boolean);
    else if (key === "digest") digest = v;
    else {
      validate(key, v);
      set[key] = v;
    }
  }
  return { set, del, digest };
}

const vmidArg = (s) =>
  /^\d+$/.test(s || "")
    ? Number(s)
    : die(`400 Parameter verification failed.\nvmid: type check ('integer') failed - got '${s}'`);

if (tool === "qm") {
  const [cmd, vmidS, ...rest] = args;
  const vmid = vmidArg(vmidS);
  if (cmd === "config") {
    const { config } = read(vmid);
    process.stdout.write(print(config));
  } else if (cmd === "set") {
    const { config, digest: now } = read(vmid);
    const { set, del, digest } = parseOpts(rest);
    if (digest && digest !== now) die("checksum mismatch (file change by other user?)");
    for (const k of del) delete config[k];
    // Fault injection: FAKE_PVE_IGNORE=cpu makes `qm set` succeed without writing those keys.
    for (const k of (process.env.FAKE_PVE_IGNORE || "").split(",").filter(Boolean)) delete set[k];
    for (const [k, v] of Object.entries(set)) config[k] = allocate(vmid, k, v, config);
    write(vmid, config);
  } else if (cmd === "create") {
    if (findConf(vmid)) die(`unable to create VM ${vmid}: config file already exists`);
    const { set } = parseOpts(rest);
    const config = {
      smbios1: "uuid=00000000-0000-4000-8000-000000000000",
      vmgenid: "00000000-0000-4000-8000-000000000001",
      meta: "creation-qemu=9.0.2,ctime=1700000000",
    };
    for (const [k, v] of Object.entries(set)) {
      config[k] = k.startsWith("net")
        ? v.replace(/^virtio(?=,|$)/, "virtio=BC:24:11:00:00:01")
        : allocate(vmid, k, v, config);
    }
    write(vmid, config);
  } else die(`unknown command 'qm ${cmd}'`);
} else if (tool === "pvesh") {
  const [verb, apiPath, ...rest] = args;
  if (verb !== "get") die(`fake pvesh: only get is implemented, not ${verb}`);
  const json =
    rest.includes("--output-format") && rest[rest.indexOf("--output-format") + 1] === "json";
  if (!json) die("fake pvesh: use --output-format json");
  let m;
  if (apiPath === "/cluster/resources") {
    const out = [];
    for (const n of fs.existsSync(path.join(root, "nodes"))
      ? fs.readdirSync(path.join(root, "nodes"))
      : []) {
      for (const f of fs.readdirSync(path.join(root, "nodes", n, "qemu-server"))) {
        const vm = /^(\d+)\.conf$/.exec(f);
        if (!vm) continue;
        const c = parse(fs.readFileSync(path.join(root, "nodes", n, "qemu-server", f), "utf8"));
        out.push({
          id: `qemu/${vm[1]}`,
          type: "qemu",
          node: n,
          vmid: Number(vm[1]),
          name: c.name,
          status: "stopped",
          template: 0,
          maxmem: Number(c.memory || 512) * 1048576,
        });
      }
    }
    process.stdout.write(JSON.stringify(out) + "\n");
  } else if ((m = /^\/nodes\/([^/]+)\/qemu\/(\d+)\/config$/.exec(apiPath))) {
    const { config, digest } = read(Number(m[2]), m[1]);
    const out = { digest };
    // The API returns integers and booleans as JSON numbers.
    for (const [k, v] of Object.entries(config))
      out[k] =
        /^(cores|sockets|balloon|onboot|agent|numa)$/.test(k) && /^\d+$/.test(v) ? Number(v) : v;
    process.stdout.write(JSON.stringify(out) + "\n");
  } else die(`No '${apiPath}' handler`, 2);
} else die(`fake-pve: unknown tool name ${tool}`);
