// `passthrough mode vm --hookscript --vmid N`: the hookscript (src/vm/hookscript.ts), run by
// sh in each phase qemu-server calls it with, and its installation with the fake qm and pvesm.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { hookscriptName, hookscriptText, PASSTHROUGH_BIN } from "../../src/vm/hookscript.js";
import { ctAmdKfd } from "../fixtures/specs/containers.js";
import { cli } from "../helpers/cli.js";
import { fakePve, type FakeHost } from "../helpers/fake-tools.js";
import { REPO, writeSpec } from "../helpers/fixtures.js";

const cleanups: Array<() => void> = [];
afterEach(() => cleanups.splice(0).forEach((c) => c()));

/** The script with a stand-in for /usr/bin/passthrough that logs its argv and exits `code`. */
function runHook(phase: string, code: number) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "passthrough-hook-"));
  cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
  const log = path.join(dir, "calls.log");
  fs.writeFileSync(
    path.join(dir, "passthrough"),
    `#!/bin/sh\necho "$*" >> "${log}"\nexit ${code}\n`,
    { mode: 0o755 },
  );
  // logger stays off this machine's journal.
  fs.writeFileSync(path.join(dir, "logger"), `#!/bin/sh\necho "logger $*" >> "${log}"\n`, {
    mode: 0o755,
  });
  const script = path.join(dir, "hook.sh");
  fs.writeFileSync(
    script,
    hookscriptText("0000:01:00.0").replaceAll(PASSTHROUGH_BIN, path.join(dir, "passthrough")),
    { mode: 0o700 },
  );
  const r = spawnSync(script, ["100", phase], {
    encoding: "utf8",
    env: { PATH: `${dir}:/usr/bin:/bin` },
  });
  const calls = fs.existsSync(log) ? fs.readFileSync(log, "utf8").trim().split("\n") : [];
  return { status: r.status, stdout: r.stdout, calls };
}

describe("the hookscript", () => {
  it("is named after the slot and is valid sh", () => {
    expect(hookscriptName("0000:01:00.1")).toBe("passthrough-0000-01-00.sh");
    const r = spawnSync("sh", ["-n", "-c", hookscriptText("0000:01:00.0")]);
    expect(r.status).toBe(0);
  });

  it("pre-start moves the slot to vfio-pci, logged; a refusal stops the VM's start (exit 1)", () => {
    const ok = runHook("pre-start", 0);
    expect(ok.status).toBe(0);
    expect(ok.calls).toContain("mode vm --device 0000:01:00.0 --yes");
    expect(ok.calls.some((c) => /^logger -t passthrough-hook VM 100 pre-start: /.test(c))).toBe(
      true,
    );
    expect(ok.stdout).toContain("passthrough-hook: VM 100 pre-start:");
    const refused = runHook("pre-start", 3);
    expect(refused.status).toBe(1);
    expect(refused.stdout).toMatch(
      /could not move 0000:01:00\.0 to vfio-pci: the VM does not start/,
    );
  });

  it("post-stop gives it back; a failure there is logged and does not fail the stop; other phases do nothing", () => {
    const back = runHook("post-stop", 0);
    expect(back.status).toBe(0);
    expect(back.calls).toContain("mode host --device 0000:01:00.0 --yes");
    const failed = runHook("post-stop", 3);
    expect(failed.status).toBe(0);
    expect(failed.stdout).toMatch(/stays on vfio-pci/);
    for (const phase of ["post-start", "pre-stop"]) {
      const r = runHook(phase, 0);
      expect(r.status).toBe(0);
      expect(r.calls).toEqual([]);
    }
  });
});

describe("passthrough mode vm --hookscript (fake qm, pvesm)", () => {
  const VM100 =
    "boot: order=scsi0\nhostpci0: 0000:01:00,pcie=1\nmachine: q35\nmemory: 16384\nname: gaming\n";

  function setup(): { pve: FakeHost & { conf(vmid: number): string | null }; tree: string } {
    const pve = fakePve({ 100: VM100 });
    const bin = path.join(pve.dir, "bin");
    fs.copyFileSync(path.join(REPO, "test/helpers/fake-pvesm.cjs"), path.join(bin, "pvesm"));
    fs.chmodSync(path.join(bin, "pvesm"), 0o755);
    fs.mkdirSync(path.join(pve.dir, "storage/local/snippets"), { recursive: true });
    const tree = writeSpec(ctAmdKfd);
    cleanups.push(() => (pve.cleanup(), tree.cleanup()));
    return { pve, tree: tree.dir };
  }

  it("writes the snippet 0700, sets it on the VM, reads it back and prints the undo", async () => {
    const { pve, tree } = setup();
    const r = await cli(
      [
        "mode",
        "vm",
        "--device",
        "01:00.0",
        "--hookscript",
        "--vmid",
        "100",
        "--root",
        tree,
        "--yes",
      ],
      pve.env,
    );
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const file = path.join(pve.dir, "storage/local/snippets/passthrough-0000-01-00.sh");
    expect(fs.statSync(file).mode & 0o777).toBe(0o700);
    expect(fs.readFileSync(file, "utf8")).toContain(
      "/usr/bin/passthrough mode vm --device 0000:01:00.0 --yes",
    );
    expect(pve.conf(100)).toContain("hookscript: local:snippets/passthrough-0000-01-00.sh\n");
    expect(r.stdout).toContain(
      "read back VM 100: hookscript: local:snippets/passthrough-0000-01-00.sh",
    );
    expect(r.stdout).toContain("undo: qm set 100 --delete hookscript");
    expect(r.stdout).not.toMatch(/passes no function/);
  });

  it("--dry-run shows the script and the qm command and changes nothing", async () => {
    const { pve, tree } = setup();
    const r = await cli(
      [
        "mode",
        "vm",
        "--device",
        "01:00",
        "--hookscript",
        "--vmid",
        "100",
        "--root",
        tree,
        "--dry-run",
      ],
      pve.env,
    );
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(
      "run   qm set 100 --hookscript local:snippets/passthrough-0000-01-00.sh",
    );
    expect(r.stdout).toContain("pre-start)");
    expect(pve.calls()).toEqual([]);
  });

  it("refuses mode host with --hookscript, and a missing --vmid (exit 2)", async () => {
    const { pve, tree } = setup();
    const host = await cli(
      ["mode", "host", "--device", "01:00", "--hookscript", "--vmid", "100", "--root", tree],
      pve.env,
    );
    expect(host.code).toBe(2);
    expect(host.stderr).toMatch(/--hookscript goes with mode vm/);
    const novmid = await cli(
      ["mode", "vm", "--device", "01:00", "--hookscript", "--root", tree],
      pve.env,
    );
    expect(novmid.code).toBe(2);
    expect(novmid.stderr).toMatch(/--vmid '': give the VM's id|--vmid "": give|--vmid : give/);
  });
});

describe("check: a VM whose hookscript is missing", () => {
  function tree(hookscript: string, files: Record<string, string>) {
    const t = writeSpec(ctAmdKfd);
    cleanups.push(() => t.cleanup());
    const conf = fs.realpathSync(path.join(t.dir, "etc/pve/qemu-server/100.conf"));
    fs.writeFileSync(conf, `${fs.readFileSync(conf, "utf8")}hookscript: ${hookscript}\n`);
    for (const [rel, text] of Object.entries(files)) {
      fs.mkdirSync(path.dirname(path.join(t.dir, rel)), { recursive: true });
      fs.writeFileSync(path.join(t.dir, rel), text);
    }
    return t.dir;
  }
  const ids = async (dir: string) => {
    const r = await cli(["check", "--snapshot", dir, "--json"]);
    return (JSON.parse(r.stdout).findings as Array<{ id: string; summary: string }>).filter(
      (f) => f.id === "vm.hookscript-missing",
    );
  };

  it("warns for the local storage's missing snippet, and not once it is there", async () => {
    const vol = "local:snippets/passthrough-0000-01-00.sh";
    const missing = await ids(tree(vol, { "var/lib/vz/snippets/other.sh": "" }));
    expect(missing.map((f) => f.summary)).toEqual([
      "VM 100's hookscript local:snippets/passthrough-0000-01-00.sh is missing (/var/lib/vz/snippets/passthrough-0000-01-00.sh): the VM will not start",
    ]);
    const there = await ids(
      tree(vol, { "var/lib/vz/snippets/passthrough-0000-01-00.sh": "#!/bin/sh\n" }),
    );
    expect(there).toEqual([]);
  });

  it("finds a dir storage's snippets through storage.cfg, and says nothing when the folder cannot be read", async () => {
    const cfg =
      "dir: local\n\tpath /var/lib/vz\n\tcontent iso,vztmpl,backup\n\ndir: scripts\n\tpath /mnt/scripts\n\tcontent snippets\n";
    const dir = tree("scripts:snippets/hook.pl", {
      "etc/pve/storage.cfg": cfg,
      "mnt/scripts/snippets/x": "",
    });
    expect((await ids(dir)).map((f) => f.summary)).toEqual([
      expect.stringContaining("(/mnt/scripts/snippets/hook.pl)"),
    ]);
    expect(await ids(tree("local:snippets/hook.pl", {}))).toEqual([]);
  });
});
