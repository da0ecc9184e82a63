// The report's pieces without a browser: markup that host data cannot break out of, the
// terminal colours as spans, the topology model of the seed host (group 12 alone behind its
// root port, the boot GPU host-critical), and the page holding every function and group.

import { describe, expect, it } from "vitest";
import { runChecks } from "../../src/checks/run-checks.js";
import { classes, html } from "../../src/cli/render/report/html.js";
import { renderReportPage } from "../../src/cli/render/report/page.js";
import { terminalLineHtml } from "../../src/cli/render/report/terminal-html.js";
import { buildTopology, type TopoBox } from "../../src/cli/render/report/topology.js";
import * as path from "node:path";
import { openSnapshot } from "../../src/host/open-root.js";
import { readHostState } from "../../src/host/read-host.js";
import type { HostState } from "../../src/host/types.js";
import { REPO, fixtureState } from "../helpers/fixtures.js";

/** The README's example host (examples/seed-host.tar.gz): the seed guide's machine. */
function exampleHost(): HostState {
  const { root, manifest } = openSnapshot(path.join(REPO, "examples/seed-host.tar.gz"));
  return readHostState(root, { manifest, systemPciIds: false });
}

function allBoxes(boxes: readonly TopoBox[]): TopoBox[] {
  return boxes.flatMap((b) => [b, ...allBoxes(b.children.map((c) => c.box))]);
}

function page(state: HostState): string {
  const check = runChecks(state, null);
  return renderReportPage({
    state,
    check,
    sections: [],
    version: "test",
    generatedAt: "2026-01-01T00:00:00Z",
  });
}

describe("html", () => {
  it("escapes every interpolated value, arrays included", () => {
    const evil = `<img src=x onerror="alert(1)">&'`;
    expect(html`<p title="${evil}">${[evil, 1]}</p>`.value).toBe(
      `<p title="&lt;img src=x onerror=&quot;alert(1)&quot;&gt;&amp;&#39;">&lt;img src=x onerror=&quot;alert(1)&quot;&gt;&amp;&#39;1</p>`,
    );
  });

  it("shows control characters as \\u00XX instead of passing them on", () => {
    expect(html`${"a\u0007b\u009bc"}`.value).toBe("a\\u0007b\\u009bc");
  });

  it("refuses a class name that is not a fixed word", () => {
    expect(classes("box", false, "v-passable")).toBe("box v-passable");
    expect(() => classes(`x" onclick="y`)).toThrow(/not a class name/);
  });
});

describe("terminal text", () => {
  it("turns SGR colours into balanced spans and escapes the text between them", () => {
    expect(terminalLineHtml("\u001b[31m<FAIL>\u001b[39m ok")).toBe(
      `<span class="t-red">&lt;FAIL&gt;</span> ok`,
    );
    expect(terminalLineHtml("\u001b[1m\u001b[32mx")).toBe(
      `<span class="t-bold"><span class="t-green">x</span></span>`,
    );
  });

  it("never lets another escape sequence through", () => {
    const out = terminalLineHtml("a\u001b]52;c;ZXZpbA==\u0007b");
    expect(out).not.toContain("\u001b");
    expect(out).toContain("\\u001b]52");
  });
});

describe("topology of the example host", () => {
  const state = exampleHost();
  const check = runChecks(state, null);
  const buses = buildTopology(state, check.candidates, check.targets);
  const boxes = allBoxes(buses.flatMap((b) => b.boxes));

  it("draws group 12 with the RTX 3080's two functions alone, behind root port 00:01.1", () => {
    const g12 = boxes.filter((b) => b.group === 12);
    expect(g12).toHaveLength(1);
    expect(g12[0]!.members.map((m) => m.address)).toEqual(["0000:01:00.0", "0000:01:00.1"]);
    expect(g12[0]!.verdict).toBe("passable");
    const parent = boxes.find((b) => b.children.some((c) => c.box === g12[0]));
    expect(parent?.children.find((c) => c.box === g12[0])?.below).toBe("0000:00:01.1");
    const port = parent!.members.find((m) => m.address === "0000:00:01.1")!;
    expect(port.port).toEqual({ role: "root port", acs: true });
  });

  it("marks the boot GPU, the root disk controller and the management NIC host-critical", () => {
    const fn = (a: string) => boxes.flatMap((b) => b.members).find((m) => m.address === a)!;
    expect(fn("0000:10:00.0").notes).toContain("boot GPU");
    expect(fn("0000:10:00.0").verdict).toBe("critical");
    expect(fn("0000:02:00.0").verdict).toBe("critical");
    expect(fn("0000:08:00.0").verdict).toBe("critical");
    expect(fn("0000:01:00.0").notes).toEqual(["VM 100"]);
  });

  it("holds every function exactly once", () => {
    const members = boxes.flatMap((b) => b.members.map((m) => m.address)).sort();
    expect(members).toEqual(state.pci.map((d) => d.address).sort());
    expect(buses.reduce((n, b) => n + b.functions, 0)).toBe(state.pci.length);
  });
});

describe("the page", () => {
  it("draws every function and every group, and loads nothing from elsewhere", () => {
    const state = fixtureState("intel-shared-group");
    const out = page(state);
    for (const d of state.pci) expect(out).toContain(`data-address="${d.address}"`);
    for (const g of state.iommu.groups) expect(out).toContain(`data-group="${g.id}"`);
    // Group 7: chipset ports without ACS, the GPU behind one and the NIC carrying the default
    // route behind another: one box, host-critical; the GPU's functions share it.
    const g7 = out.match(/<details\s+class="box v-critical"\s+data-group="7"[\s\S]*?<\/ul>/)?.[0];
    for (const a of ["0000:02:00.0", "0000:03:00.0", "0000:04:00.0", "0000:04:00.3"])
      expect(g7).toContain(`data-address="${a}"`);
    expect(out.match(/data-group="7"/g)).toHaveLength(1);
    expect(out).not.toMatch(/<(link|img|iframe)\b|\bsrc=|@import|url\(/i);
  });

  it("keeps a hostile device name as text", () => {
    const state = exampleHost();
    state.pci[0]!.deviceName = `</style><script>alert(1)</script>`;
    state.system.hostname = `<b>x</b>`;
    const out = page(state);
    expect(out).not.toContain("<script>alert");
    expect(out).toContain("&lt;/style&gt;&lt;script&gt;alert(1)&lt;/script&gt;");
    expect(out).toContain("passthrough report — &lt;b&gt;x&lt;/b&gt;");
    expect(out.match(/<script>/g)).toHaveLength(1);
  });
});
