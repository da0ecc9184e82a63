#!/bin/bash
# /init of the nested VM's (L2's) initramfs (nested.sh l2_initramfs builds it in L1): bash and a
# few programs copied from L1 with their libraries, the card's two drivers, and passthrough.
# Everything it reports goes to the serial console as "l2: ..." lines, which L1 keeps and the
# harness asserts on; then it powers L2 off (sysrq "o": there is no init system to ask).
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp

up() { local u; read -r u _ </proc/uptime; echo "$u"; }
echo "l2: init at $(up) s, kernel $(</proc/sys/kernel/osrelease)"

# No udev here: load the drivers of the passed functions by hand, as udev would by modalias,
# and let the kernel load what they ask for (the HDA codec driver) with the same modprobe.
echo /bin/modprobe >/proc/sys/kernel/modprobe
modprobe -a bochs snd_hda_intel 2>&1 | while read -r l; do echo "l2: modprobe: $l"; done
echo "l2: drivers loaded at $(up) s"

# The kernel's own view (sysfs): every PCI function with its ids, class and bound driver.
for d in /sys/bus/pci/devices/*; do
  drv=-
  [ -e "$d/driver" ] && drv=$(cd -P "$d/driver" && pwd) && drv=${drv##*/}
  echo "l2: pci ${d##*/} $(<"$d/vendor") $(<"$d/device") $(<"$d/class") driver=$drv"
done
lspci -nk 2>&1 | while read -r l; do echo "l2: lspci: $l"; done
echo "l2: dri $(echo /dev/dri/*)"

echo "l2: guest check at $(up) s"
passthrough guest check --expect 1234:1111 --json >/tmp/gc.json 2>/tmp/gc.err
rc=$?
echo "l2: guest check rc=$rc at $(up) s"
while read -r l; do echo "l2: guest check stderr: $l"; done </tmp/gc.err
# The JSON between two markers, one "l2: gc " line each (the harness joins them).
echo "l2: gc-begin"
while IFS= read -r l || [ -n "$l" ]; do echo "l2: gc $l"; done </tmp/gc.json
echo "l2: gc-end"

echo "l2: poweroff at $(up) s"
echo o >/proc/sysrq-trigger
sleep 600
