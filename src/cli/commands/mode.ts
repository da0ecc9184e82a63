// `passthrough mode host|vm --device ADDR`: move a card's slot between its host driver (for the
// host and containers) and vfio-pci (for VMs) now, without a reboot, when nothing uses it
// (plan/mode-switch.ts decides, apply/driver-switch.ts writes sysfs and reads the result back).

import type { Command } from "commander";
import { EXIT, InputError, RefusedError } from "../../errors.js";
import { parseSingleDevice, quoteInput } from "../../formats/device-selection.js";
import { slotOf } from "../../formats/pci-address.js";
import { readCardNodes, readSoundNodes } from "../../host/device-nodes.js";
import { findHolders } from "../../host/holders.js";
import { openLiveOrTree } from "../../host/open-root.js";
import { readHostState } from "../../host/read-host.js";
import type { HostRoot } from "../../host/root.js";
import type { HostState, PciDevice } from "../../host/types.js";
import { executeSwitch } from "../../apply/driver-switch.js";
import {
  hookscriptArgv,
  hookscriptName,
  hookscriptText,
  installHookscript,
} from "../../vm/hookscript.js";
import { DEFAULT_PLAN_OPTIONS, planHost } from "../../plan/plan.js";
import type { Planner } from "../../plan/types.js";
import { planUnbind } from "../../plan/unbinding.js";
import { planModeSwitch, vmsPassing, type Mode, type SwitchPlan } from "../../plan/mode-switch.js";
import { ProcessRunner } from "../../process/run.js";
import { quoteArgv } from "../../process/quote.js";
import { confirm } from "../confirm.js";
import { printJson, type CommandContext } from "../context.js";
import { collect } from "../options.js";
import type { RunAction } from "../registration.js";
import { renderPlanText } from "../render/plan-text.js";
import { runApply } from "./apply.js";

interface ModeOptions {
  device?: string[];
  hookscript?: boolean;
  vmid?: string;
  snippetStorage?: string;
  now?: boolean;
  persist?: boolean;
  root?: string;
  yes?: boolean;
  dryRun?: boolean;
  json?: boolean;
}

export function registerMode(program: Command, run: RunAction): void {
  program
    .command("mode")
    .argument(
      "<mode>",
      "host (the card's own driver: the host and containers use it) or vm (vfio-pci)",
    )
    .description(
      "move a GPU between its host driver and vfio-pci now, without a reboot, when nothing uses it",
    )
    .requiredOption(
      "--device <addr>",
      "the GPU, e.g. 0000:01:00.0 (with the functions of its slot in its IOMMU group; 0000:01:00: every function)",
      collect,
    )
    .option("--now", "switch the running system (the default without --persist)")
    .option(
      "--persist",
      "write the boot-time binding as apply does (journaled, undone by rollback) so the next boot lands in this mode; alone it only writes the configuration, add --now to switch now too",
    )
    .option(
      "--hookscript",
      "instead: install a Proxmox hookscript that runs mode vm at the VM's pre-start and mode host at its post-stop",
    )
    .option("--vmid <n>", "with --hookscript: the VM whose starts and stops switch the card")
    .option("--snippet-storage <id>", "with --hookscript: the storage that keeps snippets", "local")
    .option("--root <dir>", "a tree with the layout of / (a test tree) instead of this host")
    .option("--yes", "do not ask (needed without a terminal)")
    .option("--dry-run", "show the checks and the writes, change nothing")
    .option("--json", "print one JSON object (with --yes or --dry-run)")
    .addHelpText(
      "after",
      `
Refused (exit 3, nothing changed) while a process has one of the card's device nodes open
(/dev/dri/cardN, renderDN, /dev/nvidia*, /dev/snd/* of its audio function, /dev/vfio/GROUP:
read from /proc/*/fd, the way fuser does), while a Proxmox VM that passes it is running, or
for mode vm when it is the boot GPU with the console on it (boot_vga, /proc/fb). The refusal
names each process (pid and program) or VM.

Otherwise, for every function of the slot: driver_override set to vfio-pci (mode vm) or
cleared (mode host), the address written to /sys/bus/pci/drivers/DRIVER/unbind and to
/sys/bus/pci/drivers_probe, then each function's driver link read back (sysfs-bus-pci,
https://github.com/torvalds/linux/blob/v6.8/Documentation/ABI/testing/sysfs-bus-pci). vfio-pci or the host driver is loaded with
modprobe first when it is not. Without --persist nothing here survives a reboot.

With --persist: the boot-time binding changes the way \`passthrough apply\` changes it, with
the same plan display, confirmation, lock and journal (\`passthrough rollback\` undoes it,
\`passthrough verify\` checks it after the reboot). mode vm --persist is apply's plan for
the card (vfio-pci ids= or per-address binding, softdeps, VFIO modules, initramfs). mode host
--persist takes the card's ids out of \`options vfio-pci ids=\` (other cards' ids stay) and
out of the kernel command line's vfio-pci.ids=, its addresses out of passthrough's install
hook, and the softdep/blacklist lines passthrough wrote for its drivers (never lines another
bound card needs, never files passthrough did not write: those are reported), then rebuilds
the initramfs (modprobe.d(5), https://man7.org/linux/man-pages/man5/modprobe.d.5.html).
--persist alone switches nothing now; --persist --now does both (the live checks first).

With --hookscript --vmid N (mode vm): the switch happens on the VM's own start and stop. A
script snippets/passthrough-SLOT.sh (0700) is written to the storage's snippets folder
(/var/lib/vz/snippets for local; pvesm path says where) and set with \`qm set N --hookscript
STORAGE:snippets/NAME\`; qemu-server calls it as SCRIPT VMID PHASE: pre-start runs
\`passthrough mode vm\` (a refusal stops the start), post-stop \`passthrough mode host\`; both
change nothing when the card is there already, and log to the journal (logger -t
passthrough-hook) and the task log. A backup restored on another node needs the snippet too.

Examples:
  passthrough mode vm --device 0000:01:00.0 --dry-run
  passthrough mode vm --device 01:00 --hookscript --vmid 100 --yes
  passthrough mode vm --device 01:00 --yes
  passthrough mode host --device 01:00 --yes
  passthrough mode host --device 01:00 --persist --now --yes`,
    )
    .action(run<ModeOptions>(modeCommand));
}

function parseMode(value: string): Mode {
  if (value === "host" || value === "vm") return value;
  throw new InputError(`mode ${quoteInput(value)}: give host (its own driver) or vm (vfio-pci)`);
}

/**
 * The functions that move: a slot address names all of its functions; a function address names
 * itself and the functions of its slot in its IOMMU group (a GPU and its HDMI audio: VFIO hands
 * a group to one owner), never an APU's USB or crypto functions in groups of their own.
 */
function slotFunctions(state: HostState, values: string[] | undefined): PciDevice[] {
  const ref = parseSingleDevice(values, "mode");
  if (!ref) throw new InputError("give --device with the GPU, e.g. --device 0000:01:00.0");
  const slot = slotOf(ref.address);
  const inSlot = state.pci.filter((d) => slotOf(d.address) === slot && !d.isBridge);
  const named = ref.isFunction ? inSlot.find((d) => d.address === ref.address) : undefined;
  const fns = !ref.isFunction
    ? inSlot
    : named === undefined
      ? []
      : inSlot.filter(
          (d) => d === named || (named.iommuGroup !== null && d.iommuGroup === named.iommuGroup),
        );
  if (fns.length === 0)
    throw new InputError(
      `--device ${quoteInput(values!.join(","))}: no PCI ${ref.isFunction ? "function" : "device"} ${ref.address} on this host; \`passthrough list\` shows them`,
    );
  return fns.sort((a, b) => a.address.localeCompare(b.address));
}

/** The nodes whose holders block a switch: DRM, NVIDIA, ALSA, and the VFIO group of a function on vfio-pci. */
function nodePaths(root: HostRoot, fns: PciDevice[]): string[] {
  const paths = fns.flatMap((f) => [
    ...readCardNodes(root, f).nodes.map((n) => n.path),
    ...readSoundNodes(root, f).map((n) => n.path),
    ...(f.driver === "vfio-pci" && f.iommuGroup !== null ? [`/dev/vfio/${f.iommuGroup}`] : []),
  ]);
  return [...new Set(paths)];
}

/** qemu-server's check_running: /var/run/qemu-server/VMID.pid names a live process. */
function runningVms(root: HostRoot, state: HostState, fns: PciDevice[]): string[] {
  return vmsPassing(
    state,
    fns.map((f) => f.address),
  )
    .filter((vm) => {
      const pid = root.readText(`run/qemu-server/${vm.vmid}.pid`);
      return pid.ok && /^\d+$/.test(pid.value.trim()) && root.exists(`proc/${pid.value.trim()}`);
    })
    .map((vm) => vm.line);
}

function buildSwitch(root: HostRoot, state: HostState, mode: Mode, fns: PciDevice[]): SwitchPlan {
  const scan = findHolders(root, nodePaths(root, fns));
  const fb = root.readText("proc/fb");
  return planModeSwitch({
    mode,
    functions: fns,
    holders: scan.holders,
    unreadable: scan.unreadable,
    runningVms: runningVms(root, state, fns),
    fb: fb.ok ? fb.value : null,
    modules: new Set(state.modules.loaded ?? []),
    drivers: new Set(root.list("sys/bus/pci/drivers") ?? []),
  });
}

function describe(plan: SwitchPlan): string[] {
  return [
    ...plan.targets.map(
      (t) => `  ${t.address}  ${t.before ?? "no driver"} -> ${t.want ?? "no driver"}`,
    ),
    ...plan.modprobe.map((a) => `  run   ${quoteArgv(a)}`),
    ...plan.writes.map((w) => `  write ${JSON.stringify(w.value.trim())} > /${w.file}`),
  ];
}

async function modeCommand(
  ctx: CommandContext,
  opts: ModeOptions,
  modeArg: string,
): Promise<number> {
  const mode = parseMode(modeArg);
  if (opts.hookscript && opts.persist)
    throw new InputError(
      "--hookscript and --persist are two ways to switch: the hookscript at each VM start and stop, --persist at boot; choose one",
    );
  if (opts.hookscript) return hookscriptCommand(ctx, opts, mode);
  if (opts.vmid !== undefined) throw new InputError("--vmid goes with --hookscript");
  if (opts.persist) return persistCommand(ctx, opts, mode);
  return liveCommand(ctx, opts, mode);
}

/** --persist: apply's flow with apply's planner (mode vm) or the release planner (mode host). */
async function persistCommand(ctx: CommandContext, opts: ModeOptions, mode: Mode): Promise<number> {
  if (opts.json)
    throw new InputError(
      "--json goes with the live switch; for --persist, `passthrough plan --device ADDR --json` prints the plan",
    );
  const planner: Planner = mode === "vm" ? planHost : (s, o) => planUnbind(s, o);
  const devicesOn = (state: HostState) => slotFunctions(state, opts.device).map((f) => f.address);
  if (opts.now) {
    // The live checks first: a refusal there leaves the configuration untouched too.
    const opened = openLiveOrTree(opts.root);
    const state = readHostState(opened.root, { manifest: opened.manifest });
    const plan = buildSwitch(opened.root, state, mode, slotFunctions(state, opts.device));
    if (!plan.already && plan.refusals.length) throw refusal(plan, mode);
  }
  if (opts.dryRun) {
    const opened = openLiveOrTree(opts.root);
    const state = readHostState(opened.root, { manifest: opened.manifest });
    const planOpts = { ...DEFAULT_PLAN_OPTIONS, devices: devicesOn(state), groups: [] };
    ctx.out(
      `mode ${mode} at boot for ${planOpts.devices.join(", ")}:`,
      renderPlanText(state, planner(state, planOpts), planOpts, ctx.style).filter(
        (l) => !l.startsWith("Next: "),
      ),
    );
    if (!opts.now) ctx.out("--dry-run: nothing was changed.");
    return opts.now ? liveCommand(ctx, opts, mode) : EXIT.ok;
  }
  const code = await runApply(
    ctx,
    { device: opts.device, root: opts.root, yes: opts.yes },
    planner,
    devicesOn,
  );
  return opts.now && code === EXIT.ok ? liveCommand(ctx, opts, mode) : code;
}

function refusal(plan: SwitchPlan, mode: Mode): RefusedError {
  return new RefusedError(
    `${plan.slot} stays as it is: ${plan.refusals.join("; ")}; stop those first${mode === "vm" ? `, or bind it at boot instead (\`passthrough mode vm --device ${plan.slot} --persist\`)` : ""}`,
  );
}

async function liveCommand(ctx: CommandContext, opts: ModeOptions, mode: Mode): Promise<number> {
  const opened = openLiveOrTree(opts.root);
  const rootDir = opts.root ?? "/";
  const state = readHostState(opened.root, { manifest: opened.manifest });
  const fns = slotFunctions(state, opts.device);
  const plan = buildSwitch(opened.root, state, mode, fns);
  const json = (extra: Record<string, unknown>) =>
    printJson(ctx, {
      mode,
      slot: plan.slot,
      targets: plan.targets,
      modprobe: plan.modprobe,
      writes: plan.writes,
      ...extra,
    });
  if (plan.already) {
    if (opts.json) json({ changed: false, already: true });
    else
      ctx.out(
        `${plan.slot} is in mode ${mode} already: ${plan.targets.map((t) => `${t.address} on ${t.before ?? "no driver"}`).join(", ")}`,
      );
    return EXIT.ok;
  }
  if (plan.refusals.length) throw refusal(plan, mode);
  if (!opts.json) ctx.out(`mode ${mode} for ${plan.slot}, now:`, describe(plan));
  const go = await mayProceed(ctx, opts, {
    question: `Switch ${plan.slot} to ${mode === "vm" ? "vfio-pci" : "its host driver"} now?`,
    doing: "switching the card",
    yesHint: "add --yes to switch, or --dry-run",
    dryRunJson: () => json({ changed: false }),
  });
  if (!go) return EXIT.ok;
  const overrides = new Map(fns.map((f) => [f.address, f.driverOverride]));
  const result = executeSwitch(rootDir, plan, new ProcessRunner(ctx.io.env), overrides);
  if (opts.json) json({ changed: true, result });
  else
    ctx.out(
      "",
      result.map(
        (r) => `${r.address}: ${r.before ?? "no driver"} -> ${r.after ?? "no driver"} (read back)`,
      ),
    );
  return EXIT.ok;
}

async function hookscriptCommand(
  ctx: CommandContext,
  opts: ModeOptions,
  mode: Mode,
): Promise<number> {
  if (mode !== "vm")
    throw new InputError(
      "--hookscript goes with mode vm: the script moves the card to vfio-pci when the VM starts and back when it stops",
    );
  if (opts.vmid === undefined || !/^\d+$/.test(opts.vmid) || Number(opts.vmid) < 100)
    throw new InputError(
      `--vmid ${quoteInput(opts.vmid ?? "")}: give the VM's id (100 or more; qm list shows them)`,
    );
  const vmid = Number(opts.vmid);
  const opened = openLiveOrTree(opts.root);
  const state = readHostState(opened.root, { manifest: opened.manifest });
  const fns = slotFunctions(state, opts.device);
  const address = fns[0]!.address;
  const storage = opts.snippetStorage ?? "local";
  const volume = `${storage}:snippets/${hookscriptName(address)}`;
  const passes = vmsPassing(
    state,
    fns.map((f) => f.address),
  ).some((v) => v.vmid === vmid);
  if (!opts.json)
    ctx.out(
      `hookscript for VM ${vmid}: ${slotOf(address)} to vfio-pci at pre-start, back to its host driver at post-stop`,
      `  write ${volume} (0700):`,
      hookscriptText(address)
        .trimEnd()
        .split("\n")
        .map((l) => `    ${l}`),
      `  run   ${quoteArgv(hookscriptArgv(vmid, volume))}`,
      passes
        ? []
        : [
            `note: VM ${vmid}'s config on ${opened.root.label} passes no function of ${slotOf(address)}; add it with \`passthrough vm configure\``,
          ],
    );
  const go = await mayProceed(ctx, opts, {
    question: `Install the hookscript on VM ${vmid}?`,
    doing: "installing the hookscript",
    yesHint: "add --yes, or --dry-run",
    dryRunJson: () => printJson(ctx, { vmid, volume, changed: false }),
  });
  if (!go) return EXIT.ok;
  const done = await installHookscript(new ProcessRunner(ctx.io.env), vmid, address, storage);
  if (opts.json)
    printJson(ctx, { vmid, volume, changed: true, file: done.file, undo: quoteArgv(done.undo) });
  else
    ctx.out(
      "",
      `wrote ${done.file}`,
      `ran: ${quoteArgv(done.argv)}`,
      `read back VM ${vmid}: hookscript: ${done.volume}`,
      `undo: ${quoteArgv(done.undo)} (and remove ${done.file})`,
    );
  return EXIT.ok;
}

/**
 * The steps before a change, for both of mode's changes: --dry-run stops (saying so), --json
 * needs --yes, and a terminal is asked. False: stop with nothing changed.
 */
async function mayProceed(
  ctx: CommandContext,
  opts: { dryRun?: boolean; json?: boolean; yes?: boolean },
  step: { question: string; doing: string; yesHint: string; dryRunJson: () => void },
): Promise<boolean> {
  if (opts.dryRun) {
    if (opts.json) step.dryRunJson();
    else ctx.out("", "--dry-run: nothing was changed.");
    return false;
  }
  if (opts.json && !opts.yes)
    throw new InputError(`--json cannot ask for confirmation; ${step.yesHint}`);
  if (!(await confirm(ctx.io, step.question, opts, step.doing))) {
    ctx.out("Nothing was changed.");
    return false;
  }
  return true;
}
