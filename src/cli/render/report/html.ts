// HTML built so that host data can never become markup. Everything the report shows comes
// from the host (device names from pci.ids, file lines, journal output): untrusted text. The
// only way to make markup is the `html` template tag, which escapes every interpolated value
// unless it is itself `Html` made by this module; plain strings are always text.

/** A piece of markup this module vouches for. */
export class Html {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

const ENTITIES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};

/**
 * Text for an HTML text node or a quoted attribute value. C0 controls other than tab and
 * newline, DEL and the C1 controls are shown as \u00XX like the terminal shows them (an HTML
 * parser would drop or substitute them, hiding what the file really holds).
 */
export function escapeText(text: string): string {
  return text
    .replace(/[&<>"']/g, (c) => ENTITIES[c]!)
    .replace(
      // eslint-disable-next-line no-control-regex
      /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g,
      (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
    );
}

export type HtmlValue = Html | string | number | null | undefined | false | readonly HtmlValue[];

function render(v: HtmlValue): string {
  if (v === null || v === undefined || v === false) return "";
  if (v instanceof Html) return v.value;
  if (Array.isArray(v)) return (v as readonly HtmlValue[]).map(render).join("");
  return escapeText(String(v));
}

/** Markup with every interpolation escaped (arrays are joined, null/false/undefined vanish). */
export function html(strings: TemplateStringsArray, ...values: HtmlValue[]): Html {
  let out = strings[0]!;
  for (let i = 0; i < values.length; i++) out += render(values[i]!) + strings[i + 1]!;
  return new Html(out);
}

/** Markup from a constant of this program (the style sheet, the script): never host data. */
export function trusted(constant: string): Html {
  return new Html(constant);
}

/** A class list from fixed words; words are checked, so host data cannot reach it unnoticed. */
export function classes(...words: Array<string | false | null | undefined>): string {
  const list = words.filter((w): w is string => typeof w === "string" && w !== "");
  for (const w of list)
    if (!/^[a-z][a-z0-9-]*$/.test(w)) throw new Error(`not a class name: ${JSON.stringify(w)}`);
  return list.join(" ");
}
