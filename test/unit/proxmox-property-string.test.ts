// Round trips of the shared property-string parser/printer on the values the API client sends
// and reads back (map entries, mapped hostpci, cpu flags with ";").
import { describe, expect, it } from "vitest";
import {
  parsePropertyString,
  printPropertyString,
} from "../../src/formats/proxmox-property-string.js";

describe("property strings the API uses round-trip", () => {
  const cases: Array<[string | null, string]> = [
    ["host", "mapping=gpu0,pcie=1,x-vga=1"],
    ["host", "0000:01:00.0;0000:01:00.1,rombar=0"],
    [null, "node=pve1,path=0000:01:00,id=10de:2204,iommugroup=14,subsystem-id=1462:3880"],
    [null, "node=pve2,path=0000:41:00.0;0000:42:00.0,id=10de:2204"],
    ["cputype", "host,flags=+pdpe1gb;-hv-evmcs,hidden=1"],
    ["type", "pc-q35-9.2+pve1,viommu=intel"],
    ["file", "local-lvm:vm-100-disk-0,efitype=4m,pre-enrolled-keys=1,size=4M"],
  ];
  for (const [defaultKey, text] of cases) {
    it(text, () => {
      expect(printPropertyString(parsePropertyString(text, defaultKey), defaultKey)).toBe(text);
    });
  }

  it("splits a part at its first '=' only", () => {
    expect(parsePropertyString("args=-a=b,x=y", null).entries).toEqual([
      ["args", "-a=b"],
      ["x", "y"],
    ]);
  });

  it("a map entry has no default key", () => {
    expect(() => parsePropertyString("pve1,path=0000:01:00", null)).toThrow();
  });
});
