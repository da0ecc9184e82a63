// Proxmox VM config files used by the vm tests.

/** A VM as the Proxmox VE 8 web UI creates it (i440fx: no machine line). */
export const GUI_VM_101 = `boot: order=scsi0;ide2;net0
cores: 4
cpu: x86-64-v2-AES
ide2: local:iso/debian-12.5.0-amd64-netinst.iso,media=cdrom,size=629M
memory: 8192
meta: creation-qemu=8.1.5,ctime=1710000000
name: media
net0: virtio=BC:24:11:2B:7E:10,bridge=vmbr0,firewall=1
numa: 0
ostype: l26
scsi0: local-lvm:vm-101-disk-0,iothread=1,size=32G
scsihw: virtio-scsi-single
smbios1: uuid=0b6f3c52-7d8e-4a1b-9c2d-3e4f5a6b7c8d
sockets: 1
vmgenid: 5d1c2b3a-4e5f-4a6b-8c7d-9e0f1a2b3c4d
`;
