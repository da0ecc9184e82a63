import { describe, expect, it } from "vitest";
import { EXIT } from "../../src/errors.js";
import {
  apiError,
  apiPath,
  parseToken,
  parseUpid,
  encodeForm,
  normalizeFingerprint,
  redactSecret,
} from "../../src/vm/proxmox/api-client.js";
import { parseApiUrl } from "../../src/vm/proxmox/connect.js";

const SECRET = "0f3ef5c2-2d6c-4a8e-9b3a-1d8e6f7a9c01";

describe("API token", () => {
  it("reads USER@REALM!TOKENID=SECRET, also with the header's prefix and a newline", () => {
    expect(parseToken(`root@pam!ci=${SECRET}`, "env")).toEqual({
      id: "root@pam!ci",
      secret: SECRET,
    });
    expect(parseToken(`PVEAPIToken=passthrough@pve!cli=${SECRET}\n`, "env")).toEqual({
      id: "passthrough@pve!cli",
      secret: SECRET,
    });
  });

  it("checks the secret's form before any request: Proxmox secrets are UUIDs", () => {
    for (const bad of [
      "root@pam!ci=a b",
      "root@pam!ci=secret",
      `root@pam!ci=${SECRET}x`,
      `root@pam!ci=${SECRET.replace("0f3e", "0f3é")}`, // no Latin-1 header value either
    ]) {
      let message = "";
      try {
        parseToken(bad, "PASSTHROUGH_PVE_TOKEN");
      } catch (err) {
        message = (err as Error).message;
      }
      expect(message, bad).toBe(
        'PASSTHROUGH_PVE_TOKEN: the secret after "root@pam!ci=" is not a Proxmox token secret (a UUID, 8-4-4-4-12 hex digits, as `pveum user token add` prints it as value)',
      );
    }
    expect(parseToken(`root@pam!ci=${SECRET.toUpperCase()}`, "env").secret).toBe(
      SECRET.toUpperCase(),
    );
  });

  it("redacts every piece of the secret of 8 or more characters", () => {
    const leak = `proxy said: bad token ${SECRET.slice(3, 15)} (cut) and ${SECRET.slice(-9)}`;
    const shown = redactSecret(leak, SECRET);
    expect(shown).toBe("proxy said: bad token <secret> (cut) and <secret>");
    expect(redactSecret(`x${SECRET}y`, SECRET)).toBe("x<secret>y");
    expect(redactSecret(SECRET.slice(0, 7), SECRET)).toBe(SECRET.slice(0, 7)); // too short to tell
    expect(redactSecret("nothing here", SECRET)).toBe("nothing here");
  });

  it("refuses malformed tokens without repeating them", () => {
    for (const bad of [
      SECRET,
      `root@pam=${SECRET}`,
      `root@pam!ci`,
      `root@pam!ci=`,
      `root!ci@pam=${SECRET}`,
    ]) {
      let message = "";
      try {
        parseToken(bad, "PASSTHROUGH_PVE_TOKEN");
      } catch (err) {
        message = (err as Error).message;
      }
      expect(message).toMatch(
        /^PASSTHROUGH_PVE_TOKEN does not hold an API token in the form USER@REALM!TOKENID=SECRET/,
      );
      expect(message).not.toContain(SECRET);
    }
  });
});

describe("fingerprints, task ids, URLs", () => {
  it("normalizes SHA-256 fingerprints to Proxmox's upper-case colon form", () => {
    const fp = "ab".repeat(32);
    expect(normalizeFingerprint(fp)).toBe(Array(32).fill("AB").join(":"));
    expect(normalizeFingerprint(Array(32).fill("ab").join(":"))).toBe(
      Array(32).fill("AB").join(":"),
    );
    expect(normalizeFingerprint("AB:CD")).toBeNull();
    expect(normalizeFingerprint("zz".repeat(32))).toBeNull();
  });

  it("parses UPIDs, including a token as the user", () => {
    expect(
      parseUpid("UPID:pve1:00001A2B:0ABCDEF1:6553F00D:qmconfig:100:root@pam!automation:"),
    ).toEqual({
      node: "pve1",
      pid: 0x1a2b,
      pstart: 0xabcdef1,
      starttime: 0x6553f00d,
      type: "qmconfig",
      id: "100",
      user: "root@pam!automation",
    });
    expect(parseUpid("UPID:pve1:1:2:3:qmconfig:100:root@pam:")).toBeNull();
    expect(parseUpid("UPID:pve1:00001A2B:0ABCDEF1:6553F00D:qmconfig:100:root@pam")).toBeNull();
  });

  it("defaults to pveproxy's port and refuses plain http", () => {
    expect(parseApiUrl("https://pve1")).toBe("https://pve1:8006");
    expect(parseApiUrl("https://pve1.example.com:443/")).toBe("https://pve1.example.com:443");
    expect(parseApiUrl("https://10.0.0.5:8006/api2/json")).toBe("https://10.0.0.5:8006");
    expect(parseApiUrl("https://[fd00::5]")).toBe("https://[fd00::5]:8006");
    expect(() => parseApiUrl("http://pve1:8006")).toThrow(/https only/);
    expect(() => parseApiUrl("https://root:pw@pve1")).toThrow(/no user or password/);
    expect(() => parseApiUrl("pve1")).toThrow(/not a URL/);
  });

  it("encodes each path segment", () => {
    expect(apiPath`/nodes/${"pve1"}/tasks/${"UPID:pve1:0:0:0:qmconfig:100:a@pve!t:"}/status`).toBe(
      "/nodes/pve1/tasks/UPID%3Apve1%3A0%3A0%3A0%3Aqmconfig%3A100%3Aa%40pve!t%3A/status",
    );
  });
});

describe("form bodies", () => {
  it("percent-encodes ';', '=', ',' and '+' so the server's decoder cannot split them", () => {
    const body = encodeForm({
      hostpci0: "mapping=gpu0,pcie=1",
      cpu: "host,flags=+aes;+pdpe1gb",
      pcie: true,
      cores: 8,
      skip: undefined,
    });
    expect(body).toBe(
      "hostpci0=mapping%3Dgpu0%2Cpcie%3D1&cpu=host%2Cflags%3D%2Baes%3B%2Bpdpe1gb&pcie=1&cores=8",
    );
    expect(body.split(/[&;]/)).toHaveLength(4);
  });

  it("repeats keys for arrays, as the mapping API expects map=...&map=...", () => {
    expect(
      encodeForm({
        map: ["node=a,path=0000:01:00,id=10de:2204", "node=b,path=0000:02:00,id=10de:2204"],
      }),
    ).toBe(
      "map=node%3Da%2Cpath%3D0000%3A01%3A00%2Cid%3D10de%3A2204&map=node%3Db%2Cpath%3D0000%3A02%3A00%2Cid%3D10de%3A2204",
    );
  });
});

describe("what Proxmox errors mean", () => {
  const base = {
    method: "POST",
    path: "/nodes/pve1/qemu/100/config",
    tokenId: "ops@pve!vm",
    tokenSource: "PASSTHROUGH_PVE_TOKEN",
  };

  it("401: a refused token, and where it came from", () => {
    const e = apiError({ ...base, status: 401, message: "Authentication failed!" });
    expect([e.kind, e.exitCode]).toEqual(["auth", EXIT.usage]);
    expect(e.message).toMatch(
      /refused token ops@pve!vm \(401 Authentication failed!\): check the secret in PASSTHROUGH_PVE_TOKEN/,
    );
  });

  it("403: names the missing privilege, the path and the grant command", () => {
    const e = apiError({
      ...base,
      status: 403,
      message: "Permission check failed (/vms/100, VM.Config.HWType)",
    });
    expect(e.kind).toBe("permission");
    expect(e.message).toContain("token ops@pve!vm lacks VM.Config.HWType on /vms/100");
    expect(e.message).toContain(
      "pveum acl modify /vms/100 --tokens 'ops@pve!vm' --roles Passthrough",
    );
    expect(
      apiError({
        ...base,
        status: 403,
        message: "Permission check failed (/vms/100, VM.Config.Disk|VM.Config.CDROM)",
      }).message,
    ).toContain("one of VM.Config.Disk, VM.Config.CDROM");
  });

  it("400: lists the offending parameters", () => {
    const e = apiError({
      ...base,
      status: 400,
      message: "Parameter verification failed.",
      paramErrors: {
        hostpci0: "invalid format - format error\nhost: value does not match the regex pattern",
      },
    });
    expect(e.kind).toBe("parameter");
    expect(e.message).toContain("hostpci0: invalid format");
  });

  it("500 root-only hostpci: explains mappings", () => {
    const e = apiError({
      ...base,
      status: 500,
      message: "only root can set 'hostpci0' config for non-mapped devices",
    });
    expect(e.kind).toBe("root-only");
    expect(e.message).toMatch(
      /only root@pam.*hostpci0.*never root@pam.*passthrough vm mapping create.*hostpci0: mapping=gpu0/,
    );
  });

  it("500 checksum mismatch: a concurrent edit, refused, nothing overwritten (exit 3)", () => {
    const e = apiError({
      ...base,
      status: 500,
      message: "checksum mismatch (file change by other user?)\n",
    });
    expect([e.kind, e.exitCode]).toEqual(["conflict", EXIT.refused]);
    expect(e.message).toContain("nothing was overwritten");
  });

  it("501 and proxy errors", () => {
    expect(
      apiError({
        ...base,
        method: "GET",
        path: "/cluster/mapping/pci",
        status: 501,
        message: "Method 'GET /cluster/mapping/pci' not implemented",
      }).message,
    ).toContain("Proxmox VE 8.0");
    const proxy = apiError({
      ...base,
      method: "GET",
      status: 595,
      message: "Connection timed out",
    });
    expect([proxy.kind, proxy.details.retryable]).toEqual(["network", true]);
    expect(
      apiError({ ...base, status: 500, message: "some other die" }).details.retryable,
    ).toBeUndefined();
  });
});
