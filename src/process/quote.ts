// Shell quoting, for commands shown to people (plans, journals, errors, "Next:" lines) and for
// values in the bash scripts `guest setup` writes. We never run a string through a shell:
// this only makes what is printed paste back as the same argv. Inside single quotes bash takes
// every character literally; a single quote itself ends the quoting, is escaped, and reopens
// it (bash(1), QUOTING).

/** Characters no shell treats specially: such a word needs no quotes. */
const PLAIN = /^[A-Za-z0-9_@%+=:,./-]+$/;

/** Always single-quoted: the word reaches the command as it is, whatever it holds. */
export function singleQuote(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/** Bare when only plain characters, else single-quoted. */
export function quoteWord(word: string): string {
  return PLAIN.test(word) ? word : singleQuote(word);
}

/** "qm set 100 --name 'my vm'": an argv as one line a shell reads back as the same argv. */
export function quoteArgv(argv: readonly string[]): string {
  return argv.map(quoteWord).join(" ");
}
