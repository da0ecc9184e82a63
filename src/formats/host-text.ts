// Text of host files, kept byte-exact whatever their encoding. Configuration files are mostly
// UTF-8, but a Latin-1 comment in /etc/modprobe.d/blacklist.conf is not rare. Decoding such a
// file the usual way replaces the byte with U+FFFD, so the text the planner edits no longer
// encodes to the bytes on disk: apply then sees "changed since the plan" on every try. Here
// each byte that is not part of valid UTF-8 becomes the lone surrogate U+DC80 + byte (the
// "surrogateescape" scheme of Python's PEP 383), which no valid UTF-8 decodes to, and encoding
// turns it back into that byte. Untouched lines therefore keep their exact bytes.

const ESCAPE_BASE = 0xdc00;
// A lone one: the same code unit is also the second half of a valid character's surrogate pair
// (U+10880 is D802 DC80), and those are text, not escapes.
const ESCAPED = /(?<![\ud800-\udbff])[\udc80-\udcff]/;
const ESCAPED_ALL = /(?<![\ud800-\udbff])[\udc80-\udcff]/g;

/** Bytes -> text; bytes that are not valid UTF-8 become U+DC80..U+DCFF. */
export function decodeHostText(bytes: Uint8Array): string {
  const fast = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("utf8");
  // U+FFFD appears when a byte was invalid (or the file holds U+FFFD itself): decode exactly.
  return fast.includes("\ufffd") ? decodeExactly(bytes) : fast;
}

/** Text -> bytes, the inverse of decodeHostText. */
export function encodeHostText(text: string): Buffer {
  if (!ESCAPED.test(text)) return Buffer.from(text, "utf8");
  const parts: Buffer[] = [];
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0xdc80 || c > 0xdcff) continue;
    const before = i > 0 ? text.charCodeAt(i - 1) : 0;
    if (before >= 0xd800 && before <= 0xdbff) continue;
    parts.push(Buffer.from(text.slice(start, i), "utf8"), Buffer.of(c - ESCAPE_BASE));
    start = i + 1;
  }
  parts.push(Buffer.from(text.slice(start), "utf8"));
  return Buffer.concat(parts);
}

/** Bytes `text` takes on disk. */
export function hostTextBytes(text: string): number {
  return ESCAPED.test(text) ? encodeHostText(text).length : Buffer.byteLength(text, "utf8");
}

/** For display: each undecodable byte as `\xNN` instead of the replacement character. */
export function showUndecodable(text: string): string {
  return text.replace(
    ESCAPED_ALL,
    (m) => `\\x${(m.charCodeAt(0) - ESCAPE_BASE).toString(16).padStart(2, "0")}`,
  );
}

function decodeExactly(bytes: Uint8Array): string {
  let out = "";
  let i = 0;
  while (i < bytes.length) {
    const n = validSequenceLength(bytes, i);
    if (n === 0) {
      out += String.fromCharCode(ESCAPE_BASE + bytes[i]!);
      i++;
    } else {
      out += Buffer.from(bytes.subarray(i, i + n)).toString("utf8");
      i += n;
    }
  }
  return out;
}

/** Length of the well-formed UTF-8 sequence at `i` (RFC 3629, Table 3-7 of Unicode), or 0. */
function validSequenceLength(b: Uint8Array, i: number): number {
  const lead = b[i]!;
  if (lead < 0x80) return 1;
  const cont = (k: number, lo = 0x80, hi = 0xbf) => {
    const v = b[i + k];
    return v !== undefined && v >= lo && v <= hi;
  };
  if (lead >= 0xc2 && lead <= 0xdf) return cont(1) ? 2 : 0;
  if (lead >= 0xe0 && lead <= 0xef) {
    const [lo, hi] = lead === 0xe0 ? [0xa0, 0xbf] : lead === 0xed ? [0x80, 0x9f] : [0x80, 0xbf];
    return cont(1, lo, hi) && cont(2) ? 3 : 0;
  }
  if (lead >= 0xf0 && lead <= 0xf4) {
    const [lo, hi] = lead === 0xf0 ? [0x90, 0xbf] : lead === 0xf4 ? [0x80, 0x8f] : [0x80, 0xbf];
    return cont(1, lo, hi) && cont(2) && cont(3) ? 4 : 0;
  }
  return 0;
}
