// Small DOM helpers over @xmldom/xmldom for libvirt domain XML: parse with one-line errors,
// find/create children, and keep the two-space indentation `virsh dumpxml` uses when elements
// are added or removed (so the diff shows only what changed). XML is only ever built through
// the DOM, never by string concatenation.

import type * as Xmldom from "@xmldom/xmldom";
import type { Document, Element, Node } from "@xmldom/xmldom";
import { InputError } from "../../errors.js";

// Loaded on first use, not at start-up: evaluating the library costs ~17 ms of every run's
// cold start (BENCHMARKS.md), and only the libvirt commands need it.
let xmldom: typeof Xmldom | null = null;
function lib(): typeof Xmldom {
  return (xmldom ??= require("@xmldom/xmldom") as typeof Xmldom);
}

const ELEMENT_NODE = 1;
const TEXT_NODE = 3;

export function parseXml(text: string, what: string): Document {
  const parser = new (lib().DOMParser)({
    onError: (level: string, message: string) => {
      if (level !== "warning")
        throw new InputError(`${what} is not well-formed XML: ${message.split("\n")[0]}`);
    },
  });
  try {
    return parser.parseFromString(text, "text/xml");
  } catch (err) {
    if (err instanceof InputError) throw err;
    throw new InputError(
      `${what} is not well-formed XML: ${(err as Error).message.split("\n")[0]}`,
    );
  }
}

export function serializeXml(doc: Document): string {
  const s = new (lib().XMLSerializer)().serializeToString(doc);
  return s.endsWith("\n") ? s : `${s}\n`;
}

export function newDocument(rootName: string): Document {
  return new (lib().DOMImplementation)().createDocument(null, rootName, null);
}

export function childElements(parent: Node, name?: string): Element[] {
  const out: Element[] = [];
  for (let n = parent.firstChild; n; n = n.nextSibling) {
    if (n.nodeType === ELEMENT_NODE && (name === undefined || n.nodeName === name))
      out.push(n as Element);
  }
  return out;
}

export function child(parent: Node, name: string): Element | null {
  return childElements(parent, name)[0] ?? null;
}

/** Whitespace before `el` on its own line ("    " for a child of <devices>). */
function indentOf(el: Node): string {
  const prev = el.previousSibling;
  if (prev && prev.nodeType === TEXT_NODE) {
    const m = /\n([ \t]*)$/.exec(prev.nodeValue ?? "");
    if (m) return m[1]!;
  }
  return "";
}

/** Parent indentation + two spaces: libvirt's layout. */
function childIndent(parent: Element): string {
  const existing = childElements(parent)[0];
  if (existing) {
    const i = indentOf(existing);
    if (i !== "" || existing.previousSibling) return i;
  }
  return `${indentOf(parent)}  `;
}

/** Indent a freshly built subtree (elements without text content get one child per line). */
function indentSubtree(el: Element, indent: string): void {
  const kids = childElements(el);
  if (kids.length === 0) return;
  const doc = el.ownerDocument!;
  for (const k of kids) {
    el.insertBefore(doc.createTextNode(`\n${indent}  `), k);
    indentSubtree(k, `${indent}  `);
  }
  el.appendChild(doc.createTextNode(`\n${indent}`));
}

/**
 * Append `el` as the last child of `parent` (or before `before`), on its own indented line.
 * Works for parents that had no children (`<features/>`) and for pretty-printed ones.
 */
export function insertIndented(
  parent: Element,
  el: Element,
  before: Element | null = null,
): Element {
  const doc = parent.ownerDocument!;
  const indent = childIndent(parent);
  const parentIndent = indentOf(parent);
  indentSubtree(el, indent);
  const kids = childElements(parent);
  if (kids.length === 0) {
    // Drop whitespace-only text, then lay out: \n<indent><el>\n<parentIndent></parent>
    for (let n = parent.firstChild; n;) {
      const next = n.nextSibling;
      if (n.nodeType === TEXT_NODE && /^\s*$/.test(n.nodeValue ?? "")) parent.removeChild(n);
      n = next;
    }
    parent.appendChild(doc.createTextNode(`\n${indent}`));
    parent.appendChild(el);
    parent.appendChild(doc.createTextNode(`\n${parentIndent}`));
    return el;
  }
  const anchor = before ?? null;
  if (anchor) {
    parent.insertBefore(el, anchor);
    parent.insertBefore(doc.createTextNode(`\n${indent}`), anchor);
    return el;
  }
  const last = kids[kids.length - 1]!;
  const after = last.nextSibling;
  parent.insertBefore(doc.createTextNode(`\n${indent}`), after);
  parent.insertBefore(el, after);
  return el;
}

/** Remove an element and the indentation before it. */
export function removeIndented(el: Element): void {
  const parent = el.parentNode;
  if (!parent) return;
  const prev = el.previousSibling;
  if (prev && prev.nodeType === TEXT_NODE && /^\s*$/.test(prev.nodeValue ?? ""))
    parent.removeChild(prev);
  parent.removeChild(el);
}

/** Build an element: attributes (undefined ones skipped), then children or text. */
export function el(
  doc: Document,
  name: string,
  attrs: Record<string, string | undefined> = {},
  ...children: Array<Element | string>
): Element {
  const e = doc.createElement(name);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined) e.setAttribute(k, v);
  for (const c of children) e.appendChild(typeof c === "string" ? doc.createTextNode(c) : c);
  return e;
}

/** The existing child `name`, or a new one inserted (indented) at the end / before `before`. */
export function ensureChild(parent: Element, name: string, before: Element | null = null): Element {
  return child(parent, name) ?? insertIndented(parent, el(parent.ownerDocument!, name), before);
}

export function textOf(e: Element | null): string | null {
  if (!e) return null;
  return (e.textContent ?? "").trim();
}

/** Replace an element's text content. */
export function setText(e: Element, text: string): void {
  while (e.firstChild) e.removeChild(e.firstChild);
  e.appendChild(e.ownerDocument!.createTextNode(text));
}

/** Pretty layout for a whole document built from scratch. */
export function indentDocument(doc: Document): void {
  indentSubtree(doc.documentElement!, "");
}
