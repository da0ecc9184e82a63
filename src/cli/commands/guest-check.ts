// `passthrough guest check`: run inside the VM, proves the passthrough from the guest's side
// (src/guest/check.ts). Reads the guest like every other command reads a host, so a guest's
// snapshot works too (--snapshot).

import type { Command } from "commander";
import { EXIT, InputError } from "../../errors.js";
import type { Finding } from "../../findings/finding.js";
import { readGuestFacts } from "../../host/guest-facts.js";
import {
  checkGuest,
  notLinuxGuest,
  parseExpect,
  type GuestCheckResult,
} from "../../guest/check.js";
import type { HostState } from "../../host/types.js";
import {
  addHostOptions,
  loadHost,
  printJson,
  type CommandContext,
  type HostOptions,
} from "../context.js";
import type { RunAction } from "../registration.js";
import { hostJson } from "../render/host-json.js";
import { maxWidth, type Style } from "../render/style.js";
import { guestCommand } from "./guest-group.js";

interface GuestCheckOptions extends HostOptions {
  expect?: string;
}

export function registerGuestCheck(program: Command, run: RunAction): void {
  const cmd = guestCommand(program)
    .command("check")
    .description(
      "inside the VM: prove the GPU is passed through and driven, and that SSH/Tailscale can reach the VM",
    )
    .option(
      "--expect <vendor:device>",
      "the GPU that must be there, e.g. 10de:2206 (default: any real GPU)",
    )
    .addHelpText(
      "after",
      `
Checks, from inside the guest: the CPU reports a hypervisor; the expected GPU is on the
guest's PCI bus (QEMU's emulated displays count only when --expect names one); a real
driver (nvidia, amdgpu, i915, nouveau) is bound to it, not vfio-pci or nothing (another
driver is a WARN); nvidia-smi answers and the DRM nodes exist
where they apply; sshd is listening; Tailscale is connected when installed. Linux guests
only: elsewhere (a Windows guest) it says what to check in Device Manager instead, exit 2.

Exit codes: 0 the GPU is present and driven in a guest, 1 it is not (a FAIL line says why
and what to do), 2 bad input. SSH and Tailscale problems are WARN: they do not change the
exit code.

Examples:
  passthrough guest check                       in the VM
  passthrough guest check --expect 10de:2206    this exact GPU must be there
  passthrough guest check --json | jq .ok
  passthrough guest check --snapshot vm.tar.gz  a snapshot taken inside the VM`,
    );
  addHostOptions(cmd).action(run<GuestCheckOptions>(guestCheckCommand));
}

function guestCheckCommand(ctx: CommandContext, opts: GuestCheckOptions): number {
  const expect = opts.expect === undefined ? null : parseExpect(opts.expect);
  if (opts.expect !== undefined && expect === null)
    throw new InputError(
      `--expect ${opts.expect}: give vendor:device in hex, e.g. 10de:2206 (lspci -nn shows them)`,
    );
  const elsewhere = opts.snapshot === undefined ? notLinuxGuest(process.platform) : null;
  if (elsewhere) throw new InputError(elsewhere);
  const { opened, state } = loadHost(opts);
  const facts = readGuestFacts(opened.root);
  const result = checkGuest(state, facts, expect);
  if (opts.json) {
    printJson(ctx, {
      ok: result.ok,
      host: hostJson(state),
      gpus: result.gpus,
      findings: result.findings,
      facts,
      unknowns: state.unknowns,
    });
  } else {
    ctx.out(renderGuestCheck(state, result, ctx.style));
  }
  return result.ok ? EXIT.ok : EXIT.problems;
}

const LABEL: Record<Finding["status"], string> = {
  pass: "PASS",
  warn: "WARN",
  fail: "FAIL",
  info: "INFO",
  skip: "SKIP",
};

function label(status: Finding["status"], style: Style): string {
  const l = LABEL[status];
  return status === "pass"
    ? style.green(l)
    : status === "fail"
      ? style.red(l)
      : status === "warn"
        ? style.yellow(l)
        : style.dim(l);
}

export function renderGuestCheck(
  state: HostState,
  result: GuestCheckResult,
  style: Style,
): string[] {
  const sys = state.system;
  const head = [
    `passthrough guest check — ${sys.hostname ?? "guest"}`,
    sys.distro?.prettyName,
    sys.kernelRelease ? `kernel ${sys.kernelRelease}` : null,
  ]
    .filter(Boolean)
    .join(" · ");
  const lines = [style.bold(head), ""];
  const idWidth = maxWidth(result.findings.map((f) => f.id.length));
  for (const f of result.findings) {
    lines.push(`  ${label(f.status, style)}  ${f.id.padEnd(idWidth)}  ${f.summary}`);
    const pad = " ".repeat(2 + 4 + 2 + idWidth + 2);
    for (const d of f.detail ?? []) lines.push(`${pad}${style.dim(d)}`);
    if (f.fix && f.status !== "pass") lines.push(`${pad}fix: ${f.fix}`);
  }
  lines.push("");
  if (result.ok)
    lines.push(
      `Passthrough works: ${result.gpus.map((g) => `${g.address} on ${g.driver}`).join(", ")}.`,
    );
  else if (!sys.virtualMachine) lines.push("Not a VM: run this inside the guest.");
  else lines.push("The GPU is not usable in this VM yet: see the FAIL lines.");
  return lines;
}
