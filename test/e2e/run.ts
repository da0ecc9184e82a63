// `npm run test:e2e`: passthrough on a real Linux kernel with a virtual IOMMU (issue 5).
//
//   npm run test:e2e                    # everything: host packages, images, all scenarios
//   npm run test:e2e -- --only 1,4      # some scenarios (4 brings 1, which it continues)
//   npm run test:e2e -- --all           # the opt-in scenarios too (11: Debian 13 nested VM; 14: L2 boots)
//   npm run test:e2e -- --images-only   # build (or find cached) guest images and stop
//   npm run test:e2e -- --jobs 1        # one guest or build at a time (default 2, -smp 1 each)
//
// Prints one line per scenario (PASS/FAIL and its time) and the time of each part. Serial
// logs, QEMU argv, the guest's reports and passthrough's output stay in e2e-logs/ (git
// ignores it); images are cached in .cache/e2e/ by a hash of their recipe.
import "../../tools/esm-require.js"; // first: a `require` for the sources loaded below
import { spawnSync } from "node:child_process";
import {
  appendFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { debianMirror, readAptSources } from "./lib/apt-sources.js";
import {
  ensureImage,
  IMAGES,
  type ImageResult,
  type ImageSpec,
  type Variant,
} from "./lib/image.js";
import { Slots } from "./lib/slots.js";
import { BootError, Machine } from "./lib/machine.js";
import { killAll } from "./lib/qemu.js";
import { ScenarioAbort, Verdict } from "./lib/verdict.js";
import { SCENARIOS, SLOT, type ChainState, type Scenario } from "./scenarios.js";

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = resolve(HERE, "../..");
const CACHE = join(REPO, ".cache/e2e");
const LOGS = join(REPO, "e2e-logs");
/** The package the guests install (npm run package); it must be newer than every source file. */
function debPackage(): string {
  const version = (
    JSON.parse(readFileSync(join(REPO, "package.json"), "utf8")) as { version: string }
  ).version;
  const deb = join(REPO, "dist", `passthrough_${version.replace(/-/g, "~")}-1_amd64.deb`);
  if (!existsSync(deb))
    fail(`${deb} is missing: run npm run package first (the guests install it)`);
  const sources = readdirSync(join(REPO, "src"), { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name));
  const newer = [join(REPO, "package.json"), ...sources].find(
    (f) => statSync(f).mtimeMs > statSync(deb).mtimeMs,
  );
  if (newer) fail(`${newer} changed after ${deb} was built: run npm run package again`);
  return deb;
}
/** A real capture of the lab guest (Intel vIOMMU, before apply), written by --capture-fixture. */
const FIXTURE = join(REPO, "test/fixtures/hosts/e2e-qemu-intel.tar.gz");

/** Host packages the lab needs (Debian names; docs/e2e-lab.md). */
const HOST_PACKAGES = [
  "qemu-system-x86",
  "qemu-utils",
  "debootstrap",
  "ovmf",
  "e2fsprogs",
  "dosfstools",
  "fdisk",
  "kmod",
];
/**
 * Minutes per scenario under emulation, to start the longest first: the run from empty caches of
 * 2026-12-06 on a loaded 2-core machine; 11 and 14 (opt-in) from their own runs that day.
 */
const WEIGHT: Record<string, number> = {
  "1": 8,
  "2": 4,
  "3": 8,
  "4": 8,
  "5": 12,
  "6": 12,
  "7": 11,
  "8": 11,
  "9": 9,
  "10": 9,
  "11": 20,
  "12": 8,
  "13": 8,
  "14": 20,
  "15": 11,
};

interface Options {
  only: Set<string> | null;
  jobs: number;
  /** Opt-in scenarios too. */
  all: boolean;
  imagesOnly: boolean;
  bootTimeoutS: number;
  /** --capture-fixture: save scenario 1's pristine guest as a snapshot fixture. */
  captureFixture: boolean;
  /** The .deb every guest installs. */
  deb: string;
}

function parseArgs(argv: string[]): Options {
  const o: Options = {
    only: null,
    jobs: 2,
    imagesOnly: false,
    all: false,
    bootTimeoutS: 1200,
    captureFixture: false,
    deb: "",
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const val = () => {
      const v = argv[++i];
      if (v === undefined) fail(`${a} needs a value`);
      return v!;
    };
    if (a === "--only")
      o.only = new Set(
        val()
          .split(",")
          .map((s) => s.trim())
          .filter(Boolean),
      );
    else if (a === "--jobs") o.jobs = Math.max(1, Number(val()) || 1);
    else if (a === "--images-only") o.imagesOnly = true;
    else if (a === "--all") o.all = true;
    else if (a === "--boot-timeout") {
      o.bootTimeoutS = Number(val());
      if (!(o.bootTimeoutS > 0)) fail(`--boot-timeout: a number of seconds, not "${argv[i]}"`);
    } else if (a === "--capture-fixture") o.captureFixture = true;
    else if (a === "--help" || a === "-h") {
      process.stdout.write(usage());
      process.exit(0);
    } else fail(`unknown option ${a} (see npm run test:e2e -- --help)`);
  }
  if (o.only)
    for (const id of o.only)
      if (!SCENARIOS.some((s) => s.id === id))
        fail(`--only: no scenario "${id}" (there are ${SCENARIOS.map((s) => s.id).join(", ")})`);
  return o;
}

function usage(): string {
  const list = SCENARIOS.map(
    (s) =>
      `  ${s.id}  ${s.title}${s.continues ? ` (continues ${s.continues})` : ""}${s.optIn ? ` [opt-in: ${s.optIn}]` : ""}`,
  ).join("\n");
  return `usage: npm run test:e2e [-- OPTIONS]   (as root)

passthrough on a real kernel under QEMU: builds (or reuses) the Debian 12 and 13 guest images,
boots each scenario from a fresh overlay and asserts on what the guest kernel reports.

  --only 1,4            run these scenarios (one that continues another brings it along)
  --all                 the opt-in scenarios too (marked below; --only names them one by one)
  --jobs N              guests or image builds at a time, one emulated CPU each (default 2)
  --images-only         build or find the cached guest images (with --only: theirs), then stop
  --boot-timeout S      hard limit for one boot, in seconds (default 1200)
  --capture-fixture     save scenario 1's pristine guest as test/fixtures/hosts/e2e-qemu-intel.tar.gz

scenarios:
${list}

Logs: e2e-logs/ (summary.txt, scenario-N.log, serial logs and guest reports per boot).
`;
}

function fail(msg: string): never {
  process.stderr.write(`test:e2e: ${msg}\n`);
  process.exit(2);
}

const fmt = (seconds: number) => {
  const s = Math.round(seconds);
  return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
};
const stamp = () => new Date().toISOString().slice(11, 19);

function ensureHostPackages(): void {
  const missing = HOST_PACKAGES.filter(
    (p) =>
      spawnSync("dpkg-query", ["-W", "-f=${Status}", p], { encoding: "utf8" }).stdout !==
      "install ok installed",
  );
  if (missing.length === 0) return;
  console.log(`[${stamp()}] installing host packages: ${missing.join(" ")}`);
  const sudo = process.getuid?.() === 0 ? [] : ["sudo"];
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  const run = (args: string[]) => {
    const r = spawnSync(sudo[0] ?? args[0]!, sudo.length ? args : args.slice(1), {
      stdio: "inherit",
      env,
    });
    if (r.status !== 0) fail(`${args.join(" ")} failed`);
  };
  run(["apt-get", "update", "-qq"]);
  run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", ...missing]);
}

interface Outcome {
  scenario: Scenario;
  /** The machine's folder under e2e-logs/ (serial logs, guest reports). */
  logDir: string;
  passed: boolean;
  seconds: number;
  reason: string;
}

async function runChain(chain: Scenario[], image: ImageResult, o: Options): Promise<Outcome[]> {
  const head = chain[0]!;
  const name = `scenario-${chain.map((s) => s.id).join("+")}`;
  const machineLog = (line: string) =>
    console.log(`[${stamp()}] [${chain.map((s) => s.id).join("+")}] ${line}`);
  const m = new Machine({
    name,
    baseImage: image.path,
    firmware: IMAGES[head.image].firmware,
    iommu: head.iommu,
    logDir: join(LOGS, name),
    runDir: join(CACHE, "run", name),
    deb: o.deb,
    guestLib: join(HERE, "guest/lib.sh"),
    bootTimeoutS: o.bootTimeoutS,
    log: machineLog,
  });
  const state: ChainState = o.captureFixture ? { captureSnapshotTo: FIXTURE } : {};
  const outcomes: Outcome[] = [];
  let previousPassed = true;
  try {
    for (const s of chain) {
      const logFile = join(LOGS, `scenario-${s.id}.log`);
      writeFileSync(
        logFile,
        `scenario ${s.id}: ${s.title}\nmachine: ${m.o.logDir} (${s.image}, ${s.iommu} vIOMMU)\n`,
      );
      const v = new Verdict((line) => appendFileSync(logFile, `${line}\n`));
      const t0 = Date.now();
      machineLog(`scenario ${s.id} starts: ${s.title}`);
      let reason = "";
      if (!previousPassed) {
        reason = `scenario ${s.continues} it continues failed`;
        v.check(false, reason);
      } else {
        try {
          await s.run(m, v, state);
        } catch (e) {
          if (e instanceof ScenarioAbort) reason = `stopped: ${e.message}`;
          else if (e instanceof BootError) reason = e.message;
          else reason = `harness error: ${(e as Error).stack ?? String(e)}`;
          if (!(e instanceof ScenarioAbort)) v.check(false, reason);
        }
      }
      const seconds = (Date.now() - t0) / 1000;
      const passed = v.passed;
      if (!passed && !reason) reason = v.failures[0] ?? "";
      appendFileSync(logFile, `${passed ? "PASS" : "FAIL"} in ${fmt(seconds)}\n`);
      outcomes.push({ scenario: s, logDir: m.o.logDir, passed, seconds, reason });
      machineLog(
        `scenario ${s.id} ${passed ? "PASS" : "FAIL"} (${fmt(seconds)})${passed ? "" : `: ${v.failures.length} failed check(s), first: ${reason}`}`,
      );
      previousPassed = passed;
    }
  } finally {
    m.dispose();
  }
  return outcomes;
}

/**
 * A chain's place in the slot queue (Slots: a lower rank goes first): behind every image build
 * (rank 0), and among the chains whose images are ready, the longest first, so a long chain
 * whose image came last does not run alone at the end.
 */
const scenarioRank = (chain: Scenario[]) => 1000 - chainWeight(chain);

/** Every image the run needs, building side by side within the slots; one promise each. */
function startImages(
  variants: Variant[],
  mirrors: Record<ImageSpec["suite"], string>,
  slots: Slots,
  o: Options,
): Map<Variant, Promise<ImageResult>> {
  const suiteLocks = { bookworm: new Slots(1), trixie: new Slots(1) };
  const build = (variant: Variant) =>
    ensureImage({
      variant,
      mirror: mirrors[IMAGES[variant].suite],
      recipeDir: join(HERE, "image"),
      cacheDir: CACHE,
      logDir: LOGS,
      bootTimeoutS: o.bootTimeoutS,
      log: (l) => console.log(`[${stamp()}] ${l}`),
      slots,
      suiteLock: suiteLocks[IMAGES[variant].suite],
    }).then(
      (b) => {
        logImage(b);
        return b;
      },
      (e: unknown) => {
        const msg = (e as Error).message ?? String(e);
        console.log(`[${stamp()}] image ${variant}: FAILED: ${msg}`);
        throw new Error(`image ${variant} failed to build: ${msg}`);
      },
    );
  return new Map(variants.map((v) => [v, build(v)]));
}

/** Each chain waits for its image, then for a slot (behind image work); longest chains first. */
async function runScenarios(
  selected: Scenario[],
  imageRuns: Map<Variant, Promise<ImageResult>>,
  slots: Slots,
  o: Options,
): Promise<{ outcomes: Outcome[]; seconds: number }> {
  const queue = chains(selected);
  console.log(
    `[${stamp()}] ${selected.length} scenario(s) on ${SLOT}, ${o.jobs} guests or builds at a time: ${queue.map((c) => c.map((s) => s.id).join("+")).join(", ")}`,
  );
  const outcomes: Outcome[] = [];
  let firstStart = 0;
  const runOne = async (chain: Scenario[]) => {
    const image = await imageRuns.get(chain[0]!.image)!.catch((e: unknown) => e as Error);
    if (image instanceof Error) {
      for (const scenario of chain)
        outcomes.push({ scenario, logDir: LOGS, passed: false, seconds: 0, reason: image.message });
      return;
    }
    const done = await slots.run(() => {
      firstStart ||= Date.now();
      return runChain(chain, image, o);
    }, scenarioRank(chain));
    outcomes.push(...done);
  };
  await Promise.all(queue.map(runOne));
  return { outcomes, seconds: (Date.now() - (firstStart || Date.now())) / 1000 };
}

function logImage(b: ImageResult): void {
  const detail = b.cached
    ? "cached"
    : `built in ${fmt(b.seconds)}: ${Object.entries(b.parts)
        .map(([k, s]) => `${k} ${fmt(s)}`)
        .join(", ")}`;
  console.log(`[${stamp()}] image ${b.variant}: ${b.path} (${detail})`);
}

/** Rough minutes a chain takes (WEIGHT). */
function chainWeight(chain: Scenario[]): number {
  return chain.reduce((n, s) => n + (WEIGHT[s.id] ?? 4), 0);
}

/** Scenarios grouped into chains (one that continues another runs after it on its disk). */
function chains(selected: Scenario[]): Scenario[][] {
  const out: Scenario[][] = [];
  for (const s of selected) {
    if (s.continues) continue;
    const chain = [s];
    for (
      let next = selected.find((x) => x.continues === s.id);
      next;
      next = selected.find((x) => x.continues === next!.id)
    )
      chain.push(next);
    out.push(chain);
  }
  return out.sort((a, b) => chainWeight(b) - chainWeight(a));
}

/**
 * The proof in one place: the kernel's own "Command line:" and the guest's sysfs/lspci lines
 * from the boot after apply of scenario 1, cut from its serial log into e2e-logs/evidence.txt.
 */
function evidence(logDir: string): string | null {
  const serial = join(logDir, "boot-2.serial.log");
  if (!existsSync(serial)) return null;
  const wanted =
    /Linux version|Command line:|DMAR-IR: Enabled|e2e: (boot 2|\/proc\/cmdline|sysfs|lspci|\/dev\/vfio|passthrough verify)/;
  const picked = readFileSync(serial, "latin1")
    .split(/\r?\n/)
    .filter((l) => wanted.test(l));
  const text = `scenario 1, boot 2 (after apply), from ${serial.slice(REPO.length + 1)}:\n${picked.join("\n")}\n`;
  writeFileSync(join(LOGS, "evidence.txt"), text);
  return text;
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const t0 = Date.now();
  const parts: Array<[string, number]> = [];
  if (process.getuid?.() !== 0)
    fail("run as root: debootstrap, chroot and mknod build the guest image (CI runs as root)");

  let t = Date.now();
  ensureHostPackages();
  parts.push(["host packages", (Date.now() - t) / 1000]);
  o.deb = debPackage();

  const mirror = debianMirror(readAptSources(), "bookworm");
  if (!mirror)
    fail(
      "no Debian bookworm mirror with 'main' in /etc/apt/sources.list or /etc/apt/sources.list.d/: add one (sources.list(5))",
    );
  // Debian 13: a mirror configured for trixie, else the bookworm one (a Debian mirror carries
  // every release under dists/; debootstrap checks the Release signature either way).
  const mirrors = { bookworm: mirror, trixie: debianMirror(readAptSources(), "trixie") ?? mirror };

  // Scenario selection (a continuation brings the scenario it continues).
  const wanted = new Set(o.only ?? SCENARIOS.filter((s) => o.all || !s.optIn).map((s) => s.id));
  for (const s of SCENARIOS) if (wanted.has(s.id) && s.continues) wanted.add(s.continues);
  const selected = SCENARIOS.filter((s) => wanted.has(s.id));
  // --images-only: every image, or those of the scenarios --only names.
  const variants =
    o.imagesOnly && !o.only
      ? (Object.keys(IMAGES) as Variant[])
      : ([...new Set(selected.map((s) => s.image))] as Variant[]);

  // This run's results only: earlier scenario folders and logs go (image build logs stay).
  mkdirSync(LOGS, { recursive: true });
  for (const n of readdirSync(LOGS))
    if (/^scenario-|^summary\.txt$|^evidence\.txt$/.test(n))
      rmSync(join(LOGS, n), { recursive: true, force: true });
  // One pool of CPU slots for everything heavy (debootstraps, provisioning boots, scenario
  // guests), and each scenario starts as soon as its image is there: the images still being
  // built and the scenarios whose images are ready share the cores instead of taking turns.
  const slots = new Slots(o.jobs);
  t = Date.now();
  console.log(`[${stamp()}] guest images (${variants.join(", ")}) from ${mirror}`);
  const imageRuns = startImages(variants, mirrors, slots, o);
  // One image that fails to build fails its scenarios, not the others (allSettled).
  const imagesDone = Promise.allSettled(imageRuns.values()).then((settled) => {
    const built = settled.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));
    parts.push([
      `guest images (${built.map((b) => `${b.variant}${b.cached ? " cached" : ""}`).join(", ")})`,
      (Date.now() - t) / 1000,
    ]);
    return settled.some((r) => r.status === "rejected");
  });
  const outcomes: Outcome[] = [];
  if (!o.imagesOnly) {
    const run = await runScenarios(selected, imageRuns, slots, o);
    outcomes.push(...run.outcomes);
    parts.push(["scenarios (from the first start)", run.seconds]);
  }
  const imageFailed = await imagesDone;

  const first = outcomes.find((x) => x.scenario.id === "1");
  const ev = first ? evidence(first.logDir) : null;
  if (ev) console.log(`\n${ev}`);

  const lines: string[] = [];
  for (const s of selected) {
    const r = outcomes.find((x) => x.scenario.id === s.id);
    if (!r) continue;
    lines.push(
      `${r.passed ? "PASS" : "FAIL"}  ${s.id}  ${fmt(r.seconds).padStart(6)}  ${s.title}${r.passed ? "" : `\n         ${r.reason.split("\n")[0]}  (e2e-logs/scenario-${s.id}.log)`}`,
    );
  }
  for (const [k, s] of parts) lines.push(`time  ${k}: ${fmt(s)}`);
  lines.push(`time  test:e2e total: ${fmt((Date.now() - t0) / 1000)}`);
  const summary = lines.join("\n") + "\n";
  writeFileSync(join(LOGS, "summary.txt"), summary);
  console.log(`\n${summary}logs: ${LOGS}`);
  const failed = outcomes.filter((x) => !x.passed).length;
  process.exitCode = failed > 0 || imageFailed ? 1 : 0;
}

main().catch((e: unknown) => {
  killAll();
  process.stderr.write(`test:e2e: ${(e as Error).message ?? String(e)}\n`);
  process.exitCode = 1;
});
