// What every command gets: where to write, how to style, and how to read the host the same
// way for a live host and a snapshot (`--snapshot PATH`).

import type { Command } from "commander";
import { openHostRoot, type OpenedRoot } from "../host/open-root.js";
import { readHostState } from "../host/read-host.js";
import type { HostState } from "../host/types.js";
import { wantsColor, type CliIo } from "./io.js";
import { makeStyle, terminalSafe, type Style } from "./render/style.js";

export interface CommandContext {
  io: CliIo;
  /** Write lines to stdout: each argument a line or a list of lines (never spread a long list). */
  out(...lines: Array<string | readonly string[]>): void;
  /** Write lines to stderr, the same way. */
  err(...lines: Array<string | readonly string[]>): void;
  style: Style;
}

export interface GlobalOptions {
  color?: boolean;
}

export function makeContext(io: CliIo, globals: GlobalOptions): CommandContext {
  const style = makeStyle(wantsColor(io, globals.color));
  const writer =
    (stream: CliIo["stdout"]) =>
    (...lines: Array<string | readonly string[]>) => {
      for (const l of lines)
        for (const line of typeof l === "string" ? [l] : l)
          stream.write(`${terminalSafe(line, style.color)}\n`);
    };
  return { io, out: writer(io.stdout), err: writer(io.stderr), style };
}

/**
 * A document for programs (libvirt XML, a QEMU command line, a guest script) written as it
 * is; escaped like every other line only when a person's terminal would receive it.
 */
export function writeDocument(ctx: CommandContext, text: string): void {
  ctx.io.stdout.write(ctx.io.stdout.isTTY === true ? terminalSafe(text, false) : text);
}

export interface HostOptions {
  snapshot?: string;
  json?: boolean;
}

/** --snapshot and --json, shared by every command that reads a host. */
export function addHostOptions(cmd: Command): Command {
  return cmd
    .option(
      "--snapshot <path>",
      "read a snapshot (folder or .tar.gz made by `passthrough snapshot`) instead of this host",
    )
    .option("--json", 'print one JSON object instead of text (fields: README, "JSON output")');
}

export interface LoadedHost {
  opened: OpenedRoot;
  state: HostState;
}

/** `pciDetail: "summary"` reads only what `list` shows of each PCI function (read-host.ts). */
export function loadHost(
  opts: HostOptions,
  read: { pciDetail?: "full" | "summary" } = {},
): LoadedHost {
  const opened = openHostRoot(opts.snapshot);
  const state = readHostState(opened.root, {
    manifest: opened.manifest,
    pciDetail: read.pciDetail,
  });
  return { opened, state };
}

export function printJson(ctx: CommandContext, value: unknown): void {
  ctx.out(JSON.stringify(value, null, 2));
}
