// Every initramfs generator passthrough knows, in one table: the rebuild command (what `plan`
// runs after a change, what `check` and `verify` tell a person to run, what `rollback` runs
// again once the files are back), the configuration whose change calls for it, and the
// programs discovery looks for. The image carries its own copy of /etc/modprobe.d and of the
// module lists, so it must be rebuilt whenever they change.
//
// A new InitramfsKind does not compile until it has an entry here; it also needs its parser
// (src/formats/initramfs-conf.ts), its detection (src/host/boot.ts) and its plan module
// (src/plan/initramfs/): ARCHITECTURE.md, "Where does my change go".

import type { InitramfsKind } from "../host/types.js";
import { programOf, type Argv } from "./loaders.js";

export interface InitramfsEntry {
  /** Rebuilds the image of every installed kernel; null when the generator is not known. */
  rebuild: Argv | null;
  /** Its configuration, host-relative (a folder ends in "/"): a change there means a rebuild. */
  config: readonly string[];
  /** Programs discovery looks for to recognise it: snapshots record them (capture's TRACKED_TOOLS). */
  tools: readonly string[];
}

export const INITRAMFS = {
  // initramfs-tools(7), update-initramfs(8): `-k all` rebuilds every installed kernel's image,
  // not only the running one (pinned or older kernels boot too).
  "initramfs-tools": {
    rebuild: ["update-initramfs", "-u", "-k", "all"],
    config: ["etc/initramfs-tools/"],
    tools: ["update-initramfs"],
  },
  // dracut(8): -f overwrites, --regenerate-all rebuilds the image of every installed kernel.
  dracut: {
    rebuild: ["dracut", "-f", "--regenerate-all"],
    config: ["etc/dracut.conf", "etc/dracut.conf.d/"],
    tools: ["dracut"],
  },
  // mkinitcpio(8): -P builds every preset (each installed kernel's image and its fallback).
  mkinitcpio: {
    rebuild: ["mkinitcpio", "-P"],
    config: ["etc/mkinitcpio.conf", "etc/mkinitcpio.conf.d/"],
    tools: ["mkinitcpio"],
  },
  // booster: the package's own script rebuilds the images under /boot as its pacman hook does.
  booster: {
    rebuild: ["/usr/lib/booster/regenerate_images"],
    config: ["etc/booster.yaml"],
    tools: ["booster"],
  },
  unknown: { rebuild: null, config: [], tools: [] },
} satisfies Record<InitramfsKind, InitramfsEntry>;

/** Module configuration the image is built from or carries a copy of, whatever the generator. */
const MODULE_CONFIG = ["etc/modprobe.d/", "etc/modules-load.d/", "etc/modules"];

function under(rel: string, place: string): boolean {
  return place.endsWith("/") ? rel.startsWith(place) : rel === place;
}

/** A generator's own configuration file (of any generator, since a host may have several). */
export function isInitramfsConfig(rel: string): boolean {
  return Object.values(INITRAMFS).some((e) => e.config.some((c) => under(rel, c)));
}

/** Files whose change means the initramfs must be rebuilt. */
export function affectsInitramfs(rel: string): boolean {
  return MODULE_CONFIG.some((c) => under(rel, c)) || isInitramfsConfig(rel);
}

/**
 * Does rollback run this command again? Every rebuild is: once the configuration is back, it
 * rebuilds the original image. `booster` by name too (its own CLI builds an image).
 */
export function rebuildsInitramfs(argv: readonly string[]): boolean {
  return (
    Object.values(INITRAMFS).some(
      (e) => e.rebuild !== null && (argv[0] === e.rebuild[0] || programOf(argv) === e.rebuild[0]),
    ) || programOf(argv) === "booster"
  );
}
