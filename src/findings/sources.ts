// Sources the finding catalogs (checks, plan, verify, guest check) cite more than once.

/** Proxmox VE admin guide, PCI(e) passthrough */
export const PVE_PASSTHROUGH =
  "https://pve.proxmox.com/pve-docs/chapter-qm.html#qm_pci_passthrough";
/** the kernel's VFIO documentation */
export const VFIO_DOC = "https://docs.kernel.org/driver-api/vfio.html";
/** modprobe.d(5) */
export const MODPROBE_D = "https://man7.org/linux/man-pages/man5/modprobe.d.5.html";
/** the kernel's command-line parameters */
export const KERNEL_PARAMS =
  "https://www.kernel.org/doc/html/latest/admin-guide/kernel-parameters.html";
/** sysfs ABI of PCI devices */
export const SYSFS_PCI = "https://www.kernel.org/doc/Documentation/ABI/testing/sysfs-bus-pci";
/** Proxmox VE host boot loader (proxmox-boot-tool) */
export const PVE_BOOT = "https://pve.proxmox.com/pve-docs/chapter-sysadmin.html#sysboot";
/** Alex Williamson, IOMMU groups inside and out */
export const GROUPS_BLOG = "http://vfio.blogspot.com/2014/08/iommu-groups-inside-and-out.html";
/** Arch wiki, PCI passthrough via OVMF */
export const ARCH_OVMF = "https://wiki.archlinux.org/title/PCI_passthrough_via_OVMF";
