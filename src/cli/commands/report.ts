// `passthrough report`: one self-contained HTML page of the host (facts, findings with fixes,
// the devices to pass, the PCI topology with IOMMU groups; the plan for --device, the newest
// journal and its verify result) to read in a browser or attach to a forum post. --redact
// runs the snapshot redaction (host/capture/redact.ts) over what the page is made from.

import * as fs from "node:fs";
import * as path from "node:path";
import { FileWriter } from "../../apply/file-writer.js";
import { listJournals } from "../../apply/history.js";
import { hostRootSource } from "../../apply/journal.js";
import { EXIT, InputError, RefusedError, describeFsError } from "../../errors.js";
import { ArchiveRoot } from "../../host/archive-root.js";
import { captureSnapshot } from "../../host/capture/capture.js";
import { redactSnapshot } from "../../host/capture/redact.js";
import { entriesOfRoot } from "../../host/capture/root-entries.js";
import { openHostRoot, type OpenedRoot } from "../../host/open-root.js";
import { readHostState } from "../../host/read-host.js";
import type { HostState } from "../../host/types.js";
import type { Planner } from "../../plan/types.js";
import { VERSION } from "../../version.js";
import type { CommandContext } from "../context.js";
import { selectDevices } from "../options.js";
import { outputFileIn } from "../output-file.js";
import type { CommandRegistration } from "../registration.js";
import { renderCheck } from "../render/check-report.js";
import { renderPlanText } from "../render/plan-text.js";
import { renderReportPage, type TextSection } from "../render/report/page.js";
import { makeStyle } from "../render/style.js";
import { checkView } from "./check.js";
import { addPlanChoiceFlags, planOptionsFrom, type PlanFlags } from "./plan.js";
import { renderVerify, verifyOpened } from "./verify.js";

interface ReportOptions extends PlanFlags {
  output?: string;
  redact?: boolean;
}

export function registerReportWith(planner: Planner): CommandRegistration {
  return (program, run) => {
    const cmd = program
      .command("report")
      .description(
        "one self-contained HTML page of the host: PCI topology with IOMMU groups, findings and fixes, plan, journal, verify",
      )
      .addHelpText(
        "after",
        `
The page needs nothing but a browser (no network: style and search are inline), so it can be
attached to a forum post or a bug report. It shows the host facts, every failed or warned
check with its fix, the devices that can be passed (the ports they sit behind, their IOMMU
group and whether it is theirs alone), the whole PCI topology with groups drawn as boxes
coloured by verdict and a search by address, id, driver or name, and the \`check\` report as
the terminal prints it. With --device or --group it adds the plan; after an apply, the
newest applied journal and the \`verify\` result.

--redact replaces host names, serial numbers, MAC addresses and UUIDs as \`snapshot --redact\`
does, so the page is safe to post.

Exit codes: 0 written, 2 bad input, 3 the plan was refused (the page still shows why).

Examples:
  passthrough report -o host.html
  passthrough report --redact -o host.html       safe to attach to a forum post
  passthrough report --snapshot host.tar.gz --device 01:00 -o host.html
  passthrough report > host.html`,
      );
    addPlanChoiceFlags(cmd)
      .option("-o, --output <file>", "write the page to FILE (.html); default: standard output")
      .option(
        "--snapshot <path>",
        "read a snapshot (folder or .tar.gz made by `passthrough snapshot`) instead of this host",
      )
      .option("--redact", "replace host names, serials, MAC addresses and UUIDs (for posting)")
      .action(run<ReportOptions>((ctx, opts) => reportCommand(ctx, opts, planner)));
  };
}

async function reportCommand(
  ctx: CommandContext,
  opts: ReportOptions,
  planner: Planner,
): Promise<number> {
  const file = opts.output === undefined ? null : outputPath(opts.output);
  if (file === null && ctx.io.stdout.isTTY === true)
    throw new InputError("report writes HTML: give -o FILE.html (or redirect: > host.html)");
  const { opened, redactText } = await openReportRoot(opts);
  const state = readHostState(opened.root, { manifest: opened.manifest });
  const view = checkView(state, selectDevices(ctx, state.pci, opts.device));
  const check = view.report;
  const style = makeStyle(true);
  const sections: TextSection[] = [
    {
      id: "check",
      title: "check",
      lines: renderCheck(view, style),
    },
  ];
  const planned = planSection(state, opts, planner);
  if (planned) sections.push(planned.section);
  sections.push(...journalSections(opened, state, opts, planner));
  for (const s of sections) s.lines = s.lines.map(redactText);
  const page = renderReportPage({
    state,
    check,
    sections,
    version: VERSION,
    generatedAt: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
  });
  if (file === null) ctx.io.stdout.write(page);
  else {
    writePage(file, opts.output!, page);
    ctx.out(`wrote ${file} (${Math.max(1, Math.round(Buffer.byteLength(page) / 1024))} KB)`);
  }
  return planned?.refused ? EXIT.refused : EXIT.ok;
}

/** The host to draw; with --redact, its redacted copy and the same replacements for other text. */
async function openReportRoot(
  opts: ReportOptions,
): Promise<{ opened: OpenedRoot; redactText: (s: string) => string }> {
  const opened = openHostRoot(opts.snapshot);
  if (!opts.redact) return { opened, redactText: (s) => s };
  const captured =
    opts.snapshot === undefined ? await captureSnapshot("/", { version: VERSION }) : null;
  const r = redactSnapshot(captured ? captured.entries : entriesOfRoot(opened.root));
  const manifest = { ...(captured?.manifest ?? opened.manifest ?? {}), redacted: r.redacted };
  delete manifest.hostname;
  const label = r.replaceText(opts.snapshot ?? "live host (redacted capture)");
  const root = ArchiveRoot.fromEntries(r.entries, label, manifest.tools ?? []);
  return { opened: { root, manifest }, redactText: r.replaceText };
}

/** The plan for --device/--group, or the reasons it was refused; null without a selection. */
function planSection(
  state: HostState,
  opts: ReportOptions,
  planner: Planner,
): { section: TextSection; refused: boolean } | null {
  const options = planOptionsFrom(opts);
  if (options.devices.length === 0 && options.groups.length === 0) return null;
  const title = "plan";
  try {
    const plan = planner(state, options);
    const lines = renderPlanText(state, plan, options, makeStyle(true));
    return { section: { id: "plan", title, lines }, refused: false };
  } catch (err) {
    if (!(err instanceof RefusedError)) throw err;
    const lines = [
      "refused for safety, nothing would be written:",
      ...err.reasons.map((r) => `  - ${r}`),
    ];
    return { section: { id: "plan", title, lines }, refused: true };
  }
}

/** The newest applied journal (what was written) and verify against it, when there is one. */
function journalSections(
  opened: OpenedRoot,
  state: HostState,
  opts: ReportOptions,
  planner: Planner,
): TextSection[] {
  // The whole-slot note was said once already, by the check section.
  const quiet = { err: () => undefined };
  const outcome = verifyOpened(quiet, opened, state, opts, planner, true);
  if (!outcome || outcome.exp.source.kind !== "journal") return [];
  const id = outcome.exp.source.id;
  const entry = listJournals(hostRootSource(opened.root)).find((e) => e.ok && e.summary.id === id);
  const s = entry?.ok ? entry.summary : null;
  const journal = s
    ? [
        `journal ${s.id} (${outcome.exp.source.path})`,
        `  created   ${s.createdAt}`,
        `  status    ${s.statusText}`,
        `  devices   ${s.devices.join(" ") || "-"}`,
        ...s.files.map((f, i) => `  ${i === 0 ? "files     " : "          "}${f}`),
        ...s.commands.map((c, i) => `  ${i === 0 ? "commands  " : "          "}${c}`),
      ]
    : [`journal ${id}`];
  const host = state.system.hostname ?? opened.root.label;
  return [
    { id: "journal", title: "journal of the newest apply", lines: journal },
    { id: "verify", title: "verify", lines: renderVerify(host, outcome, makeStyle(true)) },
  ];
}

/** -o FILE: an .html name in a folder that exists, outside /sys, /proc and /dev. */
function outputPath(output: string): string {
  const file = path.resolve(output);
  if (!/\.html?$/i.test(file))
    throw new InputError(`-o ${output}: the report is HTML; give a name ending in .html`);
  if (fs.existsSync(file) && fs.statSync(file).isDirectory())
    throw new InputError(`-o ${output} is a folder; give a file name ending in .html`);
  return outputFileIn(file, output);
}

/** Atomically (temporary file, rename), owner-only: the page describes the machine. */
function writePage(file: string, shown: string, page: string): void {
  try {
    new FileWriter("/").write(file, page, { mode: 0o600 });
  } catch (err) {
    throw new InputError(
      `cannot write ${shown}: ${describeFsError(err)}; choose another place with -o`,
    );
  }
}
