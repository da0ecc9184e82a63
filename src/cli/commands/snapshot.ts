// `passthrough snapshot`: capture this host, read-only, into one .tar.gz that every read-only
// command can inspect anywhere with --snapshot (docs/snapshot-format.md). What is read and how a
// hung read is survived: src/host/capture/capture.ts; what --redact removes: redact.ts.

import type { Command } from "commander";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { EXIT, InputError, describeFsError } from "../../errors.js";
import { FileWriter } from "../../apply/file-writer.js";
import { encodeSnapshotArchive } from "../../host/capture/archive-writer.js";
import { captureSnapshot, type CapturedSnapshot } from "../../host/capture/capture.js";
import { redactSnapshot } from "../../host/capture/redact.js";
import { quoteWord } from "../../process/quote.js";
import { printJson, type CommandContext } from "../context.js";
import { outputFileIn } from "../output-file.js";
import { type RunAction } from "../registration.js";
import { VERSION } from "../../version.js";

interface SnapshotOptions {
  output?: string;
  redact?: boolean;
  json?: boolean;
}

export function registerSnapshot(program: Command, run: RunAction): void {
  program
    .command("snapshot")
    .description(
      "save this host's hardware and boot configuration, read-only, as one .tar.gz for --snapshot",
    )
    .option(
      "-o, --output <file>",
      "the .tar.gz to write (or a folder to write it in); default: passthrough-snapshot-<host>-<date>.tar.gz here",
    )
    .option(
      "--redact",
      "remove serial numbers, MAC addresses and the host name (for posting in public)",
    )
    .option("--json", "print what was written as one JSON object")
    .addHelpText(
      "after",
      `
Reads only: PCI, IOMMU, USB, block and network sysfs attributes from an allow-list (never
rom, resourceN, remove, reset or rescan), /proc state, the boot loader, modprobe and
initramfs configuration, Proxmox VM configs, and the output of a few read-only commands
(dmesg, uname, pveversion, efibootmgr -v, zpool status -P, lspci -nnk, nvidia-smi -q).
Each read has a short timeout, so a hung device cannot hang the capture. Nothing is
written but the archive (created beside its final name, then renamed; mode 0600).
Run as root for the full PCI configuration space (capabilities, ACS, reset support).

--redact replaces serial numbers (USB, NVMe, DMI, disk ids, PCIe device serial numbers),
MAC addresses and the host name (etc/hostname, etc/pve/nodes/<name>, command output) with
placeholders; manifest.json records what was redacted.

Examples:
  passthrough snapshot                           ./passthrough-snapshot-pve-20260131-142501.tar.gz
  passthrough snapshot --redact -o /tmp/         for a forum post or bug report
  passthrough list --snapshot passthrough-snapshot-pve-20260131-142501.tar.gz`,
    )
    .action(run<SnapshotOptions>((ctx, opts) => snapshotCommand(ctx, opts)));
}

export interface SnapshotToFileOptions {
  /** Folder laid out like a host: "/" for this machine, a snapshot folder in tests. */
  source: string;
  output?: string;
  redact?: boolean;
  now?: Date;
  readTimeoutMs?: number;
}

export interface SnapshotWritten {
  file: string;
  bytes: number;
  entries: number;
  redacted: string[];
  skipped: CapturedSnapshot["manifest"]["skipped"];
  notes: string[];
  capturedAsRoot: boolean;
}

async function snapshotCommand(ctx: CommandContext, opts: SnapshotOptions): Promise<number> {
  const w = await snapshotToFile({ source: "/", output: opts.output, redact: opts.redact });
  if (opts.json) {
    printJson(ctx, w);
    return EXIT.ok;
  }
  const { style } = ctx;
  ctx.out(`${style.green("wrote")} ${w.file} (${formatBytes(w.bytes)}, ${w.entries} entries)`);
  if (w.redacted.length) ctx.out(`  redacted: ${w.redacted.join(", ")}`);
  if (!w.capturedAsRoot)
    ctx.out(
      `  ${style.yellow("not run as root")}: PCI config space is cut to 64 bytes (no capabilities, ACS, reset support); run it with sudo for a complete snapshot`,
    );
  if (w.skipped.length) {
    ctx.out(
      `  ${style.yellow(`${w.skipped.length} file(s) not captured`)}, listed in manifest.json "skipped"; first: ${w.skipped[0]!.path} (${w.skipped[0]!.reason})`,
    );
  }
  ctx.out("", `Inspect it on any machine: passthrough list --snapshot ${quoteWord(w.file)}`);
  return EXIT.ok;
}

/** Capture `source`, redact if asked, and write the archive; refuses bad output paths first. */
export async function snapshotToFile(o: SnapshotToFileOptions): Promise<SnapshotWritten> {
  const now = o.now ?? new Date();
  const source = path.resolve(o.source);
  const host = o.redact ? "redacted" : safeName(peekHostname(source));
  const defaultName = `passthrough-snapshot-${host}-${stamp(now)}.tar.gz`;
  const file = resolveOutput(o.output, defaultName);

  const captured = await captureSnapshot(source, {
    version: VERSION,
    now,
    readTimeoutMs: o.readTimeoutMs,
  });
  let entries = captured.entries;
  const manifest = { ...captured.manifest };
  if (o.redact) {
    const r = redactSnapshot(entries);
    entries = r.entries;
    manifest.redacted = r.redacted;
    manifest.notes = [...manifest.notes, ...r.notes];
    delete manifest.hostname;
  }
  entries.file("manifest.json", `${JSON.stringify(manifest, null, 2)}\n`);
  const top = path.basename(file).replace(/\.(tar\.gz|tgz)$/, "");
  const data = encodeSnapshotArchive(entries, top, now);
  try {
    // The one atomic writer (temporary file beside the target, fsync, rename, folder fsync);
    // owner-only, since a snapshot describes the machine.
    new FileWriter("/").write(file, data, { mode: 0o600 });
  } catch (err) {
    throw new InputError(
      `cannot write ${file}: ${describeFsError(err)}; choose another place with -o`,
    );
  }
  return {
    file,
    bytes: data.length,
    entries: entries.size,
    redacted: manifest.redacted,
    skipped: manifest.skipped,
    notes: manifest.notes,
    capturedAsRoot: manifest.capturedAsRoot,
  };
}

/** The host name for the default file name, read before the capture (which may take seconds). */
function peekHostname(source: string): string {
  for (const f of ["etc/hostname", "proc/sys/kernel/hostname"]) {
    try {
      const h = fs.readFileSync(path.join(source, f), "utf8").trim();
      if (h) return h.split(".")[0]!;
    } catch {
      // try the next
    }
  }
  return source === "/" ? os.hostname().split(".")[0] || "host" : "host";
}

function safeName(s: string): string {
  return s.replace(/[^A-Za-z0-9._-]+/g, "_") || "host";
}

/** 20260131-142501 (UTC): sorts by time, no characters that need quoting. */
function stamp(d: Date): string {
  const p = (n: number) => String(n).padStart(2, "0");
  return `${d.getUTCFullYear()}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}-${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}`;
}

/** Where to write: checked before anything is read, so a typo costs nothing. */
export function resolveOutput(output: string | undefined, defaultName: string): string {
  let file = path.resolve(output ?? defaultName);
  let st: fs.Stats | null;
  try {
    st = fs.statSync(file);
  } catch {
    st = null;
  }
  if (st?.isDirectory()) {
    file = path.join(file, defaultName);
    st = fs.existsSync(file) ? fs.statSync(file) : null;
  }
  const shown = output ?? file;
  if (!/\.(tar\.gz|tgz)$/.test(file))
    throw new InputError(
      `-o ${shown}: a snapshot is a .tar.gz; give a name ending in .tar.gz, e.g. ${defaultName}`,
    );
  if (st)
    throw new InputError(
      `-o ${shown} already exists; snapshots are never overwritten: remove it or choose another name`,
    );
  return outputFileIn(file, shown);
}

function formatBytes(n: number): string {
  return n >= 1024 * 1024
    ? `${(n / 1024 / 1024).toFixed(1)} MB`
    : `${Math.max(1, Math.round(n / 1024))} KB`;
}
