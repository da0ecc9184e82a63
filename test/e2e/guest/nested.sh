# Sourced by the nested-VM scenarios' boot scripts after lib.sh (bash, in the guest L1, as root):
# start L2 from passthrough's own outputs, with QEMU and with libvirt (test/e2e/scenarios.ts says
# what is replaced and why), and keep what QEMU, libvirt and sysfs report under $OUT.

# drivers LABEL: "address driver" for each function of the slot, as sysfs has them now.
drivers() {
  local d
  for d in /sys/bus/pci/devices/"$SLOT".*; do
    if [ -e "$d/driver" ]; then echo "${d##*/} $(basename "$(readlink "$d/driver")")"; else echo "${d##*/} -"; fi
  done >"$OUT/drivers-$1"
  say "drivers ($1): $(tr '\n' ' ' <"$OUT/drivers-$1")"
}

# l2_argv NAME JSON: in a fresh /var/tmp/NAME (the working directory after it), run the
# "prepare" commands of `vm create --emit qemu --json` (file JSON) and set L2_ARGV to its argv
# with the lab's replacements.
l2_argv() {
  local name=$1 json=$2 dir=/var/tmp/$1
  rm -rf "$dir" && mkdir -p "$dir" && cd "$dir" || return 1
  local c a
  while read -r c; do
    mapfile -t a < <(jq -r '.[]' <<<"$c")
    "${a[@]}" >>"$OUT/$name.prepare" 2>&1
  done < <(jq -c '.prepare[]' "$json")
  local argv i word
  mapfile -t argv < <(jq -r '.argv[]' "$json")
  L2_ARGV=()
  for ((i = 0; i < ${#argv[@]}; i++)); do
    word=${argv[i]}
    if [ "$word" = -nic ] && [[ ${argv[i + 1]} == bridge,* ]]; then i=$((i + 1)); continue; fi
    if [ "$word" = -cpu ] && [ "${argv[i + 1]}" = host ]; then L2_ARGV+=(-cpu max); i=$((i + 1)); continue; fi
    L2_ARGV+=("${word/accel=kvm/accel=tcg}")
  done
}

# l2_qemu NAME JSON: run the argv of `vm create --emit qemu --json` (file JSON) as printed,
# after its "prepare" commands, with the lab's replacements; keep the argv, QEMU's output and
# exit code, and the HMP monitor's answers to "info qtree" and "info pci" as NAME.*.
l2_qemu() {
  local name=$1 json=$2 port=4444 t0=$SECONDS
  l2_argv "$name" "$json" || return 0
  local out=("${L2_ARGV[@]}" -S -monitor "tcp:127.0.0.1:$port,server=on,wait=off")
  printf '%s\n' "${out[@]}" >"$OUT/$name.argv"
  "${out[@]}" </dev/null >"$OUT/$name.stdout" 2>"$OUT/$name.stderr" &
  local pid=$! w
  for ((w = 0; w < 600; w++)); do
    kill -0 "$pid" 2>/dev/null || break
    # Once the monitor listens: ask, then quit (QEMU closes the connection and exits).
    if (: <>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      # shellcheck disable=SC2016 # $1 is the inner shell's
      timeout 300 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" && printf "info qtree\ninfo pci\nquit\n" >&3 && cat <&3' \
        _ "$port" >"$OUT/$name.monitor" 2>&1
      break
    fi
    sleep 1
  done
  sleep 2
  kill -9 "$pid" 2>/dev/null
  wait "$pid"
  echo $? >"$OUT/$name.rc"
  say "L2 QEMU ($name) -> exit $(cat "$OUT/$name.rc") ($((SECONDS - t0)) s)"
  sed -n '1,5s/^/e2e:   /p' "$OUT/$name.stderr"
  cd / || true
}

# l2_initramfs FILE: the nested VM's initramfs as an uncompressed cpio (newc), built from what
# L1 has: /init (l2-init.sh, bash), the programs it runs with the shared libraries ldd names for
# them at the same paths, /usr/bin/passthrough among them, and the modules of the card's two
# drivers with their dependencies (modprobe --show-depends) and the kernel's module index.
# Uncompressed: L2 runs under emulation inside emulation, where inflating ~120 MB would cost
# minutes; the cpio is only copied (L2 gets the RAM for it).
l2_initramfs() {
  local img=$1 root=/var/tmp/l2-root kver t0=$SECONDS p f lib kind mod
  kver=$(uname -r)
  rm -rf "$root" "$img" && mkdir -p "$root"/{bin,dev,proc,sys,run,tmp,"lib/modules/$kver"}
  for p in bash mount cat sleep lspci kmod /usr/bin/passthrough; do
    if ! f=$(command -v "$p"); then say "l2_initramfs: no $p in L1"; return 0; fi
    f=$(readlink -f "$f")
    cp "$f" "$root/bin/${p##*/}"
    for lib in $(ldd "$f" | grep -o '/[^ ]*'); do
      [ -e "$root$lib" ] || { mkdir -p "$root${lib%/*}" && cp -L "$lib" "$root$lib"; }
    done
  done
  ln -s kmod "$root/bin/modprobe"
  cp "/lib/modules/$kver"/modules.* "$root/lib/modules/$kver/"
  while read -r kind mod _; do
    [ "$kind" = insmod ] || continue
    mkdir -p "$root${mod%/*}" && cp "$mod" "$root$mod"
  done < <(modprobe -a --show-depends bochs snd_hda_intel)
  install -m 0755 /mnt/lab/l2-init.sh "$root/init"
  (cd "$root" && find . | cpio -o -H newc --quiet) >"$img"
  say "l2_initramfs: $img $(du -m "$img" | cut -f 1) MiB, $(find "$root" -name '*.ko*' | wc -l) modules ($((SECONDS - t0)) s)"
  rm -rf "$root"
}

# l2_boot NAME JSON INITRD: L2 booted for real from the argv of `vm create --emit qemu --json`
# (file JSON), with L1's own kernel and INITRD (l2_initramfs): its /init reports on the serial
# console, which the argv's "-serial mon:stdio" puts into NAME.stdout, and powers L2 off.
# -no-reboot turns a panic (panic=-1 reboots at once) into QEMU's exit.
l2_boot() {
  local name=$1 json=$2 initrd=$3 t0=$SECONDS
  l2_argv "$name" "$json" || return 0
  local out=("${L2_ARGV[@]}" -kernel "/boot/vmlinuz-$(uname -r)" -initrd "$initrd"
    -append "console=ttyS0 panic=-1" -no-reboot)
  printf '%s\n' "${out[@]}" >"$OUT/$name.argv"
  timeout "${L2_BOOT_TIMEOUT:-1000}" "${out[@]}" </dev/null >"$OUT/$name.stdout" 2>"$OUT/$name.stderr"
  echo $? >"$OUT/$name.rc"
  echo $((SECONDS - t0)) >"$OUT/$name.seconds"
  say "L2 boot ($name) -> exit $(cat "$OUT/$name.rc") ($((SECONDS - t0)) s)"
  grep -a '^l2: ' "$OUT/$name.stdout" | grep -av 'l2: gc ' | sed 's/^/e2e: /; s/\r$//'
  sed -n '1,5s/^/e2e:   /p' "$OUT/$name.stderr"
  cd / || true
}

# l2_libvirt XML: the domain of `vm create --emit libvirt` (file XML) defined, started, asked
# and destroyed with virsh, its disk in a directory pool "default" as virt-manager makes it.
l2_libvirt() {
  local xml=$1 vol
  # The kernel has AppArmor on, but the image holds only Depends, not AppArmor's userspace that
  # Debian installs by default: without apparmor_parser libvirt cannot load the domain's
  # profile, so it runs without a security driver here (qemu.conf(5), security_driver).
  if [ -e /sys/kernel/security/apparmor ] && ! command -v apparmor_parser >/dev/null; then
    echo 'security_driver = "none"' >>/etc/libvirt/qemu.conf
    systemctl try-restart libvirtd.service virtqemud.service
    say "libvirt: security_driver = none (no apparmor_parser in the image)"
  fi
  mkdir -p /var/lib/libvirt/images
  sh_step lv_pool_define virsh pool-define-as default dir --target /var/lib/libvirt/images
  sh_step lv_pool_start virsh pool-start default
  vol=$(grep -o 'volume="[^"]*"' "$xml" | head -n 1 | cut -d '"' -f 2)
  sh_step lv_vol virsh vol-create-as default "$vol" 1G --format qcow2
  sed -e 's/<domain type="kvm">/<domain type="qemu">/' -e 's/mode="host-passthrough"/mode="maximum"/' \
    -e '/<interface type="network">/,/<\/interface>/d' "$xml" >"$OUT/lv-domain.xml"
  sh_step lv_define virsh define "$OUT/lv-domain.xml"
  sh_step lv_start timeout 900 virsh start l2
  drivers lv-running
  sh_step lv_qtree virsh qemu-monitor-command l2 --hmp "info qtree"
  sh_step lv_pci virsh qemu-monitor-command l2 --hmp "info pci"
  sh_step lv_dumpxml virsh dumpxml l2
  sh_step lv_destroy virsh destroy l2
  drivers lv-destroyed
  sh_step lv_log cat /var/log/libvirt/qemu/l2.log
}
