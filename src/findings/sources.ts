// Every source the finding catalogs (check, plan, verify, guest check) cite, in one place so
// they are reviewed together. `passthrough explain` prints them, so each is a public URL:
// a man page, kernel or Proxmox documentation, an upstream project's docs, a source file at
// a fixed tag or commit, or a public tracker thread (test/unit/finding-sources.test.ts holds
// every catalog to that). The comment on each says what it supports.

// Proxmox VE admin guide (pve-docs). Anchors are the guide's own [[ids]], which stay stable.

/** PCI(e) passthrough: IOMMU in the firmware, intel_iommu=on before kernel 6.8, interrupt
 * remapping required, allow_unsafe_interrupts, separate groups, vfio-pci ids=, blacklist,
 * softdep, and that a passed device is gone from the host. */
export const PVE_PASSTHROUGH =
  "https://pve.proxmox.com/pve-docs/chapter-qm.html#qm_pci_passthrough";
/** Rebuild the initramfs after any module change (update-initramfs -u -k all), then reboot. */
export const PVE_INITRAMFS =
  "https://pve.proxmox.com/pve-docs/chapter-qm.html#qm_pci_passthrough_update_initramfs";
/** VM side: q35, OVMF, hostpciN, the short form for all functions of a card. */
export const PVE_VM_CONFIG =
  "https://pve.proxmox.com/pve-docs/chapter-qm.html#qm_pci_passthrough_vm_config";
/** vIOMMU: a guest only gets IOMMU groups from an emulated IOMMU (machine q35,viommu=intel). */
export const PVE_VIOMMU = "https://pve.proxmox.com/pve-docs/chapter-qm.html#qm_pci_viommu";
/** qm.conf(5): every VM config key (hostpciN, cpu phys-bits, machine viommu, vga). */
export const QM_CONF = "https://pve.proxmox.com/pve-docs/qm.conf.5.html";
/** Where the command line lives: GRUB_CMDLINE_LINUX_DEFAULT + update-grub (appends it to
 * grub.cfg), or /etc/kernel/cmdline + proxmox-boot-tool refresh. */
export const PVE_CMDLINE =
  "https://pve.proxmox.com/pve-docs/chapter-sysadmin.html#sysboot_edit_kernel_cmdline";
/** Which boot loader runs: efibootmgr -v and proxmox-boot-tool status, not file presence. */
export const PVE_WHICH_LOADER =
  "https://pve.proxmox.com/pve-docs/chapter-sysadmin.html#sysboot_determine_bootloader_used";
/** GRUB on Proxmox: /etc/default/grub or snippets in /etc/default/grub.d, then update-grub. */
export const PVE_GRUB = "https://pve.proxmox.com/pve-docs/chapter-sysadmin.html#sysboot_grub";

// Proxmox source at a fixed commit (git.proxmox.com; the GitHub mirrors carry the same commits).

/** qemu-server parse_hostpci: how a hostpciN value resolves to host functions (a slot without
 * a function is all its functions). */
export const QEMU_SERVER_HOSTPCI =
  "https://git.proxmox.com/?p=qemu-server.git;a=blob;f=src/PVE/QemuServer/PCI.pm;hb=e6352be67f70042a7433a3a3c712b36d02f9f7cb#l431";
/** qemu-server reserve_pci_usage: a device in use by one running VM is refused to another. */
export const QEMU_SERVER_RESERVE =
  "https://git.proxmox.com/?p=qemu-server.git;a=blob;f=src/PVE/QemuServer/PCI.pm;hb=e6352be67f70042a7433a3a3c712b36d02f9f7cb#l805";
/** pve-common pci_dev_bind_to_vfio: at VM start Proxmox writes the ids to vfio-pci's new_id,
 * unbinds the host driver and binds vfio-pci (runtime binding, no boot-time config). */
export const PVE_BIND_VFIO =
  "https://git.proxmox.com/?p=pve-common.git;a=blob;f=src/PVE/SysFSTools.pm;hb=f665029eac78022e81810ab2e44eace57ade13fb#l338";

// The kernel's documentation.

/** The kernel's command-line parameters (amd_iommu= values, intel_iommu=, iommu=pt,
 * intremap=, initcall_blacklist=, <module>.<param>= for built-in modules). */
export const KERNEL_PARAMS = "https://docs.kernel.org/admin-guide/kernel-parameters.html";
/** VFIO: the IOMMU group is the unit of ownership; every device of a group must be bound to a
 * VFIO driver or to none before the group can be used; bridges without a driver need nothing. */
export const VFIO_DOC = "https://docs.kernel.org/driver-api/vfio.html#groups-devices-and-iommus";
/** sysfs ABI of PCI devices: new_id, driver_override, reset_method, sriov_numvfs,
 * resourceN_resize (at the tag Proxmox VE 8's default kernel is built from). */
export const SYSFS_PCI =
  "https://github.com/torvalds/linux/blob/v6.8/Documentation/ABI/testing/sysfs-bus-pci";
/** SR-IOV: VFs appear when sriov_numvfs is written (or by the PF driver), and go with it. */
export const PCI_IOV =
  "https://docs.kernel.org/PCI/pci-iov-howto.html#how-can-i-enable-sr-iov-capability";
/** Nested guests: a VM sees vmx/svm only when the hypervisor offers nested virtualization. */
export const KVM_NESTED = "https://docs.kernel.org/virt/kvm/x86/running-nested-guests.html";
/** KVM's CPUID leaves, which a KVM guest sees (0x40000000: "KVMKVMKVM"). */
export const KVM_CPUID = "https://docs.kernel.org/virt/kvm/x86/cpuid.html";
/** X86_FEATURE_HYPERVISOR, "Running on a hypervisor": the cpuinfo "hypervisor" flag. */
export const X86_CPUFEATURES =
  "https://github.com/torvalds/linux/blob/v6.8/arch/x86/include/asm/cpufeatures.h";
/** modules.builtin: the modules compiled into the kernel, which modprobe cannot order. */
export const KBUILD_BUILTIN = "https://docs.kernel.org/kbuild/kbuild.html#modules-builtin";
/** DRM userspace API: card* and renderD* nodes per GPU. */
export const DRM_DOC = "https://docs.kernel.org/gpu/drm-uapi.html";

// The kernel's source at a fixed tag or commit.

/** vfio_iommu_type1: allow_unsafe_interrupts ("Enable VFIO IOMMU support for on platforms
 * without interrupt remapping support") and the refusal without it ("No interrupt remapping
 * support"). */
export const VFIO_TYPE1 =
  "https://github.com/torvalds/linux/blob/v6.8/drivers/vfio/vfio_iommu_type1.c";
/** Intel interrupt remapping: on a chipset with the remapping erratum the kernel turns it off
 * ("This system BIOS has enabled interrupt remapping on a chipset that contains an erratum"). */
export const INTEL_IRQ_REMAP =
  "https://github.com/torvalds/linux/blob/v6.8/drivers/iommu/intel/irq_remapping.c";
/** intel_remapping_check: the Intel 5500/5520/X58 I/O hubs (3403, 3405, 3406) it marks broken. */
export const INTEL_IRQ_QUIRK =
  "https://github.com/torvalds/linux/blob/v6.8/arch/x86/kernel/early-quirks.c";
/** AMD IOMMU option parser: a value it does not know, such as "on", is logged as
 * "AMD-Vi: Unknown option - 'on'" and ignored. */
export const AMD_IOMMU_OPTIONS =
  "https://github.com/torvalds/linux/blob/v6.8/drivers/iommu/amd/init.c";
/** "vfio: Fold vfio_virqfd.ko into vfio.ko", merged for Linux 6.2. */
export const VIRQFD_FOLDED =
  "https://github.com/torvalds/linux/commit/e2d55709398e62cf53e5c7df3758ae52cc62d63a";
/** drivers/vfio/Makefile at 6.2: virqfd.o is built into vfio.o, no vfio_virqfd module. */
export const VFIO_MAKEFILE_6_2 =
  "https://github.com/torvalds/linux/blob/v6.2/drivers/vfio/Makefile";

/** "modprobe: FATAL: Module vfio_virqfd not found" at boot once vfio_virqfd is gone. */
export const VIRQFD_MISSING = "https://github.com/lae/ansible-role-proxmox/pull/349";
/** Proxmox's kernel carries the ACS override patch ("This may allow non-IOMMU protected
 * peer-to-peer DMA"); mainline does not. */
export const PVE_ACS_PATCH =
  "https://git.proxmox.com/?p=pve-kernel.git;a=blob;f=patches/kernel/0003-pci-Enable-overrides-for-missing-ACS-capabilities-4..patch;hb=a9d3e3c38032ac904eeb3d68b6cf547496da7742";

// kmod (modprobe) at v30, the version Debian 12 and Proxmox VE 8 ship.

/** modprobe.d(5): only *.conf files count; blacklist takes a module name (wildcards only in
 * alias); options lines add up; install and softdep. */
export const MODPROBE_D = "https://man7.org/linux/man-pages/man5/modprobe.d.5.html";
/** module_is_blacklisted: an exact string comparison, so `blacklist nvidia*` matches nothing. */
export const KMOD_BLACKLIST =
  "https://github.com/kmod-project/kmod/blob/v30/libkmod/libkmod-module.c#L954-L969";
/** kmod_module_get_options: every options line for the module is concatenated. */
export const KMOD_OPTIONS =
  "https://github.com/kmod-project/kmod/blob/v30/libkmod/libkmod-module.c#L1440-L1499";
/** kmod_module_get_install_commands: only the first install command for a module counts. */
export const KMOD_INSTALL =
  "https://github.com/kmod-project/kmod/blob/v30/libkmod/libkmod-module.c#L1515-L1547";
/** kmod_module_get_softdeps: only the first softdep line for a module counts. */
export const KMOD_SOFTDEPS =
  "https://github.com/kmod-project/kmod/blob/v30/libkmod/libkmod-module.c#L1592-L1628";
/** Config files: *.conf (and *.alias) only; a name seen in an earlier directory hides the
 * same name later, and /etc/modprobe.d is read first (libkmod.c default_config_paths). */
export const KMOD_CONF_FILES =
  "https://github.com/kmod-project/kmod/blob/v30/libkmod/libkmod-config.c#L756-L839";
/** The order of the modprobe.d directories: /etc, /run, /usr/local/lib, /lib. */
export const KMOD_CONF_DIRS =
  "https://github.com/kmod-project/kmod/blob/v30/libkmod/libkmod.c#L64-L70";

// Boot loaders, initramfs generators, systemd.

/** GRUB manual: GRUB_CMDLINE_LINUX_DEFAULT and the other keys grub-mkconfig reads. */
export const GRUB_CONFIG =
  "https://www.gnu.org/software/grub/manual/grub/html_node/Simple-configuration.html";
/** systemd-boot: entries in loader/entries/, the LoaderInfo EFI variable it sets. */
export const SYSTEMD_BOOT =
  "https://www.freedesktop.org/software/systemd/man/latest/systemd-boot.html";
/** Boot Loader Specification: an entry's `options` line is the kernel command line. */
export const BOOT_LOADER_SPEC =
  "https://uapi-group.org/specifications/specs/boot_loader_specification/";
/** modules-load.d(5): the modules systemd-modules-load loads at boot. */
export const MODULES_LOAD_D =
  "https://www.freedesktop.org/software/systemd/man/latest/modules-load.d.html";
/** initramfs-tools(7): Debian's initramfs generator and its hooks. */
export const INITRAMFS_TOOLS =
  "https://manpages.debian.org/bookworm/initramfs-tools-core/initramfs-tools.7.en.html";
/** mkinitcpio: MODULES and HOOKS (modconf copies /etc/modprobe.d into the image). */
export const MKINITCPIO = "https://wiki.archlinux.org/title/Mkinitcpio";
/** booster (Arch wiki). */
export const BOOSTER = "https://wiki.archlinux.org/title/Booster";
/** booster's generator reads only `options` lines from modprobe.d (no install, no softdep). */
export const BOOSTER_MODPROBE =
  "https://github.com/anatol/booster/blob/0.13/generator/kmod.go#L880-L929";
/** proc_stat(5): btime, the boot time in seconds since the epoch. */
export const PROC_STAT = "https://man7.org/linux/man-pages/man5/proc_stat.5.html";
/** libvirt <hostdev managed='yes'>: detached from the host at start, reattached at the end. */
export const LIBVIRT_HOSTDEV = "https://libvirt.org/formatdomain.html#usb-pci-scsi-devices";

// Guides and trackers.

/** vfio-pci before the GPU driver: in the initramfs, MODULES before any KMS driver. */
export const ARCH_OVMF_EARLY =
  "https://wiki.archlinux.org/title/PCI_passthrough_via_OVMF#Loading_vfio-pci_early";
/** The mkinitcpio part of it (and that vfio_virqfd is part of vfio since 6.2). */
export const ARCH_OVMF_MKINITCPIO =
  "https://wiki.archlinux.org/title/PCI_passthrough_via_OVMF#mkinitcpio";
/** Identical host and guest GPUs: ids= cannot tell them apart, driver_override can. */
export const ARCH_OVMF_IDENTICAL =
  "https://wiki.archlinux.org/title/PCI_passthrough_via_OVMF#Using_identical_guest_and_host_GPUs";
/** Passing the boot GPU: the firmware framebuffer holds it. */
export const ARCH_OVMF_BOOT_GPU =
  "https://wiki.archlinux.org/title/PCI_passthrough_via_OVMF#Passing_the_boot_GPU_to_the_guest";
/** The ACS override patch: out of tree, and devices in split groups are not isolated. */
export const ARCH_OVMF_ACS =
  "https://wiki.archlinux.org/title/PCI_passthrough_via_OVMF#Bypassing_the_IOMMU_groups_(ACS_override_patch)";
/** Arch wiki, KVM: svm/vmx in /proc/cpuinfo, and virtualization switched on in the firmware. */
export const ARCH_KVM_HW = "https://wiki.archlinux.org/title/KVM#Hardware_support";
/** Alex Williamson (VFIO maintainer), IOMMU groups inside and out. */
export const GROUPS_BLOG = "https://vfio.blogspot.com/2014/08/iommu-groups-inside-and-out.html";
/** pop-os/linux#331: with CONFIG_SYSFB_SIMPLEFB the boot framebuffer is a simple-framebuffer
 * (simpledrm), not efifb, so efifb options no longer release it. */
export const SYSFB_SIMPLEFB = "https://github.com/pop-os/linux/pull/331";
/** "BAR 0: can't reserve" on the boot GPU, fixed by initcall_blacklist=sysfb_init. */
export const SYSFB_BAR_RESERVE =
  "https://github.com/cosminmocan/vfio-single-amdgpu-passthrough/issues/3";
/** OVMF's 64-bit PCI aperture limits large-BAR passthrough. */
export const OVMF_APERTURE = "https://github.com/tianocore/edk2/issues/9932";
/** A 24 GB GPU under OVMF: "BAR0 is 0M", the NVIDIA driver refuses it. */
export const LARGE_BAR_NVIDIA = "https://github.com/kubevirt/kubevirt/issues/11093";
/** opt/ovmf/X-PciMmio64Mb sets the minimum size of OVMF's 64-bit MMIO window. */
export const OVMF_MMIO64 = "https://github.com/tianocore/edk2/pull/10856";
/** vendor-reset: the device_specific reset for AMD Polaris, Vega and Navi 1x. */
export const VENDOR_RESET = "https://github.com/gnif/vendor-reset";
/** Debian wiki, NVIDIA drivers (non-free packages). */
export const DEBIAN_NVIDIA = "https://wiki.debian.org/NvidiaGraphicsDrivers";
/** nvidia-smi documentation. */
export const NVIDIA_SMI = "https://docs.nvidia.com/deploy/nvidia-smi/index.html";
/** NVIDIA driver README: nvidia-drm modeset=1 and its DRM devices. */
export const NVIDIA_README =
  "https://download.nvidia.com/XFree86/Linux-x86_64/latest/README/kms.html";
/** sshd_config(5): Port, ListenAddress. */
export const SSHD_CONFIG = "https://man.openbsd.org/sshd_config";
/** tailscale up: auth keys, the login states. */
export const TAILSCALE_UP = "https://tailscale.com/kb/1241/tailscale-up";

/** open(2): EACCES, and O_NONBLOCK on a FIFO (what a capture or check meets on unreadable input) */
export const OPEN_2 = "https://man7.org/linux/man-pages/man2/open.2.html";
/** the kernel's sysfs documentation: what sys/ is and why a copy without it is not a host */
export const SYSFS_DOC = "https://docs.kernel.org/filesystems/sysfs.html";
/** The kernel's walk of a PCI expansion ROM's images (pci_get_rom_size) and the ROM BAR. */
export const KERNEL_PCI_ROM = "https://github.com/torvalds/linux/blob/v6.8/drivers/pci/rom.c";
/** amdgpu takes an APU's VBIOS from the ACPI VFCT table (amdgpu_acpi_vfct_bios). */
export const AMDGPU_VFCT_BIOS =
  "https://github.com/torvalds/linux/blob/v6.8/drivers/gpu/drm/amd/amdgpu/amdgpu_bios.c";
/** vfio-pci's disable_idle_d3 module parameter. */
export const VFIO_PCI_IDLE_D3 =
  "https://github.com/torvalds/linux/blob/v6.8/drivers/vfio/pci/vfio_pci.c";
/** pci_power_up(): "Unable to change power state from D3cold to D0, device inaccessible". */
export const KERNEL_PCI_POWER_UP = "https://github.com/torvalds/linux/blob/v6.8/drivers/pci/pci.c";
/** pve-docs, Host Bootloader: "Kernel Management", proxmox-boot-tool kernel list / pin / unpin. */
export const PVE_KERNEL_PIN = "https://pve.proxmox.com/wiki/Host_Bootloader#sysboot_kernel_pin";
/** grub-set-default(8): the saved default entry (needs GRUB_DEFAULT=saved). */
export const GRUB_SET_DEFAULT =
  "https://manpages.debian.org/bookworm/grub2-common/grub-set-default.8.en.html";
/** grub-reboot(8): next_entry, the entry for the next boot only. */
export const GRUB_REBOOT =
  "https://manpages.debian.org/bookworm/grub2-common/grub-reboot.8.en.html";
/** loader.conf(5): systemd-boot's `default` glob and "@saved". */
export const LOADER_CONF =
  "https://www.freedesktop.org/software/systemd/man/latest/loader.conf.html";
/** bootctl(1): set-default and set-oneshot (LoaderEntryDefault, LoaderEntryOneShot). */
export const BOOTCTL = "https://www.freedesktop.org/software/systemd/man/latest/bootctl.html";
/** dkms(8): status, autoinstall -k, the module trees it builds and installs. */
export const DKMS_MAN = "https://manpages.debian.org/bookworm/dkms/dkms.8.en.html";
/** udev(7): rules, ACTION/SUBSYSTEM/KERNEL matches and ATTR{file}="value" assignments. */
export const UDEV_MAN = "https://man7.org/linux/man-pages/man7/udev.7.html";
/** The kernel's PCI quirks: quirk_no_flr (devices whose FLR hangs them), quirk_no_bus_reset. */
export const KERNEL_PCI_QUIRKS = "https://github.com/torvalds/linux/blob/v6.8/drivers/pci/quirks.c";
/** quirks.c as it is now (kernel.org): quirk_no_bus_reset, quirk_nvidia_no_bus_reset and their device lists. */
export const KERNEL_PCI_QUIRKS_GIT =
  "https://git.kernel.org/pub/scm/linux/kernel/git/torvalds/linux.git/tree/drivers/pci/quirks.c";

// Containers and switching a card between drivers.
/** pct(1): container config, devN entries ("Device Passthrough"), pct exec. */
export const PCT_MAN = "https://pve.proxmox.com/pve-docs/pct.1.html";
/** lxc.container.conf(5): lxc.cgroup2.devices.allow, lxc.mount.entry. */
export const LXC_CONTAINER_CONF =
  "https://linuxcontainers.org/lxc/manpages/man5/lxc.container.conf.5.html";
/** user_namespaces(7): ids without a mapping show as the overflow id (nobody/nogroup). */
export const USER_NAMESPACES = "https://man7.org/linux/man-pages/man7/user_namespaces.7.html";
/** stat(1): %F file type, %t/%T major/minor in hex, %g gid, %a mode. */
export const STAT_1 = "https://man7.org/linux/man-pages/man1/stat.1.html";
/** CUDA compatibility: the user-mode driver (libcuda, libnvidia-ml) ships with and must match the kernel-mode driver. */
export const CUDA_COMPAT = "https://docs.nvidia.com/deploy/cuda-compatibility/index.html";
/** sysfs-module ABI: /sys/module/NAME/version, a loaded module's MODULE_VERSION. */
export const SYSFS_MODULE =
  "https://github.com/torvalds/linux/blob/v6.8/Documentation/ABI/testing/sysfs-module";
/** qm(1): VM hookscripts ("Hookscripts"), called as SCRIPT VMID PHASE. */
export const QM_MAN = "https://pve.proxmox.com/pve-docs/qm.1.html";
