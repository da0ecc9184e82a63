// Every finding id `ct check` can emit, documented like the check catalog's entries
// (check-catalog.ts). src/vm/container/check.ts types its findings as Finding<CtId>, so an
// undocumented id does not compile; test/unit/ct-check.test.ts checks the other direction.
//
// ct check looks inside a running container (pct exec) at the device nodes its config gives
// it: there, of the right kind and numbers, usable by its render/video group, and for NVIDIA
// the user-space driver of the same version as the host's kernel module.

import type { CatalogEntry } from "./check-catalog.js";
import {
  CUDA_COMPAT,
  DRM_DOC,
  LXC_CONTAINER_CONF,
  PCT_MAN,
  STAT_1,
  SYSFS_MODULE,
  USER_NAMESPACES,
} from "./sources.js";

export const CT_CATALOG = {
  "ct.node": {
    title: "Device node inside the container",
    meaning:
      "Whether a node the container's config gives it (/dev/dri/renderD128, /dev/nvidia0, /dev/kfd ...) exists inside the running container as a character device with the host node's major:minor, read with `pct exec CTID -- stat -L`.",
    why: "A devN entry or lxc.mount.entry that names a node the host no longer has (a card renumbered after a driver change or a second GPU: card0 became card1) leaves the container without the node, or with a node of another card; a bind mount of a missing source is skipped silently with `optional`.",
    fix: "Run `passthrough ct plan --ctid CTID --device ADDR` for the current nodes and `ct configure` to add them; remove entries for nodes that are gone (`pct set CTID --delete devN`), then restart the container (`pct reboot CTID`).",
    sources: [PCT_MAN, LXC_CONTAINER_CONF, DRM_DOC, STAT_1],
  },
  "ct.node-access": {
    title: "Node usable by the container's render/video group",
    meaning:
      "Whether the node's owner and mode inside the container let its render (renderD*, kfd) or video (card*) group read and write it, or everyone (NVIDIA's 0666 nodes). A node owned by gid 65534 (nogroup) in an unprivileged container is a host group the container's id map does not include.",
    why: "Jellyfin, Plex and Frigate run as a user in the container's render/video group; the host's render gid (often 993 or 104) means nothing inside an unprivileged container, so a bind-mounted node shows as nobody:nogroup and opening it fails with EACCES: VA-API and NVENC fall back to software.",
    fix: "On Proxmox VE 8.1+ give the node as a devN entry with the container's own gid (`passthrough ct configure` reads it from the container's /etc/group), or add the service user to the group the node has (`usermod -aG render jellyfin` inside), then restart the container.",
    sources: [PCT_MAN, USER_NAMESPACES, STAT_1],
  },
  "ct.nvidia-driver": {
    title: "NVIDIA user-space driver matches the host module",
    meaning:
      "The version in the name of the container's libnvidia-ml.so.VERSION (the NVML library nvidia-smi and CUDA load) against the host's loaded nvidia kernel module (/sys/module/nvidia/version). They are built as one release and must be the same version.",
    why: "After a host driver update the container keeps the old user-space libraries: nvidia-smi then says 'Failed to initialize NVML: Driver/library version mismatch' and CUDA and NVENC stop working, the most common breakage of a GPU container.",
    fix: "Install the host's exact version inside the container without its kernel part (`sh NVIDIA-Linux-x86_64-VERSION.run --no-kernel-module`, or the distribution's packages of that version), or keep host and container on the same packaged driver; then `nvidia-smi` inside must answer.",
    sources: [CUDA_COMPAT, SYSFS_MODULE],
  },
} as const satisfies Record<string, CatalogEntry>;

export type CtId = keyof typeof CT_CATALOG;
