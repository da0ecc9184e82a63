import { describe, expect, it } from "vitest";
import { closestKnownModule, lintConfiguration } from "../../src/checks/config-lint.js";
import { parseCmdline } from "../../src/formats/kernel-cmdline.js";
import { parseModprobeConf } from "../../src/formats/modprobe-conf.js";
import { fixtureState } from "../helpers/fixtures.js";

describe("config lint", () => {
  it("finds the seed write-up's two mistakes, with file and line", () => {
    const problems = lintConfiguration(fixtureState("seed-after"));
    expect(problems.map((p) => [p.kind, p.file, p.line, p.text])).toEqual([
      ["blacklist-wildcard", "etc/modprobe.d/blacklist.conf", 2, "blacklist nvidia*"],
      ["cmdline-pending", "etc/default/grub", 9, "iommu=pt"],
    ]);
  });

  it("is silent on the fresh seed host", () => {
    expect(lintConfiguration(fixtureState("seed-before"))).toEqual([]);
  });

  it("flags amd_iommu=on, vfio_virqfd on >= 6.2, non-.conf files, absent vfio ids and misspelt blacklists", () => {
    const s = fixtureState("seed-after");
    s.cmdline.configured!.params.push(
      ...parseCmdline("amd_iommu=on vfio-pci.ids=10de:2206,10de:9999").map((p) => ({
        ...p,
        origin: { file: "etc/default/grub", line: 9 },
      })),
    );
    s.cmdline.running!.push(...parseCmdline("amd_iommu=on vfio-pci.ids=10de:2206,10de:9999"));
    s.modules.loadAtBoot.push({ file: "etc/modules", line: 10, module: "vfio_virqfd", args: [] });
    s.modules.ignoredModprobeFiles.push("etc/modprobe.d/vfio");
    s.modules.modprobe.push(
      ...parseModprobeConf(
        "etc/modprobe.d/x.conf",
        "blacklist noveau\noptions vfio-pci ids=10de:2206,1002:abcd\n",
      ),
    );
    const kinds = lintConfiguration(s).map((p) => `${p.kind} ${p.text}`);
    expect(kinds).toEqual(
      expect.arrayContaining([
        "amd-iommu-on amd_iommu=on",
        "vfio-ids-absent vfio-pci.ids=10de:2206,10de:9999",
        "vfio-virqfd-merged vfio_virqfd",
        "modprobe-not-conf vfio",
        "blacklist-unknown-module blacklist noveau",
        "vfio-ids-absent options vfio-pci ids=10de:2206,1002:abcd",
      ]),
    );
    expect(kinds).not.toContain("amd-iommu-on amd_iommu=on pending");
  });

  it("flags parameters left in the config of a boot loader the host does not use", () => {
    const s = fixtureState("seed-after");
    s.cmdline.inactive.push({
      source: "kernel-cmdline",
      files: ["etc/kernel/cmdline"],
      params: parseCmdline("root=/dev/x intel_iommu=on").map((p) => ({
        ...p,
        origin: { file: "etc/kernel/cmdline", line: 1 },
      })),
    });
    const wrong = lintConfiguration(s)
      .filter((p) => p.kind === "cmdline-wrong-bootloader")
      .map((p) => p.text);
    expect(wrong).toEqual(["root=/dev/x", "intel_iommu=on"]);
  });

  it("suggests the closest module name for a typo", () => {
    expect(closestKnownModule("noveau", ["nouveau", "nvidia"])).toBe("nouveau");
    expect(closestKnownModule("zzzzzz", ["nouveau"])).toBeNull();
  });
});
