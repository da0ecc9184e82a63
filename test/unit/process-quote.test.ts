// Shell quoting (src/process/quote.ts): whatever a word holds, bash reads the quoted form back
// as the same word.
import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { quoteArgv, quoteWord, singleQuote } from "../../src/process/quote.js";

const HOSTILE = [
  "plain",
  "",
  " ",
  "a b",
  "tab\there",
  "new\nline",
  "'",
  "''",
  "it's",
  '"',
  "\\",
  "$HOME",
  "${PATH}",
  "$(id)",
  "`id`",
  "!history",
  "*",
  "?",
  "[a]",
  "{a,b}",
  "~root",
  "a;b",
  "a&&b",
  "a|b",
  "<in",
  ">out",
  "#comment",
  "-n",
  "--",
  "=",
  "\u00e9\u2603",
  "\x01\x7f",
  "'\"'\"$`\\\n",
];

/** What bash makes of `printf '%s\0' WORDS`: the words it received. */
function bashWords(words: string): string[] {
  const out = execFileSync("bash", ["-c", `printf '%s\\0' ${words}`], { encoding: "utf8" });
  return out.split("\0").slice(0, -1);
}

describe("quoteArgv", () => {
  it("round-trips hostile words through bash", () => {
    expect(bashWords(quoteArgv(HOSTILE))).toEqual(HOSTILE);
    expect(bashWords(HOSTILE.map(singleQuote).join(" "))).toEqual(HOSTILE);
  });

  it("leaves plain words bare and quotes the rest", () => {
    expect(quoteArgv(["qm", "set", "100", "--name", "my vm", "--tags", "a;b"])).toBe(
      "qm set 100 --name 'my vm' --tags 'a;b'",
    );
    expect(quoteWord("0000:01:00.0,pcie=1")).toBe("0000:01:00.0,pcie=1");
    expect(quoteWord("")).toBe("''");
    expect(quoteWord("it's")).toBe(`'it'\\''s'`);
    expect(singleQuote("plain")).toBe("'plain'");
  });
});
