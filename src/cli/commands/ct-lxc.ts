// `ct plan|configure|check --name NAME`: the same three steps for a plain LXC container on a
// host without Proxmox. The plan is a diff of LXCPATH/NAME/config (vm/container/lxc-plan.ts);
// configure writes it through apply's executor, journal and lock, so `passthrough rollback`
// undoes it like any apply; check probes through `lxc-attach` (vm/container/lxc-read.ts).

import { ApplyError, EXIT, InputError, RefusedError } from "../../errors.js";
import { executePlan } from "../../apply/executor.js";
import { writerSource } from "../../apply/journal.js";
import { ApplyLock } from "../../apply/lock.js";
import { readCardNodes, type DeviceNode } from "../../host/device-nodes.js";
import { openLiveOrTree } from "../../host/open-root.js";
import { readHostState } from "../../host/read-host.js";
import type { HostRoot } from "../../host/root.js";
import { bootTimeOf } from "../../host/system.js";
import type { HostState, PciDevice } from "../../host/types.js";
import type { Plan } from "../../plan/types.js";
import { vmsPassing } from "../../plan/mode-switch.js";
import { ProcessRunner } from "../../process/run.js";
import { VERSION } from "../../version.js";
import { unifiedDiff } from "../../vm/diff.js";
import type { ContainerRef } from "../../vm/container/check.js";
import { parseLxcConfig, valuesOf } from "../../vm/container/lxc-config.js";
import { planLxcDevices, type LxcPlan } from "../../vm/container/lxc-plan.js";
import {
  lxcAttachExec,
  lxcState,
  readHostGroups,
  readLxcContainer,
  readLxcGroups,
  readSubgid,
  type LxcContainer,
} from "../../vm/container/lxc-read.js";
import { applyTarget } from "../apply-target.js";
import { confirm } from "../confirm.js";
import { printJson, type CommandContext } from "../context.js";
import {
  cardsGiven,
  findCard,
  nodeLine,
  openTree,
  parseId,
  finishCheck,
  type CtCheckOptions,
  type CtConfigureOptions,
  type CtPlanOptions,
  printNotes,
} from "./ct-shared.js";

interface BuiltLxcPlan {
  root: HostRoot;
  ct: LxcContainer;
  /** lxc-info's state; null when it could not say (a snapshot, no lxc-info). */
  state: string | null;
  card: PciDevice;
  nodes: DeviceNode[];
  plan: LxcPlan;
}

function lxcRef(name: string): ContainerRef {
  return {
    label: `container ${name}`,
    flag: `--name ${name}`,
    restart: `lxc-stop -n ${name} -r`,
    lxc: true,
  };
}

/** Proxmox writes /var/lib/lxc/CTID/config itself at each start: its containers go through pct. */
function refuseProxmox(state: HostState, name: string): void {
  if (state.system.proxmox !== null)
    throw new InputError(
      `--name ${name}: this is a Proxmox VE host, whose container configs are /etc/pve/lxc/CTID.conf (pve-container rewrites LXC's own at each start); give --ctid CTID`,
    );
}

function buildLxcPlan(ctx: CommandContext, opts: CtPlanOptions): BuiltLxcPlan {
  const gid = opts.gid === undefined ? undefined : parseId(opts.gid, "--gid", 2 ** 32 - 2);
  const opened = openTree(opts);
  const root = opened.root;
  const host = readHostState(root, { manifest: opened.manifest });
  refuseProxmox(host, opts.name!);
  const card = findCard(host, opts.device);
  const ct = readLxcContainer(root, opts.name!);
  const runner = new ProcessRunner(ctx.io.env);
  // A snapshot is another host: its containers' states are not this host's to ask.
  const state = opts.snapshot === undefined ? lxcState(runner, ct) : null;
  const nodes = readCardNodes(root, card).nodes;
  const subgid = readSubgid(root);
  const plan = planLxcDevices({
    name: ct.name,
    file: ct.file,
    text: ct.text,
    card,
    nodes,
    groups:
      gid !== undefined
        ? { ok: false, reason: "not read: --gid given" }
        : readLxcGroups(root, ct, runner, state === "RUNNING"),
    hostGroups: readHostGroups(root),
    ...(gid !== undefined ? { gid } : {}),
    vmsUsing: vmsPassing(host, [card.address]).map((v) => v.line),
    ...(subgid !== undefined ? { subgid } : {}),
  });
  return { root, ct, state, card, nodes, plan };
}

function showLxcPlan(ctx: CommandContext, b: BuiltLxcPlan): void {
  const { card, plan } = b;
  const privileged = plan.idmap === null && !valuesOf(b.ct.entries, "lxc.idmap").length;
  ctx.out(
    `container ${b.ct.name} (plain LXC, ${privileged ? "privileged" : "unprivileged"}, ${b.state?.toLowerCase() ?? "state unknown"}) on ${b.root.label}: ${card.deviceName ?? `${card.vendorId}:${card.deviceId}`} at ${card.address} (driver ${card.driver})`,
    "device nodes (from sysfs and the driver):",
    b.nodes.map(nodeLine),
    "",
  );
  if (plan.steps.length === 0) ctx.out("nothing to change: the container has every node already");
  for (const s of plan.steps)
    ctx.out(unifiedDiff(`a${s.path}`, `b${s.path}`, s.before ?? "", s.after ?? "", ctx.style));
  printNotes(ctx, plan.notes);
}

function lxcPlanJson(b: BuiltLxcPlan): Record<string, unknown> {
  return {
    name: b.ct.name,
    config: b.ct.file,
    state: b.state,
    device: b.card.address,
    driver: b.card.driver,
    style: "lxc",
    nodes: b.nodes,
    added: b.plan.added,
    present: b.plan.present,
    idmap: b.plan.idmap,
    files: b.plan.steps.map((s) => s.path),
    notes: b.plan.notes,
  };
}

export function lxcPlanCommand(ctx: CommandContext, opts: CtPlanOptions): number {
  const b = buildLxcPlan(ctx, opts);
  if (opts.json) {
    printJson(ctx, lxcPlanJson(b));
    return EXIT.ok;
  }
  showLxcPlan(ctx, b);
  if (b.plan.steps.length)
    ctx.out(
      "",
      `make it with: passthrough ct configure --name ${b.ct.name} --device ${b.card.address}${opts.gid !== undefined ? ` --gid ${opts.gid}` : ""}`,
      `LXC reads the config when the container starts${b.state === "RUNNING" ? `: stop it first (lxc-stop -n ${b.ct.name}), configure, then lxc-start -n ${b.ct.name}` : ""}`,
    );
  return EXIT.ok;
}

/** The run apply's executor carries out: the file steps alone (no command, no reboot). */
function filePlan(b: BuiltLxcPlan): Plan {
  return {
    selection: { requested: [b.card.address], functions: [], groups: [] },
    steps: b.plan.steps,
    findings: [],
    expect: { cmdline: [], modulesLoaded: [], boundToVfio: [] },
    phase: "complete",
  };
}

export async function lxcConfigureCommand(
  ctx: CommandContext,
  opts: CtConfigureOptions,
): Promise<number> {
  const b = buildLxcPlan(ctx, opts);
  if (!opts.json) showLxcPlan(ctx, b);
  const changes = b.plan.steps.length > 0;
  if (changes && b.state === "RUNNING")
    throw new RefusedError(
      `container ${b.ct.name} is running, and LXC reads its config only when it starts; stop it (lxc-stop -n ${b.ct.name}), run this again, then lxc-start -n ${b.ct.name}; nothing was changed`,
    );
  if (!changes || opts.dryRun) {
    if (opts.json) printJson(ctx, { ...lxcPlanJson(b), applied: false });
    else if (changes) ctx.out("", "--dry-run: nothing was changed.");
    return EXIT.ok;
  }
  if (opts.json && !opts.yes)
    throw new InputError("--json cannot ask for confirmation; add --yes to apply, or --dry-run");
  if (!opts.json) ctx.out("");
  const question = `Give container ${b.ct.name} these device nodes?`;
  if (!(await confirm(ctx.io, question, opts, "changing the container"))) {
    ctx.out("Nothing was changed.");
    return EXIT.ok;
  }
  const done = writeWithJournal(b, opts.root);
  readBack(b);
  const undo = `passthrough rollback ${done.journalId}${opts.root !== undefined ? ` --root ${opts.root}` : ""}`;
  if (opts.json) {
    printJson(ctx, { ...lxcPlanJson(b), applied: true, journal: done.journalId, undo });
    return EXIT.ok;
  }
  ctx.out(
    `wrote ${b.plan.steps.map((s) => s.path).join(", ")}; journal ${done.journalId}: ${done.journalPath}`,
    `read back ${b.ct.file}: ${b.plan.added.length} line(s) as planned`,
    `start it: lxc-start -n ${b.ct.name}; then: passthrough ct check --name ${b.ct.name}`,
    `undo: ${undo}`,
  );
  return EXIT.ok;
}

/** Apply's own path: target (root required on this host), lock, journal, atomic writes. */
function writeWithJournal(
  b: BuiltLxcPlan,
  rootDir: string | undefined,
): { journalId: string; journalPath: string } {
  const target = applyTarget(rootDir === undefined ? {} : { root: rootDir }, "apply");
  const lock = ApplyLock.acquire(target.writer, "ct configure");
  try {
    const stat = writerSource(target.writer).read("/proc/stat");
    const r = executePlan({
      plan: filePlan(b),
      writer: target.writer,
      runner: target.runner,
      version: VERSION,
      bootedAt: bootTimeOf(stat === null ? null : stat.toString("utf8")),
    });
    if (r.status === "failed")
      throw new ApplyError(
        `ct configure failed writing ${r.failure?.what ?? "the config"} (${r.failure?.error ?? "unknown"}); restore with \`passthrough rollback ${r.journalId}\``,
      );
    return { journalId: r.journalId, journalPath: r.journalPath };
  } finally {
    lock.release();
  }
}

/** Every added line must be in the file as written. */
function readBack(b: BuiltLxcPlan): void {
  const r = b.root.readText(b.ct.file.replace(/^\/+/, ""));
  const have = new Set(parseLxcConfig(r.ok ? r.value : "").map((e) => `${e.key} = ${e.value}`));
  const missing = b.plan.added.filter((l) => !have.has(l));
  if (missing.length)
    throw new ApplyError(
      `read back ${b.ct.file}: ${missing.join("; ")} not there; \`passthrough history\` names the journal to roll back`,
    );
}

export function lxcCheckCommand(ctx: CommandContext, opts: CtCheckOptions): number {
  const opened = openLiveOrTree(opts.root);
  const root = opened.root;
  const host = readHostState(root, { manifest: opened.manifest });
  refuseProxmox(host, opts.name!);
  const ct = readLxcContainer(root, opts.name!);
  const runner = new ProcessRunner(ctx.io.env);
  const state = lxcState(runner, ct);
  if (state !== "RUNNING")
    throw new InputError(
      `container ${ct.name} is ${state === null ? "not known to lxc-info" : state.toLowerCase()}; ct check looks inside a running container (lxc-start -n ${ct.name})`,
    );
  const given = new Set(valuesOf(ct.entries, "lxc.mount.entry").map((v) => v.split(/\s+/)[0]!));
  const ref = lxcRef(ct.name);
  const cards = cardsGiven(root, host, ref, given, opts.device);
  return finishCheck(
    ctx,
    {
      root,
      json: opts.json,
      id: { name: ct.name },
      headline: `container ${ct.name} (plain LXC) on ${root.label}`,
    },
    ref,
    cards,
    lxcAttachExec(runner, ct),
  );
}
