# Sourced by every boot script the harness writes to the 9p share (bash, in the guest, as root).
# It records what the guest KERNEL reports (/proc/cmdline, sysfs driver links, IOMMU groups,
# /dev/vfio, dmesg) as plain files under /mnt/lab/out/boot-N/, runs passthrough, and powers
# off. The harness asserts on those files; passthrough's own output is kept beside them.
# Lines starting "e2e:" also go to the serial console (and so into the serial log).

LAB=/mnt/lab
BOOT=$(cat "$LAB/boot-number")
OUT=$LAB/out/boot-$BOOT
SLOT=${E2E_SLOT:-0000:01:00}
mkdir -p "$OUT"
: >"$OUT/steps"

say() { echo "e2e: $*"; }

# What users install: the .deb (lib.sh installs it at the machine's first boot, below), whose
# /usr/bin/passthrough is the standalone executable. The image has no Node.js.
passthrough() { /usr/bin/passthrough "$@"; }

# pt NAME ARGS...: run passthrough, keep stdout/stderr/exit code as NAME.{stdout,stderr,rc}.
pt() {
  local name=$1
  shift
  local t0=$SECONDS
  passthrough "$@" >"$OUT/$name.stdout" 2>"$OUT/$name.stderr"
  local rc=$?
  echo "$rc" >"$OUT/$name.rc"
  say "passthrough $* -> exit $rc ($((SECONDS - t0)) s)"
  if [ "$rc" != 0 ]; then sed -n '1,15s/^/e2e:   /p' "$OUT/$name.stderr"; fi
  return 0
}

# sh_step NAME CMD...: run a shell command as a scenario step, keep its output and exit code.
sh_step() {
  local name=$1
  shift
  local t0=$SECONDS
  "$@" >"$OUT/$name.stdout" 2>"$OUT/$name.stderr"
  local rc=$?
  echo "$rc" >"$OUT/$name.rc"
  say "$* -> exit $rc ($((SECONDS - t0)) s)"
  return 0
}

# Files passthrough may edit (and the boot loader outputs built from them): copied and hashed
# so the harness can compare them byte for byte across boots.
CONFIG_GLOBS=(
  /etc/default/grub /etc/default/grub.d/* /boot/grub/grub.cfg
  /etc/kernel/cmdline /boot/efi/loader/loader.conf /boot/efi/loader/entries/*
  /etc/modprobe.d/* /etc/modules /etc/modules-load.d/* /etc/initramfs-tools/modules
  /etc/initramfs-tools/initramfs.conf
)

facts() {
  local label=${1:-facts}
  say "boot $BOOT ($label) at $(date -u +%T), kernel $(uname -r), firmware $([ -d /sys/firmware/efi ] && echo uefi || echo bios)"
  cat /proc/cmdline >"$OUT/cmdline"
  say "/proc/cmdline: $(cat /proc/cmdline)"
  [ -d /sys/firmware/efi ] && echo uefi >"$OUT/firmware" || echo bios >"$OUT/firmware"
  uname -r >"$OUT/kernel"

  # One line per function of the slot: address, bound driver (or -), module of that driver
  # (or -), IOMMU group (or -).
  : >"$OUT/functions"
  local d a drv mod grp
  for d in /sys/bus/pci/devices/"$SLOT".*; do
    [ -e "$d" ] || continue
    a=${d##*/}
    drv=-; mod=-; grp=-
    if [ -e "$d/driver" ]; then
      drv=$(basename "$(readlink "$d/driver")")
      [ -e "$d/driver/module" ] && mod=$(basename "$(readlink "$d/driver/module")")
    fi
    [ -e "$d/iommu_group" ] && grp=$(basename "$(readlink "$d/iommu_group")")
    echo "$a $drv $mod $grp" >>"$OUT/functions"
    say "sysfs: $a driver=$drv module=$mod iommu_group=$grp"
  done
  lspci -nnk -s "${SLOT#0000:}" >"$OUT/lspci" 2>&1
  sed 's/^/e2e: lspci: /' "$OUT/lspci"

  # Every IOMMU group: "ID member member ..."
  : >"$OUT/iommu-groups"
  local g
  for g in /sys/kernel/iommu_groups/*; do
    [ -d "$g" ] || continue
    echo "${g##*/} $(ls "$g/devices" | tr '\n' ' ')" >>"$OUT/iommu-groups"
  done
  ls -1 /sys/class/iommu >"$OUT/iommu-units" 2>/dev/null
  ls -1 /dev/vfio >"$OUT/dev-vfio" 2>/dev/null
  say "/dev/vfio: $(tr '\n' ' ' <"$OUT/dev-vfio")"
  dmesg >"$OUT/dmesg"
  lsmod >"$OUT/lsmod"
  [ -d /sys/firmware/efi ] && bootctl status >"$OUT/bootctl-status" 2>&1

  # Config files, copied and hashed.
  mkdir -p "$OUT/files"
  : >"$OUT/files.sha256"
  local f
  for f in "${CONFIG_GLOBS[@]}"; do
    [ -f "$f" ] || continue
    mkdir -p "$OUT/files$(dirname "$f")"
    cp "$f" "$OUT/files$f"
    sha256sum "$f" >>"$OUT/files.sha256"
  done
  # Journals passthrough keeps (names only, and the whole tree for diagnosis).
  if [ -d /var/lib/passthrough ]; then
    (cd /var/lib/passthrough && find . -type f | sort) >"$OUT/journal-files"
    mkdir -p "$OUT/var-lib-passthrough"
    cp -r /var/lib/passthrough/. "$OUT/var-lib-passthrough/" 2>/dev/null
  fi
}

# Replace a command by one that marks the share and hangs, so the harness can cut the power
# at that exact moment (scenario "a bad moment"). A bind mount over the real binary catches
# the call however it is made (PATH lookup or absolute path); the real binary is untouched.
# The script lives on the root filesystem: /run is mounted noexec, and a bind mount keeps the
# flags of the mount it comes from (exec would fail with "permission denied").
hang_at() {
  local cmd hang=/var/tmp/e2e-hang
  cat >"$hang" <<EOF
#!/bin/sh
# e2e: the power is about to be cut here
sync
echo "\$0 \$*" >"$OUT/hung-at"
echo "e2e: hanging at \$0 \$* for the power cut" >/dev/console
exec sleep infinity
EOF
  chmod 0755 "$hang"
  for cmd in "$@"; do
    local p
    p=$(command -v "$cmd") || { say "hang_at: $cmd not found"; continue; }
    p=$(readlink -f "$p")
    mount --bind "$hang" "$p" && say "hang_at: $p"
  done
}

# End of every boot: make everything durable, mark the boot done, power off (QEMU exits).
finish() {
  say "boot $BOOT done at $(date -u +%T)"
  sync
  date -u +%s >"$OUT/done"
  sync
  systemctl poweroff
  exit 0
}

# First boot of a machine: install the package from the share with dpkg, as a user would. The
# harness fails the boot when dpkg fails, or when the image has a Node.js it must not have.
command -v node >"$OUT/node-path" 2>/dev/null
if ! dpkg-query -W -f='${Status}' passthrough 2>/dev/null | grep -q "ok installed"; then
  sh_step dpkg-install dpkg -i "$LAB/passthrough.deb"
  say "installed: $(dpkg-query -W -f='${Package} ${Version} ${Architecture}' passthrough 2>&1)"
fi
