// An argv as a person would type it back into a POSIX shell: words that need no quoting stay
// bare, the rest go in single quotes ('\'' for a quote inside). Display only: commands are
// always run as argv arrays, never through a shell.

export function quoteArgv(argv: readonly string[]): string {
  return argv
    .map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`))
    .join(" ");
}
