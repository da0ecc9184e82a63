// libvirt domain XML: built and changed through the DOM, checked with libvirt's own schema
// validator (virt-xml-validate, Debian package libvirt-clients; .ci/run installs it), applied
// with `virsh define` against a fake virsh.
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { findOvmf } from "../../src/vm/firmware.js";
import {
  buildDomainXml,
  hostdevAddresses,
  modifyDomainXml,
} from "../../src/vm/libvirt/domain-xml.js";
import { parseXml } from "../../src/vm/libvirt/xml.js";
import { buildVmSpec, type CreateOptions, type VmOptions } from "../../src/vm/spec.js";
import { cli } from "../helpers/cli.js";
import { fakeVirsh, type FakeHost } from "../helpers/fake-tools.js";
import { REPO, fixturePath, fixtureState } from "../helpers/fixtures.js";

const SNAP = fixturePath("seed-after");
const DEBIAN12 = fs.readFileSync(
  path.join(REPO, "test/fixtures/libvirt/debian12-spice.xml"),
  "utf8",
);

function hasValidator(): boolean {
  try {
    execFileSync("virt-xml-validate", ["--help"], { stdio: "ignore" });
    execFileSync("xmllint", ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}
const VALIDATOR = hasValidator();
if (!VALIDATOR)
  console.warn(
    "virt-xml-validate (libvirt-clients) or xmllint (libxml2-utils) is not installed: libvirt schema checks are skipped; .ci/run installs them",
  );

/** libvirt's RelaxNG check of a domain; throws with its message when invalid. */
function validate(xml: string): void {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "passthrough-xml-"));
  try {
    fs.writeFileSync(path.join(dir, "d.xml"), xml);
    execFileSync("virt-xml-validate", [path.join(dir, "d.xml"), "domain"], { stdio: "pipe" });
  } catch (err) {
    throw new Error(`virt-xml-validate: ${String((err as { stderr?: Buffer }).stderr ?? err)}`, {
      cause: err,
    });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const opts = (o: Partial<VmOptions> = {}): VmOptions => ({
  vmid: null,
  devices: ["0000:01:00"],
  usb: ["046d:c31c"],
  pcie: true,
  primaryGpu: false,
  keepDisplay: false,
  efidisk: null,
  preEnrolledKeys: false,
  hidden: false,
  hvVendorId: null,
  onboot: false,
  convertQ35: false,
  force: false,
  ...o,
});
const CREATE: CreateOptions = {
  name: "gpu-vm",
  memoryMiB: 8192,
  cores: 4,
  sockets: 1,
  disk: { storage: "default", sizeGiB: 64 },
  iso: "/var/lib/libvirt/images/debian-12.iso",
  bridge: null,
  ostype: "l26",
};
const state = () => fixtureState("seed-after");
const spec = (o: Partial<VmOptions> = {}, create: CreateOptions | null = null) =>
  buildVmSpec({
    state: state(),
    options: opts(o),
    prep: { journaled: {} },
    memory: null,
    guestMemoryMiB: null,
    create,
  }).spec;
const debianFw = (secure = false) =>
  findOvmf({ ...state(), system: { ...state().system, proxmox: null } }, secure, (p) =>
    p.startsWith("/usr/share/OVMF/"),
  );

let virsh: (FakeHost & { domain(name: string): string | null; volumes(): string[] }) | null = null;
afterEach(() => {
  virsh?.cleanup();
  virsh = null;
});

describe("libvirt domain XML", () => {
  it("builds a complete q35/OVMF domain with one multifunction hostdev layout, no display, a USB hostdev", () => {
    const xml = buildDomainXml(spec({}, CREATE), { firmware: debianFw() });
    if (VALIDATOR) validate(xml);
    const doc = parseXml(xml, "test");
    const q = (sel: string) => doc.getElementsByTagName(sel);
    expect(q("type")[0]!.getAttribute("machine")).toBe("q35");
    expect(q("loader")[0]!.textContent).toBe("/usr/share/OVMF/OVMF_CODE_4M.fd");
    expect(q("nvram")[0]!.getAttribute("template")).toBe("/usr/share/OVMF/OVMF_VARS_4M.fd");
    expect(q("graphics").length).toBe(0);
    expect(xml).toContain('<video>\n      <model type="none"/>\n    </video>');
    expect(xml).toContain('<memballoon model="none"/>');
    expect(xml).toContain('<cpu mode="host-passthrough" check="none" migratable="on">');
    expect(xml).toContain('<controller type="pci" index="1" model="pcie-root-port"/>');
    expect(xml).toContain(`<hostdev mode="subsystem" type="pci" managed="yes">
      <source>
        <address domain="0x0000" bus="0x01" slot="0x00" function="0x0"/>
      </source>
      <address type="pci" domain="0x0000" bus="0x01" slot="0x00" function="0x0" multifunction="on"/>
    </hostdev>`);
    expect(xml).toContain(
      '<address type="pci" domain="0x0000" bus="0x01" slot="0x00" function="0x1"/>',
    );
    expect(xml).toContain('<vendor id="0x046d"/>\n        <product id="0xc31c"/>');
    expect(hostdevAddresses(doc)).toEqual(["0000:01:00.0", "0000:01:00.1"]);
  });

  it("adds Secure Boot firmware with SMM, and hidden/hv vendor id only on request", () => {
    const xml = buildDomainXml(
      spec({ hidden: true, hvVendorId: "NV43FIX", preEnrolledKeys: true }, CREATE),
      { firmware: debianFw(true) },
    );
    if (VALIDATOR) validate(xml);
    expect(xml).toContain(
      '<loader readonly="yes" secure="yes" type="pflash">/usr/share/OVMF/OVMF_CODE_4M.secboot.fd</loader>',
    );
    expect(xml).toContain('<smm state="on"/>');
    expect(xml).toContain('<hidden state="on"/>');
    expect(xml).toContain('<vendor_id state="on" value="NV43FIX"/>');
    const plain = buildDomainXml(spec({}, CREATE), { firmware: debianFw() });
    expect(plain).not.toMatch(/hidden|vendor_id|smm/);
  });

  it("changes a virt-manager domain: OVMF, host CPU, no SPICE display, no balloon, hostdevs on a new root port; twice = no change", () => {
    const r = modifyDomainXml(DEBIAN12, spec(), debianFw());
    expect(r.refusals).toEqual([]);
    if (VALIDATOR) validate(r.xml);
    expect(r.xml).not.toMatch(/<graphics|spicevmc|type="spice"/);
    expect(r.xml).toContain('<controller type="pci" index="7" model="pcie-root-port"/>');
    expect(r.xml).toContain('bus="0x07" slot="0x00" function="0x0" multifunction="on"');
    expect(r.xml).toContain(
      '<nvram template="/usr/share/OVMF/OVMF_VARS_4M.fd">/var/lib/libvirt/qemu/nvram/debian12_VARS.fd</nvram>',
    );
    // Untouched parts stay as they were (the disk, the NIC, the rng).
    for (const keep of [
      '<source file="/var/lib/libvirt/images/debian12.qcow2"/>',
      '<mac address="52:54:00:6b:3c:58"/>',
      '<backend model="random">/dev/urandom</backend>',
    ])
      expect(r.xml).toContain(keep);
    expect(r.warnings.join("\n")).toMatch(/SeaBIOS/);
    const again = modifyDomainXml(r.xml, spec(), debianFw());
    expect(again.xml).toBe(again.before);
    expect(again.xml).toBe(r.xml);
  });

  it("refuses an i440fx domain and a device another domain has", () => {
    const i440 = DEBIAN12.replace("machine='pc-q35-7.2'", "machine='pc-i440fx-7.2'");
    expect(modifyDomainXml(i440, spec(), debianFw()).refusals.join("\n")).toMatch(
      /uses machine pc-i440fx-7\.2.*virt-xml debian12 --edit --convert-to-q35/,
    );
    const other = modifyDomainXml(
      DEBIAN12.replace("<name>debian12</name>", "<name>win11</name>"),
      spec(),
      debianFw(),
    ).xml;
    expect(
      modifyDomainXml(DEBIAN12, spec(), debianFw(), [{ name: "win11", xml: other }]).refusals.join(
        "\n",
      ),
    ).toMatch(/0000:01:00\.0, 0000:01:00\.1 already belong to libvirt domain win11/);
  });

  it("keeps the emulated display with --keep-display and conventional PCI with --no-pcie", () => {
    const r = modifyDomainXml(
      DEBIAN12,
      spec({ keepDisplay: true, pcie: false, usb: [] }),
      debianFw(),
    );
    if (VALIDATOR) validate(r.xml);
    expect(r.xml).toContain('<graphics type="spice" autoport="yes">');
    expect(r.xml).not.toContain('index="7"');
    expect(r.xml).toContain('bus="0x00" slot="0x10" function="0x0" multifunction="on"');
  });
});

describe("passthrough vm ... --backend libvirt", () => {
  it("vm create --dry-run prints the complete domain XML, which libvirt's validator accepts", async () => {
    const r = await cli([
      "vm",
      "create",
      "--backend",
      "libvirt",
      "--snapshot",
      SNAP,
      "--name",
      "gpu",
      "--disk",
      "default:64",
      "--iso",
      "/var/lib/libvirt/images/debian-12.iso",
      "--device",
      "01:00",
      "--dry-run",
    ]);
    expect(r.code).toBe(0);
    expect(r.stdout.startsWith('<domain type="kvm">')).toBe(true);
    if (VALIDATOR) validate(r.stdout);
  });

  it("vm configure --domain-xml --dry-run prints the complete modified XML; the diff goes to stderr", async () => {
    const file = path.join(REPO, "test/fixtures/libvirt/debian12-spice.xml");
    const r = await cli([
      "vm",
      "configure",
      "--domain-xml",
      file,
      "--snapshot",
      SNAP,
      "--device",
      "01:00",
      "--dry-run",
    ]);
    expect(r.code).toBe(0);
    expect(r.stdout.startsWith("<domain")).toBe(true);
    expect(r.stdout).toContain("<hostdev");
    expect(r.stderr).toContain('+    <memballoon model="none"/>');
    if (VALIDATOR) validate(r.stdout);
  });

  it("vm plan --emit libvirt prints the complete XML too", async () => {
    const file = path.join(REPO, "test/fixtures/libvirt/debian12-spice.xml");
    const r = await cli([
      "vm",
      "plan",
      "--emit",
      "libvirt",
      "--domain-xml",
      file,
      "--snapshot",
      SNAP,
      "--device",
      "01:00",
    ]);
    expect(r.code).toBe(0);
    expect(r.stdout.startsWith("<domain")).toBe(true);
    expect(r.stdout).toContain("<hostdev");
  });

  it("vm configure --libvirt DOMAIN --yes defines the changed domain with virsh, and a second run changes nothing", async () => {
    virsh = fakeVirsh({ debian12: DEBIAN12 });
    const r = await cli(
      [
        "vm",
        "configure",
        "--libvirt",
        "debian12",
        "--snapshot",
        SNAP,
        "--device",
        "01:00",
        "--usb",
        "046d:c31c",
        "--yes",
      ],
      virsh.env,
    );
    expect(r.stderr).not.toMatch(/error/);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Defined debian12 \(read back and checked\)/);
    const calls = virsh.calls();
    expect(calls[0]).toEqual(["virsh", "dumpxml", "--inactive", "--domain", "debian12"]);
    expect(calls.some((c) => c[1] === "define" && c[2] === "--file")).toBe(true);
    const defined = virsh.domain("debian12")!;
    expect(hostdevAddresses(parseXml(defined, "t"))).toEqual(["0000:01:00.0", "0000:01:00.1"]);
    if (VALIDATOR) validate(defined);
    const again = await cli(
      [
        "vm",
        "configure",
        "--libvirt",
        "debian12",
        "--snapshot",
        SNAP,
        "--device",
        "01:00",
        "--usb",
        "046d:c31c",
        "--yes",
      ],
      virsh.env,
    );
    expect(again.stdout).toContain("already configured for passthrough: nothing to change.");
    expect(virsh.calls().filter((c) => c[1] === "define")).toHaveLength(1);
  });

  it("vm create --backend libvirt --yes creates the volume and defines the domain", async () => {
    virsh = fakeVirsh({});
    const r = await cli(
      [
        "vm",
        "create",
        "--backend",
        "libvirt",
        "--snapshot",
        SNAP,
        "--name",
        "gpu",
        "--disk",
        "default:64",
        "--device",
        "01:00",
        "--yes",
      ],
      virsh.env,
    );
    expect(r.code).toBe(0);
    expect(virsh.volumes()).toEqual(["default:gpu.qcow2"]);
    expect(virsh.calls().find((c) => c[1] === "vol-create-as")).toEqual([
      "virsh",
      "vol-create-as",
      "--pool",
      "default",
      "--name",
      "gpu.qcow2",
      "--capacity",
      "64G",
      "--format",
      "qcow2",
    ]);
    expect(virsh.domain("gpu")).toContain("<hostdev");
  });

  it("refuses a device another libvirt domain has", async () => {
    const other = modifyDomainXml(
      DEBIAN12.replace("<name>debian12</name>", "<name>win11</name>"),
      spec(),
      debianFw(),
    ).xml;
    virsh = fakeVirsh({ debian12: DEBIAN12, win11: other });
    const r = await cli(
      [
        "vm",
        "configure",
        "--libvirt",
        "debian12",
        "--snapshot",
        SNAP,
        "--device",
        "01:00",
        "--yes",
      ],
      virsh.env,
    );
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/already belong to libvirt domain win11/);
  });
});
