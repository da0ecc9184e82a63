// The program builds only the command argv names (src/cli/program.ts commandsFor); the others
// are listed from COMMANDS by name, term and summary. These tests hold that list to what each
// command's own registration builds, so `--help` cannot change when a command is not loaded.
import { Help, type Command } from "commander";
import { describe, expect, it } from "vitest";
import { COMMANDS, loadAllCommands } from "../../src/cli/commands/index.js";
import { buildProgram, commandsFor, dispatchedNames } from "../../src/cli/program.js";
import type { CommandRegistration } from "../../src/cli/registration.js";
import { cli } from "../helpers/cli.js";

const silent = { write: () => true };
const io = { stdout: silent, stderr: silent, env: {} };
const build = (commands: readonly CommandRegistration[]): Command => buildProgram(io, commands);
const full = build(await loadAllCommands());

describe("COMMANDS", () => {
  it("lists every top-level command in --help order, as its registration builds it", () => {
    const help = new Help();
    expect(COMMANDS.map((c) => [c.name, c.term, c.summary])).toEqual(
      full.commands.map((c) => [c.name(), help.subcommandTerm(c), c.description()]),
    );
  });

  it("makes the same top-level --help whichever command is built", async () => {
    for (const argv of [[], ...COMMANDS.map((c) => [c.name])])
      expect(build(await commandsFor(argv)).helpInformation()).toBe(full.helpInformation());
  });

  it("builds the named command in full and lists the others by name only", async () => {
    const program = build(await commandsFor(["--no-color", "list", "--json"]));
    const options = (name: string) => program.commands.find((c) => c.name() === name)!.options;
    expect(options("list").map((o) => o.long)).toContain("--json");
    expect(options("check")).toEqual([]);
    const vm = build(await commandsFor(["help", "vm"])).commands.find((c) => c.name() === "vm")!;
    expect(vm.commands.map((c) => c.name())).toEqual(
      full.commands.find((c) => c.name() === "vm")!.commands.map((c) => c.name()),
    );
  });
});

describe("dispatchedNames", () => {
  it("names what commander dispatches: the first operand, and help's operand", () => {
    expect(dispatchedNames([])).toEqual([]);
    expect(dispatchedNames(["--version"])).toEqual([]);
    expect(dispatchedNames(["--no-color", "check", "--snapshot", "x"])).toEqual(["check"]);
    expect(dispatchedNames(["help", "--no-color", "vm"])).toEqual(["help", "vm"]);
    expect(dispatchedNames(["--", "list"])).toEqual(["list"]);
    expect(dispatchedNames(["-"])).toEqual(["-"]);
  });
});

describe("a lazily built run", () => {
  it("prints a command's own help, by `help NAME` and by `NAME --help`", async () => {
    const expected = full.commands.find((c) => c.name() === "rom")!.helpInformation();
    expect((await cli(["help", "rom"])).stdout).toBe(expected);
    expect((await cli(["--no-color", "rom", "--help"])).stdout).toBe(expected);
  });

  it("still suggests a command for a typo", async () => {
    const r = await cli(["chek"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("Did you mean check?");
  });
});
