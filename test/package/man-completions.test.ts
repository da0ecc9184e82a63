// The man page and the shell completions are generated at package time from the live commander
// tree (tools/package/command-tree.ts). These tests hold the generators to that tree: every
// command and option of the program is in the page and is what the completions offer, a
// command added to the program appears in both, and the completions work in real shells.
import { execFileSync, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildProgram } from "../../src/cli/program.js";
import { loadAllCommands } from "../../src/cli/commands/index.js";
import type { CommandRegistration } from "../../src/cli/registration.js";
import {
  allCommands,
  describeCommand,
  liveCommandTree,
  type CommandSpec,
} from "../../tools/package/command-tree.js";
import { bashCompletion, fishCompletion, zshCompletion } from "../../tools/package/completions.js";
import { manPage, roff } from "../../tools/package/man-page.js";

const tree = await liveCommandTree();
const ALL = await loadAllCommands();
const INFO = { version: "0.1.0", date: "2026-12-01" };
const have = (tool: string) => spawnSync("sh", ["-c", `command -v ${tool}`]).status === 0;

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "passthrough-completion-"));
  fs.writeFileSync(path.join(dir, "passthrough.bash"), bashCompletion(tree));
  fs.writeFileSync(path.join(dir, "_passthrough"), zshCompletion(tree));
  fs.writeFileSync(path.join(dir, "passthrough.fish"), fishCompletion(tree));
  fs.writeFileSync(path.join(dir, "passthrough.1"), manPage(tree, INFO));
  fs.writeFileSync(path.join(dir, "host.tar.gz"), "");
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const silent = { write: () => true };
/** The tree of a program with one more command, as a developer adding one would register it. */
function treeWith(extra: CommandRegistration): CommandSpec {
  return describeCommand(
    buildProgram({ stdout: silent, stderr: silent, env: {} }, [...ALL, extra]),
  );
}
const frobnicate: CommandRegistration = (program, run) => {
  program
    .command("frobnicate")
    .description("a command added after the package was built")
    .option("--frob-level <n>", "how much")
    .action(run(() => 0));
};

describe("the command tree", () => {
  it("is the program --help prints: every command, nested ones included", () => {
    const paths = allCommands(tree).map((c) => c.path.join(" "));
    for (const p of ["check", "list", "snapshot", "plan", "apply", "verify", "rollback", "history"])
      expect(paths).toContain(p);
    for (const p of ["explain", "vm plan", "vm configure", "vm mapping check", "guest setup"])
      expect(paths).toContain(p);
    const check = allCommands(tree).find((c) => c.path.join(" ") === "check")!;
    expect(check.options.map((o) => o.long)).toEqual([
      "--device",
      "--snapshot",
      "--json",
      "--help",
    ]);
    expect(check.after).toMatch(/PASS, WARN, FAIL/);
  });
});

describe("passthrough(1)", () => {
  const page = manPage(tree, INFO);

  it("has a section per command with its usage, and every option of each", () => {
    for (const c of allCommands(tree)) {
      const section = page.split(`.SS "${roff(c.path.join(" "))}"\n`)[1]?.split("\n.SS ")[0];
      expect(section, c.path.join(" ")).toBeDefined();
      expect(section).toContain(`.B ${roff(c.usage)}`);
      for (const o of c.options) expect(section).toContain(`.B ${roff(o.term)}`);
    }
  });

  it("renders without a warning (man --warnings, as lintian runs it)", () => {
    if (!have("man") || !have("groff")) return;
    const r = spawnSync(
      "man",
      ["--warnings", "-E", "UTF-8", "-l", path.join(dir, "passthrough.1")],
      {
        encoding: "utf8",
        env: { ...process.env, MANWIDTH: "80", LC_ALL: "C.UTF-8", MAN_KEEP_FORMATTING: "" },
      },
    );
    expect(r.status).toBe(0);
    expect(r.stderr).toBe("");
    expect(r.stdout).toMatch(/passthrough vm mapping create \[options\]/);
    expect(r.stdout).toMatch(/--snapshot <path>/);
  });

  it("follows a change of the definitions: a new command and its option appear", () => {
    const next = manPage(treeWith(frobnicate), INFO);
    expect(page).not.toContain("frobnicate");
    expect(next).toContain('.SS "frobnicate"');
    expect(next).toContain(`.B ${roff("--frob-level <n>")}`);
  });
});

/** What bash completion offers for a command line ending in `words` (the last one being typed). */
function bashComplete(script: string, words: string[]): string[] {
  const quoted = ["passthrough", ...words].map((w) => `'${w}'`).join(" ");
  const out = execFileSync(
    "bash",
    [
      "-c",
      `source "$1"; COMP_WORDS=(${quoted}); COMP_CWORD=$((\${#COMP_WORDS[@]} - 1)); _passthrough; printf '%s\\n' "\${COMPREPLY[@]}"`,
      "bash",
      script,
    ],
    { encoding: "utf8" },
  );
  return out.split("\n").filter(Boolean);
}

/** bashComplete for many command lines in one bash: each answer ends with a "--end--" line. */
function bashCompleteAll(script: string, lines: string[][]): string[][] {
  const queries = lines.map((words) => {
    const quoted = ["passthrough", ...words].map((w) => `'${w}'`).join(" ");
    return `COMP_WORDS=(${quoted}); COMP_CWORD=$((\${#COMP_WORDS[@]} - 1)); COMPREPLY=(); _passthrough; printf '%s\\n' "\${COMPREPLY[@]}" --end--`;
  });
  const out = execFileSync("bash", ["-c", `source "$1"; ${queries.join("; ")}`, "bash", script], {
    encoding: "utf8",
  });
  const answers = out.split("--end--\n").slice(0, -1);
  expect(answers).toHaveLength(lines.length);
  return answers.map((a) => a.split("\n").filter(Boolean));
}

describe("bash completion", () => {
  const script = () => path.join(dir, "passthrough.bash");

  it("offers each command's sub-commands and options, exactly as the program defines them", () => {
    const commands = [tree, ...allCommands(tree)];
    // One bash for every query: a bash per query made this test take ~50 s on a busy machine.
    const lines = commands.flatMap((c) => [
      [...c.path, ""],
      [...c.path, "--"],
    ]);
    const answers = bashCompleteAll(script(), lines);
    commands.forEach((c, i) => {
      const sub = c.commands.map((s) => s.path.at(-1)!);
      expect(answers[2 * i]!.sort(), c.path.join(" ")).toEqual(sub.sort());
      const longs = c.options.map((o) => o.long!).filter(Boolean);
      expect(answers[2 * i + 1]!.sort(), c.path.join(" ")).toEqual(longs.sort());
    });
  });

  it("skips options and their values when finding the command, completes files and folders", () => {
    expect(bashComplete(script(), ["--no-color", "vm", "plan", "--vmid", "100", "--dev"])).toEqual([
      "--device",
    ]);
    expect(bashComplete(script(), ["check", "--snapshot", `${dir}/host`])).toEqual([
      `${dir}/host.tar.gz`,
    ]);
    expect(
      bashComplete(script(), [
        "apply",
        "--root",
        `${path.dirname(dir)}/${path.basename(dir).slice(0, -2)}`,
      ]),
    ).toContain(dir);
    expect(bashComplete(script(), ["check", "--device", ""])).toEqual([]);
  });

  it("follows a change of the definitions", () => {
    const f = path.join(dir, "next.bash");
    fs.writeFileSync(f, bashCompletion(treeWith(frobnicate)));
    expect(bashComplete(f, ["frob"])).toEqual(["frobnicate"]);
    expect(bashComplete(f, ["frobnicate", "--frob"])).toEqual(["--frob-level"]);
    expect(bashComplete(script(), ["frob"])).toEqual([]);
  });
});

describe("fish completion", () => {
  it.skipIf(!have("fish"))(
    "completes commands, options and file values (fish's complete -C)",
    () => {
      const complete = (line: string) =>
        execFileSync(
          "fish",
          ["-c", `source $argv[1]; complete -C $argv[2]`, path.join(dir, "passthrough.fish"), line],
          {
            encoding: "utf8",
          },
        )
          .split("\n")
          .filter(Boolean)
          .map((l) => l.split("\t")[0]);
      expect(complete("passthrough vm mapping ").sort()).toEqual(["check", "create", "list"]);
      expect(complete("passthrough plan --no-")).toEqual(["--no-iommu-pt"]);
      expect(complete("passthrough vm plan --vmid 1 --snap")).toEqual(["--snapshot"]);
      expect(complete(`passthrough check --snapshot ${dir}/host`)).toEqual([`${dir}/host.tar.gz`]);
    },
  );
});

describe("zsh completion", () => {
  it.skipIf(!have("zsh"))("offers the same menus (zsh's completion functions stubbed)", () => {
    // _describe, _files and compadd record what they would offer; words/CURRENT as zsh sets them.
    const complete = (...words: string[]) =>
      execFileSync(
        "zsh",
        [
          "-c",
          `_describe() { print -l -- "\${(@P)4}" }; _files() { print -- "_files $*" }
compadd() { shift; print -l -- "$@" }; _message() { print -- "_message $*" }
words=(passthrough "\${@[2,-1]}"); CURRENT=\${#words}; PREFIX=\${words[-1]}; source "$1"`,
          "zsh",
          path.join(dir, "_passthrough"),
          ...words,
        ],
        { encoding: "utf8" },
      )
        .split("\n")
        .filter(Boolean);
    expect(complete("vm", "")).toEqual([
      "plan:show what `vm configure` would change in a VM's config, as a diff; changes nothing",
      "configure:give a VM the device: show the change, ask, apply it (qm, REST API, or virsh define)",
      "create:create a new VM set up for passthrough (q35, OVMF, cpu host, no balloon, the devices)",
      "mapping:cluster PCI resource mappings (/cluster/mapping/pci): how an API token passes a device through",
    ]);
    expect(complete("check", "--snapshot", "")).toEqual(["_files "]);
    expect(complete("apply", "--root", "")).toEqual(["_files -/"]);
    expect(complete("list", "-")).toContain(
      "--tree:draw the PCI topology: bridges with the functions behind them",
    );
  });
});
