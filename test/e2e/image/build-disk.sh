#!/usr/bin/env bash
# Builds the raw disk of an e2e guest from Debian packages, without loop devices or mounts
# (docs/e2e-lab.md): debootstrap a Debian 12 or 13 root, configure it for unattended runs, make
# the filesystems from the folder (mkfs.ext4 -d) and lay them into a partitioned image.
# The boot loader is NOT installed here: the harness boots the disk once with -kernel/-initrd
# and the guest installs it itself (grub-install / bootctl), exactly as on real hardware.
#
#   build-disk.sh BOOT SUITE MIRROR WORKDIR [EXTRA_PACKAGES]
#     BOOT     grub-pc (BIOS: MBR, GRUB) | systemd-boot (UEFI: GPT + EFI system partition) |
#              grub-efi (UEFI: GPT + ESP, GRUB for EFI, the usual Proxmox VE install)
#     SUITE    bookworm (Debian 12) | trixie (Debian 13)
#     MIRROR   Debian mirror URL, taken by the caller from this machine's apt configuration
#     WORKDIR  empty folder; on success holds disk.raw, vmlinuz, initrd.img
#     EXTRA_PACKAGES  comma-separated packages on top (the nested-VM images: QEMU, libvirt)
#
# Needs root (debootstrap, chroot, device nodes) and: debootstrap e2fsprogs dosfstools fdisk.
set -euo pipefail

BOOT=$1 SUITE=$2 MIRROR=$3 WORK=$4 EXTRA=${5:-}
VARIANT=$BOOT-$SUITE
HERE=$(cd "$(dirname "$0")" && pwd)
ROOTFS=$WORK/rootfs
DEBS=${E2E_DEB_CACHE:-$WORK/debs}

log() { printf '[image %s %s] %s\n' "$VARIANT" "$(date +%T)" "$*"; }

# No Node.js: each scenario installs passthrough's .deb with dpkg, as a user does, and runs
# /usr/bin/passthrough (the standalone executable).
COMMON=linux-image-amd64,initramfs-tools,kmod,udev,systemd-sysv,pciutils,e2fsprogs,procps,zstd
case $BOOT in
  grub-pc) PKGS=$COMMON,grub-pc FIRMWARE=bios ;;
  systemd-boot) PKGS=$COMMON,systemd-boot,dosfstools FIRMWARE=uefi ;;
  grub-efi) PKGS=$COMMON,grub-efi-amd64,dosfstools FIRMWARE=uefi ;;
  *) echo "build-disk.sh: unknown boot loader '$BOOT' (grub-pc, systemd-boot or grub-efi)" >&2; exit 2 ;;
esac
case $SUITE in
  bookworm | trixie) ;;
  *) echo "build-disk.sh: unknown suite '$SUITE' (bookworm or trixie)" >&2; exit 2 ;;
esac
if [ -n "$EXTRA" ]; then PKGS=$PKGS,$EXTRA; fi

mkdir -p "$WORK" "$DEBS"
rm -rf "$ROOTFS"
log "debootstrap $SUITE from $MIRROR"
DEBIAN_FRONTEND=noninteractive debootstrap --variant=minbase --include="$PKGS" \
  --cache-dir="$DEBS" "$SUITE" "$ROOTFS" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 \
  || { tail -n 30 "$WORK/debootstrap.log" >&2; exit 1; }

log "configure"
R=$ROOTFS
echo e2e-guest >"$R/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\te2e-guest\n' >"$R/etc/hosts"
# A fixed machine id: kernel-install names the systemd-boot entry folder after it.
od -An -N16 -tx1 /dev/urandom | tr -d ' \n' >"$R/etc/machine-id"; echo >>"$R/etc/machine-id"

{
  echo "LABEL=labroot / ext4 errors=remount-ro 0 1"
  if [ "$FIRMWARE" = uefi ]; then echo "LABEL=ESP /boot/efi vfat umask=0077 0 2"; fi
} >"$R/etc/fstab"
mkdir -p "$R/boot/efi" "$R/mnt/lab"

# MODULES=most makes update-initramfs take ~9 min under emulation, dep ~1 min (docs/e2e-lab.md).
sed -i 's/^MODULES=.*/MODULES=dep/' "$R/etc/initramfs-tools/initramfs.conf"
grep -q '^MODULES=dep' "$R/etc/initramfs-tools/initramfs.conf"

# The guest's own command line: the serial console, and no_timer_check. Without it, on a busy
# host, the kernel's early check that the timer interrupt arrives through the (interrupt-
# remapped) IO-APIC can see too few ticks under emulation and panics: "timer doesn't work
# through Interrupt-remapped IO-APIC" (arch/x86/kernel/apic/io_apic.c, timer_irq_works()).
CONSOLE="console=ttyS0,115200n8 no_timer_check"
if [ "$BOOT" != systemd-boot ]; then
  # Edit Debian's own /etc/default/grub (the file passthrough edits) rather than replacing it.
  # No "quiet": the serial log is the diagnosis.
  G=$R/etc/default/grub
  sed -i -e 's/^GRUB_TIMEOUT=.*/GRUB_TIMEOUT=1/' \
         -e 's/^GRUB_CMDLINE_LINUX_DEFAULT=.*/GRUB_CMDLINE_LINUX_DEFAULT=""/' \
         -e "s/^GRUB_CMDLINE_LINUX=.*/GRUB_CMDLINE_LINUX=\"$CONSOLE\"/" "$G"
  printf '%s\n' 'GRUB_TERMINAL="serial console"' 'GRUB_SERIAL_COMMAND="serial --unit=0 --speed=115200"' >>"$G"
else
  # kernel-install (and so systemd-boot's hooks) take the command line from this file.
  echo "root=LABEL=labroot ro $CONSOLE" >"$R/etc/kernel/cmdline"
fi

# The harness's boot hook, and quiet, deterministic boots.
install -m 0755 "$HERE/e2e-lab-boot" "$R/usr/local/sbin/e2e-lab-boot"
install -m 0644 "$HERE/e2e-lab.service" "$R/etc/systemd/system/e2e-lab.service"
ln -sf /etc/systemd/system/e2e-lab.service "$R/etc/systemd/system/multi-user.target.wants/e2e-lab.service"
for u in serial-getty@ttyS0.service getty@tty1.service apt-daily.timer apt-daily-upgrade.timer \
         e2scrub_all.timer fstrim.timer systemd-timesyncd.service; do
  ln -sf /dev/null "$R/etc/systemd/system/$u"
done
mkdir -p "$R/etc/systemd/journald.conf.d"
printf '[Journal]\nStorage=volatile\n' >"$R/etc/systemd/journald.conf.d/e2e.conf"

cp "$R/boot/vmlinuz-"* "$WORK/vmlinuz"
cp "$R/boot/initrd.img-"* "$WORK/initrd.img"
rm -rf "$R/var/cache/apt/archives/"*.deb

log "filesystems and disk"
rm -f "$WORK/root.ext4" "$WORK/esp.vfat" "$WORK/disk.raw"
mkfs.ext4 -q -L labroot -d "$R" "$WORK/root.ext4" 3072M
if [ "$FIRMWARE" = bios ]; then
  truncate -s $((1 + 3072))M "$WORK/disk.raw"
  printf 'label: dos\nstart=2048, type=83, bootable\n' | sfdisk -q "$WORK/disk.raw"
  dd if="$WORK/root.ext4" of="$WORK/disk.raw" bs=1M seek=1 conv=notrunc,sparse status=none
else
  mkfs.vfat -C -n ESP "$WORK/esp.vfat" $((256 * 1024)) >/dev/null
  truncate -s $((1 + 256 + 3072 + 1))M "$WORK/disk.raw"
  printf 'label: gpt\nstart=2048, size=256MiB, type=U, name=ESP\nsize=3072MiB, type=L, name=root\n' \
    | sfdisk -q "$WORK/disk.raw"
  dd if="$WORK/esp.vfat" of="$WORK/disk.raw" bs=1M seek=1 conv=notrunc,sparse status=none
  dd if="$WORK/root.ext4" of="$WORK/disk.raw" bs=1M seek=$((1 + 256)) conv=notrunc,sparse status=none
fi
rm -rf "$R" "$WORK/root.ext4" "$WORK/esp.vfat"
log "disk ready: $WORK/disk.raw"
