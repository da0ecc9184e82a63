// Every finding id `verify` can emit, documented in the register of the check catalog
// (src/findings/check-catalog.ts): what it proves, why it matters, how to fix it, the sources.
// verify.ts makes its findings through a constructor whose id parameter is a key of this
// object, so an undocumented id does not compile; test/unit/finding-catalogs.test.ts checks
// the other direction (every entry is emitted by verify on some fixture host).
//
// verify runs after the reboot and proves what the applied plan promised from the running
// kernel, not from the files: the only proof of a parameter is /proc/cmdline, the only proof
// of a binding is the driver link in sysfs (docs/domain-facts.md §3, §4).

import type { CatalogEntry } from "./check-catalog.js";
import {
  KERNEL_PARAMS,
  MODPROBE_D,
  MODULES_LOAD_D,
  PROC_STAT,
  PVE_CMDLINE,
  PVE_INITRAMFS,
  PVE_PASSTHROUGH,
  PVE_VIOMMU,
  VFIO_DOC,
  VFIO_TYPE1,
} from "./sources.js";

export const VERIFY_CATALOG = {
  "verify.reboot": {
    title: "Rebooted since the apply",
    meaning:
      "Whether the running kernel booted after the apply being verified finished: the boot time (btime in /proc/stat) against the journal's finish time. No finding when either is unknown (a fresh plan instead of a journal, or no /proc/stat).",
    why: "Nothing passthrough changes takes effect before a reboot: the kernel reads its command line and the initramfs its modprobe.d copy only at boot. A host that has not rebooted fails every other verify finding for that one reason, and the finding says so instead of blaming the files.",
    fix: "Reboot, then run `passthrough verify` again. passthrough never reboots on its own.",
    sources: [PROC_STAT, PVE_INITRAMFS],
  },
  "verify.cmdline": {
    title: "Kernel parameters in effect",
    meaning:
      "Whether every kernel parameter the plan added (iommu=pt, intel_iommu=on, vfio-pci.ids=..., as the journal's expectation lists them) is on the running kernel's command line, /proc/cmdline. A missing one is told apart by where it is: in no config (not applied, or rolled back), only in the config of a boot loader this host does not boot, in /etc/default/grub but not in the generated grub.cfg (config not regenerated), in grub.cfg too (no reboot, or the firmware boots another GRUB or entry).",
    why: "The boot loader passes the command line to the kernel; editing /etc/default/grub or /etc/kernel/cmdline changes nothing until the boot loader's config is regenerated and the host reboots. Until the parameters are live the IOMMU may be off and vfio-pci.ids does nothing.",
    fix: "Run the command that regenerates the boot loader's config (update-grub, grub-mkconfig -o /boot/grub/grub.cfg, grub2-mkconfig -o /boot/grub2/grub.cfg, proxmox-boot-tool refresh; grubby and kernelstub write the entries themselves), then reboot. If it is still missing, check which loader the firmware boots (`efibootmgr -v`) and run `passthrough check`; the finding names the exact file and command for this host.",
    sources: [KERNEL_PARAMS, PVE_CMDLINE],
  },
  "verify.iommu": {
    title: "IOMMU on after the reboot",
    meaning:
      "Whether the running kernel has IOMMU groups (sys/kernel/iommu_groups). When it has none the finding names the most likely cause: no reboot since the apply, the IOMMU parameter not on /proc/cmdline, a VM without a virtual IOMMU, no svm/vmx flag (virtualization off in the firmware), or the firmware's IOMMU switch off.",
    why: "vfio-pci only takes devices that sit in an IOMMU group; without groups no device can be bound or passed and every verify.binding fails with it.",
    fix: "Fix verify.cmdline first when it fails. Otherwise enable the IOMMU in the firmware setup (AMD: IOMMU / AMD-Vi under AMD CBS > NBIO Common Options; Intel: VT-d) and boot again. In a VM: give it a virtual IOMMU (QEMU -device intel-iommu,intremap=on on a q35 machine; Proxmox `qm set VMID --machine q35,viommu=intel`).",
    sources: [PVE_PASSTHROUGH, VFIO_DOC, PVE_VIOMMU],
  },
  "verify.irq-remapping": {
    title: "Interrupt remapping after the reboot",
    meaning:
      'Whether the IOMMU remaps interrupts on the running kernel ("AMD-Vi: Interrupt remapping enabled", "DMAR-IR: Enabled IRQ remapping in x2apic mode" in the kernel log). Passes when it does; warns when it does not but the plan\'s opt-in (vfio_iommu_type1 allow_unsafe_interrupts=1) is live; fails when it is off without the opt-in, when intremap=off is on /proc/cmdline, when the opt-in was planned but is not live, or when the kernel log says nothing either way.',
    why: 'Without remapping vfio_iommu_type1 refuses to set up MSI interrupts for an assigned device ("No interrupt remapping support"), so the VM fails to start; the allow_unsafe_interrupts opt-in makes it work but lets a guest inject interrupts into the host.',
    fix: "Remove intremap=off from the command line when it is there, regenerate the boot loader config and reboot. Otherwise enable x2APIC / interrupt remapping in the firmware (it comes with VT-d or the AMD IOMMU) and update the firmware. As an explicit opt-in only: plan and apply with --allow-unsafe-interrupts, which writes options vfio_iommu_type1 allow_unsafe_interrupts=1 to /etc/modprobe.d/passthrough.conf, then rebuild the initramfs and reboot. Run verify as root soon after boot: it reads the kernel log (`dmesg | grep -i remapping`).",
    sources: [VFIO_TYPE1, PVE_PASSTHROUGH, KERNEL_PARAMS],
  },
  "verify.modules": {
    title: "vfio modules loaded",
    meaning:
      "Whether the modules the plan expects (vfio, vfio_iommu_type1, vfio_pci; vfio_virqfd on kernels before 6.2) are loaded (/proc/modules) or built in (modules.builtin). A missing one is either configured to load (/etc/modules, /etc/modules-load.d, the initramfs module list: the finding names the file and line) but did not, or nothing loads it at boot. A module parameter the plan set (vfio-pci disable_idle_d3=1) must read as planned in /sys/module/MODULE/parameters/NAME.",
    why: "vfio-pci must be loaded before the native drivers probe the device, or the device stays on nvidia, amdgpu or snd_hda_intel. A module configured in /etc but missing from an initramfs built before the change is the usual cause.",
    fix: "Rebuild the initramfs so it agrees with /etc (update-initramfs -u -k all on Debian, Ubuntu and Proxmox; dracut -f --regenerate-all; mkinitcpio -P) and reboot. When nothing lists the module, `passthrough apply` writes /etc/modules-load.d/passthrough.conf. If it still does not load: `journalctl -b -u systemd-modules-load` and `modprobe vfio_pci` say why.",
    sources: [MODULES_LOAD_D, PVE_INITRAMFS, MODPROBE_D],
  },
  "verify.binding": {
    title: "Device bound to vfio-pci",
    meaning:
      "Whether each function the plan selected, and every other endpoint of its IOMMU group (bridges stay with the host), is bound to vfio-pci or to no driver (the driver link in sys/bus/pci/devices/ADDR). When a host driver holds it the finding names why: no reboot, no IOMMU, vfio_pci not loaded, the native driver built into the kernel, nothing telling vfio-pci to claim the ids, no `softdep DRIVER pre: vfio-pci`, or softdep and ids configured but an initramfs built before them. A selected device missing from the bus (moved or removed) fails too. After an apply with --reset-method it also reads each selected function's sys/bus/pci/devices/ADDR/reset_method, which must list only the chosen method (the udev rule writes it when the device appears at boot).",
    why: 'QEMU can only assign a device vfio-pci holds, and only when every endpoint in its group is off host drivers ("group N is not viable" otherwise). A native driver that binds first keeps the device, and on a GPU it also holds the framebuffer the VM needs.',
    fix: "Follow the cause the finding names: reboot; fix verify.iommu or verify.modules first; add `softdep MODULE pre: vfio-pci` and `options vfio-pci ids=VVVV:DDDD` to /etc/modprobe.d/passthrough.conf (`passthrough apply` writes both); rebuild the initramfs (update-initramfs -u -k all, dracut -f --regenerate-all, mkinitcpio -P) and reboot. A built-in native driver cannot be ordered by softdep: bind by address (driverctl set-override ADDR vfio-pci) or put vfio-pci.ids= on the kernel command line.",
    sources: [VFIO_DOC, PVE_PASSTHROUGH, MODPROBE_D],
  },
} as const satisfies Record<string, CatalogEntry>;

export type VerifyId = keyof typeof VERIFY_CATALOG;
