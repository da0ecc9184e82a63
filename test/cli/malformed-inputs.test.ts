// What users mistype, and what hostile files look like, through every command that takes
// them: each row is one command line with the exit code the contract gives it (README, "Exit
// codes"), and each must answer with exactly one line on stderr (no stack trace), print
// nothing on stdout, and write nothing: the --root tree and the folders the files live in
// are compared before and after the whole table. Every command runs on a --root tree or a
// snapshot, never on this machine's own /etc.
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { treeState } from "../helpers/apply.js";
import { cli } from "../helpers/cli.js";
import { fixturePath, writeSpec } from "../helpers/fixtures.js";
import { FIXTURE_SPECS } from "../fixtures/specs/index.js";

let tmp = "";
let root = "";
let cleanupRoot = () => {};
const at = (name: string) => path.join(tmp, name);

// Files the rows point at, made once (names are fixed so the table can be built statically).
function makeInputs(): void {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "passthrough-malformed-"));
  fs.writeFileSync(at("empty"), "", { mode: 0o600 });
  fs.writeFileSync(at("text.tar.gz"), "this is not a snapshot\n");
  fs.writeFileSync(
    at("truncated.tar.gz"),
    fs.readFileSync(fixturePath("seed-after")).subarray(0, 700),
  );
  // Token files as users should keep them (chmod 600), so the only message is the error.
  fs.writeFileSync(at("big-token"), "x".repeat(5000), { mode: 0o600 });
  fs.writeFileSync(at("token-no-secret"), "root@pam!ci\n", { mode: 0o600 });
  fs.writeFileSync(at("token-not-uuid"), "root@pam!ci=not-a-uuid\n", { mode: 0o600 });
  fs.writeFileSync(at("bad.xml"), "<domain><name>x</name>");
  fs.writeFileSync(at("not-domain.xml"), "<network><name>x</name></network>");
  fs.writeFileSync(at("key.pub"), "this is not an ssh key\n");
  fs.mkdirSync(at("folder"));
  execFileSync("mkfifo", [at("fifo")]);
  const spec = FIXTURE_SPECS.find((s) => s.name === "seed-after")!;
  ({ dir: root, cleanup: cleanupRoot } = writeSpec(spec));
}

const BAD_DEVICES = [
  "",
  " ",
  ",",
  " , ",
  "zz",
  "01:00.9",
  "0000:01:00.0.0",
  "g000:01:00",
  "0000:01",
  "1:2:3:4",
  "0000:01:00.0,",
  "0000:ff:1f.7",
  "-1",
  "01:00;reboot",
  "x".repeat(100_000),
  "0000:01:00\u001b[31m",
];
const BAD_GROUPS = ["", "abc", "-1", "1.5", "99999999999999999999999", "1e3", "12,", " "];
const BAD_SNAPSHOTS = [
  "missing.tar.gz",
  "empty",
  "text.tar.gz",
  "truncated.tar.gz",
  "fifo",
  "/dev/zero",
  "/dev/null",
];
const BAD_TOKENS: Array<[string, string]> = [
  ["no separator", "root@pam"],
  ["no secret", "root@pam!ci="],
  ["secret not a UUID", "root@pam!ci=12345678"],
  ["non-Latin-1 secret", "root@pam!ci=\u4e2d\u6587-0000-0000-0000-000000000000"],
  ["newline inside", "root@pam!ci=1b2c3d4e-0000-4000-8000-000000000000\nX-Evil: 1"],
];

interface Row {
  argv: string[];
  code: number;
  env?: Record<string, string>;
}

const API = ["--api", "https://127.0.0.1:9", "--node", "pve", "--vmid", "100"];

function rows(): Array<[string, Row]> {
  const out: Array<[string, Row]> = [];
  const add = (argv: string[], code = 2, env?: Record<string, string>) =>
    out.push([
      argv.map((a) => (a.length > 40 ? `${a.slice(0, 12)}…(${a.length})` : a)).join(" "),
      { argv, code, env },
    ]);
  const snap = fixturePath("seed-after");
  for (const d of BAD_DEVICES) {
    add(["check", "--snapshot", snap, "--device", d]);
    add(["plan", "--root", "<root>", "--device", d]);
    add(["apply", "--root", "<root>", "--yes", "--device", d]);
    add(["verify", "--root", "<root>", "--device", d]);
    // An absent device is a refusal of the VM change (exit 3, listed with the other refusals).
    if (d !== "0000:ff:1f.7")
      add(["vm", "plan", "--snapshot", snap, "--vmid", "100", "--device", d]);
  }
  for (const g of BAD_GROUPS) {
    add(["plan", "--root", "<root>", "--group", g]);
    add(["apply", "--root", "<root>", "--yes", "--group", g]);
    add(["verify", "--root", "<root>", "--group", g]);
  }
  for (const s of BAD_SNAPSHOTS) {
    const p = s.startsWith("/") ? s : `<tmp>/${s}`;
    add(["check", "--snapshot", p]);
    add(["list", "--snapshot", p]);
    add(["plan", "--snapshot", p, "--device", "01:00"]);
    add(["verify", "--snapshot", p]);
    add(["vm", "plan", "--snapshot", p, "--vmid", "100", "--device", "01:00"]);
  }
  for (const r of ["<tmp>/missing", "<tmp>/empty", "/dev/null"]) {
    add(["plan", "--root", r, "--device", "01:00"]);
    add(["apply", "--root", r, "--yes", "--device", "01:00"]);
    add(["rollback", "--root", r, "--yes"]);
    add(["history", "--root", r]);
  }
  for (const [, token] of BAD_TOKENS)
    add(["vm", "plan", ...API, "--device", "01:00"], 2, { PASSTHROUGH_PVE_TOKEN: token });
  for (const f of [
    "missing",
    "empty",
    "fifo",
    "/dev/zero",
    "folder",
    "big-token",
    "token-no-secret",
    "token-not-uuid",
  ])
    add([
      "vm",
      "plan",
      ...API,
      "--device",
      "01:00",
      "--token-file",
      f.startsWith("/") ? f : `<tmp>/${f}`,
    ]);
  for (const api of ["pve:8006", "http://pve:8006", "https://", "https://pve:99999", "ftp://pve"])
    add(["vm", "plan", "--api", api, "--node", "pve", "--vmid", "100", "--device", "01:00"], 2, {
      PASSTHROUGH_PVE_TOKEN: "root@pam!ci=1b2c3d4e-0000-4000-8000-000000000000",
    });
  for (const fp of ["zz", "AB:CD", "sha256"])
    add(["vm", "plan", ...API, "--device", "01:00", "--fingerprint", fp], 2, {
      PASSTHROUGH_PVE_TOKEN: "root@pam!ci=1b2c3d4e-0000-4000-8000-000000000000",
    });
  for (const f of ["missing", "/dev/zero", "fifo", "/dev/null"])
    add(
      [
        "vm",
        "plan",
        "--snapshot",
        snap,
        "--vmid",
        "100",
        "--device",
        "01:00",
        "--ca-file",
        f.startsWith("/") ? f : `<tmp>/${f}`,
        ...API.slice(0, 4),
      ],
      2,
      { PASSTHROUGH_PVE_TOKEN: "root@pam!ci=1b2c3d4e-0000-4000-8000-000000000000" },
    );
  for (const v of ["abc", "0", "99", "1000000000", "1e3", "-100", ""])
    add(["vm", "plan", "--snapshot", snap, "--device", "01:00", "--vmid", v]);
  for (const f of ["missing", "empty", "bad.xml", "not-domain.xml", "fifo", "/dev/zero"])
    add([
      "vm",
      "plan",
      "--snapshot",
      snap,
      "--backend",
      "libvirt",
      "--device",
      "01:00",
      "--domain-xml",
      f.startsWith("/") ? f : `<tmp>/${f}`,
    ]);
  for (const [flag, v] of [
    ["--task-timeout", "abc"],
    ["--task-timeout", "0"],
    ["--task-timeout", "1e9"],
    ["--memory", "lots"],
    ["--cores", "0"],
    ["--backend", "vmware"],
    ["--emit", "yaml"],
    ["--usb", "zz"],
    ["--usb", "046d"],
    ["--hv-vendor-id", "x".repeat(20)],
    ["--acs-override", "rm -rf"],
  ] as const)
    add(["vm", "plan", "--snapshot", snap, "--vmid", "100", "--device", "01:00", flag, v]);
  for (const [flag, v] of [
    ["--acs-override", "everything"],
    ["--acs-override", ""],
  ] as const)
    add(["plan", "--root", "<root>", "--device", "01:00", flag, v]);
  for (const id of ["../../etc", "20260101T000000Z-nope", "x".repeat(5000), ""])
    add(["rollback", "--root", "<root>", "--yes", id]);
  for (const id of ["iommu.enabld", "x".repeat(40_000), "", "\u001b]52;c;AAAA\u0007"])
    add(["explain", id]);
  add(["frobnicate"]);
  add(["check", "--frobnicate"]);
  add(["check", "--snapshot"]);
  add(["plan", "--root", "<root>"]);
  add(["plan", "--root", "<root>", "--device", "01:00", "--group", "12", "--group"]);
  add(["apply", "--root", "<root>", "--device", "01:00"]); // no terminal, no --yes
  add(["vm", "frob"]);
  add(["vm", "plan", "--snapshot", snap, "--device", "01:00"]); // no --vmid
  add(["snapshot", "-o", "/dev/null"]);
  add(["snapshot", "-o", "<tmp>/missing-dir/x.tar.gz"]);
  for (const f of ["missing", "key.pub", "fifo", "/dev/zero", "folder"])
    add(["guest", "setup", "--ssh-key", f.startsWith("/") ? f : `<tmp>/${f}`]);
  return out;
}

const expand = (argv: string[]) =>
  argv.map((a) => a.replace("<root>", root).replace(/^<tmp>\//, `${tmp}/`));

describe("malformed input, on every command", () => {
  let before: Map<string, string>;
  let beforeTmp: string[];
  beforeAll(() => {
    makeInputs();
    before = treeState(root);
    beforeTmp = fs.readdirSync(tmp).sort();
  });
  afterAll(() => {
    // Nothing written anywhere: the --root tree (no journal folder either) and the input folder.
    const after = treeState(root);
    const changed = [...new Set([...before.keys(), ...after.keys()])].filter(
      (k) => before.get(k) !== after.get(k),
    );
    cleanupRoot();
    const tmpAfter = fs.readdirSync(tmp).sort();
    fs.rmSync(tmp, { recursive: true, force: true });
    expect(changed).toEqual([]);
    expect(tmpAfter).toEqual(beforeTmp);
  });

  const table = rows();
  it("has at least 150 rows", () => expect(table.length).toBeGreaterThanOrEqual(150));

  it.each(table)("%s", async (_label, row) => {
    const started = Date.now();
    const r = await cli(expand(row.argv), row.env ?? {});
    expect({ code: r.code, stdout: r.stdout }).toEqual({ code: row.code, stdout: "" });
    expect(r.stderr).toMatch(/^error: [^\n]+\n$/);
    expect(r.stderr.length).toBeLessThan(800);
    expect(r.stderr).not.toContain("\u001b");
    expect(r.stderr).not.toContain("\ufffd");
    expect(r.stderr).not.toMatch(/ {4}at /);
    for (const [, secret] of BAD_TOKENS)
      if (secret.length > 20) expect(r.stderr).not.toContain(secret.slice(12, 30));
    expect(Date.now() - started).toBeLessThan(15_000);
  });
});
