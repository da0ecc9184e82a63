// Container configs (src/formats/proxmox-ct-config.ts) against pve-container's file format.
import { describe, expect, it } from "vitest";
import { freeDevIndex, parseCtConfig, printCtConfig } from "../../src/formats/proxmox-ct-config.js";

const WITH_SNAPSHOT = `#Jellyfin%3A hardware transcoding
#second line
arch: amd64
hostname: jellyfin
unprivileged: 1
dev0: /dev/dri/card0,gid=44
lxc.cgroup2.devices.allow: c 226:0 rwm
lxc.mount.entry: /dev/dri/card0 dev/dri/card0 none bind,optional,create=file
lxc.cgroup2.devices.allow: c 226:128 rwm
memory: 2048
parent: before-gpu

[before-gpu]
arch: amd64
hostname: jellyfin
memory: 1024
snaptime: 1717430400
`;

describe("parseCtConfig", () => {
  const cfg = parseCtConfig(WITH_SNAPSHOT);

  it("reads keys, the decoded description and devN entries of the main section", () => {
    expect(cfg.main.description).toEqual(["Jellyfin: hardware transcoding", "second line"]);
    expect(cfg.main.keys["dev0"]).toBe("/dev/dri/card0,gid=44");
    expect(cfg.main.keys["memory"]).toBe("2048");
    expect(cfg.unparsed).toEqual([]);
  });

  it("keeps raw lxc.* keys in file order, repeated keys included", () => {
    expect(cfg.main.lxc).toEqual([
      ["lxc.cgroup2.devices.allow", "c 226:0 rwm"],
      ["lxc.mount.entry", "/dev/dri/card0 dev/dri/card0 none bind,optional,create=file"],
      ["lxc.cgroup2.devices.allow", "c 226:128 rwm"],
    ]);
  });

  it("puts snapshot sections apart from the main one", () => {
    expect(Object.keys(cfg.snapshots)).toEqual(["before-gpu"]);
    expect(cfg.snapshots["before-gpu"]!.keys["memory"]).toBe("1024");
    expect(cfg.main.keys["snaptime"]).toBeUndefined();
  });

  it("accepts the old 'lxc.key = value' form and reads [pve:pending]", () => {
    const c = parseCtConfig(
      "arch: amd64\nlxc.apparmor.profile = unconfined\n\n[pve:pending]\nmemory: 512\n",
    );
    expect(c.main.lxc).toEqual([["lxc.apparmor.profile", "unconfined"]]);
    expect(c.pending?.keys).toEqual({ memory: "512" });
    expect(c.snapshots).toEqual({});
  });

  it("lists lines pve-container would skip", () => {
    expect(parseCtConfig("arch: amd64\nNot A Key\n").unparsed).toEqual(["Not A Key"]);
  });
});

describe("printCtConfig", () => {
  it("writes as write_pct_config: description, sorted keys, lxc keys, then snapshots", () => {
    expect(printCtConfig(parseCtConfig(WITH_SNAPSHOT))).toBe(`#Jellyfin%3A hardware transcoding
#second line
arch: amd64
dev0: /dev/dri/card0,gid=44
hostname: jellyfin
memory: 2048
parent: before-gpu
unprivileged: 1
lxc.cgroup2.devices.allow: c 226:0 rwm
lxc.mount.entry: /dev/dri/card0 dev/dri/card0 none bind,optional,create=file
lxc.cgroup2.devices.allow: c 226:128 rwm

[before-gpu]
arch: amd64
hostname: jellyfin
memory: 1024
snaptime: 1717430400
`);
  });

  it("round-trips a file Proxmox wrote unchanged", () => {
    const text = printCtConfig(parseCtConfig(WITH_SNAPSHOT));
    expect(printCtConfig(parseCtConfig(text))).toBe(text);
  });

  it("escapes non-ASCII and control characters of the description", () => {
    const c = parseCtConfig("arch: amd64\n");
    c.main.description.push("Büro\tGPU");
    expect(printCtConfig(c)).toBe("#B%C3%BCro%09GPU\narch: amd64\n");
  });
});

describe("freeDevIndex", () => {
  it("takes the lowest devN not in use", () => {
    const c = parseCtConfig("dev0: /dev/dri/card0\ndev2: /dev/kfd\n");
    expect(freeDevIndex(c.main)).toBe(1);
    expect(freeDevIndex(c.main, new Set([1]))).toBe(3);
  });
});
