// apply / rollback / history as a user runs them, on temporary roots (--root), with a
// hand-built planner that plans from the tree's files like the real one (so a second apply
// finds nothing to do). The live path is only exercised up to the root check.
import * as fs from "node:fs";
import * as path from "node:path";
import { PassThrough } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { privileges } from "../../src/cli/apply-target.js";
import { registerApplyWith } from "../../src/cli/commands/apply.js";
import { registerHistory } from "../../src/cli/commands/history.js";
import { registerRollback } from "../../src/cli/commands/rollback.js";
import { runCli } from "../../src/cli/program.js";
import { RefusedError } from "../../src/errors.js";
import type { Plan, Planner, Step } from "../../src/plan/types.js";
import {
  GRUB_AFTER,
  MODPROBE_AFTER,
  MODULES_AFTER,
  makeRoot,
  read,
  treeState,
} from "../helpers/apply.js";

/** Plans from the tree's own files: what is already in place is not planned again. */
const planner: Planner = (state, opts) => {
  if (opts.devices.includes("0000:10:00"))
    throw new RefusedError(
      "0000:10:00 is the boot GPU driving the host console; pass --headless-ok once you have SSH access",
    );
  const files = state.configFiles;
  const steps: Step[] = [];
  const want = (p: string, after: string, why: string) => {
    const before = files[p.slice(1)] ?? null;
    if (before !== after) steps.push({ kind: "file", path: p, before, after, mode: 0o644, why });
  };
  const grub = files["etc/default/grub"];
  if (grub !== undefined && !grub.includes("iommu=pt"))
    steps.push({
      kind: "file",
      path: "/etc/default/grub",
      before: grub,
      after: GRUB_AFTER,
      why: "add iommu=pt",
    });
  want("/etc/modprobe.d/passthrough.conf", MODPROBE_AFTER, "bind 10de:2206,10de:1aef to vfio-pci");
  want("/etc/modules-load.d/passthrough.conf", MODULES_AFTER, "load the vfio modules at boot");
  if (steps.length) {
    steps.push({ kind: "command", argv: ["update-grub"], why: "regenerate grub.cfg" });
    steps.push({
      kind: "command",
      argv: ["update-initramfs", "-u", "-k", "all"],
      why: "rebuild the initramfs",
    });
    steps.push({ kind: "reboot", why: "the changes take effect at boot" });
  }
  return {
    selection: {
      requested: opts.devices,
      functions: ["0000:01:00.0", "0000:01:00.1"],
      groups: [12],
    },
    steps,
    findings: [],
    expect: {
      cmdline: ["iommu=pt"],
      modulesLoaded: ["vfio", "vfio_iommu_type1", "vfio_pci"],
      boundToVfio: ["0000:01:00.0", "0000:01:00.1"],
    },
    phase: "complete",
  } satisfies Plan;
};

const COMMANDS = [registerApplyWith(planner), registerRollback, registerHistory];

async function run(argv: string[], opts: { tty?: boolean; answer?: string } = {}) {
  let stdout = "";
  let stderr = "";
  const stdin = Object.assign(new PassThrough(), { isTTY: opts.tty ?? false });
  if (opts.answer !== undefined) stdin.end(opts.answer);
  const code = await runCli(
    argv,
    {
      stdout: { write: (s: string) => (stdout += s), isTTY: opts.tty ?? false },
      stderr: { write: (s: string) => (stderr += s) },
      stdin,
      env: {},
    },
    COMMANDS,
  );
  return { code, stdout, stderr };
}

const cleanups: Array<() => void> = [];
const realEuid = privileges.euid;
afterEach(() => {
  privileges.euid = realEuid;
  while (cleanups.length) cleanups.pop()!();
});
function root() {
  const r = makeRoot();
  cleanups.push(r.cleanup);
  return r.dir;
}

describe("apply", () => {
  it("on this host needs root, and says so before reading anything", async () => {
    privileges.euid = () => 1000;
    const r = await run(["apply", "--device", "0000:01:00", "--yes"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      /^error: apply changes \/etc and the boot configuration and needs root: run `sudo passthrough apply \.\.\.`/,
    );
  });

  it("without a terminal and without --yes: exit 2, nothing changed", async () => {
    const dir = root();
    const before = treeState(dir);
    const r = await run(["apply", "--device", "0000:01:00", "--root", dir]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      "error: apply needs a confirmation and there is no terminal to ask on; pass --yes to apply without a terminal\n",
    );
    expect(treeState(dir)).toEqual(before);
  });

  it("--root --yes: applies, lists the commands, says reboot and what verify checks; a second apply does nothing", async () => {
    const dir = root();
    const r = await run(["apply", "--device", "01:00", "--root", dir, "--yes"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('+GRUB_CMDLINE_LINUX_DEFAULT="quiet iommu=pt"');
    expect(r.stdout).toContain("Commands not run (--root without --run-commands)");
    expect(r.stdout).toMatch(/^ {2}update-initramfs -u -k all$/m);
    expect(r.stdout).toContain("Reboot required:");
    expect(r.stdout).toMatch(/\/proc\/cmdline has +iommu=pt/);
    expect(r.stdout).toMatch(/on vfio-pci +0000:01:00.0, 0000:01:00.1/);
    expect(r.stdout).toMatch(
      new RegExp(`To undo: passthrough rollback \\d{8}-\\d{6}-[0-9a-f]{4} --root ${dir} --yes`),
    );
    expect(read(dir, "etc/modprobe.d/passthrough.conf")).toBe(MODPROBE_AFTER);

    const afterFirst = treeState(dir);
    const again = await run(["apply", "--device", "0000:01:00", "--root", dir, "--yes"]);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/^Nothing to do: .* is already configured/);
    expect(treeState(dir)).toEqual(afterFirst);
    expect(fs.readdirSync(path.join(dir, "var/lib/passthrough/journal"))).toHaveLength(1);
  });

  it("on a terminal: shows the plan and asks; 'n' changes nothing, 'y' applies", async () => {
    const dir = root();
    const before = treeState(dir);
    const no = await run(["apply", "--device", "0000:01:00", "--root", dir], {
      tty: true,
      answer: "n\n",
    });
    expect(no.code).toBe(0);
    expect(no.stdout).toContain("Apply these 5 changes? [y/N] ");
    expect(no.stdout).toContain("Not applied; nothing was changed.");
    expect(treeState(dir)).toEqual(before);
    const yes = await run(["apply", "--device", "0000:01:00", "--root", dir], {
      tty: true,
      answer: "y\n",
    });
    expect(yes.code).toBe(0);
    expect(read(dir, "etc/default/grub")).toBe(GRUB_AFTER);
  });

  it("a refusal from the planner exits 3 and writes nothing, not even a journal", async () => {
    const dir = root();
    const before = treeState(dir);
    const r = await run(["apply", "--device", "0000:10:00", "--root", dir, "--yes"]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/^error: 0000:10:00 is the boot GPU/);
    expect(treeState(dir)).toEqual(before);
    expect(fs.existsSync(path.join(dir, "var/lib/passthrough"))).toBe(false); // not even the folder
  });

  it("a failing command: exit 4, what was done, and the one command that restores; that command restores the tree", async () => {
    privileges.euid = () => 0; // chroot fails either way in a tree without the tools
    const dir = root();
    const original = treeState(dir);
    const r = await run([
      "apply",
      "--device",
      "0000:01:00",
      "--root",
      dir,
      "--run-commands",
      "--yes",
    ]);
    expect(r.code).toBe(4);
    expect(r.stdout).toContain("Stopped at step 4 of 6: run update-grub");
    expect(r.stdout).toMatch(
      /Done before it: edit \/etc\/default\/grub; create \/etc\/modprobe.d\/passthrough.conf; create \/etc\/modules-load.d\/passthrough.conf\./,
    );
    const m =
      /To restore every file as it was: (passthrough rollback (\S+) --root \S+ --run-commands --yes)/.exec(
        r.stdout,
      );
    expect(m).not.toBeNull();
    expect(r.stderr).toMatch(
      new RegExp(
        `^error: apply failed at step 4 of 6 \\(update-grub .*\\); restore with \`${m![1]!.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\`\n$`,
      ),
    );
    const hist = await run(["history", "--root", dir, "--json"]);
    expect(JSON.parse(hist.stdout).journals[0]).toMatchObject({
      id: m![2],
      status: "failed",
      stepsDone: 3,
      stepsTotal: 6,
    });

    // Restore without re-running the (failing) commands: files only.
    const rb = await run(["rollback", m![2]!, "--root", dir, "--yes"]);
    expect(rb.code).toBe(0);
    expect(treeState(dir)).toEqual(original);
  });

  it("--run-commands without --root is a usage error", async () => {
    const r = await run(["apply", "--device", "0000:01:00", "--run-commands", "--yes"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--run-commands only means something with --root DIR/);
  });
});

describe("rollback and history", () => {
  it("apply -> history -> rollback -> history: the tree is back byte for byte", async () => {
    const dir = root();
    const original = treeState(dir);
    expect((await run(["history", "--root", dir])).stdout).toMatch(
      /^No journals in .*: nothing has been applied under/,
    );
    expect((await run(["rollback", "--root", dir, "--yes"])).code).toBe(2);
    await run(["apply", "--device", "0000:01:00", "--root", dir, "--yes"]);
    const h1 = await run(["history", "--root", dir]);
    expect(h1.stdout).toMatch(/^ID +WHEN +STATUS +DEVICES +CHANGES$/m);
    expect(h1.stdout).toMatch(/applied +0000:01:00.0 0000:01:00.1 +3 files, 2 commands/);
    const rb = await run(["rollback", "--root", dir, "--yes"]);
    expect(rb.code).toBe(0);
    expect(rb.stdout).toMatch(/restore +\/etc\/default\/grub \(\d+ bytes, mode 0640/);
    expect(rb.stdout).toMatch(/remove +\/etc\/modprobe.d\/passthrough.conf/);
    expect(rb.stdout).toMatch(/run +update-grub \(listed, not run: --root\)/);
    expect(rb.stdout).toContain("Rolled back journal");
    expect(treeState(dir)).toEqual(original);
    const h2 = await run(["history", "--root", dir, "--json"]);
    expect(JSON.parse(h2.stdout).journals[0].status).toBe("rolled-back");
    const again = await run(["rollback", "--root", dir, "--yes"]);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/every journal is rolled back already/);
  });

  it("refuses (exit 3) when someone changed a file since; --force overwrites and keeps their content", async () => {
    const dir = root();
    await run(["apply", "--device", "0000:01:00", "--root", dir, "--yes"]);
    fs.appendFileSync(path.join(dir, "etc/default/grub"), "GRUB_TIMEOUT=1\n");
    const edited = read(dir, "etc/default/grub");
    const r = await run(["rollback", "--root", dir, "--yes"]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(
      /^error: \/etc\/default\/grub was changed by someone else since journal \S+; nothing was restored — review it, then `passthrough rollback \S+ --root \S+ --force`/,
    );
    expect(read(dir, "etc/default/grub")).toBe(edited);
    const f = await run(["rollback", "--root", dir, "--yes", "--force"]);
    expect(f.code).toBe(0);
    expect(f.stdout).toMatch(
      /1 file changed by someone else was overwritten; their content is in .*\/displaced\//,
    );
    const jdir = path.join(
      dir,
      "var/lib/passthrough/journal",
      fs.readdirSync(path.join(dir, "var/lib/passthrough/journal"))[0]!,
      "displaced",
    );
    expect(fs.readFileSync(path.join(jdir, fs.readdirSync(jdir)[0]!), "utf8")).toBe(edited);
  });

  it("rollback of an unknown id names the way out", async () => {
    const r = await run(["rollback", "20990101-000000-abcd", "--root", root(), "--yes"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      /no journal 20990101-000000-abcd in .*; run `passthrough history` to list them/,
    );
  });
});
