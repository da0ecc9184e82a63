// `passthrough ct plan` and `ct configure`: the change that gives a Proxmox container a host
// GPU's device nodes, shown as a diff of /etc/pve/lxc/<ctid>.conf (vm/container/device-plan.ts);
// configure makes it with `pct set` through apply's journal and reads the config back
// (vm/container/configure.ts; `rollback` undoes it, apply/container-undo.ts);
// `ct check` looks inside the running container (vm/container/inside.ts, check.ts).
// --name NAME: a plain LXC container instead (ct-lxc.ts).

import type { Command } from "commander";
import * as path from "node:path";
import { EXIT, InputError } from "../../errors.js";
import { vmsPassing } from "../../plan/mode-switch.js";
import { printCtConfig } from "../../formats/proxmox-ct-config.js";
import { readCardNodes, type DeviceNode } from "../../host/device-nodes.js";
import { openLiveOrTree } from "../../host/open-root.js";
import { readHostState } from "../../host/read-host.js";
import type { HostRoot } from "../../host/root.js";
import type { PciDevice } from "../../host/types.js";
import { ProcessRunner } from "../../process/run.js";
import { quoteArgv } from "../../process/quote.js";
import { unifiedDiff } from "../../vm/diff.js";
import { FileWriter } from "../../apply/file-writer.js";
import {
  configureContainer,
  journalPlan,
  pctSetArgv,
  undoArgv,
} from "../../vm/container/configure.js";
import { givenPaths, planContainerDevices, type CtPlan } from "../../vm/container/device-plan.js";
import { pveRef } from "../../vm/container/check.js";
import { pctExecIn } from "../../vm/container/inside.js";
import {
  readContainerConfig,
  readContainerGroups,
  type ContainerConfigRead,
} from "../../vm/container/read-container.js";
import {
  apiConfigureRefusal,
  cardOnNode,
  readContainerConfigApi,
} from "../../vm/container/api-config.js";
import { apiConnector } from "../../vm/proxmox/connect.js";
import type { ApiBackend } from "../../vm/proxmox/api-backend.js";
import { addApiOptions, apiOptions } from "../api-options.js";
import { confirm } from "../confirm.js";
import { printJson, type CommandContext } from "../context.js";
import { collect } from "../options.js";
import type { RunAction } from "../registration.js";
import { lxcCheckCommand, lxcConfigureCommand, lxcPlanCommand } from "./ct-lxc.js";
import {
  cardsGiven,
  findCard,
  type CtCheckOptions,
  type CtConfigureOptions,
  type CtPlanOptions,
  NAME_HELP,
  nodeLine,
  openTree,
  parseId,
  finishCheck,
  printNotes,
} from "./ct-shared.js";

export function registerCt(program: Command, run: RunAction): void {
  const ct = program
    .command("ct")
    .description(
      "give a Proxmox or plain LXC container a host GPU's device nodes (the card stays on the host)",
    );
  const plan = ct
    .command("plan")
    .description(
      "show the change to /etc/pve/lxc/CTID.conf that gives the container the card's device nodes",
    )
    .option("--ctid <n>", "the Proxmox container's id (pct list)")
    .option("--name <name>", NAME_HELP)
    .requiredOption("--device <addr>", "the GPU function, e.g. 0000:01:00.0", collect)
    .option(
      "--gid <n>",
      "group id for the DRM and kfd nodes, instead of the container's render/video group",
    )
    .option(
      "--snapshot <path>",
      "read a snapshot (folder or .tar.gz made by `passthrough snapshot`) instead of this host",
    )
    .option("--json", "print one JSON object instead of text")
    .addHelpText(
      "after",
      `
The nodes come from sysfs: drm/card* and renderD* under the card's PCI folder, /dev/nvidia*
(nvidiactl, nvidia-uvm, nvidia-caps) when the nvidia driver runs it, /dev/kfd for amdgpu.
Proxmox VE 8.1 and later get devN entries whose gid is the container's own render (or video)
group, read from its /etc/group (mounted by \`pct mount CTID\`, or through \`pct exec\` while it
runs); older versions get lxc.cgroup2.devices.allow and lxc.mount.entry lines (pct(1),
"Device Passthrough"; lxc.container.conf(5)).

--name NAME (a host without Proxmox): the diff of LXCPATH/NAME/config (/var/lib/lxc unless
lxc.lxcpath in /etc/lxc/lxc.conf says otherwise) with an lxc.cgroup2.devices.allow rule and
an lxc.mount.entry bind mount per node (lxc.container.conf(5)). A bind-mounted node keeps its
host owner (udev: render for renderD* and kfd, video for card*), so in an unprivileged
container (lxc.idmap lines) the container's own render/video group, read from its root file
system's /etc/group, is mapped onto that host group (user_namespaces(7)); with newgidmap on
the host, /etc/subgid gets root:GID:1 for it (subgid(5)).

Refused (exit 3) when the card is bound to vfio-pci: a VM owns it, and it has no nodes;
\`passthrough mode host --device ADDR\` gives it back to its host driver.

Examples:
  passthrough ct plan --ctid 101 --device 0000:00:02.0
  passthrough ct plan --ctid 101 --device 01:00.0 --gid 104
  passthrough ct plan --name media --device 0000:00:02.0
  passthrough ct plan --api https://pve:8006 --node pve --ctid 101 --device 01:00.0 --gid 104 \\
      --snapshot pve.tar.gz

Through the REST API (--api, --node; the token from $PASSTHROUGH_PVE_TOKEN or --token-file)
the config and its digest come from GET /nodes/NODE/lxc/CTID/config (VM.Audit on /vms/CTID),
and the device nodes from the host read here, which must be NODE (run there, or --snapshot of
it; its hardware list must show the card). The API cannot read the container's /etc/group:
--gid is required.`,
    );
  addApiOptions(plan).action(run<CtPlanOptions>(ctPlanCommand));
  const configure = ct
    .command("configure")
    .description(
      "make the `ct plan` change (pct set, or LXC's config file through apply's journal), then read the config back",
    )
    .option("--ctid <n>", "the Proxmox container's id (pct list)")
    .option("--name <name>", NAME_HELP)
    .requiredOption("--device <addr>", "the GPU function, e.g. 0000:01:00.0", collect)
    .option("--gid <n>", "group id for the DRM and kfd nodes (default: the container's own)")
    .option("--root <dir>", "a tree with the layout of / (a test tree) instead of this host")
    .option("--yes", "do not ask (needed without a terminal)")
    .option("--dry-run", "show the change and stop")
    .option("--json", "print one JSON object (with --yes or --dry-run)");
  addApiOptions(configure)
    .addHelpText(
      "after",
      `
Runs \`pct set CTID --devN ... --digest D\`: pct checks every entry, and the digest makes it
refuse if the config changed since it was read. The config is then read back; entries a
running container holds as pending apply at its next start. The change is journaled as
\`apply\` journals (/var/lib/passthrough/journal): \`passthrough rollback\` takes the entries
back out with \`pct set CTID --delete devN,...\` (--revert while still pending), and refuses
when the config changed since (--force: only the entries still as set). Before Proxmox VE
8.1 there are no devN keys: refused (exit 3), add the lines \`ct plan\` shows by hand.

--name NAME (plain LXC): the config file (and /etc/subgid when a group map needs it) is
written the way \`passthrough apply\` writes: journal first, atomic replace, lock; undo
with the printed \`passthrough rollback ID\`. LXC reads the config only when the container
starts: a running container is refused (exit 3) until it is stopped (lxc-stop -n NAME).

Examples:
  passthrough ct configure --ctid 101 --device 0000:00:02.0 --dry-run
  passthrough ct configure --ctid 101 --device 0000:00:02.0 --yes

With --api it shows the diff against the config the API answers, then refuses (exit 3):
pve-container lets only root@pam add or remove devN entries, and an API token never is
root@pam. It names the command to run on the node instead.
  passthrough ct configure --name media --device 0000:00:02.0 --yes`,
    )
    .action(run<CtConfigureOptions>(ctConfigureCommand));
  ct.command("check")
    .description(
      "inside the running container: the card's nodes exist, its render/video group can open them, NVIDIA's driver matches the host",
    )
    .option("--ctid <n>", "the Proxmox container's id (pct list); it must be running")
    .option("--name <name>", `${NAME_HELP}; it must be running`)
    .option(
      "--device <addr>",
      "only this GPU function (default: every GPU whose nodes the config gives)",
      collect,
    )
    .option("--root <dir>", "a tree with the layout of / (a test tree) instead of this host")
    .option("--json", "print one JSON object instead of text")
    .addHelpText(
      "after",
      `
For each of the card's device nodes the container's config gives it (devN entries,
lxc.mount.entry), through \`pct exec CTID --\`: stat says it is a character device with the
host node's major:minor, and its gid and mode let the container's render (renderD*, kfd) or
video (card*) group, or everyone, open it. For NVIDIA, the version of the container's
libnvidia-ml.so.VERSION must be the host module's (/sys/module/nvidia/version); a host
driver update without the container's is what makes nvidia-smi say "Driver/library version
mismatch". \`passthrough explain ct.node\` (ct.node-access, ct.nvidia-driver) tells more.
With --name NAME (plain LXC) the probes run through \`lxc-attach -n NAME --\` and the nodes
are those its lxc.mount.entry lines bind.

Exit codes: 0 every check passes, 1 a FAIL line says what is wrong and how to fix it, 2 bad
input or the container is not running.

Examples:
  passthrough ct check --ctid 101
  passthrough ct check --ctid 101 --device 0000:01:00.0 --json
  passthrough ct check --name media`,
    )
    .action(run<CtCheckOptions>(ctCheckCommand));
}

/** --ctid or --name, one of them: Proxmox containers have ids, plain LXC ones names. */
/** Plain LXC has no REST API: --api and --node belong to Proxmox containers. */
function lxcOnly<T extends CtPlanOptions>(opts: T): T {
  if (opts.api !== undefined || opts.node !== undefined)
    throw new InputError(
      "--name is a plain LXC container, which has no REST API; --api and --node go with --ctid",
    );
  return opts;
}

function ctidOf(opts: { ctid?: string; name?: string }): number {
  if (opts.ctid !== undefined && opts.name !== undefined)
    throw new InputError(
      "--ctid and --name: give one (--ctid for a Proxmox container, --name for plain LXC)",
    );
  if (opts.ctid === undefined)
    throw new InputError(
      "give the container: --ctid N (Proxmox, pct list) or --name NAME (plain LXC, lxc-ls)",
    );
  return parseId(opts.ctid, "--ctid", 999_999_999);
}

interface BuiltPlan {
  ctid: number;
  root: HostRoot;
  /** "this host", the snapshot, or "node pve (REST API)": where the config was read. */
  where: string;
  /** Through the API: the node. */
  node: string | null;
  card: PciDevice;
  read: ContainerConfigRead;
  nodes: DeviceNode[];
  plan: CtPlan;
}

/** The container config: from the tree, or through the REST API from the node (closed after). */
async function readConfig(
  ctx: CommandContext,
  opts: CtPlanOptions,
  root: HostRoot,
  ctid: number,
  card: PciDevice,
): Promise<{ read: ContainerConfigRead; node: string | null }> {
  if (opts.api === undefined) {
    if (opts.node !== undefined) throw new InputError("--node goes with --api https://HOST:8006");
    return { read: readContainerConfig(root, ctid), node: null };
  }
  if (opts.gid === undefined)
    throw new InputError(
      `--gid is needed with --api: the Proxmox API has no call that reads the container's /etc/group; give the id of the container's render group (on the node: \`pct exec ${ctid} -- getent group render\`)`,
    );
  let backend: ApiBackend | null = null;
  try {
    backend = await apiConnector(apiOptions(opts), ctx.io.env, (l) => ctx.err(l));
    cardOnNode(card, await backend.hardwarePci(backend.node), backend.node, root.label);
    return {
      read: await readContainerConfigApi(backend.client, backend.node, ctid),
      node: backend.node,
    };
  } finally {
    backend?.client.close();
  }
}

async function buildPlan(ctx: CommandContext, opts: CtPlanOptions): Promise<BuiltPlan> {
  const ctid = ctidOf(opts);
  const gid = opts.gid === undefined ? undefined : parseId(opts.gid, "--gid", 2 ** 32 - 2);
  const opened = openTree(opts);
  const root = opened.root;
  const state = readHostState(root, { manifest: opened.manifest });
  const card = findCard(state, opts.device);
  const { read, node } = await readConfig(ctx, opts, root, ctid, card);
  const nodes = readCardNodes(root, card).nodes;
  const plan = planContainerDevices({
    ctid,
    config: read.config,
    card,
    nodes,
    proxmoxVersion: state.system.proxmox,
    groups:
      gid !== undefined
        ? { ok: false, reason: "not read: --gid given" }
        : readContainerGroups(
            root,
            ctid,
            root.kind === "live" ? new ProcessRunner(ctx.io.env) : null,
          ),
    ...(gid !== undefined ? { gid } : {}),
    vmsUsing: vmsPassing(state, [card.address]).map((v) => v.line),
  });
  const where = node === null ? root.label : `node ${node} (REST API)`;
  return { ctid, root, where, node, card, read, nodes, plan };
}

function showPlan(ctx: CommandContext, b: BuiltPlan): void {
  const { read, card, plan } = b;
  const keys = read.config.main.keys;
  ctx.out(
    `container ${b.ctid} (${keys["hostname"] ?? "no hostname"}, ${keys["unprivileged"] === "1" ? "unprivileged" : "privileged"}) on ${b.where}: ${card.deviceName ?? `${card.vendorId}:${card.deviceId}`} at ${card.address} (driver ${card.driver})`,
    "device nodes (from sysfs and the driver):",
    b.nodes.map(nodeLine),
    "",
  );
  if (plan.added.length === 0) ctx.out("nothing to change: the container has every node already");
  else
    ctx.out(
      unifiedDiff(
        `a/${read.file}`,
        `b/${read.file}`,
        printCtConfig(read.config),
        printCtConfig(plan.after),
        ctx.style,
      ),
    );
  printNotes(ctx, plan.notes);
}

function planJson(b: BuiltPlan): Record<string, unknown> {
  return {
    ctid: b.ctid,
    device: b.card.address,
    driver: b.card.driver,
    style: b.plan.style,
    nodes: b.nodes,
    added: b.plan.added,
    present: b.plan.present,
    notes: b.plan.notes,
    commands: applyCommands(b.ctid, b.plan),
  };
}

async function ctPlanCommand(ctx: CommandContext, opts: CtPlanOptions): Promise<number> {
  if (opts.name !== undefined && opts.ctid === undefined) return lxcPlanCommand(ctx, lxcOnly(opts));
  const b = await buildPlan(ctx, opts);
  if (opts.json) {
    printJson(ctx, planJson(b));
    return EXIT.ok;
  }
  showPlan(ctx, b);
  const commands = applyCommands(b.ctid, b.plan);
  if (commands.length)
    ctx.out(
      "",
      "make it with:",
      commands.map((c) => `  ${c}`),
    );
  return EXIT.ok;
}

async function ctConfigureCommand(ctx: CommandContext, opts: CtConfigureOptions): Promise<number> {
  if (opts.name !== undefined && opts.ctid === undefined)
    return lxcConfigureCommand(ctx, lxcOnly(opts));
  const b = await buildPlan(ctx, opts);
  const argv = b.plan.added.length ? pctSetArgv(b.ctid, b.plan, b.read.digest) : [];
  if (!opts.json) showPlan(ctx, b);
  if (argv.length === 0 || opts.dryRun) {
    if (opts.json) printJson(ctx, { ...planJson(b), applied: false });
    else if (argv.length) ctx.out("", "--dry-run: nothing was changed.");
    return EXIT.ok;
  }
  if (b.node !== null) throw apiConfigureRefusal(b.ctid, b.node, b.card.address, argv);
  if (opts.json && !opts.yes)
    throw new InputError("--json cannot ask for confirmation; add --yes to apply, or --dry-run");
  if (!opts.json) ctx.out("");
  const question = `Give container ${b.ctid} these device nodes?`;
  if (!(await confirm(ctx.io, question, opts, "changing the container"))) {
    ctx.out("Nothing was changed.");
    return EXIT.ok;
  }
  const done = configureContainer({
    plan: journalPlan({
      ctid: b.ctid,
      device: b.card.address,
      plan: b.plan,
      file: `/${b.read.file}`,
      beforeText: b.read.text,
    }),
    // The journal goes where apply's does: /var/lib/passthrough/journal (under --root DIR).
    writer: new FileWriter(opts.root ?? "/"),
    runner: new ProcessRunner(ctx.io.env),
    readConfig: () => {
      const r = b.root.readText(b.read.file);
      return r.ok ? r.value : null;
    },
  });
  const back = done.readBack;
  const rollback = quoteArgv([
    "passthrough",
    "rollback",
    done.journalId,
    ...(opts.root !== undefined ? ["--root", path.resolve(opts.root)] : []),
  ]);
  const undo = quoteArgv(undoArgv(b.ctid, b.plan));
  if (opts.json) {
    printJson(ctx, {
      ...planJson(b),
      applied: true,
      journal: done.journalId,
      readBack: back,
      rollback,
      undo,
    });
    return EXIT.ok;
  }
  ctx.out(
    `ran: ${quoteArgv(argv.slice(0, -2))} --digest ...`,
    `read back ${path.posix.join("/", b.read.file)}: ${back.set.length ? `${back.set.join(", ")} set` : ""}${back.pending.length ? `${back.set.length ? "; " : ""}${back.pending.join(", ")} pending until the container restarts` : ""}`,
    `journal ${done.journalId}; undo: ${rollback} (runs ${undo})`,
  );
  return EXIT.ok;
}

function ctCheckCommand(ctx: CommandContext, opts: CtCheckOptions): number {
  if (opts.name !== undefined && opts.ctid === undefined) return lxcCheckCommand(ctx, opts);
  const ctid = ctidOf(opts);
  const opened = openLiveOrTree(opts.root);
  const root = opened.root;
  const state = readHostState(root, { manifest: opened.manifest });
  const read = readContainerConfig(root, ctid);
  const cards = cardsGiven(root, state, pveRef(ctid), givenPaths(read.config.main), opts.device);
  return finishCheck(
    ctx,
    {
      root,
      json: opts.json,
      id: { ctid },
      headline: `container ${ctid} (${read.config.main.keys["hostname"] ?? "no hostname"}) on ${root.label}`,
    },
    pveRef(ctid),
    cards,
    pctExecIn(new ProcessRunner(ctx.io.env), ctid),
  );
}

function applyCommands(ctid: number, plan: CtPlan): string[] {
  if (plan.added.length === 0) return [];
  if (plan.style === "lxc")
    return [
      `add the + lines to /etc/pve/lxc/${ctid}.conf (pct set cannot write lxc.* keys), then restart the container`,
    ];
  return [quoteArgv(pctSetArgv(ctid, plan, null))];
}
