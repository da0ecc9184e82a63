// Terminal styling: ANSI SGR codes when colour is on, plain text otherwise.

import { showUndecodable } from "../../formats/host-text.js";

export interface Style {
  readonly color: boolean;
  bold(s: string): string;
  dim(s: string): string;
  red(s: string): string;
  green(s: string): string;
  yellow(s: string): string;
  cyan(s: string): string;
}

const sgr = (open: number, close: number) => (s: string) => `\u001b[${open}m${s}\u001b[${close}m`;

export function makeStyle(color: boolean): Style {
  if (!color) {
    const id = (s: string) => s;
    return { color, bold: id, dim: id, red: id, green: id, yellow: id, cyan: id };
  }
  return {
    color,
    bold: sgr(1, 22),
    dim: sgr(2, 22),
    red: sgr(31, 39),
    green: sgr(32, 39),
    yellow: sgr(33, 39),
    cyan: sgr(36, 39),
  };
}

/** Printed width, ignoring ANSI escapes. */
export function visibleWidth(s: string): number {
  // eslint-disable-next-line no-control-regex
  return [...s.replace(/\u001b\[[0-9;]*m/g, "")].length;
}

export function padEnd(s: string, width: number): string {
  const w = visibleWidth(s);
  return w >= width ? s : s + " ".repeat(width - w);
}

// Host data (file contents, VM names, device names from pci.ids) reaches the terminal: a
// control character in it could move the cursor, retitle the window or write to the clipboard
// (OSC 52). Every line is escaped on the way out; our own SGR colour codes are the only
// escape sequences let through, and only when colour is on.
// eslint-disable-next-line no-control-regex
const UNSAFE = /\u001b\[[0-9;]*m|[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g;

/** `text` with every control character but tab and newline shown as \u00XX (valid in JSON strings too). */
export function terminalSafe(text: string, allowSgr: boolean): string {
  return showUndecodable(text).replace(UNSAFE, (m) =>
    m.length > 1
      ? allowSgr
        ? m
        : `\\u001b${m.slice(1)}`
      : `\\u${m.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

/** The widest of these (0 for none), without spreading a long list into arguments. */
export function maxWidth(values: Iterable<number>, floor = 0): number {
  let max = floor;
  for (const v of values) if (v > max) max = v;
  return max;
}
