// The boot loader and initramfs tables (src/boot/) are the one place each kind is described;
// the compiler makes every kind have an entry and a planner. These tests catch what it cannot
// see when a kind is added: a fixture host that discovery recognises as it, the programs
// discovery looks for recorded by snapshots, its files read by discovery, an undo for every
// command a plan runs, and the kind documented in README's JSON contract.

import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { INITRAMFS, affectsInitramfs } from "../../src/boot/initramfs.js";
import { BOOTLOADERS, programOf } from "../../src/boot/loaders.js";
import { undoOf } from "../../src/boot/undo.js";
import { TRACKED_TOOLS } from "../../src/host/capture/capture.js";
import { isConfigFileRead } from "../../src/host/config-files.js";
import type {
  BootloaderInfo,
  BootloaderKind,
  GrubFlavor,
  InitramfsKind,
} from "../../src/host/types.js";
import type { Plan } from "../../src/plan/types.js";
import * as booster from "../../src/plan/initramfs/booster.js";
import * as dracut from "../../src/plan/initramfs/dracut.js";
import * as initramfsTools from "../../src/plan/initramfs/initramfs-tools.js";
import * as mkinitcpio from "../../src/plan/initramfs/mkinitcpio.js";
import { FIXTURE_SPECS } from "../fixtures/specs/index.js";
import { REPO, fixtureState } from "../helpers/fixtures.js";

const LOADER_KINDS = Object.keys(BOOTLOADERS) as BootloaderKind[];
const INITRAMFS_KINDS = Object.keys(INITRAMFS) as InitramfsKind[];
/** The file each generator's plan module adds the VFIO modules to (a new kind must be listed). */
const MODULE_FILES: Record<Exclude<InitramfsKind, "unknown">, string> = {
  "initramfs-tools": initramfsTools.FILE,
  dracut: dracut.FILE,
  mkinitcpio: mkinitcpio.FILE,
  booster: booster.FILE,
};
const FLAVORS: Array<GrubFlavor | null> = [
  null,
  "update-grub",
  "grub-mkconfig",
  "grub2-mkconfig",
  "grubby",
];

/** Every BootloaderInfo shape a table function can see: each kind, each GRUB flavour, each kind of file. */
function infos(kind: BootloaderKind): BootloaderInfo[] {
  const files = [
    [],
    ["etc/kernel/cmdline"],
    ["boot/loader/entries/arch.conf"],
    ["etc/default/grub"],
  ];
  return FLAVORS.flatMap((grubFlavor) =>
    files.map((cmdlineFiles) => ({ kind, grubFlavor, cmdlineFiles, evidence: [] })),
  );
}

describe("the boot loader table", () => {
  it("has a fixture host that discovery recognises as each kind (and each initramfs generator)", () => {
    const seen = FIXTURE_SPECS.map((s) => fixtureState(s.name));
    const loaders = new Set(seen.map((s) => s.bootloader.kind));
    const generators = new Set(seen.map((s) => s.initramfs.kind));
    for (const k of LOADER_KINDS.filter((k) => k !== "unknown")) expect(loaders, k).toContain(k);
    for (const k of INITRAMFS_KINDS.filter((k) => k !== "unknown"))
      expect(generators, k).toContain(k);
  });

  it("names programs that snapshots record, and runs only those", () => {
    const tracked = new Set<string>(TRACKED_TOOLS);
    for (const kind of LOADER_KINDS) {
      const entry = BOOTLOADERS[kind];
      for (const t of entry.tools) expect(tracked, `${kind}: ${t}`).toContain(t);
      for (const b of infos(kind)) {
        const refresh = entry.refresh(b, ["iommu=pt"]);
        const editor = entry.editor(b);
        const argvs = [
          ...("argv" in refresh ? [refresh.argv] : []),
          ...(editor ? [editor.add(["iommu=pt"]), editor.remove(["iommu=pt"])] : []),
        ];
        for (const argv of argvs) expect(entry.tools, `${kind}: ${argv[0]}`).toContain(argv[0]);
      }
    }
    for (const kind of INITRAMFS_KINDS) {
      const entry = INITRAMFS[kind];
      for (const t of entry.tools) expect(tracked, `${kind}: ${t}`).toContain(t);
      // booster's rebuild is a script of its package, not a program on PATH.
      const program = entry.rebuild?.[0];
      if (program && !program.startsWith("/")) expect(entry.tools, kind).toContain(program);
    }
  });

  it("has discovery read every file a plan may edit for a kind, and rebuilds the initramfs after", () => {
    const loaderFiles = LOADER_KINDS.flatMap((k) => BOOTLOADERS[k].files);
    expect(loaderFiles.length).toBeGreaterThan(4);
    for (const f of loaderFiles) expect(isConfigFileRead(f.replace(/\/$/, "")), f).toBe(true);
    for (const [kind, file] of Object.entries(MODULE_FILES)) {
      expect(isConfigFileRead(file), kind).toBe(true);
      expect(affectsInitramfs(file), kind).toBe(true);
    }
  });

  it("knows how rollback undoes every command a plan runs (the golden plans of every kind)", () => {
    const dir = path.join(REPO, "test/golden/plans");
    const commands = fs
      .readdirSync(dir)
      .filter((f) => f.endsWith(".json"))
      .flatMap((f) => (JSON.parse(fs.readFileSync(path.join(dir, f), "utf8")) as Plan).steps)
      .flatMap((s) => (s.kind === "command" ? [s] : []));
    const programs = new Set(commands.map((c) => programOf(c.argv)));
    for (const p of [
      "update-grub",
      "grubby",
      "proxmox-boot-tool",
      "kernelstub",
      "regenerate_images",
    ])
      expect(programs).toContain(p);
    for (const c of commands) {
      const undo = undoOf(c.argv);
      expect(undo !== null || (c.undo?.length ?? 0) > 0, c.argv.join(" ")).toBe(true);
      // A direct edit names its inverse in the plan too, for journals read by later versions.
      if (undo && "inverse" in undo) expect(c.undo, c.argv.join(" ")).toBeDefined();
    }
  });

  it("re-runs refreshes and rebuilds, inverts direct edits, and leaves other programs alone", () => {
    for (const kind of LOADER_KINDS)
      for (const b of infos(kind)) {
        const refresh = BOOTLOADERS[kind].refresh(b, []);
        const editor = BOOTLOADERS[kind].editor(b);
        // grubby's refresh is an edit (--args): its undo is the inverse, not running it again.
        if ("argv" in refresh && !editor)
          expect(undoOf(refresh.argv), kind).toEqual({ rerun: true });
        if (editor) {
          expect(undoOf(editor.add(["a=1 b"]))).toEqual({ inverse: [...editor.remove(["a=1 b"])] });
          expect(undoOf(editor.remove(["a=1"]))).toEqual({ inverse: [...editor.add(["a=1"])] });
        }
      }
    for (const kind of INITRAMFS_KINDS) {
      const argv = INITRAMFS[kind].rebuild;
      if (argv) expect(undoOf(argv), kind).toEqual({ rerun: true });
    }
    expect(undoOf(["proxmox-boot-tool", "init", "/dev/sda2"])).toBeNull();
    expect(undoOf(["rm", "-rf", "/boot"])).toBeNull();
  });

  it("is what README documents as the values of host.bootloader and host.initramfs", () => {
    const readme = fs.readFileSync(path.join(REPO, "README.md"), "utf8");
    const row = (field: string) => {
      const line = readme.split("\n").find((l) => l.startsWith(`| \`${field}\` |`));
      expect(line, field).toBeDefined();
      return [...line!.split("|")[2]!.matchAll(/`([^`]+)`/g)].map((m) => m[1]).sort();
    };
    expect(row("host.bootloader")).toEqual([...LOADER_KINDS].sort());
    expect(row("host.initramfs")).toEqual([...INITRAMFS_KINDS].sort());
  });
});
