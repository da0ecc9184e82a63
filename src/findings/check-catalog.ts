// Every finding id `check` can emit, documented: what it means, why it matters, how to fix
// it, and where the facts come from. `passthrough explain ID` prints an entry; the README
// points here. Findings are made through finding() (finding.ts), whose id parameter is a key
// of this object, so an undocumented id does not compile; test/unit/checks-catalog.test.ts checks
// the other direction (every entry is emitted by some check on some fixture host).
//
// Sources are public URLs from src/findings/sources.ts (test/unit/finding-sources.test.ts);
// the reasoning behind the entries is in docs/domain-facts.md and docs/research/anchors.md.

import {
  AMD_IOMMU_OPTIONS,
  AMDGPU_VFCT_BIOS,
  KERNEL_PCI_POWER_UP,
  KERNEL_PCI_ROM,
  VFIO_PCI_IDLE_D3,
  ARCH_KVM_HW,
  ARCH_OVMF_ACS,
  ARCH_OVMF_BOOT_GPU,
  ARCH_OVMF_EARLY,
  ARCH_OVMF_IDENTICAL,
  GROUPS_BLOG,
  GRUB_CONFIG,
  INTEL_IRQ_QUIRK,
  INTEL_IRQ_REMAP,
  KERNEL_PARAMS,
  KMOD_BLACKLIST,
  KMOD_CONF_FILES,
  KVM_NESTED,
  LARGE_BAR_NVIDIA,
  LIBVIRT_HOSTDEV,
  MODPROBE_D,
  OPEN_2,
  OVMF_APERTURE,
  OVMF_MMIO64,
  PCI_IOV,
  PVE_BIND_VFIO,
  PVE_CMDLINE,
  PVE_INITRAMFS,
  PVE_PASSTHROUGH,
  PVE_VIOMMU,
  PVE_VM_CONFIG,
  QM_MAN,
  PVE_WHICH_LOADER,
  QEMU_SERVER_HOSTPCI,
  QEMU_SERVER_RESERVE,
  QM_CONF,
  SYSFB_BAR_RESERVE,
  SYSFB_SIMPLEFB,
  SYSFS_DOC,
  SYSFS_PCI,
  SYSTEMD_BOOT,
  VENDOR_RESET,
  VFIO_DOC,
  VFIO_MAKEFILE_6_2,
  VFIO_TYPE1,
  VIRQFD_FOLDED,
  VIRQFD_MISSING,
  X86_CPUFEATURES,
  PVE_KERNEL_PIN,
  DKMS_MAN,
  KERNEL_PCI_QUIRKS,
  KERNEL_PCI_QUIRKS_GIT,
  GRUB_SET_DEFAULT,
  GRUB_REBOOT,
  BOOT_LOADER_SPEC,
  LOADER_CONF,
  BOOTCTL,
} from "./sources.js";

export interface CatalogEntry {
  /** Short title, a few words. */
  title: string;
  /** What the finding says about the host, in plain words. */
  meaning: string;
  /** Why it matters for passthrough. */
  why: string;
  /** How to fix it (the finding's own `fix` has the exact file/line/command for that host). */
  fix: string;
  sources: string[];
}

export const CHECK_CATALOG = {
  "cpu.virtualization": {
    title: "CPU virtualization (AMD-V / VT-x)",
    meaning:
      "Whether the CPU reports its hardware virtualization flag: svm (AMD-V) or vmx (Intel VT-x) in /proc/cpuinfo.",
    why: "KVM needs it to run VMs at all. When the flag is missing on bare metal, the firmware has virtualization switched off, and usually the IOMMU setting next to it too. Inside a VM it is missing unless the hypervisor offers nested virtualization.",
    fix: 'Enable "SVM Mode" (AMD) or "Intel Virtualization Technology" (Intel) in the firmware setup and reboot. The finding names the usual menu path for your board vendor when the firmware\'s DMI data names it.',
    sources: [ARCH_KVM_HW, KVM_NESTED],
  },
  "iommu.enabled": {
    title: "IOMMU on",
    meaning:
      "Whether the kernel runs an IOMMU: sys/kernel/iommu_groups holds groups and sys/class/iommu holds units (dmar* on Intel, ivhd* on AMD). When it is off the finding says exactly why: the command line turns it off, a VM without a virtual IOMMU, virtualization off in the firmware, the firmware's IOMMU switch off, or (Intel) a kernel that needs intel_iommu=on.",
    why: "Passthrough is the IOMMU's job: it translates the device's DMA to the VM's memory and keeps the device out of the host's. Without it there are no groups and vfio cannot assign anything.",
    fix: "AMD: enable IOMMU in the firmware (AMD CBS > NBIO Common Options > IOMMU); the kernel turns it on by itself (amd_iommu=on is not a valid value). Intel: enable VT-d in the firmware, and add intel_iommu=on to the kernel command line unless the kernel defaults it on (Proxmox kernels from 6.8 do). Then regenerate the boot loader config (update-grub / proxmox-boot-tool refresh) and reboot; the proof is /proc/cmdline and the groups after the reboot.",
    sources: [PVE_PASSTHROUGH, KERNEL_PARAMS, PVE_VIOMMU],
  },
  "iommu.groups": {
    title: "IOMMU groups present",
    meaning:
      "How many IOMMU groups the kernel made, and how many hold at most one device besides bridges.",
    why: "A group is the smallest set of devices that can be given to a VM. With the IOMMU on but no groups, no device is behind it.",
    fix: "Nothing when it passes. With units but no groups: look for iommu=off-like options on the command line and IOMMU errors in the kernel log; update the firmware.",
    sources: [VFIO_DOC, GROUPS_BLOG],
  },
  "iommu.irq-remapping": {
    title: "Interrupt remapping",
    meaning:
      'Whether the IOMMU remaps interrupts ("AMD-Vi: Interrupt remapping enabled", "DMAR-IR: Enabled IRQ remapping in x2apic mode"). Only the kernel log says so; when the log says nothing (rotated away) the result is unknown, not a failure.',
    why: 'A passed-through device signals interrupts by writing to memory (MSI). Without remapping it could write any interrupt into the host. vfio_iommu_type1 therefore refuses to assign devices ("No interrupt remapping support") unless allow_unsafe_interrupts=1 overrides that protection.',
    fix: "Update the firmware and keep x2APIC enabled there; on early Intel 5500/5520 I/O hubs with the remapping erratum the kernel turns it off itself and asks for a firmware update. Remove intremap=off if it is on the command line. As a last resort, knowing that guests can then inject interrupts into the host, `passthrough plan --allow-unsafe-interrupts` writes options vfio_iommu_type1 allow_unsafe_interrupts=1. To verify by hand: journalctl -k -b | grep -i remapping.",
    sources: [PVE_PASSTHROUGH, VFIO_TYPE1, INTEL_IRQ_REMAP, INTEL_IRQ_QUIRK],
  },
  "iommu.unsafe-interrupts": {
    title: "allow_unsafe_interrupts is on",
    meaning:
      "vfio_iommu_type1's allow_unsafe_interrupts parameter is set (live value, or configured in modprobe.d or on the command line).",
    why: "It lets vfio assign devices without interrupt remapping, so a guest can inject interrupts into the host. Where remapping works it only weakens isolation.",
    fix: "Remove the options line (or command line parameter) the finding names and rebuild the initramfs (update-initramfs -u -k all, dracut -f --regenerate-all, mkinitcpio -P).",
    sources: [VFIO_TYPE1, PVE_PASSTHROUGH, PVE_INITRAMFS],
  },
  "host.unreadable": {
    title: "Part of the host could not be read",
    meaning:
      'A file or folder a verdict rests on could not be read: a folder that exists but could not be listed (permission denied), a file a snapshot\'s capture skipped (manifest.json "skipped", a capture without root), a special file in a snapshot folder, or a snapshot without sys/ at all. The finding names what was therefore not checked.',
    why: "An unreadable /etc/modprobe.d looks exactly like an empty one, and a snapshot without sys/ like a host without devices: the checks would pass (or fail for the wrong reason) on what they never saw. So they are skipped, and the report is not called ready.",
    fix: "Run `passthrough check` as root on the host, or capture the snapshot again there as root with `sudo passthrough snapshot` and check that one.",
    sources: [OPEN_2, SYSFS_DOC],
  },
  "host.virtual-machine": {
    title: "Running inside a VM",
    meaning:
      "The CPU reports the hypervisor flag: this system is a guest. The finding names the hypervisor (DMI) and lists devices that look passed in.",
    why: "A guest only has IOMMU groups when its hypervisor gives it a virtual IOMMU, so setting up passthrough belongs on the hypervisor host. Devices passed in already appear with their real ids.",
    fix: "Run passthrough on the hypervisor host. To pass devices on from inside a VM (nested), give it a virtual IOMMU: Proxmox `qm set VMID --machine q35,viommu=intel`, QEMU `-device intel-iommu,intremap=on,caching-mode=on`.",
    sources: [X86_CPUFEATURES, PVE_VIOMMU, QM_CONF],
  },
  "boot.loader": {
    title: "Boot loader and command line file",
    meaning:
      "Which boot loader starts this host, where its kernel command line is configured, and which command applies a change (from the LoaderInfo EFI variable, the firmware's boot entry, /etc/kernel/proxmox-boot-uuids, then config files).",
    why: "Editing the file the boot loader does not read is the most common passthrough mistake: a Proxmox host on ZFS + UEFI boots systemd-boot from /etc/kernel/cmdline and ignores /etc/default/grub.",
    fix: "Nothing to fix; when the loader is not recognised, add kernel parameters by hand where your boot loader keeps them.",
    sources: [PVE_WHICH_LOADER, PVE_CMDLINE, SYSTEMD_BOOT],
  },
  "modprobe.wildcard": {
    title: "Wildcard in a blacklist line",
    meaning: "A blacklist line in /etc/modprobe.d names a pattern such as `blacklist nvidia*`.",
    why: 'kmod compares blacklist names exactly: the line blacklists a module literally named "nvidia*", which does not exist, so it does nothing. Wildcards work only in alias lines.',
    fix: "Name each module (blacklist nvidia, blacklist nvidia_drm, ...) or, better, drop the blacklist and bind the card by id (options vfio-pci ids=... with softdep lines), which leaves other cards of the vendor alone. Rebuild the initramfs afterwards. `passthrough plan` does this.",
    sources: [KMOD_BLACKLIST, MODPROBE_D, PVE_PASSTHROUGH],
  },
  "modprobe.unknown-module": {
    title: "Blacklist of a module that does not exist",
    meaning:
      'A blacklist line names a module the running kernel does not have (often a typo: "noveau").',
    why: "The line does nothing; the driver it was meant to stop still loads.",
    fix: "Correct the name (the finding suggests the closest real one) and rebuild the initramfs.",
    sources: [MODPROBE_D],
  },
  "cmdline.amd-iommu-on": {
    title: "amd_iommu=on",
    meaning: "The kernel command line configuration contains amd_iommu=on.",
    why: "It is not a valid value (the valid ones include off, fullflush, force_isolation, force_enable, pgtbl_v1, pgtbl_v2); the kernel logs \"AMD-Vi: Unknown option - 'on'\" and ignores it. The AMD IOMMU is on by default whenever the firmware enables it. Harmless, but it shows the configuration was copied from a guide rather than understood.",
    fix: "Remove it from the file the finding names, regenerate the boot loader config, reboot.",
    sources: [KERNEL_PARAMS, AMD_IOMMU_OPTIONS, PVE_PASSTHROUGH],
  },
  "modules.vfio-virqfd": {
    title: "vfio_virqfd on a kernel >= 6.2",
    meaning:
      "/etc/modules, modules-load.d or the initramfs config lists vfio_virqfd on a kernel 6.2 or newer.",
    why: "vfio_virqfd was folded into the vfio module in Linux 6.2; loading it fails at boot (systemd-modules-load reports a missing module).",
    fix: "Delete the line. vfio, vfio_iommu_type1 and vfio_pci are all that is needed.",
    sources: [VIRQFD_FOLDED, VFIO_MAKEFILE_6_2, VIRQFD_MISSING],
  },
  "modprobe.not-conf": {
    title: "modprobe.d file not ending in .conf",
    meaning: "A file in /etc/modprobe.d does not end in .conf.",
    why: "modprobe reads only *.conf files there, so every line in it is ignored.",
    fix: "Rename it to end in .conf and rebuild the initramfs.",
    sources: [MODPROBE_D, KMOD_CONF_FILES],
  },
  "vfio.ids-absent": {
    title: "vfio-pci ids= for absent devices",
    meaning:
      "A vfio-pci ids= list (modprobe options or the kernel command line) names vendor:device ids no PCI device on this host has.",
    why: "Usually ids copied from a guide or an old card: the device you mean to pass is not bound to vfio-pci at boot.",
    fix: "Replace them with the ids of the device you pass (`passthrough list` shows them) or remove the entry; rebuild the initramfs or regenerate the boot loader config.",
    sources: [PVE_PASSTHROUGH, KERNEL_PARAMS],
  },
  "cmdline.pending": {
    title: "Command line change not applied",
    meaning:
      "A parameter is in the boot loader's configuration but not in /proc/cmdline: the running kernel did not get it.",
    why: "The initramfs does not carry the command line: after editing /etc/default/grub, update-grub must regenerate grub.cfg (proxmox-boot-tool refresh on hosts it manages), and only a reboot applies it. Running only update-initramfs, as many guides do, leaves iommu=pt without effect.",
    fix: "Run the command the finding names (update-grub, proxmox-boot-tool refresh, grub2-mkconfig, grubby, kernelstub; on plain systemd-boot, edit the options line of every boot entry), reboot, and check /proc/cmdline.",
    sources: [PVE_CMDLINE, GRUB_CONFIG],
  },
  "cmdline.wrong-bootloader": {
    title: "Parameter in a file this boot loader ignores",
    meaning:
      "A kernel parameter is set in the config of a boot loader this host does not boot with (e.g. /etc/default/grub on a Proxmox host that boots systemd-boot from /etc/kernel/cmdline).",
    why: "It never reaches the kernel, however often the file is regenerated.",
    fix: "Put it where this host's boot loader reads it (the finding says where and which command applies it), reboot, and remove the stale copy. `passthrough plan` does both.",
    sources: [PVE_CMDLINE, PVE_WHICH_LOADER],
  },
  "candidate.no-gpu": {
    title: "No GPU to pass",
    meaning:
      "The host has no GPU other than its management controller's (or none at all); other passable devices are listed.",
    why: "check judges GPUs by default; for a NIC, an SR-IOV VF, a USB or storage controller, name it.",
    fix: "Run `passthrough check --device ADDRESS` for the device you want to pass.",
    sources: [PVE_PASSTHROUGH],
  },
  "candidate.isolation": {
    title: "IOMMU group isolation",
    meaning:
      "Whether the device's IOMMU group holds only its own functions (bridges in the group stay with the host and do not count). When not, the finding lists the group-mates, and bridges above the device that lack ACS.",
    why: 'The whole group goes to the VM or nothing does: QEMU fails with "group N is not viable" while any other endpoint in it has a host driver, and passing the group-mates takes them from the host.',
    fix: "Use a slot wired to the CPU (chipset slots usually share a group), or a firmware update that adds ACS. Last resort: pcie_acs_override=downstream,multifunction (`passthrough plan --acs-override ...`), honoured only by kernels with the ACS override patch such as Proxmox's; it makes the kernel pretend the devices are isolated while they can still reach each other's memory.",
    sources: [VFIO_DOC, GROUPS_BLOG, PVE_PASSTHROUGH, ARCH_OVMF_ACS],
  },
  "candidate.host-critical": {
    title: "Device the host lives on",
    meaning:
      "The device, or a device in its IOMMU group, holds the host's root filesystem or carries its default route.",
    why: "Passing it takes the disk or the network away from the running host.",
    fix: "Pass another device, or move the host's root filesystem / network to another controller first.",
    sources: [PVE_PASSTHROUGH],
  },
  "vm.hookscript-missing": {
    title: "VM hookscript missing",
    meaning:
      "A Proxmox VM's config has `hookscript: STORAGE:snippets/NAME`, and that file is not in the storage's snippets folder (/var/lib/vz/snippets for local).",
    why: "qemu-server runs the hookscript before every start and refuses to start the VM when the script is missing or not executable. A backup restored on another node, or a storage moved, keeps the config line but not the file: the VM that worked yesterday no longer starts.",
    fix: "Put the script back (a passthrough hookscript: `passthrough mode vm --device SLOT --hookscript --vmid VMID` writes it again), make it executable (chmod 0700), or remove the line: qm set VMID --delete hookscript.",
    sources: [QM_MAN, PVE_VM_CONFIG],
  },
  "candidate.assigned": {
    title: "Already in a VM's configuration",
    meaning:
      "A Proxmox VM's config passes the device already (hostpciN, resolved the way qemu-server does).",
    why: "Informational; when several VMs have it, only one of them can run at a time.",
    fix: "Remove the hostpci entry from VMs that should not have it: qm set VMID --delete hostpciN.",
    sources: [QEMU_SERVER_HOSTPCI, QEMU_SERVER_RESERVE, PVE_VM_CONFIG],
  },
  "driver.vfio": {
    title: "On vfio-pci, bound at boot",
    meaning:
      "The function is bound to vfio-pci, and the host's configuration binds it at boot (vfio-pci ids=, or driver_override by address).",
    why: "This is the state a VM needs, and it survives reboots.",
    fix: "Nothing to do. After changing modprobe files later, rebuild the initramfs so the early-boot copy keeps binding it.",
    sources: [PVE_PASSTHROUGH, PVE_INITRAMFS],
  },
  "driver.vfio-runtime": {
    title: "On vfio-pci only until the next reboot",
    meaning:
      "The function is on vfio-pci now, but no boot-time configuration binds it: Proxmox (or libvirt managed='yes') rebound it when a VM started.",
    why: "After a reboot the native driver takes it back, and the next VM start must unbind a live GPU driver, which GPUs often do not survive. Proxmox's runtime binding (new_id) also grabs every other device with the same ids.",
    fix: "Bind it at boot: `passthrough plan --device SLOT` then `apply` writes vfio-pci ids= with softdep lines (or driver_override by address for identical cards), rebuilds the initramfs, and a reboot applies it.",
    sources: [PVE_BIND_VFIO, LIBVIRT_HOSTDEV, SYSFS_PCI],
  },
  "driver.none": {
    title: "No driver bound",
    meaning: "No driver is bound to the function now.",
    why: "That is acceptable to vfio (every endpoint of the group must be on vfio-pci or have no driver); a VM start binds vfio-pci.",
    fix: "Bind vfio-pci at boot for a predictable state: `passthrough plan --device SLOT`.",
    sources: [VFIO_DOC],
  },
  "driver.native": {
    title: "On a host driver",
    meaning:
      "A host driver (nouveau, nvidia, amdgpu, snd_hda_intel, xhci_pci ...) is bound to the function. As a warning: although configuration binds vfio-pci at boot, the native driver won.",
    why: "Before setup this is normal. After setup it means the reboot is pending or the native module loads before vfio-pci (ids= alone can lose that race; a softdep makes vfio-pci load first).",
    fix: '`passthrough plan --device SLOT` binds it at boot. If configuration exists: reboot, or add "softdep MODULE pre: vfio-pci" and rebuild the initramfs.',
    sources: [PVE_PASSTHROUGH, MODPROBE_D, ARCH_OVMF_EARLY],
  },
  "reset.method": {
    title: "Reset support",
    meaning:
      "The reset methods the kernel can use for the device's functions (sysfs reset_method: flr, pm, bus, device_specific).",
    why: "Between VM runs the device must be reset; with no method it may stay in the state the guest left it, and the next VM start fails or shows nothing until the host reboots.",
    fix: "Test a VM stop/start cycle; pass all functions of the slot; a host reboot recovers the device. For a device whose FLR is known to hang it (AMD Starship/Matisse audio, USB and crypto functions, the AMD FCH SATA controller, Intel 82579; the kernel's quirk_no_flr) on a kernel that still lists flr first, plan with `--reset-method bus`.",
    sources: [SYSFS_PCI, KERNEL_PCI_QUIRKS],
  },
  "reset.no-bus-reset": {
    title: "Device that does not survive a bus reset",
    meaning:
      "A function the kernel marks as not to be reset with a secondary bus reset (drivers/pci/quirks.c quirk_no_bus_reset and quirk_nvidia_no_bus_reset): Qualcomm Atheros AR9xxx/QCA9xxx Wi-Fi (168c:0030, 0032, 0033, 0034, 003c, 003e), NVIDIA GH100-based GPUs (10de:2340-237f), the NVIDIA Tesla T4 (10de:1eb8), TI KeyStone C667X (104c:b005) and the ASMedia ASM1164 SATA controller (1b21:1164). As a warning: this kernel still lists bus in reset_method (it predates the quirk), or the function has no reset method at all, so nothing resets it between VM runs.",
    why: "After a bus reset these devices drop their link: config space reads nothing, AER reports Link Down, and touching the device can hang the host. With the quirk the kernel refuses the bus reset instead, so vfio cannot reset the device with its slot either and one VM's state is still in it when the next starts.",
    fix: "When another method is listed (flr, pm), plan it with `passthrough plan --device SLOT --reset-method METHOD` (a udev rule that writes reset_method) or write it now: `echo METHOD > /sys/bus/pci/devices/ADDR/reset_method`. Without one, update the kernel so it carries the quirk, give the device to one VM only and reboot the host when it misbehaves after a VM restart.",
    sources: [KERNEL_PCI_QUIRKS_GIT, SYSFS_PCI],
  },
  "reset.vendor-reset": {
    title: "AMD card needs vendor-reset",
    meaning:
      "An AMD Polaris, Vega or Navi 1x GPU, whose own reset does not work: it needs the out-of-tree vendor-reset module's device_specific reset.",
    why: "Without it the card does not come back after the VM stops: the next start hangs or has no picture until the host reboots.",
    fix: "Build and install vendor-reset (github.com/gnif/vendor-reset) with dkms, load it at boot (vendor-reset in /etc/modules), and install its udev rule so reset_method is device_specific.",
    sources: [VENDOR_RESET],
  },
  "kernel.modules": {
    title: "Out-of-tree modules for the next kernel",
    meaning:
      "The kernels installed under /lib/modules, the one the next boot starts, and whether each out-of-tree module the setup relies on has a module file for it (/lib/modules/RELEASE/updates/dkms, updates or extra; DKMS's builds under /var/lib/dkms/MODULE/VERSION/RELEASE/ARCH). The next boot's kernel comes from the boot loader's own files: on Proxmox VE a pin of `proxmox-boot-tool kernel pin` (else the newest kernel on proxmox-boot-tool hosts); with GRUB the `set default` of grub.cfg (GRUB_DEFAULT: an index, a title, an id or a \"submenu>entry\" path) or, for GRUB_DEFAULT=saved, saved_entry in grubenv, and grub-reboot's next_entry before either (Fedora's BootLoaderSpec entries count newest first); with systemd-boot the LoaderEntryOneShot and LoaderEntryDefault EFI variables, then loader.conf's `default`, else the first entry, newest version first. When those files do not tell, the finding says so instead of guessing. The modules: vendor-reset when a card to pass needs it for its reset, and nvidia, amdgpu or i915 when the running kernel has them from outside the kernel package.",
    why: "A kernel update installs a new kernel that boots by default; DKMS builds a module for it only when its headers are installed, and a module built by hand exists only for the kernel it was built against. The next boot then comes up without vendor-reset (the AMD card no longer resets between VM runs) or without the GPU driver.",
    fix: "Build the module for the kernel that boots next (install its headers, e.g. linux-headers-RELEASE, proxmox-headers-RELEASE or kernel-devel-RELEASE, then `dkms autoinstall -k RELEASE`), or keep booting a kernel that has it: `proxmox-boot-tool kernel pin RELEASE` on Proxmox VE (`proxmox-boot-tool kernel unpin` undoes it), `grub-set-default` with the entry's id path (after GRUB_DEFAULT=saved and update-grub), `grubby --set-default /boot/vmlinuz-RELEASE` on Fedora, `bootctl set-default ENTRY` with systemd-boot. The finding names the exact release and command for this host.",
    sources: [
      PVE_KERNEL_PIN,
      DKMS_MAN,
      VENDOR_RESET,
      GRUB_CONFIG,
      GRUB_SET_DEFAULT,
      GRUB_REBOOT,
      BOOT_LOADER_SPEC,
      LOADER_CONF,
      BOOTCTL,
    ],
  },
  "gpu.only-gpu": {
    title: "The host's only GPU",
    meaning: "The GPU to pass is the only display device of the host.",
    why: "Once it is bound to vfio-pci the host has no local console: a mistake in the network or SSH setup then needs a rescue boot.",
    fix: "Make sure SSH (or IPMI/BMC) access works before `apply`; `passthrough plan --headless-ok` acknowledges the risk.",
    sources: [PVE_PASSTHROUGH, ARCH_OVMF_BOOT_GPU],
  },
  "gpu.boot-vga": {
    title: "Boot GPU",
    meaning:
      "The GPU is the boot VGA device (boot_vga = 1): the firmware and the host console use it.",
    why: 'The firmware framebuffer (efifb / simplefb / simpledrm) keeps part of its memory; since kernel 5.15 video=efifb:off no longer frees it, so the VM gets "BAR 3: cannot reserve" errors or a black screen.',
    fix: "Make another GPU primary in the firmware, or add initcall_blacklist=sysfb_init (what `apply` does), accepting a dark host console.",
    sources: [ARCH_OVMF_BOOT_GPU, SYSFB_SIMPLEFB, SYSFB_BAR_RESERVE, KERNEL_PARAMS],
  },
  "gpu.identical-ids": {
    title: "Identical cards",
    meaning:
      "Another device on the host has the same vendor:device ids as the GPU to pass. As a failure: a vfio-pci ids= line already binds the host's copy too.",
    why: "vfio-pci ids= binds every device with those ids, so the host would lose its own card (and Proxmox's runtime binding grabs it as well).",
    fix: "Bind by address with driver_override (driverctl, a udev rule, or an initramfs script): `passthrough plan --device SLOT` does this for identical cards.",
    sources: [ARCH_OVMF_IDENTICAL, SYSFS_PCI, PVE_BIND_VFIO],
  },
  "gpu.large-bar": {
    title: "Large BAR / Resizable BAR",
    meaning: "The GPU has a BAR of 8 GiB or more (typically Resizable BAR on).",
    why: 'OVMF must map it inside its 64-bit MMIO window; when the window is too small the guest driver fails (Windows code 12/43, Linux "no space for BAR").',
    fix: "If the guest driver fails: give the VM a larger window (Proxmox cpu phys-bits=host; QEMU -fw_cfg name=opt/ovmf/X-PciMmio64Mb,string=65536) or turn Resizable BAR off in the firmware.",
    sources: [OVMF_APERTURE, LARGE_BAR_NVIDIA, OVMF_MMIO64, QM_CONF],
  },
  "rom.bar": {
    title: "GPU without a ROM BAR",
    meaning:
      "The GPU maps no expansion ROM (sysfs resource line 6 is empty): the VM's firmware cannot read a VBIOS from the card. An AMD APU's iGPU keeps its VBIOS in the firmware's ACPI VFCT table instead.",
    why: "OVMF initialises a passed GPU by running the UEFI GOP image of its ROM; without one there is no picture before the guest driver loads, and guest drivers that expect an initialised card fail (Windows code 43).",
    fix: "Give the VM the VBIOS as a file: `passthrough rom dump --device ADDR` (reads an APU's VFCT table), or the card maker's file checked with `passthrough rom inspect FILE --device ADDR`; then romfile= in the VM's hostpci line (Proxmox: a file name under /usr/share/kvm/).",
    sources: [KERNEL_PCI_ROM, AMDGPU_VFCT_BIOS, SYSFS_PCI, PVE_PASSTHROUGH, QM_CONF],
  },
  "power.d3cold": {
    title: "Device in D3cold",
    meaning:
      'A function to pass is powered off (power_state D3cold), or the kernel log says it did not come back from D3cold ("Unable to change power state from D3cold to D0, device inaccessible").',
    why: "vfio-pci lets idle devices sleep; some devices never wake from D3cold, and a VM start with them fails until the host reboots.",
    fix: "Forbid D3cold now (echo 0 > /sys/bus/pci/devices/ADDR/d3cold_allowed) and for good with `options vfio-pci disable_idle_d3=1` in /etc/modprobe.d plus an initramfs rebuild: `passthrough plan --disable-idle-d3` writes it (and chooses it by itself for a device the kernel log shows stuck).",
    sources: [SYSFS_PCI, VFIO_PCI_IDLE_D3, KERNEL_PCI_POWER_UP],
  },
  "sriov.pf-active": {
    title: "SR-IOV physical function with VFs",
    meaning:
      "A network (or other) device is an SR-IOV physical function with virtual functions enabled. Informational for the host; a failure when it is the device to pass.",
    why: "Passing the PF unbinds its driver, which removes every VF and the devices other VMs use.",
    fix: "Pass a VF instead (each VF is its own candidate), or disable the VFs first (echo 0 > /sys/bus/pci/devices/PF/sriov_numvfs).",
    sources: [PCI_IOV, SYSFS_PCI],
  },
  "sriov.vf": {
    title: "SR-IOV virtual function",
    meaning: "The device to pass is a virtual function of an SR-IOV physical function.",
    why: "VFs are passed one at a time and the PF keeps working on the host; a VF exists only while the PF driver keeps it, and VFs made at runtime are gone after a reboot.",
    fix: "Recreate the VFs at boot (a udev rule or systemd unit writing sriov_numvfs) before VMs that use them start.",
    sources: [PCI_IOV, PVE_PASSTHROUGH],
  },
} as const satisfies Record<string, CatalogEntry>;

export type CheckId = keyof typeof CHECK_CATALOG;

export const CHECK_IDS = Object.keys(CHECK_CATALOG) as CheckId[];

export function isCheckId(id: string): id is CheckId {
  return Object.prototype.hasOwnProperty.call(CHECK_CATALOG, id);
}
