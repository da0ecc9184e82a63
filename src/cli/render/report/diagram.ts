// The topology as markup: each root bus, its IOMMU groups as boxes (<details>, so a person can
// fold a group away) coloured by verdict, the functions in each with kind, ids, driver and
// notes, and the boxes behind a member nested under it ("behind 00:01.1").

import { classes, html, type Html } from "./html.js";
import type { TopoBox, TopoBus, TopoFunction, Verdict } from "./topology.js";

export const VERDICT_TEXT: Record<Verdict, string> = {
  passable: "passable",
  shared: "shares its group",
  critical: "host-critical",
  host: "stays with the host",
  none: "no IOMMU group",
};

/** The words search matches: address with and without domain, ids, driver, kind, names, notes. */
function searchText(f: TopoFunction): string {
  return [f.address, f.short, f.ids, f.driver ?? "", f.kind, f.title, f.label, ...f.notes]
    .join(" ")
    .toLowerCase();
}

export function functionRow(f: TopoFunction): Html {
  const acs =
    f.port === null
      ? null
      : html`<span
          class="${classes("acs", f.port.acs === true && "yes", f.port.acs === false && "no")}"
          >${f.port.role}${f.port.acs === null ? "" : f.port.acs ? " · ACS" : " · no ACS"}</span
        >`;
  return html`<li
    class="${classes("fn", f.target && "target")}"
    data-address="${f.address}"
    data-search="${searchText(f)}"
    ${f.depth > 0 ? html`style="padding-left:${f.depth * 1.2}rem"` : ""}
  >
    <code class="addr" title="${f.address}">${f.short}</code><span class="kind">${f.kind}</span
    ><code class="ids">${f.ids}</code
    ><span class="drv">${f.driver ?? "no driver"}</span>${acs}${f.notes.map(
      (n) => html`<span class="${classes("note", n.startsWith("VM ") && "vm")}">${n}</span>`,
    )}<span class="label" title="${f.title}">${f.label}</span>
  </li>`;
}

function boxTitle(box: TopoBox): string {
  const n = box.members.length;
  const group = box.group === null ? "no group" : `group ${box.group}`;
  return `${group} · ${n} function${n === 1 ? "" : "s"}`;
}

/** Fold away groups the host keeps and nothing interesting hangs below. */
function startsOpen(box: TopoBox): boolean {
  return box.verdict !== "host" || box.children.some((c) => startsOpen(c.box));
}

export function boxHtml(box: TopoBox): Html {
  const children = box.children.map(
    (c) =>
      html`<div class="via">behind ${c.below.startsWith("0000:") ? c.below.slice(5) : c.below}</div>
        ${boxHtml(c.box)}`,
  );
  return html`<details
    class="${classes("box", `v-${box.verdict}`)}"
    data-group="${box.group ?? "none"}"
    ${startsOpen(box) ? html`open` : ""}
  >
    <summary>${boxTitle(box)} <span class="verdict">${VERDICT_TEXT[box.verdict]}</span></summary>
    <ul class="fns">
      ${box.members.map(functionRow)}
    </ul>
    ${children.length ? html`<div class="below">${children}</div>` : ""}
  </details>`;
}

export function topologyHtml(buses: readonly TopoBus[]): Html {
  return html`${buses.map(
    (b) =>
      html`<section class="bus">
        <h3>Root bus ${b.bus} · ${b.functions} function${b.functions === 1 ? "" : "s"}</h3>
        ${b.boxes.map(boxHtml)}
      </section>`,
  )}`;
}

export function legendHtml(): Html {
  const swatch = (v: Verdict) =>
    html`<span><span class="${classes("sw", "box", `v-${v}`)}"></span>${VERDICT_TEXT[v]}</span>`;
  return html`<p class="legend">
    ${(["passable", "shared", "critical", "host"] as const).map(swatch)}
  </p>`;
}
