// `passthrough report` pages opened in a real browser (Debian's headless Chromium, installed
// by .ci/run): no console errors and no request beyond the page itself, the DOM holds every
// function and IOMMU group, the example host's key facts fit a laptop screen without
// scrolling, search finds by id. Screenshots and pages are kept in test-artifacts/report/
// (README "The report"). Without Chromium the suite is skipped, unless
// PASSTHROUGH_REQUIRE_CHROMIUM=1 (CI) makes that a failure.

import * as fs from "node:fs";
import * as path from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { syntheticHost } from "../../tools/bench/synthetic-host.js";
import { cli } from "../helpers/cli.js";
import { Browser, findChromium } from "../helpers/chromium.js";
import { REPO, fixturePath, writeSpec } from "../helpers/fixtures.js";
import { openSnapshot } from "../../src/host/open-root.js";
import { readHostState } from "../../src/host/read-host.js";
import type { HostState } from "../../src/host/types.js";

const ARTIFACTS = path.join(REPO, "test-artifacts/report");
const LAPTOP = { width: 1366, height: 768 };
/** Writing the 200-function host and rendering it take seconds, more on a loaded CI machine. */
const SLOW = 180_000;
const chromium = findChromium();
if (!chromium && process.env.PASSTHROUGH_REQUIRE_CHROMIUM === "1")
  throw new Error("chromium is not installed (apt-get install chromium); .ci/run installs it");

interface Case {
  name: string;
  snapshot: string;
  state: () => HostState;
  budgetKb: number;
}

function snapshotState(p: string): HostState {
  const { root, manifest } = openSnapshot(p);
  return readHostState(root, { manifest, systemPciIds: false });
}

// Relative, as a user types it: the page (and the README's screenshot) shows the path given.
const SEED = path.relative(process.cwd(), path.join(REPO, "examples/seed-host.tar.gz"));
const server = syntheticHost(200);
let serverTree: { dir: string; cleanup: () => void } | null = null;

const CASES: Case[] = [
  { name: "seed-host", snapshot: SEED, state: () => snapshotState(SEED), budgetKb: 300 },
  {
    name: "two-identical-gpus",
    snapshot: fixturePath("two-identical-gpus"),
    state: () => snapshotState(fixturePath("two-identical-gpus")),
    budgetKb: 300,
  },
  {
    name: "intel-shared-group",
    snapshot: fixturePath("intel-shared-group"),
    state: () => snapshotState(fixturePath("intel-shared-group")),
    budgetKb: 300,
  },
  {
    name: "server-200-functions",
    snapshot: "",
    state: () => snapshotState(serverTree!.dir),
    budgetKb: 1024,
  },
];

interface DomFacts {
  addresses: string[];
  groups: string[];
  scrollWidth: number;
}

const DOM_FACTS = `({
  addresses: [...document.querySelectorAll("#topology li.fn")].map((e) => e.dataset.address),
  groups: [...document.querySelectorAll("#topology details.box")].map((e) => e.dataset.group),
  scrollWidth: document.documentElement.scrollWidth,
})`;

describe.skipIf(!chromium)("report in headless Chromium", () => {
  let browser: Browser;
  beforeAll(() => {
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    serverTree = writeSpec(server);
    CASES[3]!.snapshot = serverTree.dir;
    browser = Browser.launch(chromium!);
  }, SLOW);
  afterAll(async () => {
    await browser?.close();
    serverTree?.cleanup();
  }, SLOW);

  async function openReport(c: Case) {
    const file = path.join(ARTIFACTS, `${c.name}.html`);
    fs.rmSync(file, { force: true });
    const r = await cli(["report", "--snapshot", c.snapshot, "-o", file]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const page = await browser.newPage(LAPTOP.width, LAPTOP.height);
    const url = pathToFileURL(file).href;
    await page.open(url);
    return { page, file, url };
  }

  it.each(CASES.map((c) => [c.name, c] as const))(
    "%s: no console errors, nothing fetched, every function and group in the DOM",
    async (_name, c) => {
      const { page, file, url } = await openReport(c);
      const state = c.state();
      expect(fs.statSync(file).size).toBeLessThan(c.budgetKb * 1024);
      const dom = await page.evaluate<DomFacts>(DOM_FACTS);
      expect(page.problems()).toEqual([]);
      expect(page.requests()).toEqual([url]);
      expect([...dom.addresses].sort()).toEqual(state.pci.map((d) => d.address).sort());
      const groups = new Set(dom.groups);
      for (const g of state.iommu.groups) expect(groups).toContain(String(g.id));
      // Nothing wider than the screen: long names are cut with an ellipsis, not scrolled.
      expect(dom.scrollWidth).toBeLessThanOrEqual(LAPTOP.width);
      fs.writeFileSync(path.join(ARTIFACTS, `${c.name}.png`), await page.screenshot());
      fs.writeFileSync(path.join(ARTIFACTS, `${c.name}-full.png`), await page.screenshot(true));
    },
    SLOW,
  );

  it(
    "seed host: the RTX 3080 alone in group 12 behind its root port, the boot GPU and both findings with fixes, without scrolling",
    async () => {
      const { page } = await openReport(CASES[0]!);
      const inView = await page.evaluate<
        Record<string, { bottom: number; text: string } | null>
      >(`(() => {
      const at = (sel) => { const e = document.querySelector(sel); if (!e) return null;
        const r = e.getBoundingClientRect(); return { bottom: r.bottom, right: r.right, text: e.innerText }; };
      return {
        card: at('[data-candidate="0000:01:00"]'),
        fn0: at('[data-candidate="0000:01:00"] li[data-address="0000:01:00.0"]'),
        fn1: at('[data-candidate="0000:01:00"] li[data-address="0000:01:00.1"]'),
        bootGpu: at('[data-candidate="0000:10:00"] li[data-address="0000:10:00.0"]'),
        wildcard: at('li[data-id="modprobe.wildcard"]'),
        pending: at('li[data-id="cmdline.pending"]'),
      };
    })()`);
      for (const [k, v] of Object.entries(inView)) {
        expect(v, k).not.toBeNull();
        expect(v!.bottom, `${k} below the fold`).toBeLessThanOrEqual(LAPTOP.height);
      }
      expect(inView.card!.text).toMatch(/00:01\.1 root port \(ACS\)/);
      expect(inView.card!.text).toMatch(/group 12 · passable/);
      expect(inView.card!.text.match(/0000:01:00\.\d|01:00\.\d/g)).toEqual(["01:00.0", "01:00.1"]);
      expect(inView.bootGpu!.text).toContain("boot GPU");
      expect(inView.wildcard!.text).toMatch(/fix: name each module/);
      expect(inView.pending!.text).toMatch(/fix: update-grub, then reboot/);
      expect(page.problems()).toEqual([]);
      fs.writeFileSync(path.join(ARTIFACTS, "seed-host-laptop.png"), await page.screenshot());
    },
    SLOW,
  );

  it(
    "server: search by vendor:device id shows only the groups holding a match",
    async () => {
      const { page } = await openReport(CASES[3]!);
      const state = CASES[3]!.state();
      const want = state.pci.filter((d) => `${d.vendorId}:${d.deviceId}` === "10de:2206").length;
      expect(want).toBeGreaterThan(0);
      const r = await page.evaluate<{ hits: number; visible: number; status: string }>(`(() => {
      const input = document.getElementById("search");
      input.value = "10de:2206";
      input.dispatchEvent(new Event("input"));
      return { hits: document.querySelectorAll("#topology li.hit").length,
        visible: [...document.querySelectorAll("#topology details.box:not(.hidden)")]
          .filter((b) => !b.querySelector(":scope li.hit")).length,
        status: document.getElementById("search-status").textContent };
    })()`);
      expect(r.hits).toBe(want);
      expect(r.visible).toBe(0);
      expect(r.status).toBe(`${want} function${want === 1 ? "" : "s"} match`);
      expect(page.problems()).toEqual([]);
      await page.evaluate(`document.getElementById("topology-title").scrollIntoView()`);
      fs.writeFileSync(path.join(ARTIFACTS, "server-search.png"), await page.screenshot());
    },
    SLOW,
  );
});
