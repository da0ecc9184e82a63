// The guest base images, built from Debian packages and cached by a hash of their recipe.
//
// 1. image/build-disk.sh (debootstrap, configuration, filesystems and partitions as files);
// 2. a provisioning boot with -kernel/-initrd from the new root, in which the guest installs
//    its own boot loader the way a Debian installer would (grub-install + update-grub, or
//    bootctl install + kernel-install through the systemd-boot package's hooks) and rebuilds
//    its initramfs with MODULES=dep;
// 3. the disk flattened into base-<variant>-<key>.qcow2; scenarios boot throw-away overlays.
import { execFileSync, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  writeFileSync,
  closeSync,
} from "node:fs";
import { join } from "node:path";
import { OVMF_VARS, qemuArgs, runQemu } from "./qemu.js";
import type { Slots } from "./slots.js";

/** The guest images: firmware, boot loader and Debian release of each. */
export type Variant =
  | "bios"
  | "uefi"
  | "bios-nested"
  | "trixie-bios"
  | "trixie-bios-nested"
  | "trixie-uefi"
  | "uefi-grub";

export interface ImageSpec {
  firmware: "bios" | "uefi";
  /** The boot loader the guest installs (build-disk.sh BOOT). */
  boot: "grub-pc" | "systemd-boot" | "grub-efi";
  suite: "bookworm" | "trixie";
  /** QEMU, OVMF and libvirt in the image, for a nested VM (L2) inside the guest. */
  nested: boolean;
}

/**
 * What a nested VM needs in the guest (L1): QEMU and the OVMF the argv names, libvirt's daemon
 * and virsh, jq to read passthrough's JSON. Only Depends are installed (debootstrap), so
 * libvirt's default network (dnsmasq) is not there: the L2 domains have no network.
 */
const NESTED_PACKAGES =
  "qemu-system-x86,qemu-utils,ovmf,libvirt-daemon-system,libvirt-clients,jq,dbus,libpam-systemd";

/**
 * LXC for scenario 13's plain-LXC container round trip (a busybox container from LXC's own
 * lxc-busybox template: the lab has no network). Only in bios-nested, which 13 shares with 8.
 */
const LXC_PACKAGES = "lxc,busybox-static";

function extraPackages(variant: Variant): string {
  const { nested, suite, boot } = IMAGES[variant];
  // debootstrap does not resolve alternatives of virtual packages (the package stays
  // unconfigured), so NESTED_PACKAGES names dbus and libpam-systemd for libvirt's polkitd and
  // systemd-container ("default-dbus-system-bus | dbus-system-bus", "default-logind | logind"),
  // and trixie's systemd-boot needs "systemd-boot-efi-signed | systemd-boot-efi" named.
  const trixie = suite === "trixie";
  return [
    nested ? NESTED_PACKAGES : "",
    variant === "bios-nested" ? LXC_PACKAGES : "",
    trixie && boot === "systemd-boot" ? "systemd-boot-efi" : "",
  ]
    .filter(Boolean)
    .join(",");
}

export const IMAGES: Record<Variant, ImageSpec> = {
  bios: { firmware: "bios", boot: "grub-pc", suite: "bookworm", nested: false },
  uefi: { firmware: "uefi", boot: "systemd-boot", suite: "bookworm", nested: false },
  "bios-nested": { firmware: "bios", boot: "grub-pc", suite: "bookworm", nested: true },
  // Debian 13, what Proxmox VE 9 is built on: scenario 1's flow, and (opt-in) the nested VM.
  "trixie-bios": { firmware: "bios", boot: "grub-pc", suite: "trixie", nested: false },
  "trixie-bios-nested": { firmware: "bios", boot: "grub-pc", suite: "trixie", nested: true },
  "trixie-uefi": { firmware: "uefi", boot: "systemd-boot", suite: "trixie", nested: false },
  // UEFI with GRUB on ext4: how the Proxmox VE installer sets up most hosts.
  "uefi-grub": { firmware: "uefi", boot: "grub-efi", suite: "bookworm", nested: false },
};

/** Bump when something outside the hashed files changes what an image contains. */
const RECIPE_VERSION = "1";

/** As build-disk.sh sets it for the installed system (no_timer_check: see there). */
const CONSOLE = "console=ttyS0,115200n8 no_timer_check";

/** What the guest runs in its provisioning boot (from the share, as root). */
export function provisionScript(variant: Variant): string {
  const { boot } = IMAGES[variant];
  const common = `set -x
exec 2>&1
echo "e2e: provisioning ${variant}: $(cat /proc/cmdline)"
`;
  const end = `
sync
echo ok >/mnt/lab/provisioned
sync
systemctl poweroff
`;
  if (boot === "grub-pc") {
    return `${common}set -e
grub-install --target=i386-pc /dev/vda
update-initramfs -u -k all
update-grub
grep -q 'root=' /boot/grub/grub.cfg
${end}`;
  }
  // GRUB for EFI as the removable EFI/BOOT/BOOTX64.EFI (--removable --no-nvram): the base image
  // must boot on a fresh OVMF variable store (docs/e2e-lab.md), as systemd-boot's does below.
  if (boot === "grub-efi") {
    return `${common}set -e
findmnt /boot/efi
grub-install --target=x86_64-efi --efi-directory=/boot/efi --removable --no-nvram
update-initramfs -u -k all
update-grub
test -f /boot/efi/EFI/BOOT/BOOTX64.EFI
grep -q 'root=' /boot/grub/grub.cfg
${end}`;
  }
  // What the systemd-boot package's postinst does on a machine with an ESP mounted
  // (bookworm: bootctl install, then kernel-install add for each kernel). --no-variables:
  // the base image must boot on a fresh OVMF variable store through the removable path
  // EFI/BOOT/BOOTX64.EFI, which bootctl installs too. The kernel-install step comes from
  // the package's initramfs post-update hook (/etc/initramfs/post-update.d/systemd-boot),
  // which update-initramfs runs: it writes the entry from /etc/kernel/cmdline and copies
  // kernel and rebuilt initrd to the ESP (a separate kernel-install add cost ~1 min more).
  return `${common}set -e
findmnt /boot/efi
bootctl install --no-variables --make-machine-id-directory=yes
update-initramfs -u -k all
test -f /boot/efi/EFI/BOOT/BOOTX64.EFI
ls -R /boot/efi
cat /boot/efi/loader/entries/*.conf
grep -q "root=LABEL=labroot" /boot/efi/loader/entries/*.conf
bootctl status --no-pager || true
${end}`;
}

export function imageKey(variant: Variant, recipeDir: string): string {
  const h = createHash("sha256");
  h.update(`${RECIPE_VERSION}\n${variant}\n${JSON.stringify(IMAGES[variant])}\n`);
  h.update(`${extraPackages(variant)}\n`);
  for (const f of ["build-disk.sh", "e2e-lab-boot", "e2e-lab.service"]) {
    h.update(`${f}\n`);
    h.update(readFileSync(join(recipeDir, f)));
  }
  h.update(provisionScript(variant));
  return h.digest("hex").slice(0, 16);
}

export interface ImageResult {
  variant: Variant;
  path: string;
  cached: boolean;
  seconds: number;
  parts: Record<string, number>;
}

function run(
  cmd: string,
  args: string[],
  logFile: string,
  env: NodeJS.ProcessEnv = {},
): Promise<void> {
  return new Promise((resolve, reject) => {
    const fd = openSync(logFile, "a");
    const child = spawn(cmd, args, { stdio: ["ignore", fd, fd], env: { ...process.env, ...env } });
    closeSync(fd);
    child.on("error", reject);
    child.on("exit", (code) =>
      code === 0 ? resolve() : reject(new Error(`${cmd} exited ${code}; see ${logFile}`)),
    );
  });
}

export interface ImageBuild {
  variant: Variant;
  mirror: string;
  recipeDir: string;
  cacheDir: string;
  logDir: string;
  bootTimeoutS: number;
  log: (line: string) => void;
  /** The lab's CPU slots: the build holds one from its debootstrap to its provisioning boot. */
  slots: Slots;
  /**
   * One debootstrap at a time per Debian release: images of one release share a package
   * cache (debs-SUITE), so the first downloads and the others reuse it instead of racing it.
   */
  suiteLock: Slots;
}

export async function ensureImage(o: ImageBuild): Promise<ImageResult> {
  const t0 = Date.now();
  const key = imageKey(o.variant, o.recipeDir);
  const imagesDir = join(o.cacheDir, "images");
  const path = join(imagesDir, `base-${o.variant}-${key}.qcow2`);
  if (existsSync(path)) return { variant: o.variant, path, cached: true, seconds: 0, parts: {} };

  mkdirSync(imagesDir, { recursive: true });
  // Older images of this variant are stale once the recipe changed.
  // (base-bios-<key> only: base-bios-nested-<key> is another variant's.)
  const stale = new RegExp(`^base-${o.variant}-[0-9a-f]{16}\\.qcow2`);
  for (const n of readdirSync(imagesDir))
    if (stale.test(n)) rmSync(join(imagesDir, n), { force: true });

  const work = join(o.cacheDir, `build-${o.variant}`);
  const logDir = join(o.logDir, `image-${o.variant}`);
  rmSync(work, { recursive: true, force: true });
  rmSync(logDir, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  mkdirSync(logDir, { recursive: true });
  const parts: Record<string, number> = {};
  const buildLog = join(logDir, "build-disk.log");

  const spec = IMAGES[o.variant];
  // One slot from debootstrap to the end of the provisioning boot; the release's package cache
  // only while debootstrap runs.
  let t = Date.now();
  const release = await o.suiteLock.run(async () => {
    const slot = await o.slots.take();
    o.log(`image ${o.variant}: debootstrap and disk (log ${buildLog})`);
    t = Date.now();
    const args = [spec.boot, spec.suite, o.mirror, work, extraPackages(o.variant)];
    await run("bash", [join(o.recipeDir, "build-disk.sh"), ...args], buildLog, {
      E2E_DEB_CACHE: join(o.cacheDir, `debs-${spec.suite}`),
    }).catch((e: unknown) => {
      slot();
      throw e;
    });
    return slot;
  });
  parts["debootstrap+disk"] = (Date.now() - t) / 1000;

  const share = join(logDir, "share");
  const serial = join(logDir, "provision.serial.log");
  let r: Awaited<ReturnType<typeof provisioningBoot>>;
  try {
    mkdirSync(share, { recursive: true });
    writeFileSync(join(share, "boot.sh"), provisionScript(o.variant));
    o.log(`image ${o.variant}: provisioning boot (serial log ${serial})`);
    t = Date.now();
    r = await provisioningBoot(o, work, share, serial);
  } finally {
    release();
  }
  parts["provisioning boot"] = (Date.now() - t) / 1000;
  const ok = existsSync(join(share, "provisioned"));
  if (r.timedOut || !ok) {
    throw new Error(
      `image ${o.variant}: the provisioning boot ${r.timedOut ? "timed out" : "failed"}; serial log: ${serial}`,
    );
  }

  t = Date.now();
  const tmp = `${path}.tmp`;
  execFileSync("qemu-img", ["convert", "-O", "qcow2", join(work, "disk.raw"), tmp]);
  renameSync(tmp, path);
  parts["flatten"] = (Date.now() - t) / 1000;
  rmSync(work, { recursive: true, force: true });
  return { variant: o.variant, path, cached: false, seconds: (Date.now() - t0) / 1000, parts };
}

/** The guest's first boot, straight into the new root's kernel: it installs its boot loader. */
async function provisioningBoot(o: ImageBuild, work: string, share: string, serial: string) {
  const spec = IMAGES[o.variant];
  const vars = join(work, "OVMF_VARS.fd");
  if (spec.firmware === "uefi") copyFileSync(OVMF_VARS, vars);
  return runQemu(
    qemuArgs({
      firmware: spec.firmware,
      iommu: "none",
      gpu: false,
      disk: join(work, "disk.raw"),
      diskFormat: "raw",
      share,
      serialLog: serial,
      ...(spec.firmware === "uefi" ? { ovmfVars: vars } : {}),
      directKernel: {
        kernel: join(work, "vmlinuz"),
        initrd: join(work, "initrd.img"),
        append: `root=LABEL=labroot ro ${CONSOLE}`,
      },
    }),
    {
      timeoutS: o.bootTimeoutS,
      stderrLog: join(o.logDir, `image-${o.variant}`, "provision.qemu-stderr.log"),
    },
  );
}
