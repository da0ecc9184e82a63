// Plans in tests: plan a fixture spec, carry a plan's file steps out (what `apply` would
// write), fake the two commands that edit files themselves (grubby, kernelstub), and "reboot"
// a host: the kernel gets a new command line, vfio-pci binds the planned functions, the VFIO
// modules are loaded. Works on a spec's file map or in place on a written host tree (cheaper:
// one tree per test instead of one per state).

import * as fs from "node:fs";
import * as path from "node:path";
import { expect } from "vitest";
import { parseCmdline, printCmdline } from "../../src/formats/kernel-cmdline.js";
import {
  evaluateShellFiles,
  parseShellFile,
  replaceAssignmentValue,
} from "../../src/formats/shell-assignments.js";
import { openSnapshot } from "../../src/host/open-root.js";
import { readHostState } from "../../src/host/read-host.js";
import type { HostState } from "../../src/host/types.js";
import { DEFAULT_PLAN_OPTIONS, planHost } from "../../src/plan/plan.js";
import type { Plan, PlanOptions } from "../../src/plan/types.js";
import type { FakeHostSpec } from "../../tools/fakehost/spec.js";
import { specState } from "./fixtures.js";

export function planOpts(over: Partial<PlanOptions> = {}): PlanOptions {
  return { ...DEFAULT_PLAN_OPTIONS, devices: [], groups: [], ...over };
}

export function planSpec(spec: FakeHostSpec, over: Partial<PlanOptions>): Plan {
  return planHost(specState(spec), planOpts(over));
}

interface FileAccess {
  read(rel: string): string | null;
  write(rel: string, text: string | null): void;
}

function carryOut(plan: Plan, io: FileAccess): void {
  for (const s of plan.steps) {
    if (s.kind === "file") {
      const rel = s.path.slice(1);
      expect(io.read(rel), `${s.path} before`).toBe(s.before); // steps chain on the text the host has
      io.write(rel, s.after);
    } else if (s.kind === "command") {
      runFakeCommand(io, s.argv);
    }
  }
}

/** Carry a plan out in place on a written host tree. */
export function applyToTree(dir: string, plan: Plan): void {
  carryOut(plan, {
    read: (rel) =>
      fs.existsSync(path.join(dir, rel)) ? fs.readFileSync(path.join(dir, rel), "utf8") : null,
    write: (rel, text) => {
      const p = path.join(dir, rel);
      if (text === null) fs.rmSync(p, { force: true });
      else {
        fs.mkdirSync(path.dirname(p), { recursive: true });
        fs.writeFileSync(p, text);
      }
    },
  });
}

/** grubby --update-kernel=ALL --args/--remove-args, kernelstub --add-options/--delete-options, on files. */
function runFakeCommand(io: FileAccess, argv: readonly string[]): void {
  if (argv[0] === "grubby") {
    const add = argv.find((a) => a.startsWith("--args="))?.slice(7);
    const remove = argv.find((a) => a.startsWith("--remove-args="))?.slice(14);
    const text = io.read("etc/default/grub") ?? "";
    const parsed = parseShellFile("etc/default/grub", text);
    const a = parsed.assignments.filter((x) => x.name === "GRUB_CMDLINE_LINUX").pop()!;
    let params = parseCmdline(evaluateShellFiles([parsed]).vars.GRUB_CMDLINE_LINUX ?? "");
    if (remove) params = params.filter((p) => !remove.split(" ").includes(p.raw));
    if (add)
      for (const p of parseCmdline(add)) params = [...params.filter((q) => q.key !== p.key), p];
    io.write("etc/default/grub", replaceAssignmentValue(text, a, printCmdline(params)));
  } else if (argv[0] === "kernelstub" && argv.length === 3) {
    const cfg = JSON.parse(io.read("etc/kernelstub/configuration")!) as {
      user: { kernel_options: string[] };
    };
    const opts = argv[2]!.split(" ");
    if (argv[1] === "--add-options")
      cfg.user.kernel_options.push(...opts.filter((o) => !cfg.user.kernel_options.includes(o)));
    else cfg.user.kernel_options = cfg.user.kernel_options.filter((o) => !opts.includes(o));
    io.write("etc/kernelstub/configuration", JSON.stringify(cfg, null, 2) + "\n");
  }
}

/** The host after the reboot, in place on a written tree: proc/cmdline, proc/modules and the functions' driver links and uevents. */
export function rebootTree(dir: string, plan: Plan, cmdline: string): void {
  fs.writeFileSync(path.join(dir, "proc/cmdline"), `${cmdline}\n`);
  const mods = fs.readFileSync(path.join(dir, "proc/modules"), "utf8");
  const loaded = new Set(mods.split("\n").map((l) => l.split(" ")[0]));
  fs.appendFileSync(
    path.join(dir, "proc/modules"),
    plan.expect.modulesLoaded
      .filter((m) => !loaded.has(m))
      .map((m) => `${m} 16384 0 - Live 0x0000000000000000\n`)
      .join(""),
  );
  const drv = path.join(dir, "sys/bus/pci/drivers/vfio-pci");
  fs.mkdirSync(drv, { recursive: true });
  fs.mkdirSync(path.join(dir, "sys/module/vfio_pci"), { recursive: true });
  if (!fs.existsSync(path.join(drv, "module")))
    fs.symlinkSync("../../../../module/vfio_pci", path.join(drv, "module"));
  for (const a of plan.expect.boundToVfio) {
    const devDir = fs.realpathSync(path.join(dir, "sys/bus/pci/devices", a));
    const link = path.join(devDir, "driver");
    fs.rmSync(link, { force: true });
    fs.symlinkSync(path.relative(devDir, drv), link);
    // The kernel's uevent names the bound driver too (DRIVER= comes first).
    const uevent = path.join(devDir, "uevent");
    if (fs.existsSync(uevent)) {
      const lines = fs
        .readFileSync(uevent, "utf8")
        .split("\n")
        .filter((l) => !l.startsWith("DRIVER="));
      fs.writeFileSync(uevent, ["DRIVER=vfio-pci", ...lines].join("\n"));
    }
  }
}

/** Read a written tree the way `--root DIR` does (names from its own pci.ids only). */
export function readTree(dir: string): HostState {
  const { root, manifest } = openSnapshot(dir);
  return readHostState(root, { manifest, systemPciIds: false });
}
