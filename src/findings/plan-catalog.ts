// Every finding id `plan` (and `apply`, which shows the same plan) can emit beyond the check
// ids it shares (cmdline.pending, cmdline.wrong-bootloader, modprobe.unknown-module,
// vfio.ids-absent: src/findings/check-catalog.ts), in the register of the check catalog: what it
// says, why it matters, how to fix it, the sources. The plan's findings are typed
// PlanFinding (its id a key of this object or of the check catalog), so an undocumented id
// does not compile; test/unit/finding-catalogs.test.ts checks that every entry is emitted
// when planning the fixture hosts.
//
// Plan findings are notes on a plan that will be carried out: what it does differently on
// this host, what it cannot do by itself, and the risks a flag accepted. Refusals (exit 3)
// are not findings; their reasons name the flag that turns one into a plan.* warning.

import type { CatalogEntry, CheckId } from "./check-catalog.js";
import type { Finding } from "../findings/finding.js";
import {
  AMD_IOMMU_OPTIONS,
  ARCH_OVMF_ACS,
  ARCH_OVMF_BOOT_GPU,
  ARCH_OVMF_EARLY,
  ARCH_OVMF_IDENTICAL,
  ARCH_OVMF_MKINITCPIO,
  BOOSTER,
  BOOSTER_MODPROBE,
  BOOT_LOADER_SPEC,
  GROUPS_BLOG,
  GRUB_CONFIG,
  INITRAMFS_TOOLS,
  KBUILD_BUILTIN,
  KERNEL_PARAMS,
  KMOD_BLACKLIST,
  KMOD_CONF_DIRS,
  KMOD_CONF_FILES,
  KMOD_INSTALL,
  KMOD_OPTIONS,
  KMOD_SOFTDEPS,
  MKINITCPIO,
  MODPROBE_D,
  PVE_ACS_PATCH,
  PVE_CMDLINE,
  PVE_GRUB,
  PVE_PASSTHROUGH,
  SYSFS_PCI,
  SYSTEMD_BOOT,
  VFIO_DOC,
  VFIO_MAKEFILE_6_2,
  VFIO_TYPE1,
  VIRQFD_FOLDED,
  VFIO_PCI_IDLE_D3,
  KERNEL_PCI_POWER_UP,
  UDEV_MAN,
} from "./sources.js";

export const PLAN_CATALOG = {
  "iommu.off": {
    title: "IOMMU off: the plan only turns it on",
    meaning:
      "The host has no IOMMU groups but the CPU can do it (svm/vmx present, not a VM), so the plan is phase 1 of 2 (`phase: enable-iommu`): it adds what the command line needs (intel_iommu=on on Intel kernels that need it, iommu=pt), refreshes the boot loader and asks for a reboot with the firmware setting to check. Binding is not planned yet.",
    why: "Which devices share a group is only known once the IOMMU runs, and binding a device whose group is unknown could take a group-mate the host needs. No kernel parameter turns on an IOMMU the firmware leaves off.",
    fix: "Apply, and during the reboot enter the firmware setup and enable the IOMMU (AMD: IOMMU under AMD CBS > NBIO Common Options; Intel: VT-d). Then run the same `passthrough plan --device ...` again: with groups present it plans the binding (phase 2).",
    sources: [PVE_PASSTHROUGH, KERNEL_PARAMS],
  },
  "plan.partial-group": {
    title: "Group passed only in part (--allow-partial-group)",
    meaning:
      "With --allow-partial-group the plan binds the selected functions although another endpoint of their IOMMU group stays on a host driver; the finding names it. Without the flag the plan is refused.",
    why: 'VFIO assigns whole groups: while any endpoint of the group is bound to a host driver, QEMU fails with "group N is not viable" and the VM does not start.',
    fix: "Bind the whole group (`passthrough plan --group N`), or move the card to a slot whose group holds only it (CPU lanes are usually isolated), or update the firmware. Unbinding the group-mate by hand before each VM start is the fragile alternative the flag leaves you with.",
    sources: [VFIO_DOC, GROUPS_BLOG],
  },
  "plan.headless": {
    title: "Passing the host's only GPU (--headless-ok)",
    meaning:
      "With --headless-ok the plan passes every GPU of the host; after the reboot the host has no local display or console. Without the flag the plan is refused.",
    why: "vfio-pci takes the GPU at boot, before the console can use it: if SSH or a BMC/serial console does not work then, the host can only be reached by undoing the change from a rescue system.",
    fix: "Before rebooting, log in over SSH from another machine (or check the BMC / serial console) and keep that session open. `passthrough rollback` undoes the plan if the host must get its display back.",
    sources: [PVE_PASSTHROUGH, ARCH_OVMF_BOOT_GPU],
  },
  "plan.unsafe-interrupts": {
    title: "allow_unsafe_interrupts opted in (--allow-unsafe-interrupts)",
    meaning:
      "With --allow-unsafe-interrupts on a host without interrupt remapping, the plan writes options vfio_iommu_type1 allow_unsafe_interrupts=1 to /etc/modprobe.d/passthrough.conf (or vfio_iommu_type1.allow_unsafe_interrupts=1 on the command line when the module is built in); a warning. On a host where remapping is on it is an info note that nothing is written for the flag.",
    why: "Without interrupt remapping VFIO refuses MSI for assigned devices; allowing it anyway lets a guest write arbitrary interrupts into the host (the isolation the IOMMU is for is then incomplete).",
    fix: "Turn interrupt remapping on in the firmware (x2APIC mode / Interrupt Remapping, with VT-d or the AMD IOMMU), update the firmware, and plan again without the flag; `passthrough rollback` removes the options line.",
    sources: [VFIO_TYPE1, PVE_PASSTHROUGH],
  },
  "plan.interrupt-remapping-unknown": {
    title: "Interrupt remapping unknown",
    meaning:
      "The IOMMU is on but the kernel log says nothing about interrupt remapping (rotated away, or read without root), so the plan cannot tell whether VFIO will accept MSI for the device. It plans as if it were on.",
    why: 'If remapping is in fact off, the VM fails to start with "No interrupt remapping support" until it is enabled or allow_unsafe_interrupts is opted in.',
    fix: 'Look yourself: `dmesg | grep -i -e remapping -e DMAR-IR -e AMD-Vi` should say "Enabled IRQ remapping" / "Interrupt remapping enabled". `passthrough verify` checks it after the reboot.',
    sources: [VFIO_TYPE1, PVE_PASSTHROUGH],
  },
  "plan.kernel-version-unknown": {
    title: "Kernel version unknown",
    meaning:
      "The running kernel's version could not be read, so the plan lists vfio, vfio_iommu_type1 and vfio_pci to load and leaves out vfio_virqfd.",
    why: "vfio_virqfd was a separate module before kernel 6.2 and is part of vfio since; listing it on a newer kernel makes systemd-modules-load fail, leaving it out on an older one leaves vfio without it.",
    fix: "On a kernel older than 6.2 (`uname -r`), add vfio_virqfd to /etc/modules-load.d/passthrough.conf and rebuild the initramfs.",
    sources: [VIRQFD_FOLDED, VFIO_MAKEFILE_6_2],
  },
  "plan.acs-override": {
    title: "ACS override (--acs-override)",
    meaning:
      "With --acs-override the plan adds pcie_acs_override=VALUE (downstream, multifunction, id:VVVV:DDDD) to the kernel command line, so the kernel splits IOMMU groups the hardware does not isolate.",
    why: "The override makes the kernel pretend ACS isolation exists: devices in the split groups can still reach each other's memory by DMA (peer-to-peer past the IOMMU), so a guest may attack the host or another VM through them. It is a last resort with a security cost.",
    fix: "Prefer a slot whose group is already isolated (CPU lanes rather than chipset lanes) or a firmware update that adds ACS. If you keep it, know the risk; `passthrough rollback` removes the parameter.",
    sources: [ARCH_OVMF_ACS, PVE_ACS_PATCH, GROUPS_BLOG],
  },
  "plan.acs-override-kernel": {
    title: "Kernel may lack the ACS override patch",
    meaning:
      "pcie_acs_override= is planned on a kernel that is neither Proxmox's nor a known patched one (linux-zen, linux-vfio, acso builds, by its release string).",
    why: "The parameter comes from an out-of-tree patch; mainline kernels ignore it, so the groups stay as they are and the reboot achieves nothing.",
    fix: "After the reboot check the groups with `passthrough list`; if they did not split, use a kernel that carries the patch (Proxmox, linux-zen on Arch) or, better, another slot.",
    sources: [ARCH_OVMF_ACS, PVE_ACS_PATCH],
  },
  "binding.per-address": {
    title: "Bound by address, not by id",
    meaning:
      "Another device the host keeps has the same vendor:device ids as a selected function, so the plan binds by PCI address: a modprobe `install vfio-pci` hook writes driver_override=vfio-pci for exactly the selected addresses before vfio-pci loads, and `softdep DRIVER pre: vfio-pci` runs it before the native driver (with vfio-pci built in, an install hook on each native driver does the same).",
    why: "`options vfio-pci ids=VVVV:DDDD` binds every device with those ids, so with two identical cards it would take the host's card too.",
    fix: "Nothing to fix. After the reboot `passthrough verify` proves the selected functions are on vfio-pci and the other card is not.",
    sources: [MODPROBE_D, SYSFS_PCI, ARCH_OVMF_IDENTICAL],
  },
  "binding.booster-per-address": {
    title: "booster cannot bind by address",
    meaning:
      "The host builds its initramfs with booster and the plan binds by address (identical cards).",
    why: "booster's init loads modules itself and runs neither modprobe install hooks nor softdeps, so the driver_override hook never runs in early boot; a GPU driver loaded from the booster image would claim the device first.",
    fix: "Keep the GPU drivers out of the booster image (no nvidia, amdgpu, nouveau in modules_force_load of /etc/booster.yaml: `grep modules /etc/booster.yaml`), so they load after the root filesystem is mounted, where the hook runs.",
    sources: [BOOSTER_MODPROBE, BOOSTER],
  },
  "binding.native-builtin": {
    title: "Native driver built into the kernel",
    meaning:
      "A driver that could claim a selected function is built into the kernel (listed in modules.builtin), not a module.",
    why: "softdep orders module loading; a built-in driver registers at boot before any module, so vfio-pci can lose the device to it.",
    fix: "Add initcall_blacklist=DRIVER_init to the kernel command line, or use a kernel where the driver is a module; check with `passthrough verify` after the reboot.",
    sources: [KBUILD_BUILTIN, KERNEL_PARAMS],
  },
  "binding.ids-present": {
    title: "vfio-pci ids= already there",
    meaning:
      "An existing `options vfio-pci ids=` line (the last one, which is the one that counts) already names the selected devices' ids, so the plan leaves it as it is.",
    why: "kmod concatenates every options line for vfio_pci and the kernel keeps the last ids= it parses: one line must carry all ids, and a second line would override the first.",
    fix: "Nothing to fix.",
    sources: [MODPROBE_D, KMOD_OPTIONS],
  },
  "binding.ids-outside-etc": {
    title: "vfio-pci ids= outside /etc",
    meaning:
      "A modprobe.d file outside /etc (/lib/modprobe.d, /usr/lib/modprobe.d, /run/modprobe.d), which passthrough does not edit, sets vfio-pci ids=. A warning when the plan adds its own ids= line (which one the kernel keeps depends on the order kmod reads them); a failure when the plan binds by address and that line names an id the host's own identical card has.",
    why: "The kernel keeps the last ids= it parses, so the other file may override the plan's ids; and an ids= naming a shared id binds the host's card too.",
    fix: "Override the file with one of the same name in /etc/modprobe.d (a file there hides the one in /lib with that name) without those ids, then plan again; afterwards `modprobe -c | grep vfio.pci` shows what kmod uses.",
    sources: [KMOD_CONF_FILES, KMOD_CONF_DIRS, MODPROBE_D],
  },
  "binding.install-conflict": {
    title: "Another install command for vfio-pci",
    meaning:
      "A modprobe.d file already has an `install vfio-pci ...` (or vfio_pci) command, and the plan binds by address with its own install hook.",
    why: "kmod runs only one install command per module, the first it reads, so the plan's driver_override hook would be ignored and the identical cards could not be told apart.",
    fix: "Remove that install line (the finding names file and line), then run `passthrough plan` again.",
    sources: [KMOD_INSTALL, MODPROBE_D],
  },
  "binding.softdep-outside-etc": {
    title: "softdep outside /etc",
    meaning:
      "A modprobe.d file outside /etc already has a softdep for a native driver of the device; the plan writes its own `softdep DRIVER pre: vfio-pci` in /etc/modprobe.d/passthrough.conf.",
    why: "kmod uses only the first softdep line it reads for a module, which may be the other one, without vfio-pci: the native driver then loads first and keeps the device.",
    fix: 'After applying, `modprobe -c | grep "softdep DRIVER"` shows which line kmod uses; if it lacks vfio-pci, override the file with one of the same name in /etc/modprobe.d.',
    sources: [KMOD_SOFTDEPS, KMOD_CONF_DIRS],
  },
  "binding.blacklist": {
    title: "Blacklist written (--blacklist)",
    meaning:
      "With --blacklist the plan adds `blacklist DRIVER` lines for the native drivers no other host device uses.",
    why: "blacklist only stops automatic (alias) loading, host-wide: another card of that vendor added later loses its driver, and anything that loads the module by name still does. What keeps the devices on vfio-pci is the ids/softdep binding, which the plan writes anyway.",
    fix: "Usually not needed; leave --blacklist off unless the driver must never load on this host.",
    sources: [MODPROBE_D, PVE_PASSTHROUGH],
  },
  "binding.disable-idle-d3": {
    title: "vfio-pci keeps idle devices powered (disable_idle_d3=1)",
    meaning:
      "The plan writes `options vfio-pci disable_idle_d3=1` into /etc/modprobe.d/passthrough.conf (or `vfio_pci.disable_idle_d3=1` on the command line when vfio-pci is built in): asked with --disable-idle-d3, or chosen because the kernel log shows a selected device that did not come back from D3cold. `verify` then expects /sys/module/vfio_pci/parameters/disable_idle_d3 to read Y.",
    why: 'vfio-pci puts devices no VM uses into a low-power state, and where the platform allows D3cold their power is cut. Some GPUs never wake from it ("Unable to change power state from D3cold to D0, device inaccessible"), and the next VM start fails until the host reboots. With the option the devices stay in D0 and draw their idle power.',
    fix: "Nothing to do; leave --disable-idle-d3 off for cards that wake from D3cold, to save their idle power.",
    sources: [VFIO_PCI_IDLE_D3, KERNEL_PCI_POWER_UP, SYSFS_PCI],
  },
  "reset.udev-rule": {
    title: "Reset method set by a udev rule (--reset-method)",
    meaning:
      'With --reset-method METHOD the plan writes /etc/udev/rules.d/99-passthrough-reset.rules: one `ACTION=="add", SUBSYSTEM=="pci", KERNEL=="ADDR", ATTR{reset_method}="METHOD"` line per selected function, so the kernel resets them only with METHOD. The method must be one the function\'s reset_method lists now; any other is refused (exit 2), as the kernel would reject it.',
    why: "The kernel tries the methods in reset_method's order and stops at the first that reports success. When that one leaves the device unusable (a Function Level Reset some devices claim but do not do), the VM's next start fails; a secondary bus reset of the slot (bus) often works where FLR does not. The choice has to be made again at every boot: sysfs forgets it, so udev writes it whenever the device appears.",
    fix: "Nothing to do; to undo it, `passthrough rollback`, or delete the file and reboot. `echo METHOD > /sys/bus/pci/devices/ADDR/reset_method` applies it before the reboot.",
    sources: [SYSFS_PCI, UDEV_MAN],
  },
  "binding.blacklist-skipped": {
    title: "Blacklist skipped: the host uses the driver",
    meaning:
      "With --blacklist, a native driver of the device is not blacklisted because another device the host keeps uses it (the finding names it), e.g. snd_hda_intel for onboard audio.",
    why: "blacklist is host-wide: it would take the driver from the host's own device too.",
    fix: "Nothing to fix; the ids/softdep binding keeps the passed device on vfio-pci without it.",
    sources: [MODPROBE_D],
  },
  "binding.ids-shared": {
    title: "Releasing ids another device shares",
    meaning:
      "mode host --persist takes a card's vendor:device ids out of vfio-pci's ids=, and another device on this host has the same ids (two identical GPUs), so it is released from vfio-pci at the next boot too.",
    why: "ids= matches every device with those ids, not one address.",
    fix: "Bind the device that should stay on vfio-pci by address: passthrough apply --device ADDR (the plan binds by address when the host keeps an identical device).",
    sources: [MODPROBE_D],
  },
  "binding.host-driver-blacklisted": {
    title: "The card's driver is blacklisted by a file passthrough did not write",
    meaning:
      "mode host --persist releases the card from vfio-pci, but a blacklist line in another /etc/modprobe.d file (one a guide had you write, e.g. blacklist nouveau) stops its driver from loading automatically, so after the reboot the card may have no driver at all.",
    why: "passthrough only removes lines it wrote itself; a blacklist is host-wide and may be there for another reason.",
    fix: "Remove the line if the host should drive the card, rebuild the initramfs (update-initramfs -u -k all, dracut -f, mkinitcpio -P) and reboot, or load the driver by hand with modprobe.",
    sources: [MODPROBE_D],
  },
  "bootloader.unknown": {
    title: "Boot loader not recognised",
    meaning:
      "The boot loader is none the plan knows (GRUB, systemd-boot, proxmox-boot-tool, kernelstub), so the kernel command line is not changed.",
    why: "The parameters the plan needs (iommu=pt, intel_iommu=on, vfio-pci.ids= ...) do nothing until the kernel boots with them.",
    fix: "Add the parameters the finding lists to your boot loader's kernel command line by hand, apply its configuration, reboot, and check /proc/cmdline (`passthrough verify`).",
    sources: [KERNEL_PARAMS, PVE_CMDLINE],
  },
  "bootloader.entries-unseen": {
    title: "No systemd-boot entries visible",
    meaning:
      "The host boots systemd-boot but no loader/entries/*.conf was found under /boot, /boot/efi or /efi, so the command line cannot be planned.",
    why: "systemd-boot reads the kernel command line from each entry's options line; with the ESP not mounted (or entries elsewhere) there is nothing to edit.",
    fix: "Mount the ESP and run plan again, or add the parameters to the options line of your entries yourself (`bootctl list` shows them).",
    sources: [SYSTEMD_BOOT, BOOT_LOADER_SPEC],
  },
  "bootloader.grub-override": {
    title: "GRUB command line set in a drop-in",
    meaning:
      "A file in /etc/default/grub.d (*.cfg) sets GRUB_CMDLINE_LINUX_DEFAULT after /etc/default/grub, so the plan adds its parameters there.",
    why: "update-grub sources /etc/default/grub and then the drop-ins; the last assignment wins, so an edit of /etc/default/grub alone would be overridden.",
    fix: "Nothing to fix; the plan edits the file that counts.",
    sources: [PVE_GRUB, GRUB_CONFIG],
  },
  "initramfs.unknown": {
    title: "Initramfs generator not recognised",
    meaning:
      "No known initramfs generator (initramfs-tools, dracut, mkinitcpio, booster) was found, so the VFIO modules are not added to the initramfs.",
    why: "The native driver of a GPU is often loaded from the initramfs (early KMS); vfio-pci must be there too, before it, to claim the device first.",
    fix: "Include vfio, vfio_iommu_type1 and vfio_pci (and /etc/modprobe.d) in your initramfs and rebuild it.",
    sources: [ARCH_OVMF_EARLY, INITRAMFS_TOOLS],
  },
  "initramfs.mkinitcpio-modconf": {
    title: "mkinitcpio HOOKS without modconf",
    meaning: "/etc/mkinitcpio.conf has a HOOKS=(...) array without modconf.",
    why: "The modconf hook copies /etc/modprobe.d into the initramfs; without it the vfio-pci ids and softdeps do not apply in early boot, where a KMS driver can claim the GPU.",
    fix: "Add modconf to HOOKS=(...) in /etc/mkinitcpio.conf, then run mkinitcpio -P.",
    sources: [MKINITCPIO, ARCH_OVMF_MKINITCPIO],
  },
  "initramfs.mkinitcpio-modules": {
    title: "mkinitcpio MODULES spans several lines",
    meaning:
      "The MODULES=( array in /etc/mkinitcpio.conf is written over several lines, which the plan does not edit.",
    why: "The VFIO modules must be in MODULES, before any KMS driver (amdgpu, nouveau, i915), to load first in early boot.",
    fix: "Put vfio_pci vfio vfio_iommu_type1 first in MODULES=(...) by hand, then run mkinitcpio -P.",
    sources: [MKINITCPIO, ARCH_OVMF_MKINITCPIO],
  },
  "repair.amd-iommu-on": {
    title: "amd_iommu=on not removed",
    meaning:
      "amd_iommu=on (not a valid value) is in a file the plan does not edit (a boot loader config this host does not read, or one only its own tool changes), so it is left in place.",
    why: "The kernel ignores it (\"AMD-Vi: Unknown option - 'on'\"); it is harmless but misleading, and the AMD IOMMU is on by default when the firmware enables it.",
    fix: "Remove the token from the file the finding names.",
    sources: [KERNEL_PARAMS, AMD_IOMMU_OPTIONS],
  },
  "repair.blacklist-wildcard": {
    title: "Wildcard blacklist not removed",
    meaning:
      "A `blacklist` line with a wildcard (e.g. blacklist nvidia*) is outside /etc, so the plan does not remove it.",
    why: "blacklist takes exact module names: the line matches nothing and protects nothing, but suggests it does.",
    fix: "Remove the line from the file the finding names; the plan binds by ids/softdep or address instead.",
    sources: [KMOD_BLACKLIST, MODPROBE_D],
  },
  "repair.vfio-virqfd": {
    title: "vfio_virqfd not removed",
    meaning:
      "vfio_virqfd is listed to load on a kernel 6.2 or later in a file the plan does not edit (outside /etc).",
    why: "vfio_virqfd was merged into vfio in 6.2; listing it makes module loading fail at boot (systemd-modules-load reports an error).",
    fix: "Remove vfio_virqfd from the file the finding names and rebuild the initramfs.",
    sources: [VIRQFD_FOLDED, VFIO_MAKEFILE_6_2],
  },
  "repair.modprobe-not-conf": {
    title: "modprobe.d file without .conf not renamed",
    meaning:
      "A file in /etc/modprobe.d does not end in .conf (modprobe ignores it) and the plan does not rename it: its name marks a backup copy (info), or NAME.conf already exists (warning).",
    why: "Options in the file do nothing; renaming a backup would turn old settings back on, and renaming onto an existing file would overwrite it.",
    fix: "Leave a backup as it is (or delete it); otherwise merge its lines into the existing .conf file by hand.",
    sources: [MODPROBE_D, KMOD_CONF_FILES],
  },
} as const satisfies Record<string, CatalogEntry>;

export type PlanId = keyof typeof PLAN_CATALOG;

/** A plan finding: a plan id, or a check id the plan reports too (cmdline.pending, ...). */
export type PlanFinding = Finding<PlanId | CheckId>;
