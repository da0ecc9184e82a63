import { describe, expect, it } from "vitest";
import {
  editCmdline,
  findParams,
  hasParam,
  param,
  parseCmdline,
  printCmdline,
} from "../../src/formats/kernel-cmdline.js";

describe("kernel command line", () => {
  it("splits like the kernel's next_arg, keeping quoted spaces", () => {
    const p = parseCmdline(
      'BOOT_IMAGE=/boot/vmlinuz root=/dev/mapper/pve-root ro quiet dyndbg="file x.c +p" "foo=a b"\n',
    );
    expect(p.map((x) => [x.key, x.value])).toEqual([
      ["BOOT_IMAGE", "/boot/vmlinuz"],
      ["root", "/dev/mapper/pve-root"],
      ["ro", null],
      ["quiet", null],
      ["dyndbg", "file x.c +p"],
      ["foo", "a b"],
    ]);
  });

  it("treats - and _ in names as the same parameter", () => {
    const p = parseCmdline("vfio_pci.ids=10de:2206,10de:1aef");
    expect(findParams(p, "vfio-pci.ids")).toHaveLength(1);
    expect(hasParam(p, param("vfio-pci.ids", "10de:1aef,10de:2206"))).toBe(true);
    expect(hasParam(p, param("vfio-pci.ids", "10de:2206"))).toBe(false);
  });

  it("round-trips the raw text", () => {
    const line = 'root=ZFS=rpool/ROOT/pve-1 boot=zfs  quiet x="a b"';
    expect(printCmdline(parseCmdline(line))).toBe(
      'root=ZFS=rpool/ROOT/pve-1 boot=zfs quiet x="a b"',
    );
  });

  it("edits in place: appends, removes exact tokens, keeps everything else", () => {
    const line = "root=ZFS=rpool/ROOT/pve-1 boot=zfs amd_iommu=on quiet\n";
    expect(editCmdline(line, { add: [param("iommu", "pt")], remove: ["amd_iommu=on"] })).toBe(
      "root=ZFS=rpool/ROOT/pve-1 boot=zfs quiet iommu=pt\n",
    );
    expect(editCmdline("quiet", { remove: ["quiet"] })).toBe("");
    expect(editCmdline("", { add: [param("iommu", "pt")] })).toBe("iommu=pt");
  });
});
