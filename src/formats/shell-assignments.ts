// /etc/default/grub and /etc/default/grub.d/*.cfg are shell fragments that grub-mkconfig
// sources in order. We understand the subset people write: NAME=value lines (optionally
// `export`ed) with '...', "..." and unquoted words, and $NAME / ${NAME} expansion. Anything
// else (if-blocks, commands) is reported as unsupported, never executed.

export interface ValuePiece {
  kind: "literal" | "variable";
  text: string;
}

export interface ShellAssignment {
  file: string;
  /** 1-based line number. */
  line: number;
  name: string;
  /** The value exactly as written (quotes included). */
  rawValue: string;
  pieces: ValuePiece[];
  /** Column range of rawValue within the line. */
  valueStart: number;
  valueEnd: number;
}

export interface ParsedShellFile {
  file: string;
  lines: string[];
  assignments: ShellAssignment[];
  /** Lines we did not understand (and so could not take into account). */
  unsupported: Array<{ line: number; text: string }>;
}

const ASSIGN = /^(\s*)(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=/;

export function parseShellFile(file: string, text: string): ParsedShellFile {
  const lines = text.split("\n");
  const assignments: ShellAssignment[] = [];
  const unsupported: Array<{ line: number; text: string }> = [];
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i]!;
    const trimmed = l.trim();
    if (trimmed === "" || trimmed.startsWith("#")) continue;
    const m = ASSIGN.exec(l);
    if (!m) {
      unsupported.push({ line: i + 1, text: l });
      continue;
    }
    const valueStart = m[0].length;
    const parsed = parseWord(l, valueStart);
    if (parsed === null) {
      unsupported.push({ line: i + 1, text: l });
      continue;
    }
    const rest = l.slice(parsed.end).trim();
    if (rest !== "" && !rest.startsWith("#") && rest !== ";") {
      unsupported.push({ line: i + 1, text: l });
      continue;
    }
    assignments.push({
      file,
      line: i + 1,
      name: m[2]!,
      rawValue: l.slice(valueStart, parsed.end),
      pieces: parsed.pieces,
      valueStart,
      valueEnd: parsed.end,
    });
  }
  return { file, lines, assignments, unsupported };
}

/** Parse one shell word starting at `pos`; null when quoting is unbalanced. */
function parseWord(s: string, pos: number): { pieces: ValuePiece[]; end: number } | null {
  const pieces: ValuePiece[] = [];
  let lit = "";
  const flush = () => {
    if (lit) pieces.push({ kind: "literal", text: lit });
    lit = "";
  };
  /** "$NAME" / "${NAME}" at i becomes a variable piece; a lone "$" stays literal. Returns the next index. */
  const expandAt = (at: number): number => {
    const v = readVar(s, at);
    if (!v) {
      lit += "$";
      return at + 1;
    }
    flush();
    pieces.push({ kind: "variable", text: v.name });
    return v.end;
  };
  let i = pos;
  while (i < s.length) {
    const c = s[i]!;
    if (c === " " || c === "\t" || c === ";") break;
    if (c === "'") {
      const close = s.indexOf("'", i + 1);
      if (close === -1) return null;
      lit += s.slice(i + 1, close);
      i = close + 1;
    } else if (c === '"') {
      i++;
      let closed = false;
      while (i < s.length) {
        const d = s[i]!;
        if (d === '"') {
          closed = true;
          i++;
          break;
        }
        if (d === "\\" && i + 1 < s.length && '$`"\\'.includes(s[i + 1]!)) {
          lit += s[i + 1];
          i += 2;
        } else if (d === "$") {
          i = expandAt(i);
        } else {
          lit += d;
          i++;
        }
      }
      if (!closed) return null;
    } else if (c === "\\" && i + 1 < s.length) {
      lit += s[i + 1];
      i += 2;
    } else if (c === "$") {
      i = expandAt(i);
    } else if (c === "`" || c === "(" || c === ")") {
      return null; // command substitution or subshell: not a plain value
    } else {
      lit += c;
      i++;
    }
  }
  flush();
  return { pieces, end: i };
}

function readVar(s: string, i: number): { name: string; end: number } | null {
  if (s[i + 1] === "{") {
    const close = s.indexOf("}", i + 2);
    if (close === -1) return null;
    const name = s.slice(i + 2, close);
    return /^[A-Za-z_][A-Za-z0-9_]*$/.test(name) ? { name, end: close + 1 } : null;
  }
  const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(s.slice(i + 1));
  return m ? { name: m[0], end: i + 1 + m[0].length } : null;
}

export function evaluatePieces(
  pieces: readonly ValuePiece[],
  env: Readonly<Record<string, string>>,
): string {
  return pieces.map((p) => (p.kind === "literal" ? p.text : (env[p.text] ?? ""))).join("");
}

/** Source files in order, like grub-mkconfig does, and return the final variables. */
export function evaluateShellFiles(files: readonly ParsedShellFile[]): {
  vars: Record<string, string>;
  /** For each variable, the assignments that contributed, in order. */
  history: Record<string, ShellAssignment[]>;
} {
  const vars: Record<string, string> = {};
  const history: Record<string, ShellAssignment[]> = {};
  for (const f of files) {
    for (const a of f.assignments) {
      vars[a.name] = evaluatePieces(a.pieces, vars);
      (history[a.name] ??= []).push(a);
    }
  }
  return { vars, history };
}

/** Quote a value for a double-quoted shell string. */
export function shellDoubleQuote(value: string): string {
  return `"${value.replace(/(["\\$`])/g, "\\$1")}"`;
}

/**
 * Replace the value of one assignment in a file's text, keeping every other byte.
 * The new value is written double-quoted.
 */
export function replaceAssignmentValue(text: string, a: ShellAssignment, newValue: string): string {
  const lines = text.split("\n");
  const l = lines[a.line - 1];
  if (l === undefined) throw new Error(`line ${a.line} not found in ${a.file}`);
  lines[a.line - 1] = l.slice(0, a.valueStart) + shellDoubleQuote(newValue) + l.slice(a.valueEnd);
  return lines.join("\n");
}
