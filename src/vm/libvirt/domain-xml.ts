// VmSpec -> libvirt domain XML (https://libvirt.org/formatdomain.html), through the DOM:
// build a complete domain for `vm create`, or change an existing one (`virsh dumpxml
// --inactive`) for `vm configure`. Elements the spec does not own are left as they are, and a
// domain that is already right comes back byte for byte, so applying twice changes nothing.
//
// Layout: every passed slot gets its own pcie-root-port controller (index = bus number) and
// its functions keep their numbers on slot 0 of that bus, function 0 marked multifunction —
// the guest sees one multifunction device, as on the host (what Proxmox's "All Functions"
// does too). `managed='yes'` lets libvirt detach the functions from host drivers at start.

import type { Document, Element } from "@xmldom/xmldom";
import { InputError } from "../../errors.js";
import type { OvmfPaths } from "../firmware.js";
import type { SpecPciDevice, VmSpec } from "../spec.js";
import {
  child,
  childElements,
  el,
  ensureChild,
  indentDocument,
  insertIndented,
  newDocument,
  parseXml,
  removeIndented,
  serializeXml,
  textOf,
} from "./xml.js";
import { applyWindows } from "./windows.js";

export interface DomainResult {
  /** The domain as given, re-serialized the way `xml` is (double quotes), so a diff shows only real changes. */
  before: string;
  /** The changed domain; equal to `before` when nothing needed changing. */
  xml: string;
  name: string;
  refusals: string[];
  warnings: string[];
}

export interface LibvirtCreateOptions {
  firmware: OvmfPaths;
  /** Folder for the domain's NVRAM copy (libvirt's default for qemu:///system). */
  nvramDir?: string;
}

export const NVRAM_DIR = "/var/lib/libvirt/qemu/nvram";

/** The volume `vm create --backend libvirt` creates for the disk: "<name>.qcow2" in the pool. */
export function diskVolumeName(name: string): string {
  return `${name}.qcow2`;
}

const hex = (n: number, width: number) => `0x${n.toString(16).padStart(width, "0")}`;

/** "0000:01:00.1" -> libvirt address attributes. */
export function pciAddressAttrs(address: string): {
  domain: string;
  bus: string;
  slot: string;
  function: string;
} {
  const m = /^([0-9a-f]{4,}):([0-9a-f]{2}):([0-9a-f]{2})\.([0-7])$/.exec(address);
  if (!m) throw new InputError(`not a full PCI address: ${address}`);
  return { domain: `0x${m[1]}`, bus: `0x${m[2]}`, slot: `0x${m[3]}`, function: `0x${m[4]}` };
}

/** Host PCI functions a domain's <hostdev type='pci'> elements take ("0000:01:00.0"). */
export function hostdevAddresses(doc: Document): string[] {
  const out: string[] = [];
  for (const h of pciHostdevs(doc)) {
    const a = hostdevSource(h);
    if (a) out.push(a);
  }
  return out;
}

function devicesOf(doc: Document): Element {
  const root = doc.documentElement!;
  return child(root, "devices") ?? insertIndented(root, el(doc, "devices"));
}

function pciHostdevs(doc: Document): Element[] {
  const devices = child(doc.documentElement!, "devices");
  return devices
    ? childElements(devices, "hostdev").filter((h) => h.getAttribute("type") === "pci")
    : [];
}

function num(v: string | null): number | null {
  if (v === null) return null;
  const n = v.startsWith("0x") ? parseInt(v.slice(2), 16) : parseInt(v, 10);
  return Number.isNaN(n) ? null : n;
}

function hostdevSource(h: Element): string | null {
  const a = child(child(h, "source") ?? h, "address");
  if (!a || child(h, "source") === null) return null;
  const d = num(a.getAttribute("domain")) ?? 0;
  const b = num(a.getAttribute("bus"));
  const s = num(a.getAttribute("slot"));
  const f = num(a.getAttribute("function"));
  if (b === null || s === null || f === null) return null;
  return `${d.toString(16).padStart(4, "0")}:${b.toString(16).padStart(2, "0")}:${s.toString(16).padStart(2, "0")}.${f}`;
}

/** libvirt memory element -> MiB (unit defaults to KiB). */
function memoryMiB(e: Element | null): number | null {
  const v = Number(textOf(e));
  if (!e || !Number.isFinite(v)) return null;
  const unit = (e.getAttribute("unit") ?? "KiB").toLowerCase();
  const factor: Record<string, number> = {
    b: 1 / 1048576,
    bytes: 1 / 1048576,
    k: 1 / 1024,
    kib: 1 / 1024,
    kb: 1000 / 1048576,
    m: 1,
    mib: 1,
    mb: 1e6 / 1048576,
    g: 1024,
    gib: 1024,
    gb: 1e9 / 1048576,
    t: 1048576,
    tib: 1048576,
  };
  return factor[unit] === undefined ? null : Math.round(v * factor[unit]!);
}

/** Guest memory of a domain XML (MiB), for the pinned-memory warning. */
export function domainMemoryMiB(xml: string): number | null {
  const doc = parseXml(xml, "the domain XML");
  return memoryMiB(child(doc.documentElement!, "memory"));
}

export function domainName(xml: string): string | null {
  const doc = parseXml(xml, "the domain XML");
  return textOf(child(doc.documentElement!, "name"));
}

// ---------------------------------------------------------------------------------------------
// Changing an existing domain

export function modifyDomainXml(
  xml: string,
  spec: VmSpec,
  fw: OvmfPaths,
  others: Array<{ name: string; xml: string }> = [],
): DomainResult {
  const doc = parseXml(xml, "the domain XML");
  const root = doc.documentElement!;
  if (root.nodeName !== "domain")
    throw new InputError(
      `the domain XML has <${root.nodeName}> at the top, not <domain>; give the output of \`virsh dumpxml --inactive DOMAIN\``,
    );
  const name = textOf(child(root, "name")) ?? "(unnamed)";
  const refusals: string[] = [];
  const warnings: string[] = [];
  if (root.getAttribute("type") !== "kvm")
    refusals.push(
      `domain ${name} is type='${root.getAttribute("type") ?? ""}', not kvm; device assignment needs KVM`,
    );

  const os = ensureChild(root, "os");
  const type = child(os, "type");
  const machine = type?.getAttribute("machine") ?? "";
  if (spec.machine === "q35" && !/q35/.test(machine)) {
    // libvirt ties PCI controllers and addresses to the machine type; virt-xml rewrites them.
    refusals.push(
      `domain ${name} uses machine ${machine || "(default i440fx)"}, and PCIe passthrough needs q35: convert it with \`virt-xml ${name} --edit --convert-to-q35\` (the guest sees a new chipset), or pass --no-pcie`,
    );
  }

  applyFirmware(doc, os, name, fw, warnings);
  applyCpuAndFeatures(doc, spec);
  const devices = devicesOf(doc);
  applyMemballoon(doc, devices);
  if (spec.headless) applyHeadless(doc, devices);
  applyPciHostdevs(doc, devices, spec.pci, machine);
  applyUsbHostdevs(doc, devices, spec);
  applyWindows(doc, devices, spec);

  // Another domain with the same functions: libvirt only notices when both run.
  for (const d of spec.pci) {
    const fns = new Set(d.functions.map((f) => f.address));
    for (const o of others) {
      if (o.name === name) continue;
      const hit = hostdevAddresses(parseXml(o.xml, `domain ${o.name}'s XML`)).filter((a) =>
        fns.has(a),
      );
      if (hit.length > 0) {
        refusals.push(
          `${hit.join(", ")} already belong${hit.length === 1 ? "s" : ""} to libvirt domain ${o.name}; only one running VM can have a device — remove its <hostdev> there (\`virsh edit ${o.name}\`) or pick another device`,
        );
      }
    }
  }
  return {
    before: serializeXml(parseXml(xml, "the domain XML")),
    xml: serializeXml(doc),
    name,
    refusals,
    warnings,
  };
}

function applyFirmware(
  doc: Document,
  os: Element,
  name: string,
  fw: OvmfPaths,
  warnings: string[],
): void {
  if (os.getAttribute("firmware") === "efi") return; // libvirt picks an OVMF build itself
  const loader = child(os, "loader");
  if (
    loader &&
    loader.getAttribute("type") === "pflash" &&
    /OVMF|edk2|ovmf/i.test(textOf(loader) ?? "")
  )
    return;
  warnings.push(
    `domain ${name} boots with SeaBIOS now; an OS installed in BIOS mode does not boot under OVMF (reinstall in UEFI mode, or convert the disk to GPT/UEFI first)`,
  );
  // <os> children in libvirt's order: type, loader, nvram, then boot entries.
  if (loader) removeIndented(loader);
  const oldNvram = child(os, "nvram");
  if (oldNvram) removeIndented(oldNvram);
  const type = child(os, "type");
  const newLoader = insertIndented(
    os,
    el(
      doc,
      "loader",
      { readonly: "yes", secure: fw.secure ? "yes" : undefined, type: "pflash" },
      fw.code,
    ),
    type ? nextElement(type) : firstElement(os),
  );
  insertIndented(
    os,
    el(doc, "nvram", { template: fw.vars }, `${NVRAM_DIR}/${name}_VARS.fd`),
    nextElement(newLoader),
  );
  if (fw.secure)
    ensureChild(ensureChild(doc.documentElement!, "features"), "smm").setAttribute("state", "on");
}

function nextElement(e: Element): Element | null {
  const parent = e.parentNode;
  if (!parent) return null;
  const all = childElements(parent);
  return all[all.indexOf(e) + 1] ?? null;
}

function firstElement(parent: Element): Element | null {
  return childElements(parent)[0] ?? null;
}

function applyCpuAndFeatures(doc: Document, spec: VmSpec): void {
  const root = doc.documentElement!;
  const cpu =
    child(root, "cpu") ??
    insertIndented(
      root,
      el(doc, "cpu"),
      child(root, "clock") ?? child(root, "on_poweroff") ?? child(root, "devices"),
    );
  if (cpu.getAttribute("mode") !== "host-passthrough") {
    cpu.setAttribute("mode", "host-passthrough");
    cpu.setAttribute("check", "none");
    cpu.setAttribute("migratable", "on");
    for (const c of [...childElements(cpu, "model"), ...childElements(cpu, "vendor")])
      removeIndented(c);
  }
  if (spec.cpu.hidden || spec.cpu.hvVendorId) {
    const features = child(root, "features") ?? insertIndented(root, el(doc, "features"), cpu);
    if (spec.cpu.hidden) {
      const kvm = ensureChild(features, "kvm");
      const hidden = ensureChild(kvm, "hidden");
      if (hidden.getAttribute("state") !== "on") hidden.setAttribute("state", "on");
    }
    if (spec.cpu.hvVendorId) {
      const hyperv = ensureChild(features, "hyperv");
      const vid = ensureChild(hyperv, "vendor_id");
      if (vid.getAttribute("state") !== "on") vid.setAttribute("state", "on");
      if (vid.getAttribute("value") !== spec.cpu.hvVendorId)
        vid.setAttribute("value", spec.cpu.hvVendorId);
    }
  }
}

/** Replace an element's attributes and children in place (keeps its position, so the diff stays small). */
function resetElement(e: Element, attrs: Record<string, string>, ...children: Element[]): void {
  for (const a of Array.from({ length: e.attributes.length }, (_, i) => e.attributes.item(i)!.name))
    e.removeAttribute(a);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  while (e.firstChild) e.removeChild(e.firstChild);
  for (const c of children) insertIndented(e, c);
}

function applyMemballoon(doc: Document, devices: Element): void {
  const [first, ...rest] = childElements(devices, "memballoon");
  for (const b of rest) removeIndented(b);
  if (!first) insertIndented(devices, el(doc, "memballoon", { model: "none" }));
  else if (first.getAttribute("model") !== "none" || childElements(first).length > 0)
    resetElement(first, { model: "none" });
}

/** No emulated display: no <graphics>, one <video> of model none, and no SPICE-only devices (they need SPICE graphics). */
function applyHeadless(doc: Document, devices: Element): void {
  for (const g of childElements(devices, "graphics")) removeIndented(g);
  for (const c of childElements(devices, "channel"))
    if (c.getAttribute("type") === "spicevmc") removeIndented(c);
  for (const r of childElements(devices, "redirdev"))
    if (r.getAttribute("type") === "spicevmc") removeIndented(r);
  for (const a of childElements(devices, "audio"))
    if (a.getAttribute("type") === "spice") removeIndented(a);
  const [first, ...rest] = childElements(devices, "video");
  for (const v of rest) removeIndented(v);
  const isNone = (v: Element) =>
    childElements(v).length === 1 &&
    child(v, "model")?.getAttribute("type") === "none" &&
    child(v, "model")!.attributes.length === 1;
  if (!first) insertIndented(devices, el(doc, "video", {}, el(doc, "model", { type: "none" })));
  else if (!isNone(first)) resetElement(first, {}, el(doc, "model", { type: "none" }));
}

function pciControllers(devices: Element): Element[] {
  return childElements(devices, "controller").filter((c) => c.getAttribute("type") === "pci");
}

/** Guest PCI (bus, slot) pairs already used by any device address. */
function usedGuestSlots(doc: Document): Set<string> {
  const used = new Set<string>();
  const walk = (e: Element) => {
    for (const c of childElements(e)) {
      if (c.nodeName === "address" && c.getAttribute("type") === "pci")
        used.add(`${num(c.getAttribute("bus")) ?? 0}:${num(c.getAttribute("slot")) ?? 0}`);
      walk(c);
    }
  };
  walk(doc.documentElement!);
  return used;
}

function applyPciHostdevs(
  doc: Document,
  devices: Element,
  pci: SpecPciDevice[],
  machine: string,
): void {
  const existing = pciHostdevs(doc);
  for (const d of pci) {
    const have = new Map<string, Element>();
    for (const h of existing) {
      const a = hostdevSource(h);
      if (a && d.functions.some((f) => f.address === a)) have.set(a, h);
    }
    const missing = d.functions.filter((f) => !have.has(f.address));
    if (missing.length === 0) continue;
    // Guest bus/slot: where the device's other functions already sit, else a new place.
    let bus: number | null = null;
    let slot: number | null = null;
    for (const h of have.values()) {
      const ga = child(h, "address");
      if (ga && ga.getAttribute("type") === "pci") {
        bus = num(ga.getAttribute("bus"));
        slot = num(ga.getAttribute("slot"));
        break;
      }
    }
    if (bus === null || slot === null) {
      if (d.pcie && /q35/.test(machine || "q35")) {
        const index =
          Math.max(0, ...pciControllers(devices).map((c) => num(c.getAttribute("index")) ?? 0)) + 1;
        insertAfterLast(
          devices,
          "controller",
          el(doc, "controller", { type: "pci", index: String(index), model: "pcie-root-port" }),
        );
        bus = index;
        slot = 0;
      } else {
        // Conventional PCI: a free slot on the root bus (pcie.0 on q35, pci.0 on i440fx).
        const used = usedGuestSlots(doc);
        bus = 0;
        slot =
          Array.from({ length: 0x1f - 0x10 }, (_, i) => i + 0x10).find(
            (s) => !used.has(`0:${s}`),
          ) ?? 0x1f;
      }
    }
    const multi = d.functions.length > 1;
    for (const f of d.functions) {
      if (have.has(f.address)) {
        if (multi && f.address.endsWith(".0"))
          child(have.get(f.address)!, "address")?.setAttribute("multifunction", "on");
        continue;
      }
      const fn = Number(f.address.slice(-1));
      const h = el(
        doc,
        "hostdev",
        { mode: "subsystem", type: "pci", managed: "yes" },
        el(doc, "source", {}, el(doc, "address", pciAddressAttrs(f.address))),
        el(doc, "address", {
          type: "pci",
          domain: "0x0000",
          bus: hex(bus, 2),
          slot: hex(slot, 2),
          function: hex(fn, 1),
          multifunction: multi && fn === 0 ? "on" : undefined,
        }),
      );
      insertAfterLast(devices, "hostdev", h);
    }
  }
  for (const d of pci) if (d.romfile) applyRom(doc, d.romfile);
}

/** --romfile: `<rom file='PATH'/>` in the hostdev of the function it is for (formatdomain "hostdev"). */
function applyRom(doc: Document, rom: NonNullable<SpecPciDevice["romfile"]>): void {
  const h = pciHostdevs(doc).find((x) => hostdevSource(x) === rom.function);
  if (!h) return;
  const old = child(h, "rom");
  const attrs = { bar: old?.getAttribute("bar") || undefined, file: rom.path };
  const e = el(doc, "rom", attrs);
  if (old) h.replaceChild(e, old);
  else insertIndented(h, e);
}

function applyUsbHostdevs(doc: Document, devices: Element, spec: VmSpec): void {
  if (spec.usb.length === 0) return;
  const usbHostdevs = childElements(devices, "hostdev").filter(
    (h) => h.getAttribute("type") === "usb",
  );
  const has = (v: string, p: string) =>
    usbHostdevs.some((h) => {
      const s = child(h, "source");
      return (
        num(child(s ?? h, "vendor")?.getAttribute("id") ?? null) === parseInt(v, 16) &&
        num(child(s ?? h, "product")?.getAttribute("id") ?? null) === parseInt(p, 16)
      );
    });
  const controllers = childElements(devices, "controller").filter(
    (c) => c.getAttribute("type") === "usb" && c.getAttribute("model") !== "none",
  );
  if (controllers.length === 0) {
    for (const c of childElements(devices, "controller"))
      if (c.getAttribute("type") === "usb") removeIndented(c);
    insertAfterLast(
      devices,
      "controller",
      el(doc, "controller", { type: "usb", index: "0", model: "qemu-xhci", ports: "15" }),
    );
  }
  for (const u of spec.usb) {
    if (has(u.vendorId, u.productId)) continue;
    insertAfterLast(
      devices,
      "hostdev",
      el(
        doc,
        "hostdev",
        { mode: "subsystem", type: "usb", managed: "yes" },
        el(
          doc,
          "source",
          {},
          el(doc, "vendor", { id: `0x${u.vendorId}` }),
          el(doc, "product", { id: `0x${u.productId}` }),
        ),
      ),
    );
  }
}

/** Keep devices grouped as libvirt lists them: after the last element of the same name, else at the end. */
function insertAfterLast(devices: Element, name: string, e: Element): void {
  const same = childElements(devices, name);
  const last = same[same.length - 1];
  insertIndented(devices, e, last ? nextElement(last) : null);
}

// ---------------------------------------------------------------------------------------------
// A new domain

export function buildDomainXml(spec: VmSpec, options: LibvirtCreateOptions): string {
  const c = spec.create;
  if (!c) throw new Error("buildDomainXml needs spec.create");
  const doc = newDocument("domain");
  const root = doc.documentElement!;
  root.setAttribute("type", "kvm");
  const add = (e: Element) => root.appendChild(e);
  const fw = options.firmware;
  const windows = /^win/.test(c.ostype);
  add(el(doc, "name", {}, c.name));
  add(el(doc, "memory", { unit: "MiB" }, String(c.memoryMiB)));
  add(el(doc, "currentMemory", { unit: "MiB" }, String(c.memoryMiB)));
  add(el(doc, "vcpu", { placement: "static" }, String(c.cores * c.sockets)));
  add(
    el(
      doc,
      "os",
      {},
      el(doc, "type", { arch: "x86_64", machine: "q35" }, "hvm"),
      el(
        doc,
        "loader",
        { readonly: "yes", secure: fw.secure ? "yes" : undefined, type: "pflash" },
        fw.code,
      ),
      el(doc, "nvram", { template: fw.vars }, `${options.nvramDir ?? NVRAM_DIR}/${c.name}_VARS.fd`),
    ),
  );
  const features = el(doc, "features", {}, el(doc, "acpi"), el(doc, "apic"));
  if (spec.cpu.hvVendorId)
    features.appendChild(
      el(
        doc,
        "hyperv",
        { mode: "custom" },
        el(doc, "vendor_id", { state: "on", value: spec.cpu.hvVendorId }),
      ),
    );
  if (spec.cpu.hidden) features.appendChild(el(doc, "kvm", {}, el(doc, "hidden", { state: "on" })));
  if (fw.secure) features.appendChild(el(doc, "smm", { state: "on" }));
  add(features);
  add(
    el(
      doc,
      "cpu",
      { mode: "host-passthrough", check: "none", migratable: "on" },
      el(doc, "topology", {
        sockets: String(c.sockets),
        dies: "1",
        cores: String(c.cores),
        threads: "1",
      }),
    ),
  );
  add(el(doc, "clock", { offset: windows ? "localtime" : "utc" }));
  add(el(doc, "on_poweroff", {}, "destroy"));
  add(el(doc, "on_reboot", {}, "restart"));
  add(el(doc, "on_crash", {}, "destroy"));
  const devices = el(doc, "devices");
  add(devices);
  devices.appendChild(
    el(
      doc,
      "disk",
      { type: "volume", device: "disk" },
      el(doc, "driver", { name: "qemu", type: "qcow2", discard: "unmap" }),
      el(doc, "source", { pool: c.disk.storage, volume: diskVolumeName(c.name) }),
      el(doc, "target", { dev: windows ? "sda" : "vda", bus: windows ? "sata" : "virtio" }),
      el(doc, "boot", { order: "1" }),
    ),
  );
  if (c.iso) {
    devices.appendChild(
      el(
        doc,
        "disk",
        { type: "file", device: "cdrom" },
        el(doc, "driver", { name: "qemu", type: "raw" }),
        el(doc, "source", { file: c.iso }),
        el(doc, "target", { dev: windows ? "sdb" : "sda", bus: "sata" }),
        el(doc, "readonly"),
        el(doc, "boot", { order: "2" }),
      ),
    );
  }
  devices.appendChild(
    el(doc, "controller", { type: "usb", index: "0", model: "qemu-xhci", ports: "15" }),
  );
  devices.appendChild(
    c.bridge
      ? el(
          doc,
          "interface",
          { type: "bridge" },
          el(doc, "source", { bridge: c.bridge }),
          el(doc, "model", { type: "virtio" }),
        )
      : el(
          doc,
          "interface",
          { type: "network" },
          el(doc, "source", { network: "default" }),
          el(doc, "model", { type: "virtio" }),
        ),
  );
  // A serial console: with no emulated display it is the way in when the guest has no network yet.
  devices.appendChild(el(doc, "serial", { type: "pty" }));
  devices.appendChild(el(doc, "console", { type: "pty" }, el(doc, "target", { type: "serial" })));
  devices.appendChild(
    el(
      doc,
      "channel",
      { type: "unix" },
      el(doc, "target", { type: "virtio", name: "org.qemu.guest_agent.0" }),
    ),
  );
  if (!spec.headless) {
    devices.appendChild(
      el(
        doc,
        "graphics",
        { type: "vnc", port: "-1", autoport: "yes" },
        el(doc, "listen", { type: "address", address: "127.0.0.1" }),
      ),
    );
    devices.appendChild(el(doc, "video", {}, el(doc, "model", { type: "virtio" })));
  }
  indentDocument(doc);
  const machine = "q35";
  if (spec.headless) applyHeadless(doc, devices);
  applyMemballoon(doc, devices);
  applyPciHostdevs(doc, devices, spec.pci, machine);
  applyUsbHostdevs(doc, devices, spec);
  applyWindows(doc, devices, spec);
  return serializeXml(doc);
}
