// `passthrough check`: the read-only diagnosis. Reads the host (or a snapshot), runs every
// check (src/checks), prints the report, and exits 0 when no finding is `fail`, 1 otherwise
// (README "Exit codes").

import type { Command } from "commander";
import { selectDevice } from "../../checks/context.js";
import { findCandidates } from "../../checks/candidates.js";
import { runChecks } from "../../checks/run-checks.js";
import { EXIT, InputError } from "../../errors.js";
import {
  addHostOptions,
  loadHost,
  printJson,
  type CommandContext,
  type HostOptions,
} from "../context.js";
import type { CheckSelection } from "../../checks/context.js";
import type { DeviceRef } from "../../formats/device-selection.js";
import type { HostState } from "../../host/types.js";
import { addDeviceOption, selectDevices } from "../options.js";
import type { RunAction } from "../registration.js";
import { candidateList, checkJson, renderCheck, type CheckView } from "../render/check-report.js";

interface CheckOptions extends HostOptions {
  device?: string[];
}

export function registerCheck(program: Command, run: RunAction): void {
  const cmd = program
    .command("check")
    .description(
      "diagnose the host for PCI passthrough: CPU, IOMMU, interrupt remapping, groups, drivers, configuration mistakes",
    )

    .addHelpText(
      "after",
      `
One line per check: PASS, WARN, FAIL, INFO or SKIP, a stable id, what was found, and
for every problem the exact fix (firmware menu, file:line, command). Then the devices
that can be passed, each with its functions, ids, drivers and IOMMU group verdict.
Nothing is changed; run it as root for the full picture (config space, kernel log).

Exit codes: 0 no failures (warnings allowed), 1 at least one FAIL, 2 bad input.

Examples:
  passthrough check                              this host
  passthrough check --device 01:00               judge one device (all its functions)
  passthrough check --snapshot host.tar.gz       a snapshot made with \`passthrough snapshot\`
  passthrough check --json | jq '.findings[] | select(.status == "fail")'
  passthrough explain cmdline.pending            what a finding means and how to fix it`,
    );
  addHostOptions(addDeviceOption(cmd, "judge these devices instead of the GPUs")).action(
    run<CheckOptions>(checkCommand),
  );
}

function checkCommand(ctx: CommandContext, opts: CheckOptions): number {
  const { state } = loadHost(opts);
  const view = checkView(state, selectDevices(ctx, state.pci, opts.device));
  const { report } = view;
  if (opts.json) printJson(ctx, checkJson(view));
  else ctx.out(renderCheck(view, ctx.style));
  return report.ready ? EXIT.ok : EXIT.problems;
}

/** check's judgement of the host; of the devices --device names when given (report uses it too). */
/** The check of a host, judging the devices `refs` names (none: the GPUs). */
export function checkView(state: HostState, refs: readonly DeviceRef[]): CheckView {
  const selections = refs.length > 0 ? selectCandidates(state, refs) : null;
  const report = runChecks(state, selections);
  const selected = selections ? selections.map((s) => s.fn ?? s.candidate.address).join(",") : null;
  return { state, report, device: selected };
}

/** The candidates `--device` names, or exit 2 with the devices that can be passed. */
function selectCandidates(state: HostState, refs: readonly DeviceRef[]): CheckSelection[] {
  const candidates = findCandidates(state);
  return refs.map((ref) => {
    const sel = selectDevice(state, candidates, ref);
    if (!sel.ok)
      throw new InputError(
        `${sel.reason}; devices that can be passed: ${candidateList(state, candidates)}`,
      );
    return { candidate: sel.candidate, fn: sel.fn };
  });
}
