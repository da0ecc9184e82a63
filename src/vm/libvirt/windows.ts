// --os windows in a libvirt domain: what Proxmox's ostype win11 amounts to, in libvirt's terms
// (formatdomain: "Hypervisor features", "TPM device", "Hard drives, floppy disks, CDROMs"):
// the Hyper-V enlightenments Windows uses for timers, interrupts and spinlocks, the Hyper-V
// reference clock, a TPM 2.0 emulated by swtpm (Windows 11 requires one), and the virtio-win
// drivers as another CD-ROM. What exists is kept; only what is missing is added.

import type { Document, Element } from "@xmldom/xmldom";
import type { VmSpec } from "../spec.js";
import { child, childElements, el, ensureChild, insertIndented } from "./xml.js";

/** Enlightenments (libvirt <hyperv> children) and their attributes. */
const HYPERV: Array<[string, Record<string, string>]> = [
  ["relaxed", { state: "on" }],
  ["vapic", { state: "on" }],
  ["spinlocks", { state: "on", retries: "8191" }],
  ["vpindex", { state: "on" }],
  ["runtime", { state: "on" }],
  ["synic", { state: "on" }],
  ["stimer", { state: "on" }],
  ["reset", { state: "on" }],
  ["frequencies", { state: "on" }],
  ["tlbflush", { state: "on" }],
  ["ipi", { state: "on" }],
];

export function applyWindows(doc: Document, devices: Element, spec: VmSpec): void {
  if (!spec.windows) return;
  const root = doc.documentElement!;
  const features = ensureChild(root, "features", child(root, "cpu"));
  const hyperv = ensureChild(features, "hyperv");
  if (!hyperv.getAttribute("mode")) hyperv.setAttribute("mode", "custom");
  for (const [name, attrs] of HYPERV)
    if (!child(hyperv, name)) insertIndented(hyperv, el(doc, name, attrs));
  const clock = ensureChild(root, "clock", child(root, "on_poweroff") ?? child(root, "devices"));
  if (!clock.getAttribute("offset")) clock.setAttribute("offset", "localtime");
  if (!childElements(clock, "timer").some((t) => t.getAttribute("name") === "hypervclock"))
    insertIndented(clock, el(doc, "timer", { name: "hypervclock", present: "yes" }));
  if (!child(devices, "tpm"))
    insertIndented(
      devices,
      el(
        doc,
        "tpm",
        { model: "tpm-crb" },
        el(doc, "backend", { type: "emulator", version: "2.0" }),
      ),
    );
  const iso = spec.windows.virtioIso;
  if (iso) addCdrom(doc, devices, iso);
}

/** The ISO as a read-only SATA CD-ROM on the first free sdX, unless a disk has it already. */
function addCdrom(doc: Document, devices: Element, iso: string): void {
  const disks = childElements(devices, "disk");
  if (disks.some((d) => child(d, "source")?.getAttribute("file") === iso)) return;
  const used = new Set(disks.map((d) => child(d, "target")?.getAttribute("dev")));
  const dev = "abcdefghijklmnopqrstuvwxyz"
    .split("")
    .map((c) => `sd${c}`)
    .find((n) => !used.has(n))!;
  const last = disks[disks.length - 1];
  insertIndented(
    devices,
    el(
      doc,
      "disk",
      { type: "file", device: "cdrom" },
      el(doc, "driver", { name: "qemu", type: "raw" }),
      el(doc, "source", { file: iso }),
      el(doc, "target", { dev, bus: "sata" }),
      el(doc, "readonly"),
    ),
    last ? nextElementOf(last) : null,
  );
}

function nextElementOf(e: Element): Element | null {
  for (let n = e.nextSibling; n; n = n.nextSibling) if (n.nodeType === 1) return n as Element;
  return null;
}
