// The pure parts of the e2e harness (test/e2e): where the guest image's packages come from,
// the QEMU machine it boots, the image cache key, and the CPU slots builds and guests share.
import { mkdtempSync, writeFileSync, mkdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { debianMirror, readAptSources } from "../e2e/lib/apt-sources.js";
import { IMAGES, imageKey, provisionScript, type Variant } from "../e2e/lib/image.js";
import { qemuArgs, type MachineSpec } from "../e2e/lib/qemu.js";
import { Slots } from "../e2e/lib/slots.js";

describe("e2e: Debian mirror from the machine's apt configuration", () => {
  const deb822 = `Types: deb
# http://snapshot.example/archive/debian/20250520T000000Z
URIs: http://mirror.example/debian/
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://security.example/debian-security
Suites: bookworm-security
Components: main
`;

  it("takes the URI of the deb822 stanza serving the release's main component", () => {
    expect(
      debianMirror([{ path: "/etc/apt/sources.list.d/debian.sources", text: deb822 }], "bookworm"),
    ).toBe("http://mirror.example/debian");
  });

  it("skips disabled stanzas, deb-src, other suites and components", () => {
    const text = `Types: deb
URIs: http://off.example/debian
Suites: bookworm
Components: main
Enabled: no

Types: deb-src
URIs: http://src.example/debian
Suites: bookworm
Components: main

Types: deb
URIs: http://contrib.example/debian
Suites: bookworm
Components: contrib

Types: deb
URIs: http://old.example/debian
Suites: bullseye
Components: main
`;
    expect(debianMirror([{ path: "x.sources", text }], "bookworm")).toBeNull();
  });

  it("reads one-line sources.list entries with options, ignoring comments", () => {
    const text = `# deb http://commented.example/debian bookworm main
deb-src http://src.example/debian bookworm main
deb [arch=amd64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://one.example/debian/ bookworm main contrib
deb http://security.example/debian-security bookworm-security main
`;
    expect(debianMirror([{ path: "/etc/apt/sources.list", text }], "bookworm")).toBe(
      "http://one.example/debian",
    );
  });

  it("reads the files apt reads, in apt's order, from a root", () => {
    const root = mkdtempSync(join(tmpdir(), "e2e-apt-"));
    try {
      mkdirSync(join(root, "etc/apt/sources.list.d"), { recursive: true });
      writeFileSync(join(root, "etc/apt/sources.list.d/b.sources"), deb822);
      writeFileSync(
        join(root, "etc/apt/sources.list.d/a.list"),
        "deb http://a.example/debian bookworm main\n",
      );
      writeFileSync(
        join(root, "etc/apt/sources.list.d/ignored.save"),
        "deb http://no.example/debian bookworm main\n",
      );
      const files = readAptSources(root);
      expect(files.map((f) => f.path.slice(root.length))).toEqual([
        "/etc/apt/sources.list.d/a.list",
        "/etc/apt/sources.list.d/b.sources",
      ]);
      expect(debianMirror(files, "bookworm")).toBe("http://a.example/debian");
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});

describe("e2e: the QEMU machine", () => {
  const base: MachineSpec = {
    firmware: "bios",
    iommu: "intel",
    disk: "/d.qcow2",
    diskFormat: "qcow2",
    share: "/s",
    serialLog: "/l",
  };
  const devices = (a: string[]) =>
    a.flatMap((x, i) => (a[i - 1] === "-device" ? [x.split(",")[0]!] : []));

  it("puts the IOMMU before the devices it translates, the host's own display, and the two-function card behind a root port", () => {
    const a = qemuArgs(base);
    expect(devices(a)).toEqual([
      "intel-iommu",
      "virtio-blk-pci",
      "cirrus-vga",
      "pcie-root-port",
      "bochs-display",
      "ich9-intel-hda",
    ]);
    expect(a).toContain("intel-iommu,intremap=on,caching-mode=on");
    expect(a).toContain("bochs-display,bus=rp1,addr=00.0,multifunction=on");
    expect(a).toContain("ich9-intel-hda,bus=rp1,addr=00.1");
    expect(a[a.indexOf("-machine") + 1]).toBe("q35,kernel-irqchip=split");
    expect(a[a.indexOf("-accel") + 1]).toBe("tcg,thread=multi");
    expect(a).toContain("-no-reboot");
  });

  it("matches the CPU vendor to the IOMMU model", () => {
    const a = qemuArgs({ ...base, iommu: "amd" });
    expect(devices(a)[0]).toBe("amd-iommu");
    expect(a[a.indexOf("-cpu") + 1]).toBe("max,vendor=AuthenticAMD");
    expect(qemuArgs(base)[qemuArgs(base).indexOf("-cpu") + 1]).toBe("max,vendor=GenuineIntel");
  });

  it("UEFI needs the machine's own variable store; OVMF code stays read-only", () => {
    expect(() => qemuArgs({ ...base, firmware: "uefi" })).toThrow(/ovmfVars/);
    const a = qemuArgs({ ...base, firmware: "uefi", ovmfVars: "/run/vars.fd" });
    expect(a).toContain(
      "if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd",
    );
    expect(a).toContain("if=pflash,format=raw,unit=1,file=/run/vars.fd");
  });

  it("boots a kernel directly for the provisioning boot, without IOMMU or card", () => {
    const a = qemuArgs({
      ...base,
      iommu: "none",
      gpu: false,
      directKernel: { kernel: "/k", initrd: "/i", append: "root=LABEL=labroot ro" },
    });
    expect(devices(a)).toEqual(["virtio-blk-pci"]);
    expect(a.slice(a.indexOf("-kernel"))).toEqual([
      "-kernel",
      "/k",
      "-initrd",
      "/i",
      "-append",
      "root=LABEL=labroot ro",
    ]);
  });
});

describe("e2e: image cache key", () => {
  const dir = mkdtempSync(join(tmpdir(), "e2e-recipe-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  for (const f of ["build-disk.sh", "e2e-lab-boot", "e2e-lab.service"])
    writeFileSync(join(dir, f), `${f} v1\n`);

  it("changes with the recipe and the variant, and only then", () => {
    const k = imageKey("bios", dir);
    expect(imageKey("bios", dir)).toBe(k);
    expect(imageKey("uefi", dir)).not.toBe(k);
    writeFileSync(join(dir, "e2e-lab-boot"), "e2e-lab-boot v2\n");
    expect(imageKey("bios", dir)).not.toBe(k);
  });

  it("provisions the boot loader the distribution's way", () => {
    expect(provisionScript("bios")).toMatch(
      /grub-install --target=i386-pc \/dev\/vda[\s\S]*update-grub/,
    );
    expect(provisionScript("uefi")).toMatch(
      /bootctl install[\s\S]*update-initramfs -u -k all[\s\S]*loader\/entries/,
    );
    // GRUB for EFI on the removable path, so a fresh OVMF variable store boots it.
    expect(provisionScript("uefi-grub")).toMatch(
      /grub-install --target=x86_64-efi --efi-directory=\/boot\/efi --removable --no-nvram[\s\S]*update-grub/,
    );
    expect(provisionScript("uefi-grub")).not.toMatch(/bootctl/);
    expect(provisionScript("trixie-uefi")).toMatch(/bootctl install/);
    expect(provisionScript("trixie-bios")).toMatch(/grub-install --target=i386-pc/);
  });

  it("gives every image its own key: release, boot loader and packages are part of it", () => {
    const keys = (Object.keys(IMAGES) as Variant[]).map((v) => imageKey(v, dir));
    expect(new Set(keys).size).toBe(keys.length);
    expect(IMAGES["trixie-bios"]).toMatchObject({ suite: "trixie", nested: false });
    expect(IMAGES["trixie-bios-nested"]).toMatchObject({ suite: "trixie", nested: true });
    expect(IMAGES["uefi-grub"]).toMatchObject({ firmware: "uefi", boot: "grub-efi" });
  });
});

describe("e2e: CPU slots shared by image builds and scenarios", () => {
  /** A task that records when it starts and ends and finishes when told to. */
  function recorder() {
    const events: string[] = [];
    const finish = new Map<string, () => void>();
    const task = (name: string) => () =>
      new Promise<string>((resolve) => {
        events.push(`start ${name}`);
        finish.set(name, () => {
          events.push(`end ${name}`);
          resolve(name);
        });
      });
    const tick = () => new Promise((r) => setImmediate(r));
    return { events, finish, task, tick };
  }

  it("runs no more tasks at once than it has slots", async () => {
    const { events, finish, task, tick } = recorder();
    const slots = new Slots(2);
    const all = ["a", "b", "c"].map((n) => slots.run(task(n)));
    await tick();
    expect(events).toEqual(["start a", "start b"]);
    finish.get("b")!();
    await tick();
    expect(events).toEqual(["start a", "start b", "end b", "start c"]);
    finish.get("a")!();
    finish.get("c")!();
    expect(await Promise.all(all)).toEqual(["a", "b", "c"]);
  });

  it("gives a freed slot to the lowest rank waiting, equal ranks in arrival order", async () => {
    const { events, finish, task, tick } = recorder();
    const slots = new Slots(1);
    const all = [
      slots.run(task("first"), 0),
      slots.run(task("scenario 1"), 1),
      slots.run(task("scenario 2"), 1),
      slots.run(task("image"), 0),
    ];
    for (const n of ["first", "image", "scenario 1", "scenario 2"]) {
      await tick();
      finish.get(n)!();
    }
    await Promise.all(all);
    expect(events.filter((e) => e.startsWith("start"))).toEqual([
      "start first",
      "start image",
      "start scenario 1",
      "start scenario 2",
    ]);
  });

  it("lets a holder keep its slot across steps, so a waiting scenario cannot slip in between", async () => {
    const { events, finish, task, tick } = recorder();
    const slots = new Slots(1);
    const release = await slots.take();
    const scenario = slots.run(task("scenario"), 1);
    await tick();
    expect(events).toEqual([]); // debootstrap done, provisioning next: still held
    release();
    release(); // a second call frees nothing more
    await tick();
    expect(events).toEqual(["start scenario"]);
    const other = slots.run(task("other"), 1);
    await tick();
    expect(events).toEqual(["start scenario"]);
    finish.get("scenario")!();
    await tick();
    finish.get("other")!();
    await Promise.all([scenario, other]);
  });

  it("frees the slot when a task fails", async () => {
    const slots = new Slots(1);
    await expect(slots.run(() => Promise.reject(new Error("boot timed out")))).rejects.toThrow(
      "boot timed out",
    );
    expect(await slots.run(() => Promise.resolve("next"))).toBe("next");
  });
});
