// Plans in tests: plan a fixture spec, carry a plan's file steps out on the spec's files (what
// `apply` would write), fake the two commands that edit files themselves (grubby, kernelstub),
// and "reboot" a spec: the kernel gets what its boot loader is configured with, vfio-pci binds
// the planned functions, the VFIO modules are loaded.

import { parseCmdline, printCmdline } from "../../src/formats/kernel-cmdline.js";
import { evaluateShellFiles, parseShellFile, replaceAssignmentValue } from "../../src/formats/shell-assignments.js";
import { expect } from "vitest";
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

/** The spec's files after the plan's file steps and the file-editing commands ran. */
export function appliedFiles(spec: FakeHostSpec, plan: Plan): Record<string, string> {
  const files: Record<string, string> = { ...spec.files };
  for (const s of plan.steps) {
    if (s.kind === "file") {
      const rel = s.path.slice(1);
      expect(files[rel] ?? null).toBe(s.before); // steps chain on the text the host has
      if (s.after === null) delete files[rel];
      else files[rel] = s.after;
    } else if (s.kind === "command") {
      runFakeCommand(files, s.argv);
    }
  }
  return files;
}

/** grubby --update-kernel=ALL --args/--remove-args, kernelstub --add-options/--delete-options, on files. */
function runFakeCommand(files: Record<string, string>, argv: readonly string[]): void {
  if (argv[0] === "grubby") {
    const add = argv.find((a) => a.startsWith("--args="))?.slice(7);
    const remove = argv.find((a) => a.startsWith("--remove-args="))?.slice(14);
    const text = files["etc/default/grub"] ?? "";
    const a = parseShellFile("etc/default/grub", text).assignments.filter((x) => x.name === "GRUB_CMDLINE_LINUX").pop()!;
    const { vars } = evaluateShellFiles([parseShellFile("etc/default/grub", text)]);
    let params = parseCmdline(vars.GRUB_CMDLINE_LINUX ?? "");
    if (remove) params = params.filter((p) => !remove.split(" ").includes(p.raw));
    if (add) for (const p of parseCmdline(add)) params = [...params.filter((q) => q.key !== p.key), p];
    files["etc/default/grub"] = replaceAssignmentValue(text, a, printCmdline(params));
  } else if (argv[0] === "kernelstub" && argv.length === 3) {
    const cfg = JSON.parse(files["etc/kernelstub/configuration"]!) as { user: { kernel_options: string[] } };
    const opts = argv[2]!.split(" ");
    if (argv[1] === "--add-options") cfg.user.kernel_options.push(...opts.filter((o) => !cfg.user.kernel_options.includes(o)));
    else cfg.user.kernel_options = cfg.user.kernel_options.filter((o) => !opts.includes(o));
    files["etc/kernelstub/configuration"] = JSON.stringify(cfg, null, 2) + "\n";
  }
}

/** The host after the reboot: its kernel got `cmdline`, vfio-pci holds the planned functions. */
export function rebooted(spec: FakeHostSpec, files: Record<string, string>, plan: Plan, cmdline: string): FakeHostSpec {
  const bound = new Set(plan.expect.boundToVfio);
  return {
    ...spec,
    files,
    cmdline,
    pci: spec.pci.map((f) => (bound.has(f.address) ? { ...f, driver: "vfio-pci", module: "vfio_pci" } : f)),
    loadedModules: [...spec.loadedModules, ...plan.expect.modulesLoaded.filter((m) => !spec.loadedModules.includes(m))],
  };
}
