// `passthrough vm mapping list|create|check`: cluster PCI resource mappings over the REST API.
//
// An API token may not put a raw PCI address into hostpciN (root@pam only), but it may use a
// cluster resource mapping: `hostpciN: mapping=gpu0`. These commands manage those mappings for
// every node of the cluster and find entries that no longer match a node's hardware (a card
// moved to another slot, a BIOS update renumbered IOMMU groups): Proxmox would refuse to start
// VMs using them with "PCI device mapping invalid (hardware probably changed)".

import type { Command } from "commander";
import { EXIT, InputError } from "../../errors.js";
import type { ApiBackend } from "../../vm/proxmox/api-backend.js";
import { connectApi } from "../../vm/proxmox/connect.js";
import {
  byNodeName,
  checkMappings,
  mapEntries,
  MAPPING_ID_RE,
  normalizePciPath,
  planMapping,
  previewMapping,
  type MappingCheckRow,
  type MappingFix,
  type MappingRequest,
  type MappingStatus,
  type PciMapEntry,
} from "../../vm/proxmox/mappings.js";
import type { PciMapping } from "../../vm/types.js";
import { collect } from "../options.js";
import { addApiOptions, apiOptions, connectionFlags, type ApiFlags } from "../api-options.js";
import { printJson, type CommandContext } from "../context.js";
import { scanHookscripts, type HookscriptScan } from "../../vm/proxmox/hookscripts.js";
import type { RunAction } from "../registration.js";
import { padEnd } from "../render/style.js";
import { renderTable } from "../render/table.js";
import { parseSingleDevice } from "../../formats/device-selection.js";
import { vmCommand } from "./vm-group.js";

interface ListOptions extends ApiFlags {
  json?: boolean;
}

interface CreateOptions extends ApiFlags {
  name: string;
  device?: string;
  map: string[];
  allNodes?: boolean;
  description?: string;
  replace?: boolean;
  skipUnreachable?: boolean;
  dryRun?: boolean;
  json?: boolean;
}

interface CheckOptions extends ApiFlags {
  name?: string;
  json?: boolean;
}

export function registerVmMapping(program: Command, run: RunAction): void {
  const group = vmCommand(program)
    .command("mapping")
    .description(
      "cluster PCI resource mappings (/cluster/mapping/pci): how an API token passes a device through",
    )
    .addHelpText(
      "after",
      `
Proxmox lets only root@pam write a raw PCI address (hostpci0: 0000:01:00); an API token uses a
mapping instead (hostpci0: mapping=gpu0). A mapping names one device per node, with the ids and
IOMMU group Proxmox checks before it starts a VM. The token comes from $PASSTHROUGH_PVE_TOKEN or
--token-file, never from the command line.`,
    );

  addApiOptions(
    group
      .command("list")
      .description("list the cluster's PCI mappings and their per-node entries")
      .option("--json", "print one JSON object")
      .addHelpText(
        "after",
        `
Examples:
  export PASSTHROUGH_PVE_TOKEN='passthrough@pve!cli=8f2c...'
  passthrough vm mapping list --api https://pve1:8006 --fingerprint AB:CD:...
  passthrough vm mapping list --api https://pve1:8006 --ca-file pve-root-ca.pem --json`,
      ),
  ).action(run<ListOptions>(closing(listCommand)));

  addApiOptions(
    group
      .command("create")
      .description("create a PCI mapping, or add/refresh nodes' entries in an existing one")
      .requiredOption("--name <id>", "the mapping's name, used as hostpciN: mapping=<id>")
      .option(
        "--device <address>",
        "the device on --node, 0000:01:00 (all functions) or 0000:01:00.0",
      )
      .option("--map <node=address>", "the device on another node (repeatable)", collect, [])
      .option(
        "--all-nodes",
        "also map --device's address on every other online node that has the same vendor:device there",
      )
      .option("--description <text>", "a description for the mapping")
      .option("--replace", "replace a node's existing entry that names a different device")
      .option(
        "--skip-unreachable",
        "with --all-nodes: write the mapping without the nodes whose hardware could not be read",
      )
      .option("--dry-run", "show the entries without writing")
      .option("--json", "print one JSON object")
      .addHelpText(
        "after",
        `
Each entry's vendor:device id, subsystem id and IOMMU group are read from the node
(GET /nodes/NODE/hardware/pci), as the web UI does; Proxmox compares them at every VM start.
Entries of nodes not named are kept. Needs Mapping.Modify on /mapping/pci and Sys.Audit on /.
With --all-nodes, a node that does not answer is never taken for one without the card: the
command lists it and writes nothing (exit 3) unless --skip-unreachable is given.

Examples:
  passthrough vm mapping create --api https://pve1:8006 --node pve1 --name gpu0 --device 0000:01:00
  passthrough vm mapping create --api https://pve1:8006 --node pve1 --name gpu0 --device 0000:01:00 --all-nodes
  passthrough vm mapping create --api https://pve1:8006 --name gpu0 --map pve2=0000:41:00 --map pve3=0000:02:00`,
      ),
  ).action(run<CreateOptions>(closing(createCommand)));

  addApiOptions(
    group
      .command("check")
      .description(
        "check every mapping against every node's hardware (Proxmox's own check-node) and say what to fix",
      )
      .option("--name <id>", "check only this mapping")
      .option("--json", "print one JSON object")
      .addHelpText(
        "after",
        `
Every node gets a verdict: ok, mismatch, missing device, offline, or unreachable (with the
request that failed and why); one node's failure never hides the others'. Exit code 1 when any
node is not ok (a VM using a mapping there would not start, or it could not be checked), 0
otherwise. Nodes are read --parallel at a time, within --timeout.

It also reads every VM's config for a \`hookscript:\` and lists each storage's snippets
(GET /nodes/NODE/storage/STORAGE/content, one request per node and storage): a VM whose
snippet is not there is reported (vm.hookscript-missing, exit 1), since qemu-server refuses to
start it (qm(1), "Hookscripts", https://pve.proxmox.com/pve-docs/qm.1.html). On the host
itself, \`passthrough check\` reports the same from the snippets folder.

Examples:
  passthrough vm mapping check --api https://pve1:8006 --fingerprint AB:CD:...
  passthrough vm mapping check --api https://pve1:8006 --name gpu0 --json`,
      ),
  ).action(run<CheckOptions>(closing(checkCommand)));
}

/** The backends a command opened, closed when it ends (their kept-alive connections). */
const opened = new WeakMap<CommandContext, ApiBackend[]>();

function connect(ctx: CommandContext, opts: ApiFlags, needNode: boolean): ApiBackend {
  const backend = connectApi(
    apiOptions(opts),
    { env: ctx.io.env, warn: (l) => ctx.err(l) },
    { node: needNode },
  );
  opened.set(ctx, [...(opened.get(ctx) ?? []), backend]);
  return backend;
}

function closing<O>(
  command: (ctx: CommandContext, opts: O) => Promise<number>,
): (ctx: CommandContext, opts: O) => Promise<number> {
  return async (ctx, opts) => {
    try {
      return await command(ctx, opts);
    } finally {
      for (const b of opened.get(ctx) ?? []) b.client.close();
      opened.delete(ctx);
    }
  };
}

function entryJson(text: string, entry: PciMapEntry | null, error?: string) {
  return {
    text,
    node: entry?.node ?? null,
    path: entry?.path ?? null,
    id: entry?.id ?? null,
    iommugroup: entry?.iommugroup ?? null,
    subsystemId: entry?.subsystemId ?? null,
    ...(error ? { error } : {}),
  };
}

function mappingJson(m: PciMapping) {
  return {
    id: m.id,
    description: m.description ?? null,
    mdev: m.mdev ?? false,
    entries: mapEntries(m).map((e) => entryJson(e.text, e.entry, e.error)),
  };
}

async function listCommand(ctx: CommandContext, opts: ListOptions): Promise<number> {
  const backend = connect(ctx, opts, false);
  const mappings = await backend.listPciMappings();
  if (opts.json) {
    printJson(ctx, { api: backend.client.origin, mappings: mappings.map(mappingJson) });
    return EXIT.ok;
  }
  const { style } = ctx;
  ctx.out(
    style.bold(
      `passthrough vm mapping list — ${backend.client.origin} · ${mappings.length} PCI mapping${mappings.length === 1 ? "" : "s"}`,
    ),
    "",
  );
  if (mappings.length === 0) {
    ctx.out(
      "No PCI mappings (or none this token may see: it needs Mapping.Audit, .Use or .Modify on /mapping/pci/<id>).",
    );
    ctx.out(
      "Create one: passthrough vm mapping create --api URL --node NODE --name gpu0 --device 0000:01:00",
    );
    return EXIT.ok;
  }
  const rows: string[][] = [
    ["MAPPING", "NODE", "PATH", "ID", "GROUP", "SUBSYSTEM", "DESCRIPTION"].map(style.dim),
  ];
  for (const m of mappings) {
    const entries = mapEntries(m);
    if (entries.length === 0) rows.push([m.id, "-", "-", "-", "-", "-", m.description ?? ""]);
    entries.forEach((e, i) => {
      const desc = i === 0 ? (m.description ?? "") : "";
      if (!e.entry)
        rows.push([m.id, "?", style.red(`unreadable entry: ${e.text}`), "", "", "", desc]);
      else
        rows.push([
          m.id,
          e.entry.node,
          e.entry.path,
          e.entry.id,
          e.entry.iommugroup === undefined ? "-" : String(e.entry.iommugroup),
          e.entry.subsystemId ?? "-",
          desc,
        ]);
    });
  }
  ctx.out(renderTable(rows));
  ctx.out(
    "",
    `Check them against each node's hardware: passthrough vm mapping check ${connectionFlags(opts)}`.trimEnd(),
  );
  return EXIT.ok;
}

/** The flags of `vm mapping create`, checked before connecting. */
function mappingRequest(opts: CreateOptions): MappingRequest {
  if (!MAPPING_ID_RE.test(opts.name)) {
    throw new InputError(
      `--name ${opts.name}: a mapping name starts with a letter and has at least 2 characters of a-z, 0-9, '-' and '_' (Proxmox's configid)`,
    );
  }
  const device = parseSingleDevice(opts.device, "vm mapping create")?.address ?? null;
  if (device === null && opts.map.length === 0)
    throw new InputError(
      "nothing to map: give --device ADDRESS (on --node) and/or --map NODE=ADDRESS",
    );
  if (opts.allNodes && device === null)
    throw new InputError(
      "--all-nodes maps --device's address on the other nodes: give --device too",
    );
  const maps = opts.map.map((m) => {
    const eq = m.indexOf("=");
    if (eq <= 0 || eq === m.length - 1)
      throw new InputError(`--map ${m}: expected NODE=ADDRESS, like pve2=0000:41:00`);
    return { node: m.slice(0, eq), address: m.slice(eq + 1) };
  });
  for (const a of [...(device !== null ? [device] : []), ...maps.map((m) => m.address)])
    normalizePciPath(a); // fail on a bad address before connecting
  return {
    name: opts.name,
    device,
    maps,
    allNodes: opts.allNodes === true,
    description: opts.description ?? null,
  };
}

async function createCommand(ctx: CommandContext, opts: CreateOptions): Promise<number> {
  const request = mappingRequest(opts);
  const backend = connect(ctx, opts, request.device !== null);
  const plan = await planMapping(backend, request);
  const { skipped, warnings } = plan;
  const replace = opts.replace === true;
  const { style } = ctx;
  const unread = plan.unreachable.map((u) => `${u.node}: ${u.reason ?? "unreachable"}`);
  if (unread.length > 0 && opts.skipUnreachable !== true) {
    ctx.err(
      `error: mapping ${opts.name} not written: the hardware of ${plan.unreachable.length} node${plan.unreachable.length === 1 ? "" : "s"} could not be read, and --all-nodes would leave ${plan.unreachable.length === 1 ? "it" : "them"} out:`,
      unread.map((l) => `  ${l}`),
      "Rerun when they answer, or pass --skip-unreachable to write the mapping without them (add them later with --map NODE=ADDRESS).",
    );
    return EXIT.refused;
  }
  for (const u of plan.unreachable)
    skipped.push({ node: u.node, reason: `unreachable: ${u.reason ?? ""}` });
  skipped.sort((a, b) => byNodeName(a.node, b.node));
  if (opts.dryRun) {
    const preview = await previewMapping(backend, plan, replace);
    if (opts.json) {
      printJson(ctx, {
        mapping: opts.name,
        action: "dry-run",
        exists: preview.exists,
        entries: preview.rows,
        skipped,
        warnings,
      });
      return EXIT.ok;
    }
    ctx.out(
      style.bold(`passthrough vm mapping create — ${opts.name} (dry run, nothing written)`),
      "",
    );
    ctx.out(
      ...renderTable(
        [
          ...preview.rows.flatMap((r) => [
            [r.action === "conflict" ? style.red(r.action) : r.action, r.node, r.entry],
            ...(r.previous ?? []).map((p) => ["", "", style.dim(`was ${p}`)]),
          ]),
          ...skipped.map((x) => ["skipped", x.node, x.reason]),
        ],
        "  ",
      ),
    );
    if (preview.conflicts)
      ctx.out(
        "",
        `A conflict: the node already maps ${opts.name} to another device; --replace would change it.`,
      );
    if (warnings.length) ctx.out("", ...warnings);
    return EXIT.ok;
  }

  const result = await backend.putPciMapping(plan.mapping, { replace });
  if (opts.json) {
    printJson(ctx, {
      mapping: opts.name,
      action: result.action,
      entries: result.changes.map((c) => ({
        node: c.node,
        action: c.action,
        entry: c.entry,
        ...(c.previous ? { previous: c.previous } : {}),
      })),
      skipped,
      warnings,
      map: result.map,
    });
    return EXIT.ok;
  }
  ctx.out(style.bold(`passthrough vm mapping create — ${opts.name} · ${result.action}`), "");
  const rows: string[][] = [];
  for (const c of result.changes) {
    const label = c.action === "unchanged" ? style.dim(c.action) : style.green(c.action);
    rows.push([label, c.node, c.entry]);
    for (const prev of c.previous ?? []) rows.push(["", "", style.dim(`was ${prev}`)]);
  }
  for (const x of skipped) rows.push([style.yellow("skipped"), x.node, x.reason]);
  ctx.out(renderTable(rows, "  "));
  if (warnings.length) ctx.out("", ...warnings);
  ctx.out(
    "",
    result.action === "unchanged"
      ? `Mapping ${opts.name} already had these entries; nothing written.`
      : `Mapping ${opts.name} ${result.action}.`,
    `A VM uses it as hostpciN: mapping=${opts.name} (with pcie=1 on a q35 machine); the token then needs Mapping.Use on /mapping/pci/${opts.name}.`,
  );
  return EXIT.ok;
}

/** A fix as the command that makes it. */
function fixLine(fix: MappingFix, mapping: string, flags: string): string {
  const create = (node: string, path: string, replace: boolean) =>
    `passthrough vm mapping create ${flags} --name ${mapping} --map ${node}=${path}${replace ? " --replace" : ""}`.replace(
      / {2,}/g,
      " ",
    );
  switch (fix.kind) {
    case "moved":
      return `fix: the mapped device (${fix.id}) is now at ${fix.to.join(" and ")}: ${create(fix.node, fix.to[0]!, true)}`;
    case "gone":
      return `fix: find where the device went (\`passthrough list\` on ${fix.node}), then: ${create(fix.node, "NEW_ADDRESS", true)}`;
    case "other-device":
      return `fix (to use the device now at ${fix.path} instead): ${create(fix.node, fix.path, false)}`;
    case "refresh":
      return `fix: ${create(fix.node, fix.path, false)}`;
  }
}

async function checkCommand(ctx: CommandContext, opts: CheckOptions): Promise<number> {
  const backend = connect(ctx, opts, false);
  // Side by side: the hookscript scan's requests share the run's deadline with the mappings'.
  const [check, hooks] = await Promise.all([
    checkMappings(backend, opts.name ?? null),
    scanHookscripts(backend.client),
  ]);
  const { nodes, skippedNodes } = check;
  const all = check.mappings;
  const flags = connectionFlags(opts);
  const rows = check.rows.map(({ fixes, ...r }: MappingCheckRow) => ({
    ...r,
    fix: fixes.map((f) => fixLine(f, r.mapping, flags)),
  }));
  const errors = rows.filter((r) => r.status === "error").length;
  const warnings = rows.filter((r) => r.status === "warning").length;
  const notOk = check.verdicts.filter((v) => v.verdict !== "ok");
  const exit =
    errors > 0 || notOk.length > 0 || hooks.findings.length > 0 ? EXIT.problems : EXIT.ok;
  if (opts.json) {
    printJson(ctx, {
      api: backend.client.origin,
      nodes: nodes.map((n, i) => ({
        node: n.node,
        online: n.online,
        checked:
          check.verdicts[i]!.verdict !== "offline" && check.verdicts[i]!.verdict !== "unreachable",
        verdict: check.verdicts[i]!.verdict,
        reason: check.verdicts[i]!.reason ?? null,
      })),
      results: rows,
      summary: { errors, warnings, skippedNodes, nodesNotOk: notOk.map((v) => v.node) },
      hookscripts: { missing: hooks.findings, unchecked: hooks.unchecked },
    });
    return exit;
  }
  const { style } = ctx;
  ctx.out(
    style.bold(
      `passthrough vm mapping check — ${backend.client.origin} · ${nodes.length} node${nodes.length === 1 ? "" : "s"} · ${all.length} PCI mapping${all.length === 1 ? "" : "s"}`,
    ),
    "",
  );
  const label: Record<MappingStatus, string> = {
    ok: style.green("OK  "),
    warning: style.yellow("WARN"),
    error: style.red("FAIL"),
    skipped: style.dim("SKIP"),
  };
  const wMap = Math.max(1, ...rows.map((r) => r.mapping.length));
  const wNode = Math.max(...nodes.map((n) => n.node.length), 1);
  const indent = " ".repeat(2 + 4 + 2 + wMap + 2 + wNode + 2);
  for (const r of rows) {
    const head = `  ${label[r.status]}  ${padEnd(r.mapping, wMap)}  ${padEnd(r.node, wNode)}  `;
    const m = all.find((x) => x.id === r.mapping)!;
    const mine = mapEntries(m).filter((e) => e.entry?.node === r.node);
    const summary =
      r.status === "ok"
        ? mine
            .map(
              (e) =>
                `${e.entry!.path} (${e.entry!.id}${e.entry!.iommugroup !== undefined ? `, group ${e.entry!.iommugroup}` : ""})`,
            )
            .join("; ") || "ok"
        : (r.checks[0]?.message ??
          r.entries.find((e) => e.problems.length > 0)?.problems[0]?.message ??
          "");
    ctx.out(head + summary);
    const extra = [
      ...r.checks.slice(r.status === "ok" ? 0 : 1).map((c) => c.message),
      ...r.entries
        .flatMap((e) =>
          e.error ? [`unreadable entry '${e.text}': ${e.error}`] : e.problems.map((p) => p.message),
        )
        .filter((msg) => msg !== summary),
      ...r.fix,
    ];
    for (const l of extra) ctx.out(indent + l);
  }
  for (const v of check.verdicts) {
    if (v.verdict === "offline")
      ctx.out(
        `  ${label.skipped}  ${padEnd("-", wMap)}  ${padEnd(v.node, wNode)}  node offline: not checked`,
      );
    if (v.verdict === "unreachable")
      ctx.out(
        `  ${label.error}  ${padEnd("-", wMap)}  ${padEnd(v.node, wNode)}  node unreachable: ${v.reason ?? ""}`,
      );
  }
  ctx.out(
    "",
    `Nodes: ${check.verdicts.map((v) => `${v.node} ${v.verdict}`).join(", ") || "none"}`,
    "",
  );
  if (rows.length === 0 && skippedNodes.length === 0 && notOk.length === 0)
    ctx.out("No PCI mappings to check.");
  else if (errors > 0)
    ctx.out(
      `${errors} mapping entr${errors === 1 ? "y does" : "ies do"} not match the node's hardware: VMs using ${errors === 1 ? "it" : "them"} there will not start until fixed.`,
    );
  else
    ctx.out(
      `Every mapping matches its nodes' hardware${warnings > 0 ? ` (${warnings} node${warnings === 1 ? " has" : "s have"} no entry for a mapping: VMs using it cannot start there)` : ""}.`,
    );
  ctx.out(hookscriptLines(hooks));
  if (notOk.some((v) => v.verdict === "offline" || v.verdict === "unreachable"))
    ctx.out(
      `Not checked: ${notOk
        .filter((v) => v.verdict === "offline" || v.verdict === "unreachable")
        .map((v) => `${v.node} (${v.verdict})`)
        .join(", ")}; rerun when ${notOk.length === 1 ? "it is" : "they are"} back.`,
    );
  return exit;
}

/** VMs whose hookscript snippet is missing (check's vm.hookscript-missing), or why not checked. */
function hookscriptLines(h: HookscriptScan): string[] {
  if (h.withHookscript === 0 && h.unchecked.length === 0) return [];
  return [
    h.findings.length === 0
      ? `Hookscripts: ${h.withHookscript} VM${h.withHookscript === 1 ? " has one" : "s have one"}, every snippet is in its storage.`
      : `Hookscripts: ${h.findings.length} missing (vm.hookscript-missing):`,
    ...h.findings.flatMap((f) => [
      `  WARN  ${f.summary}`,
      ...(f.fix ? [`        fix: ${f.fix}`] : []),
    ]),
    ...h.unchecked.map((u) => `  not checked: ${u}`),
  ];
}
