// Every finding id `guest check` can emit, documented in the register of the check catalog
// (src/findings/check-catalog.ts): what it proves, why it matters, how to fix it, the sources.
// check.ts types its findings as Finding<GuestId>, so an undocumented id does not compile;
// test/unit/finding-catalogs.test.ts checks the other direction (every entry is emitted by
// guest check on some fixture guest).
//
// guest check runs inside the VM and proves the passthrough from there: the passed GPU on the
// guest's PCI bus, a real driver bound and answering, and a way in now that the web console is
// gone (docs/domain-facts.md §6, §7).

import type { CatalogEntry } from "./check-catalog.js";
import {
  DEBIAN_NVIDIA,
  DRM_DOC,
  KVM_CPUID,
  LIBVIRT_HOSTDEV,
  NVIDIA_README,
  NVIDIA_SMI,
  PVE_PASSTHROUGH,
  PVE_VM_CONFIG,
  QM_CONF,
  SSHD_CONFIG,
  SYSFS_PCI,
  TAILSCALE_UP,
  X86_CPUFEATURES,
} from "./sources.js";

export const GUEST_CATALOG = {
  "guest.hypervisor": {
    title: "Running inside a VM",
    meaning:
      'Whether the CPU reports the "hypervisor" flag (/proc/cpuinfo), i.e. this system is a guest; the finding names the machine from its DMI data (QEMU, Proxmox\'s "Standard PC (Q35 + ICH9, 2009)"). Without it this is bare metal and nothing else is checked.',
    why: "guest check proves a passthrough from the VM's side. On the host the same rules would call the host's own GPU \"passed\"; the host side has its own commands (check, verify).",
    fix: "Run `passthrough guest check` inside the VM (over SSH, or on a snapshot of it: `passthrough snapshot` in the guest, then `guest check --snapshot FILE`). On the host use `passthrough check` and, after the apply and reboot, `passthrough verify`.",
    sources: [X86_CPUFEATURES, KVM_CPUID],
  },
  "guest.skipped": {
    title: "Guest checks skipped (not a VM)",
    meaning:
      "guest.hypervisor found bare metal, so the GPU, SSH and Tailscale checks did not run. Informational; the verdict is already the guest.hypervisor failure.",
    why: "Those checks only mean something inside the VM: a GPU on the bus of bare metal is the host's own, not a passed one.",
    fix: "Nothing to fix here; run `passthrough guest check` inside the VM.",
    sources: [X86_CPUFEATURES],
  },
  "guest.gpu.present": {
    title: "Passed GPU on the guest's PCI bus",
    meaning:
      "Whether a real GPU (PCI class 03, not one of QEMU's emulated displays: std VGA 1234:1111, QXL and virtio-gpu 1b36/1af4, Cirrus, VMware SVGA, VirtualBox) is on the VM's PCI bus, or with --expect VVVV[:DDDD] that vendor or device. A failure lists the emulated displays it did see.",
    why: "The GPU appears in the guest only when the VM's config passes it (hostpciN on Proxmox, a <hostdev> in libvirt, -device vfio-pci in QEMU) and the VM was started with that config. Everything after (driver, nvidia-smi, DRM) needs it.",
    fix: "On the host: check that the VM config passes the device (`qm config VMID` shows hostpci0: 0000:01:00,pcie=1; `virsh dumpxml NAME` shows the hostdev), then stop and start the VM: a reboot from inside keeps the old hardware. If QEMU refused to start, `passthrough verify` on the host says whether the device is on vfio-pci.",
    sources: [PVE_VM_CONFIG, QM_CONF, LIBVIRT_HOSTDEV],
  },
  "guest.gpu.driver": {
    title: "GPU driven inside the guest",
    meaning:
      "Which driver holds the passed GPU in the guest (sys/bus/pci/devices/ADDR/driver). Passes for a real GPU driver (nvidia, nouveau, amdgpu, radeon, i915, xe; nouveau with a note that games and NVENC want NVIDIA's driver); fails when vfio-pci or pci-stub holds it inside the guest (naming the guest's own modprobe.d line, vfio-pci.ids= parameter or driver_override) or when no driver does (naming blacklists and the modules that could); warns for any other driver.",
    why: "A passed GPU without its driver is only a PCI device: no display, no CUDA, no encoder. Copying the host's vfio-pci config into the guest (a cloned image, a shared script) binds it to vfio-pci there too, where nothing can use it.",
    fix: "No driver: install the vendor's driver (`passthrough guest setup --gpu-driver`; Ubuntu `sudo ubuntu-drivers install`; Debian `sudo apt install nvidia-driver firmware-misc-nonfree` from non-free, firmware-amd-graphics for amdgpu), then reboot the VM. With Secure Boot, enroll the driver's MOK key or turn it off (`sudo dmesg | grep -i nvrm` says when the module was refused). Bound to vfio-pci / pci-stub: remove the guest's own binding the finding names, `sudo update-initramfs -u`, reboot the VM.",
    sources: [SYSFS_PCI, DEBIAN_NVIDIA],
  },
  "guest.gpu.nvidia-smi": {
    title: "nvidia-smi sees the GPU",
    meaning:
      'With the nvidia driver bound, whether `nvidia-smi -L` lists the GPU ("GPU 0: NVIDIA GeForce RTX 3080 (UUID: GPU-...)"). Warns when nvidia-smi is not installed; skipped when it cannot be run (a snapshot without its output).',
    why: "A bound driver is not yet a working one: after a driver or kernel upgrade without reboot, or when the GPU's firmware (GSP) or option ROM fails to initialise in the VM, the module binds but nvidia-smi fails (\"NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver\").",
    fix: "Install nvidia-smi with the driver's utilities (Ubuntu: nvidia-utils-NNN matching the driver; Debian: nvidia-smi). When it fails, read `sudo dmesg | grep -i nvrm`: a driver/kernel mismatch after an upgrade wants a reboot; GSP or ROM errors want a full stop and start of the VM (and on the host, a reset method for the card: `passthrough check`).",
    sources: [NVIDIA_SMI],
  },
  "guest.gpu.drm": {
    title: "DRM device for the GPU",
    meaning:
      "Whether the GPU's driver made DRM devices for it (sys/class/drm/cardN and renderDN whose device is the GPU) and, when /dev is visible, whether udev made their nodes in /dev/dri. Skipped when sys/class/drm is absent.",
    why: "Desktops (Wayland, Xorg's modesetting), VA-API / NVENC capture and game streaming (Sunshine's KMS capture) open /dev/dri/card* and renderD*. nvidia makes them only with nvidia_drm loaded; amdgpu and i915 make none when their firmware is missing.",
    fix: "NVIDIA: `sudo modprobe nvidia_drm modeset=1`, and to keep it `options nvidia_drm modeset=1` in /etc/modprobe.d/nvidia-drm.conf (then `sudo update-initramfs -u`). amdgpu / i915: `sudo dmesg | grep -i amdgpu` (or i915) for missing firmware, install the firmware package, reboot the VM. Nodes missing in /dev/dri: `sudo udevadm trigger --subsystem-match=drm`.",
    sources: [DRM_DOC, NVIDIA_README],
  },
  "guest.gpu.audio": {
    title: "GPU's HDMI/DP audio driven",
    meaning:
      "Whether the audio function of the passed GPU's slot (PCI class 0403, usually function .1) has a sound driver in the guest (snd_hda_intel). Warns when it has none, or when vfio-pci / pci-stub holds it inside the guest.",
    why: "The GPU's HDMI and DisplayPort outputs carry sound only through this function; Sunshine and the guest's desktop see no audio device without it. It is passed with the GPU (all functions of the slot), so it should come up like the GPU.",
    fix: "Load the driver: `sudo modprobe snd_hda_intel`, and check no /etc/modprobe.d line blacklists it. When vfio-pci holds it inside the guest, remove the guest's own vfio-pci binding (see guest.gpu.driver), `sudo update-initramfs -u`, reboot the VM.",
    sources: [PVE_VM_CONFIG, SYSFS_PCI],
  },
  "guest.ssh": {
    title: "SSH reachable",
    meaning:
      "Whether an SSH server listens on its port(s) (Port lines of /etc/ssh/sshd_config and sshd_config.d/*.conf, 22 by default) on an address other than loopback, from the LISTEN sockets in /proc/net/tcp and tcp6. Warns when only 127.0.0.1 / ::1 listen, when sshd is installed but not listening, or when there is no SSH server; skipped when /proc/net/tcp cannot be read.",
    why: "With the GPU passed and `vga: none`, the Proxmox web console (noVNC) shows nothing: SSH or Tailscale is the way into the VM. Set it up before removing the emulated display.",
    fix: "No server: `passthrough guest setup --ssh --ssh-key ~/.ssh/id_ed25519.pub -o setup.sh`, then `sudo bash setup.sh` in the guest (or `sudo apt install openssh-server`). Not listening: `sudo systemctl enable --now ssh` (Ubuntu 24.04 starts it from ssh.socket). Loopback only: remove the ListenAddress 127.0.0.1 / ::1 lines from /etc/ssh/sshd_config(.d), `sudo systemctl restart ssh`.",
    sources: [SSHD_CONFIG, PVE_PASSTHROUGH],
  },
  "guest.tailscale": {
    title: "Tailscale connected",
    meaning:
      "Whether Tailscale is installed and `tailscale status --json` reports BackendState Running (the finding names the machine's tailnet DNS name and addresses). Informational when Tailscale is not installed; warns when tailscaled does not answer or the state is NeedsLogin, NeedsMachineAuth, Stopped; skipped when its output is not available (a snapshot without it).",
    why: "Tailscale reaches the VM from anywhere without opening ports, which is how a game-streaming VM is usually reached once the console is gone; a stopped or logged-out client is no way in.",
    fix: "Not running: `sudo systemctl enable --now tailscaled`, then `sudo tailscale up`. NeedsLogin: `sudo tailscale up --auth-key=file:/path/to/key` (the key stays off the command line), or `sudo tailscale up` and open the URL it prints. NeedsMachineAuth: approve the machine in the Tailscale admin console (Machines). To install it: `passthrough guest setup --tailscale`.",
    sources: [TAILSCALE_UP, PVE_PASSTHROUGH],
  },
} as const satisfies Record<string, CatalogEntry>;

export type GuestId = keyof typeof GUEST_CATALOG;
