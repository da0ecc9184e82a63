import { describe, expect, it } from "vitest";
import {
  parseDracutDrivers,
  parseMkinitcpioModules,
  parseBoosterModules,
} from "../../src/formats/initramfs-conf.js";
import {
  effectiveConfFiles,
  hasWildcard,
  optionsOf,
  parseModprobeConf,
  softdepTargets,
} from "../../src/formats/modprobe-conf.js";
import { appendModules, parseModuleList } from "../../src/formats/module-lists.js";
import { parseOsRelease } from "../../src/formats/os-release.js";
import { PciIdsDb, builtinClassName } from "../../src/formats/pci-ids.js";
import {
  parsePropertyString,
  printPropertyString,
  setProperty,
} from "../../src/formats/proxmox-property-string.js";
import { parseVmConfig } from "../../src/formats/proxmox-vm-config.js";
import {
  evaluateShellFiles,
  parseShellFile,
  replaceAssignmentValue,
} from "../../src/formats/shell-assignments.js";
import { SEED_PCI_IDS } from "../fixtures/specs/seed.js";

describe("modprobe.d", () => {
  const text =
    "# comment\nblacklist nvidia*\noptions vfio-pci ids=10de:2206,10de:1aef disable_vga=1\nsoftdep nouveau pre: vfio-pci\nsoftdep snd_hda_intel pre: vfio_pci post: x\ninstall foo \\\n  /bin/false\n";
  const d = parseModprobeConf("etc/modprobe.d/x.conf", text);
  it("parses commands with line numbers, normalising module names but not alias patterns", () => {
    expect(d.map((x) => [x.line, x.command, x.module])).toEqual([
      [2, "blacklist", "nvidia*"],
      [3, "options", "vfio_pci"],
      [4, "softdep", "nouveau"],
      [5, "softdep", "snd_hda_intel"],
      [6, "install", "foo"],
    ]);
    expect(d[4]!.args).toEqual(["/bin/false"]);
    expect(hasWildcard(d[0]!.module)).toBe(true);
    expect(optionsOf(d[1]!)).toEqual({ ids: "10de:2206,10de:1aef", disable_vga: "1" });
    expect(softdepTargets(d[2]!)).toEqual({ pre: ["vfio_pci"], post: [] });
    expect(softdepTargets(d[3]!)).toEqual({ pre: ["vfio_pci"], post: ["x"] });
  });
  it("orders files like kmod: by name, /etc shadowing /lib, only .conf", () => {
    expect(
      effectiveConfFiles([
        { dir: "etc/modprobe.d", names: ["b.conf", "vfio", "z.conf"] },
        { dir: "lib/modprobe.d", names: ["a.conf", "b.conf"] },
      ]),
    ).toEqual(["lib/modprobe.d/a.conf", "etc/modprobe.d/b.conf", "etc/modprobe.d/z.conf"]);
  });
});

describe("module lists", () => {
  it("reads /etc/modules and appends only what is missing", () => {
    const t = "# /etc/modules\nvfio\nvfio-pci ids=1\n; also a comment\n";
    expect(parseModuleList("etc/modules", t).map((e) => [e.line, e.module, e.args])).toEqual([
      [2, "vfio", []],
      [3, "vfio_pci", ["ids=1"]],
    ]);
    expect(appendModules(t, ["vfio", "vfio_pci", "vfio_iommu_type1"])).toBe(
      t + "vfio_iommu_type1\n",
    );
    expect(appendModules("vfio", ["kvm"])).toBe("vfio\nkvm\n");
  });
});

describe("initramfs configs", () => {
  it("reads dracut, mkinitcpio and booster module lists", () => {
    expect(
      parseDracutDrivers("f", 'force_drivers+=" vfio_pci vfio "\nadd_drivers+="x"\n').map(
        (e) => e.module,
      ),
    ).toEqual(["vfio_pci", "vfio", "x"]);
    expect(
      parseMkinitcpioModules("f", "MODULES=(vfio_pci vfio amdgpu)\nHOOKS=(base)\n").map(
        (e) => e.module,
      ),
    ).toEqual(["vfio_pci", "vfio", "amdgpu"]);
    expect(
      parseBoosterModules("f", "modules_force_load: vfio_pci,vfio\n").map((e) => e.module),
    ).toEqual(["vfio_pci", "vfio"]);
  });
});

describe("GRUB defaults as shell", () => {
  const main = parseShellFile(
    "etc/default/grub",
    'GRUB_DEFAULT=0\nGRUB_CMDLINE_LINUX_DEFAULT="quiet"\nGRUB_CMDLINE_LINUX=""\n',
  );
  const dropin = parseShellFile(
    "etc/default/grub.d/x.cfg",
    "GRUB_CMDLINE_LINUX_DEFAULT=\"$GRUB_CMDLINE_LINUX_DEFAULT iommu=pt\"\nexport FOO='a b'\nif true; then X=1; fi\n",
  );
  it("sources files in order with variable expansion", () => {
    const { vars, history } = evaluateShellFiles([main, dropin]);
    expect(vars.GRUB_CMDLINE_LINUX_DEFAULT).toBe("quiet iommu=pt");
    expect(vars.FOO).toBe("a b");
    expect(history.GRUB_CMDLINE_LINUX_DEFAULT!.map((a) => `${a.file}:${a.line}`)).toEqual([
      "etc/default/grub:2",
      "etc/default/grub.d/x.cfg:1",
    ]);
    expect(dropin.unsupported.map((u) => u.line)).toEqual([3]);
  });
  it("replaces one value and keeps every other byte", () => {
    const text = 'A=1\nGRUB_CMDLINE_LINUX_DEFAULT="quiet"  # keep\nB=2\n';
    const f = parseShellFile("g", text);
    const a = f.assignments.find((x) => x.name === "GRUB_CMDLINE_LINUX_DEFAULT")!;
    expect(replaceAssignmentValue(text, a, 'quiet iommu=pt "x"')).toBe(
      'A=1\nGRUB_CMDLINE_LINUX_DEFAULT="quiet iommu=pt \\"x\\""  # keep\nB=2\n',
    );
  });
});

describe("pci.ids", () => {
  const db = new PciIdsDb(SEED_PCI_IDS, "test");
  it("names vendors, devices, subsystems and classes like lspci", () => {
    expect(db.vendorName("10de")).toBe("NVIDIA Corporation");
    expect(db.deviceName("10de", "2206")).toBe("GA102 [GeForce RTX 3080]");
    expect(db.subsystemName("10de", "2206", "19da", "1612")).toBe(
      "ZOTAC International (MCO) Ltd. GA102 [GeForce RTX 3080]",
    );
    expect(db.subsystemName("10de", "1aef", "19da", "1612")).toBe(
      "ZOTAC International (MCO) Ltd. GA102 High Definition Audio Controller",
    );
    expect(db.deviceName("10ec", "c852")).toBeNull();
    expect(db.vendorName("abcd")).toBeNull();
    expect(db.className("030000")).toBe("VGA compatible controller");
    expect(db.className("040300")).toBe("Audio device");
    expect(builtinClassName("0c0330")).toBe("USB controller");
    expect(builtinClassName("ab1234")).toBe("Class ab12");
  });
  it("reads the file's bytes and gives names with non-ASCII letters back as UTF-8 text", () => {
    const file =
      "1002  Advanced Micro Devices, Inc. [AMD/ATI]\n\t67b0  Hawaii XT / Grenada XT [Radeon R9 290X/390X]\n\t\t1787 2020  R9 290X IceQ X² Turbo\n1787  Hightech Information System Ltd.\nC 03  Display controller\n\t00  VGA compatible controller\nC 0c  Serial bus controller\n\t03  USB controller\n";
    const fromBytes = PciIdsDb.fromBytes(Buffer.from(file, "utf8"), "bytes");
    expect(fromBytes.subsystemName("1002", "67b0", "1787", "2020")).toBe(
      "Hightech Information System Ltd. R9 290X IceQ X² Turbo",
    );
    expect(fromBytes.deviceName("1002", "67b0")).toBe(
      "Hawaii XT / Grenada XT [Radeon R9 290X/390X]",
    );
    // Class lookups search the class section at the end; a vendor id never reads "C 0c".
    expect(fromBytes.className("0c0330")).toBe("USB controller");
    expect(fromBytes.className("030000")).toBe("VGA compatible controller");
    expect(fromBytes.className("ff0000")).toBeNull();
  });
});

describe("Proxmox formats", () => {
  it("property strings round-trip with the default key first", () => {
    const ps = parsePropertyString("0000:01:00,pcie=1,x-vga=1", "host");
    expect(ps.entries).toEqual([
      ["host", "0000:01:00"],
      ["pcie", "1"],
      ["x-vga", "1"],
    ]);
    expect(printPropertyString(setProperty(ps, "x-vga", null), "host")).toBe("0000:01:00,pcie=1");
    expect(printPropertyString(parsePropertyString("pcie=1,host=01:00", "host"), "host")).toBe(
      "01:00,pcie=1",
    );
  });
  it("VM configs: main section only, comments as description, other sections apart", () => {
    const c = parseVmConfig(
      "#my%20vm\nboot: order=scsi0\nhostpci0: 0000:01:00,pcie=1\n\n[PENDING]\nmemory: 4096\n[snap1]\nmemory: 1024\n",
    );
    expect(c.main).toEqual({ boot: "order=scsi0", hostpci0: "0000:01:00,pcie=1" });
    expect(c.description).toEqual(["my vm"]);
    expect(c.sections.PENDING).toEqual({ memory: "4096" });
  });
  it("os-release with quotes", () => {
    expect(
      parseOsRelease(
        'ID=debian\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID_LIKE="rhel fedora"\n',
      ),
    ).toEqual({
      ID: "debian",
      PRETTY_NAME: "Debian GNU/Linux 12 (bookworm)",
      ID_LIKE: "rhel fedora",
    });
  });
});
