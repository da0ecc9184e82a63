// Which kernel the next boot starts, from the boot loader's own files (src/boot/next-boot.ts):
// GRUB's grub.cfg + grubenv (default index, title, id, "submenu>entry" paths, saved_entry,
// next_entry), Fedora's blscfg entries, systemd-boot's EFI variables and loader.conf; and
// check's kernel.modules verdict and fix on the kernel-grub-*, kernel-bls and kernel-sdboot
// fixtures (test/fixtures/specs/kernel-boot-menus.ts).
import { describe, expect, it } from "vitest";
import { keepBootingCommand, nextBoot, resolveMenuPath } from "../../src/boot/next-boot.js";
import { runChecks } from "../../src/checks/run-checks.js";
import { grubWords, parseGrubCfg } from "../../src/formats/grub-cfg.js";
import { parseGrubenv } from "../../src/formats/grubenv.js";
import { releaseOfKernelPath } from "../../src/formats/loader-entry.js";
import { withoutGrubPasswords } from "../../src/host/capture/capture.js";
import type { HostState } from "../../src/host/types.js";
import { debianGrubCfg, grubenv } from "../fixtures/specs/kernel-boot-menus.js";
import { fixtureState } from "../helpers/fixtures.js";

const UUID = "5d8c3a1e-7b2f-4c6d-9e8a-1f2b3c4d5e6f";
const OLD = "6.1.0-25-amd64";
const NEW = "6.1.0-26-amd64";
const ADVANCED = `gnulinux-advanced-${UUID}`;
const verdict = (s: HostState) => runChecks(s).findings.filter((f) => f.id === "kernel.modules");

function withGrubenv(s: HostState, vars: Record<string, string>): HostState {
  s.kernels.bootMenu.grubenv = { path: "boot/grub/grubenv", text: grubenv(vars) };
  return s;
}

describe("grub.cfg", () => {
  const cfg = parseGrubCfg(debianGrubCfg([NEW, OLD], "0"));

  it("splits GRUB words: quotes, escapes, $variables as written, comments", () => {
    expect(grubWords(`menuentry 'A b' "c \\"d\\"" $menuentry_id_option 'x' { # note`)).toEqual([
      "menuentry",
      "A b",
      'c "d"',
      "$menuentry_id_option",
      "x",
      "{",
    ]);
  });

  it("reads the menu tree, ids, kernels and the header's defaults", () => {
    expect(cfg.menu.map((i) => [i.kind, i.title, i.id])).toEqual([
      ["entry", "Debian GNU/Linux", `gnulinux-simple-${UUID}`],
      ["submenu", "Advanced options for Debian GNU/Linux", ADVANCED],
      ["entry", "UEFI Firmware Settings", "uefi-firmware"],
    ]);
    expect(cfg.menu[0]!.linux).toBe(`/boot/vmlinuz-${NEW}`);
    expect(cfg.menu[1]!.children.map((c) => c.linux)).toEqual([
      `/boot/vmlinuz-${NEW}`,
      `/boot/vmlinuz-${NEW}`,
      `/boot/vmlinuz-${OLD}`,
      `/boot/vmlinuz-${OLD}`,
    ]);
    expect(cfg).toMatchObject({ defaultValue: "0", nextEntry: true, blscfg: false });
    expect(parseGrubCfg('set default="${saved_entry}"\n').defaultValue).toBe("${saved_entry}");
    expect(parseGrubCfg("insmod blscfg\nblscfg\n")).toMatchObject({ blscfg: true, menu: [] });
  });

  it("resolves an index, a numeric submenu path, titles, ids and a mixed path like GRUB", () => {
    const linux = (spec: string) => resolveMenuPath(cfg.menu, spec).item?.linux;
    expect(linux("0")).toBe(`/boot/vmlinuz-${NEW}`);
    expect(linux("1>2")).toBe(`/boot/vmlinuz-${OLD}`);
    expect(linux(`Advanced options for Debian GNU/Linux>Debian GNU/Linux, with Linux ${OLD}`)).toBe(
      `/boot/vmlinuz-${OLD}`,
    );
    expect(linux(`${ADVANCED}>gnulinux-${OLD}-advanced-${UUID}`)).toBe(`/boot/vmlinuz-${OLD}`);
    expect(linux(`1>gnulinux-${OLD}-recovery-${UUID}`)).toBe(`/boot/vmlinuz-${OLD}`);
    expect(resolveMenuPath(cfg.menu, `gnulinux-${OLD}-advanced-${UUID}`)).toMatchObject({
      matched: false, // an entry id at the top level names nothing there: GRUB boots entry 0
      item: { title: "Debian GNU/Linux" },
    });
    expect(resolveMenuPath(cfg.menu, "1").item?.kind).toBe("submenu");
  });
});

describe("grubenv and kernel paths", () => {
  it("reads the padded environment block", () => {
    const text = grubenv({ saved_entry: "1>2", next_entry: "" });
    expect(text.length).toBe(1024);
    expect(parseGrubenv(text)).toEqual({ saved_entry: "1>2", next_entry: "" });
    expect(parseGrubenv("# GRUB Environment Block\na=x\\\ny\nb=c\\\\d\n")).toEqual({
      a: "x\ny",
      b: "c\\d",
    });
  });

  it("takes the release from vmlinuz-R, the kernel-install layout, never from rescue or unversioned images", () => {
    expect(releaseOfKernelPath(`/boot/vmlinuz-${OLD}`)).toBe(OLD);
    expect(releaseOfKernelPath("/EFI/proxmox/6.8.12-4-pve/vmlinuz-6.8.12-4-pve")).toBe(
      "6.8.12-4-pve",
    );
    expect(releaseOfKernelPath(`/3f5a/${OLD}/linux`)).toBe(OLD);
    expect(releaseOfKernelPath("/vmlinuz-0-rescue-3f5a9c2e")).toBeNull();
    expect(releaseOfKernelPath("/vmlinuz-linux")).toBeNull();
  });

  it("keeps grub.cfg's menu in a snapshot but not its password hashes", () => {
    const text =
      "set superusers=\"root\"\npassword_pbkdf2 root grub.pbkdf2.sha512.10000.AB12.CD34\n  password admin s3cret\nmenuentry 'x' {\n}\n";
    const out = withoutGrubPasswords(text);
    expect(out).not.toMatch(/AB12|s3cret/);
    expect(out).toContain("password_pbkdf2 root (removed by passthrough snapshot)");
    expect(out).toContain("menuentry 'x' {");
  });
});

describe("GRUB (Debian): the next boot", () => {
  it("GRUB_DEFAULT=0 boots the newest kernel, which lacks nvidia: warns with the exact fixes", () => {
    const [f] = verdict(fixtureState("kernel-grub-default"));
    expect(f).toMatchObject({ status: "warn", subject: NEW });
    expect(f!.summary).toMatch(
      new RegExp(
        `^the next boot starts kernel ${NEW} \\(GRUB default "0" in boot/grub/grub\\.cfg: "Debian GNU/Linux"\\), which lacks nvidia:`,
      ),
    );
    expect(f!.fix).toBe(
      `before rebooting, apt install linux-headers-${NEW}, then \`dkms autoinstall -k ${NEW}\`; or keep booting ${OLD}: set GRUB_DEFAULT=saved in /etc/default/grub, run \`update-grub\`, then \`grub-set-default '${ADVANCED}>gnulinux-${OLD}-advanced-${UUID}'\``,
    );
  });

  it("GRUB_DEFAULT=saved: saved_entry's submenu>entry id path keeps the kernel with nvidia", () => {
    const s = fixtureState("kernel-grub-saved");
    expect(nextBoot(s)).toMatchObject({ release: OLD, via: "grub" });
    const [f] = verdict(s);
    expect(f!.status).toBe("pass");
    expect(f!.summary).toContain(`${OLD} (running, next boot: saved_entry "${ADVANCED}>`);
    // With saved already the default, grub-set-default alone is the way back.
    expect(keepBootingCommand(s, OLD)).toBe(
      `\`grub-set-default '${ADVANCED}>gnulinux-${OLD}-advanced-${UUID}'\``,
    );
  });

  it("grub-reboot's next_entry wins for one boot, here a numeric path to the new kernel", () => {
    const s = withGrubenv(fixtureState("kernel-grub-saved"), {
      saved_entry: `${ADVANCED}>gnulinux-${OLD}-advanced-${UUID}`,
      next_entry: "1>0",
    });
    expect(nextBoot(s)).toMatchObject({ release: NEW });
    expect(verdict(s)[0]!.summary).toContain(
      `(next_entry "1>0" in boot/grub/grubenv (grub-reboot, one boot): "Debian GNU/Linux, with Linux ${NEW}")`,
    );
  });

  it("a saved title, an unset or stale saved_entry (the first entry)", () => {
    const title = `Advanced options for Debian GNU/Linux>Debian GNU/Linux, with Linux ${OLD}`;
    const s = fixtureState("kernel-grub-saved");
    expect(nextBoot(withGrubenv(s, { saved_entry: title })).release).toBe(OLD);
    expect(nextBoot(withGrubenv(s, {})).release).toBe(NEW);
    const stale = nextBoot(withGrubenv(s, { saved_entry: "gnulinux-6.1.0-9-amd64-advanced-x" }));
    expect(stale.release).toBe(NEW);
    expect(stale.why).toContain("names no menu entry, so GRUB starts the first");
  });

  it("says it cannot tell, rather than guessing, and still warns when a kernel lacks the module", () => {
    const s = fixtureState("kernel-grub-default");
    s.kernels.bootMenu.grubCfg = null;
    expect(nextBoot(s)).toEqual({
      release: null,
      why: "no grub.cfg was readable (boot/grub/grub.cfg, boot/grub2/grub.cfg)",
      via: null,
    });
    const [f] = verdict(s);
    expect(f!.status).toBe("warn");
    expect(f!.summary).toMatch(
      new RegExp(
        `^could not tell which kernel the next boot starts \\(no grub\\.cfg was readable .*\\); ${NEW} lacks a module`,
      ),
    );
    const submenu = withGrubenv(fixtureState("kernel-grub-saved"), { saved_entry: "1" });
    expect(nextBoot(submenu).why).toContain(
      'the submenu "Advanced options for Debian GNU/Linux", not an entry',
    );
    const firmware = withGrubenv(fixtureState("kernel-grub-saved"), {
      saved_entry: "uefi-firmware",
    });
    expect(nextBoot(firmware)).toMatchObject({ release: null });
    expect(nextBoot(firmware).why).toContain("which starts no Linux kernel");
  });

  it("passes when the next boot is unknown but every kernel has the module", () => {
    const s = fixtureState("kernel-grub-default");
    s.kernels.bootMenu.grubCfg = null;
    s.kernels.outOfTree[NEW] = ["nvidia"];
    expect(verdict(s)[0]).toMatchObject({ status: "pass" });
  });
});

describe("GRUB with BootLoaderSpec entries (Fedora)", () => {
  it("saved_entry is an entry id: the update without nvidia; grubby --set-default keeps the old one", () => {
    const [f] = verdict(fixtureState("kernel-bls"));
    expect(f).toMatchObject({ status: "warn", subject: "6.8.7-300.fc40.x86_64" });
    expect(f!.fix).toContain("kernel-devel-6.8.7-300.fc40.x86_64");
    expect(f!.fix).toContain(
      "or keep booting 6.8.5-301.fc40.x86_64: `grubby --set-default /boot/vmlinuz-6.8.5-301.fc40.x86_64`",
    );
  });

  it("without saved_entry, entry 0 is the newest version; an index counts in that order, rescue last", () => {
    const s = fixtureState("kernel-bls");
    s.kernels.bootMenu.grubenv = { path: "boot/grub2/grubenv", text: grubenv({}) };
    expect(nextBoot(s)).toMatchObject({ release: "6.8.7-300.fc40.x86_64", via: "bls" });
    s.kernels.bootMenu.grubenv = {
      path: "boot/grub2/grubenv",
      text: grubenv({ saved_entry: "1" }),
    };
    expect(nextBoot(s).release).toBe("6.8.5-301.fc40.x86_64");
    s.kernels.bootMenu.grubenv = {
      path: "boot/grub2/grubenv",
      text: grubenv({ saved_entry: "2" }),
    };
    expect(nextBoot(s).why).toContain("0-rescue");
    expect(nextBoot(s).release).toBeNull();
  });
});

describe("systemd-boot", () => {
  const MID = "3f5a9c2e7b1d4e8f9a0b1c2d3e4f5a6b";

  it("LoaderEntryDefault (bootctl set-default) keeps the kernel with nvidia", () => {
    const s = fixtureState("kernel-sdboot");
    expect(s.kernels.bootMenu.efi.default).toBe(`${MID}-${OLD}.conf`);
    expect(nextBoot(s)).toMatchObject({ release: OLD, via: "systemd-boot" });
    expect(verdict(s)[0]!.status).toBe("pass");
  });

  it("without it the newest version sorts first and boots: warns with bootctl set-default", () => {
    const s = fixtureState("kernel-sdboot");
    s.kernels.bootMenu.efi.default = null;
    expect(nextBoot(s).why).toBe(
      `the first entry in systemd-boot's order (newest first): "Debian GNU/Linux 12 (bookworm)"`,
    );
    const [f] = verdict(s);
    expect(f).toMatchObject({ status: "warn", subject: NEW });
    expect(f!.fix).toContain(`or keep booting ${OLD}: \`bootctl set-default ${MID}-${OLD}.conf\``);
  });

  it("a one-shot entry wins over the default; loader.conf's glob and @saved", () => {
    const s = fixtureState("kernel-sdboot");
    s.kernels.bootMenu.efi.oneShot = `${MID}-${NEW}.conf`;
    expect(nextBoot(s).release).toBe(NEW);
    s.kernels.bootMenu.efi = { oneShot: null, default: null, lastBooted: `${MID}-${OLD}.conf` };
    s.kernels.bootMenu.loaderConf = {
      path: "boot/efi/loader/loader.conf",
      text: `default ${MID}-6.1.0-25-*\n`,
    };
    expect(nextBoot(s)).toMatchObject({ release: OLD });
    s.kernels.bootMenu.loaderConf.text = "default @saved\n";
    expect(nextBoot(s).why).toContain("@saved");
    expect(nextBoot(s).release).toBe(OLD);
  });

  it("kernelstub (Pop!_OS) is unknown, and said so", () => {
    const r = nextBoot(fixtureState("popos-kernelstub"));
    expect(r).toMatchObject({ release: null, via: null });
    expect(r.why).toMatch(/^kernelstub boots the copy of the kernel the \/vmlinuz link named/);
  });

  it("an unversioned kernel image (Arch's /vmlinuz-linux) is unknown, and said so", () => {
    const r = nextBoot(fixtureState("arch-booster"));
    expect(r.release).toBeNull();
    expect(r.why).toContain("/vmlinuz-linux, a file name without a kernel release");
  });
});
