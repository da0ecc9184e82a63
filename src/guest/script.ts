// Renders the guest steps (steps.ts) as one bash script. Every step runs through `run_step`:
// check first (nothing to do -> "ok"), guard (cannot run here -> "skip" with the reason), else
// apply and check again (a step whose check still fails stops the script). So a second run
// changes nothing and says so: "changed: 0".
//
// The script only uses what a minimal Debian/Ubuntu has (bash, coreutils, grep, awk, dpkg,
// apt-get) plus curl for the two vendor downloads (installed first when missing).

import { singleQuote } from "../process/quote.js";
import { buildSteps, stepConstants, type GuestSetupOptions, type GuestStep } from "./steps.js";

export interface ScriptMeta {
  version: string;
  /** The command line that made it, secrets excluded (for the header). */
  command: string;
}

const HELPERS = `say() { printf '%s\\n' "$*"; }

on_error() {
  say "passthrough: step \\"$PT_STEP\\" failed (line $1); fix the cause above and run this script again: finished steps are skipped" >&2
}
trap 'on_error "$LINENO"' ERR

# dpkg's own answer: the package is installed and configured (not just known, or removed with
# its configuration left behind).
is_installed() {
  [ "$(dpkg-query -W -f='\${Status}' "$1" 2>/dev/null)" = "install ok installed" ]
}

all_installed() {
  local p
  for p in "$@"; do is_installed "$p" || return 1; done
}

nvidia_driver_installed() {
  dpkg-query -W -f='\${Package} \${Status}\\n' 'nvidia-driver-*' 2>/dev/null | grep ' install ok installed$' >/dev/null
}

apt_refresh() {
  if [ "$PT_APT_FRESH" = 0 ]; then
    apt-get update -q
    PT_APT_FRESH=1
  fi
}

apt_install() {
  apt_refresh
  apt-get install -y -q "$@"
}

# write_file PATH MODE CONTENT: atomically (temporary file in the same folder, then rename).
write_file() {
  local tmp
  tmp=$(mktemp "$1.passthrough.XXXXXX")
  printf '%s' "$3" >"$tmp"
  chmod "$2" "$tmp"
  mv -f "$tmp" "$1"
}

user_home() {
  getent passwd "$1" | cut -d: -f6
}

# The Debian archive entries (sources.list one-line format, or deb822 stanzas) need the
# components the GPU packages live in: add the missing ones to every entry for this release
# that has "main".
debian_components_edit() {
  # Two passes over the file: the first finds the deb822 stanzas for this release (their
  # Suites: line may come before or after Components:), the second edits.
  awk -v comps="$PT_DEBIAN_COMPONENTS" -v suite="$PT_CODENAME" '
    function add(line,   n, c, i) {
      n = split(comps, c, " ")
      for (i = 1; i <= n; i++) if (line !~ ("[[:space:]]" c[i] "([[:space:]]|$)")) line = line " " c[i]
      return line
    }
    FNR == 1 { stanza = 0; pass++ }
    /^[[:space:]]*$/ { stanza++ }
    pass == 1 { if ($0 ~ /^[[:space:]]*Suites:/ && $0 ~ ("[[:space:]]" suite "(-[a-z]+)?([[:space:]]|$)")) ours[stanza] = 1; next }
    /^[[:space:]]*Components:/ && (stanza in ours) && /[[:space:]]main([[:space:]]|$)/ { $0 = add($0) }
    /^[[:space:]]*deb(-src)?[[:space:]]/ && $0 ~ ("[[:space:]]" suite "(-[a-z]+)?[[:space:]]") && /[[:space:]]main([[:space:]]|$)/ { $0 = add($0) }
    { print }
  ' "$1" "$1"
}

# Debian's own files only (the installer's sources.list, the deb822 debian.sources of newer
# installs and cloud images), never a third-party list such as tailscale.list.
PT_DEBIAN_SOURCES=(/etc/apt/sources.list /etc/apt/sources.list.d/debian.sources)

debian_components_missing() {
  local f
  for f in "\${PT_DEBIAN_SOURCES[@]}"; do
    if [ -s "$f" ] && ! debian_components_edit "$f" | cmp -s - "$f"; then return 0; fi
  done
  return 1
}

debian_components_add() {
  local f
  for f in "\${PT_DEBIAN_SOURCES[@]}"; do
    if [ -s "$f" ] && ! debian_components_edit "$f" | cmp -s - "$f"; then
      write_file "$f" "$(stat -c %a "$f")" "$(debian_components_edit "$f")
"
    fi
  done
}

# run_step TITLE NAME: check_NAME passes -> ok; guard_NAME fails -> skip (it printed why);
# else apply_NAME, and check_NAME must pass afterwards.
run_step() {
  local reason
  PT_STEP=$1
  if "check_$2"; then
    say "  ok       $1"
    PT_OK=$((PT_OK + 1))
    return 0
  fi
  if declare -F "guard_$2" >/dev/null && ! reason=$("guard_$2"); then
    say "  skip     $1: $reason"
    PT_SKIPPED=$((PT_SKIPPED + 1))
    return 0
  fi
  say "  change   $1"
  "apply_$2"
  if ! "check_$2"; then
    say "passthrough: step \\"$1\\" ran, but its check still fails" >&2
    exit 1
  fi
  PT_CHANGED=$((PT_CHANGED + 1))
  if [ -n "\${3:-}" ]; then PT_NOTES+=("$3"); fi
}`;

function fn(name: string, body: string[]): string {
  return [`${name}() {`, ...body.map((l) => (l === "" ? "" : `  ${l}`)), "}"].join("\n");
}

/** The bootstrap script, for the distro and options given. */
export function renderScript(o: GuestSetupOptions, meta: ScriptMeta): string {
  const steps = buildSteps(o);
  const d = o.distro;
  const what = [
    o.ssh && "ssh",
    o.tailscale && "tailscale",
    o.gpu && `gpu driver (${o.gpu.vendor}: ${o.gpu.description})`,
    o.streaming,
  ]
    .filter(Boolean)
    .join(", ");
  const out: string[] = [];
  out.push(
    "#!/usr/bin/env bash",
    `# passthrough guest setup for ${d.name}: ${what}.`,
    `# Generated by passthrough ${meta.version}: ${meta.command}`,
    "#",
    "# Run it as root inside the VM:  sudo bash guest-setup.sh",
    "# Safe to run again: every step checks first and only acts when needed; a second run says",
    '# "changed: 0".',
  );
  if (o.tailscale) {
    out.push(
      "# Tailscale auth key, read at run time and never put on a command line:",
      "#   TS_AUTHKEY_FILE=/path/to/key  (a file holding the key), or TS_AUTHKEY=<key> in the environment",
      "#   e.g.  sudo TS_AUTHKEY_FILE=/root/ts.key bash guest-setup.sh",
    );
    if (o.tailscale.embeddedKey)
      out.push(
        "# This file embeds a Tailscale auth key (--embed-secrets): keep it private, delete it after use.",
      );
  }
  out.push(
    "set -Eeuo pipefail",
    "umask 022",
    "export DEBIAN_FRONTEND=noninteractive LC_ALL=C",
    "",
    "PT_CHANGED=0 PT_OK=0 PT_SKIPPED=0 PT_STEP=preflight PT_APT_FRESH=0",
    "PT_NOTES=()",
    `PT_TARGET=${singleQuote(d.id)}`,
    `PT_CODENAME=${singleQuote(d.codename)}`,
    `PT_USER=\${PT_USER:-${o.user ? singleQuote(o.user) : "${SUDO_USER:-root}"}}`,
  );
  if (o.tailscale?.keyFile)
    out.push(`TS_AUTHKEY_FILE=\${TS_AUTHKEY_FILE:-${singleQuote(o.tailscale.keyFile)}}`);
  for (const [name, value] of stepConstants(o)) {
    // Key comments may hold "$" or backticks: they are literal text, single quotes are the point.
    if (name === "PT_SSH_KEYS") out.push("# shellcheck disable=SC2016");
    out.push(`${name}=${value}`);
  }
  out.push("", HELPERS, "");

  for (const s of steps) out.push(...renderStep(s), "");

  out.push(
    fn("preflight", [
      'if [ "$(id -u)" != 0 ]; then say "passthrough: run this as root: sudo bash $0" >&2; exit 1; fi',
      "local id version",
      // shellcheck cannot follow a file that exists only on the guest.
      "# shellcheck disable=SC1091",
      "id=$(. /etc/os-release && printf '%s' \"$ID\")",
      "# shellcheck disable=SC1091",
      "version=$(. /etc/os-release && printf '%s' \"${VERSION_ID:-}\")",
      'if [ "$id:$version" != "$PT_TARGET" ]; then',
      '  say "passthrough: this script is for $PT_TARGET, but this system is $id:$version; generate one with: passthrough guest setup --distro $id:$version ..." >&2',
      "  exit 1",
      "fi",
      ...(o.ssh?.keys.length || o.streaming
        ? [
            'if ! getent passwd "$PT_USER" >/dev/null; then say "passthrough: user $PT_USER does not exist; create it, or rerun with PT_USER=NAME" >&2; exit 1; fi',
          ]
        : []),
      ...(o.tailscale || o.streaming
        ? [
            "if ! command -v curl >/dev/null; then",
            '  say "  change   curl is installed (for the vendor downloads)"',
            "  apt_install curl ca-certificates",
            "fi",
          ]
        : []),
    ]),
    "",
    `say "passthrough guest setup: ${d.name}"`,
    "preflight",
  );
  for (const s of steps)
    out.push(`run_step ${withUser(s.title)} ${s.id}${s.note ? ` ${withUser(s.note)}` : ""}`);
  out.push(
    "PT_STEP=summary",
    'say ""',
    'say "changed: $PT_CHANGED, already done: $PT_OK, skipped: $PT_SKIPPED"',
    'for note in "${PT_NOTES[@]}"; do say "next: $note"; done',
    "",
  );
  return out.join("\n");
}

/** Quoted for bash, with $PT_USER left to expand (a title names the user the step is for). */
function withUser(text: string): string {
  return text
    .split("$PT_USER")
    .map((part) => (part === "" ? "" : singleQuote(part)))
    .join('"$PT_USER"');
}

function renderStep(s: GuestStep): string[] {
  const lines = [`# ${s.title}`, fn(`check_${s.id}`, s.check)];
  if (s.guard) lines.push(fn(`guard_${s.id}`, s.guard));
  lines.push(fn(`apply_${s.id}`, s.apply));
  return lines;
}

export { buildSteps };
