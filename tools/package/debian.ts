// The Debian metadata of the .deb, from package.json, the binary itself and node_modules:
// control (Depends on the libc6 version the executable really needs), changelog.Debian and
// the machine-readable copyright file (Debian policy 12.5, DEP-5) with the licences of
// everything the executable embeds.
import { execFileSync } from "node:child_process";
import { readFileSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";

export interface PackageJson {
  name: string;
  version: string;
  description: string;
  license: string;
  author: string;
  dependencies: Record<string, string>;
}

/** Debian's version of this release: the npm version, Debian revision 1 (a non-native package). */
export function debianVersion(npmVersion: string): string {
  // "-" starts the Debian revision and "~" sorts before anything (deb-version(7)): 1.0.0-rc.1 -> 1.0.0~rc.1-1.
  return `${npmVersion.replace(/-/g, "~")}-1`;
}

/**
 * The newest GLIBC_x.y symbol version an ELF file needs (readelf's version-needs section), as
 * the libc6 version to depend on: dpkg then refuses the package where libc6 is older.
 */
export function glibcNeeded(readelfVersionInfo: string): string | null {
  const section = readelfVersionInfo.split(/Version needs section/)[1] ?? "";
  const versions = [...section.matchAll(/Name: GLIBC_(\d+(?:\.\d+)*)/g)].map((m) => m[1]!);
  if (!versions.length) return null;
  const key = (v: string) => v.split(".").map(Number);
  return versions.sort((a, b) => {
    const [x, y] = [key(a), key(b)];
    for (let i = 0; i < Math.max(x.length, y.length); i++)
      if ((x[i] ?? 0) !== (y[i] ?? 0)) return (x[i] ?? 0) - (y[i] ?? 0);
    return 0;
  })[versions.length - 1]!;
}

/** Shared libraries an ELF file loads (its DT_NEEDED entries). */
export function neededLibraries(readelfDynamic: string): string[] {
  return [...readelfDynamic.matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map(
    (m) => m[1]!,
  );
}

/** The libraries glibc itself ships (in libc6): anything else would need its own Depends. */
const GLIBC_LIBS = /^(libc|libm|libdl|libpthread|librt|ld-linux[-\w.]*)\.so(\.\d+)*$/;

export function dependsFor(binary: string): string {
  const dynamic = execFileSync("readelf", ["--dynamic", "--wide", binary], { encoding: "utf8" });
  const others = neededLibraries(dynamic).filter((l) => !GLIBC_LIBS.test(l));
  if (others.length)
    throw new Error(`${binary} needs ${others.join(", ")}: add their packages to Depends`);
  const info = execFileSync("readelf", ["--version-info", "--wide", binary], { encoding: "utf8" });
  const glibc = glibcNeeded(info);
  return glibc ? `libc6 (>= ${glibc})` : "libc6";
}

export function controlFile(o: {
  pkg: PackageJson;
  arch: string;
  depends: string;
  installedSizeKiB: number;
}): string {
  return `Package: ${o.pkg.name}
Version: ${debianVersion(o.pkg.version)}
Architecture: ${o.arch}
Maintainer: ${o.pkg.author}
Installed-Size: ${o.installedSizeKiB}
Depends: ${o.depends}
Section: admin
Priority: optional
Description: PCI passthrough for KVM hosts: diagnose, plan, apply, verify
 passthrough takes a Linux KVM host (Proxmox VE first; Debian, Ubuntu, Fedora
 and Arch with libvirt too) from "a GPU is installed" to "a VM runs with it
 passed through". It inspects the host (IOMMU, interrupt remapping, groups,
 drivers, boot loader and initramfs configuration), plans the host changes as
 file diffs and commands, applies them with a journal that rollback restores
 byte for byte, verifies the result after the reboot, configures the VM
 (Proxmox qm or REST API, libvirt, QEMU) and prepares the guest.
 .
 A single executable with its own JavaScript runtime: it needs no Node.js.
`;
}

/** RFC 5322 date (what dpkg-parsechangelog expects) of a moment. */
function rfc2822(d: Date): string {
  const day = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"][d.getUTCDay()];
  const mon = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"][
    d.getUTCMonth()
  ];
  const p = (n: number) => String(n).padStart(2, "0");
  return `${day}, ${p(d.getUTCDate())} ${mon} ${d.getUTCFullYear()} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
}

export function changelog(pkg: PackageJson, date: Date): string {
  return `${pkg.name} (${debianVersion(pkg.version)}) unstable; urgency=medium

  * Release ${pkg.version}: the standalone executable (Bun runtime embedded),
    its manual page and bash, zsh and fish completion.

 -- ${pkg.author}  ${rfc2822(date)}
`;
}

/** A licence text as a DEP-5 field continuation: every line indented, blank lines as " .". */
function indent(text: string): string {
  return text
    .trim()
    .split("\n")
    .map((l) => (l.trim() ? ` ${l.trimEnd()}` : " ."))
    .join("\n");
}

const SPDX_TO_DEBIAN: Record<string, string> = {
  "BSD-3-Clause": "BSD-3-clause",
  ISC: "ISC",
  MIT: "Expat",
};

interface Bundled {
  name: string;
  version: string;
  license: string;
  copyright: string[];
  text: string;
}

/** A runtime dependency as node_modules has it: its licence file is the authority. */
function bundled(repo: string, name: string): Bundled {
  // By path: some packages' "exports" do not export their package.json.
  const pj = join(repo, "node_modules", name, "package.json");
  const meta = JSON.parse(readFileSync(pj, "utf8")) as { version: string; license: string };
  const dir = dirname(pj);
  const file = readdirSync(dir).find((f) => /^(licen[cs]e|copying)(\.md|\.txt)?$/i.test(f));
  if (!file) throw new Error(`${name} has no licence file in node_modules`);
  const text = readFileSync(join(dir, file), "utf8");
  const copyright = text
    .split("\n")
    .filter((l) => /^\s*copyright\b/i.test(l) && !/notice/i.test(l))
    .map((l) => l.trim().replace(/^copyright\s*(\(c\)|©)?\s*/i, ""));
  return { name, version: meta.version, license: meta.license, copyright, text };
}

export function copyrightFile(o: { repo: string; pkg: PackageJson; bunVersion: string }): string {
  const deps = Object.keys(o.pkg.dependencies).map((n) => bundled(o.repo, n));
  const licences = new Map<string, string>();
  const stanzas = deps.map((d) => {
    const lic = SPDX_TO_DEBIAN[d.license] ?? d.license;
    licences.set(lic, d.text);
    return `Files: usr/bin/passthrough
Comment: bundled JavaScript library ${d.name} ${d.version}
Copyright: ${d.copyright.join("\n ") || "its authors"}
License: ${lic}`;
  });
  return `Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: ${o.pkg.name}
Comment: /usr/bin/passthrough is the passthrough program (TypeScript, bundled with the
 libraries listed below) compiled into a Bun ${o.bunVersion} single-file executable: it contains
 the Bun JavaScript runtime, taken unmodified from the npm registry's @oven/bun-linux-*
 packages (https://bun.com, source: https://github.com/oven-sh/bun).

Files: *
Copyright: ${o.pkg.name} contributors
License: Expat

${stanzas.join("\n\n")}

Files: usr/bin/passthrough
Comment: The Bun runtime ${o.bunVersion}. Bun itself is under the MIT (Expat) licence. It links
 statically JavaScriptCore and WebCore from WebKit (LGPL-2; Bun's patched WebKit, for
 relinking, is published at https://github.com/oven-sh/WebKit) and libraries under the
 licences its LICENSE.md lists: BoringSSL (OpenSSL/ISC), brotli, c-ares, mimalloc, lsquic,
 ls-hpack, ls-qpack, libdeflate and uucode (MIT), picohttpparser (MIT or Perl), zstd (BSD or
 GPL-2), simdutf, highway and uSockets/uWebSockets (Apache-2.0), tinycc (LGPL-2.1), zlib-ng
 (Zlib), ICU (Unicode-3.0), libarchive (BSD-2-clause and others), base64, libspng (BSD-2-clause),
 lol-html, libwebp (BSD-3-clause), libjpeg-turbo (BSD-3-clause, IJG, Zlib), and the Node.js
 compatibility modules it embeds (MIT).
Copyright: Oven (Bun), Apple Inc. and the WebKit contributors, and the authors of the
 libraries listed above
License: Expat and LGPL-2 and LGPL-2.1 and Apache-2.0

License: LGPL-2
 On Debian systems the complete text of the GNU Library General Public License version 2
 is in /usr/share/common-licenses/LGPL-2.

License: LGPL-2.1
 On Debian systems the complete text of the GNU Lesser General Public License version 2.1
 is in /usr/share/common-licenses/LGPL-2.1.

License: Apache-2.0
 On Debian systems the complete text of the Apache License 2.0 is in
 /usr/share/common-licenses/Apache-2.0.

License: Expat
 Permission is hereby granted, free of charge, to any person obtaining a copy of this software
 and associated documentation files (the "Software"), to deal in the Software without
 restriction, including without limitation the rights to use, copy, modify, merge, publish,
 distribute, sublicense, and/or sell copies of the Software, and to permit persons to whom the
 Software is furnished to do so, subject to the following conditions:
 .
 The above copyright notice and this permission notice shall be included in all copies or
 substantial portions of the Software.
 .
 THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING
 BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND
 NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM,
 DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
 OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.
${[...licences]
  .filter(([lic]) => lic !== "Expat")
  .map(([lic, text]) => `\nLicense: ${lic}\n${indent(text)}`)
  .join("\n")}
`;
}
