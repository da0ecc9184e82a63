// How `rollback` undoes each command a plan ran, from the two tables: commands that regenerate
// boot files from configuration (update-grub, proxmox-boot-tool refresh, update-initramfs ...)
// run again once the configuration is restored; commands that edit boot entries themselves
// (grubby, kernelstub) leave no file to restore and are undone by their inverse option.

import { rebuildsInitramfs } from "./initramfs.js";
import { BOOTLOADERS, type Undo } from "./loaders.js";

/** null: passthrough knows no way to undo it. */
export function undoOf(argv: readonly string[]): Undo | null {
  for (const entry of Object.values(BOOTLOADERS)) {
    const undo = entry.undo(argv);
    if (undo) return undo;
  }
  return rebuildsInitramfs(argv) ? { rerun: true } : null;
}

/** The inverse of a direct boot-entry edit (grubby --args -> --remove-args), or null. */
export function inverseCommand(argv: readonly string[]): string[] | null {
  const undo = undoOf(argv);
  return undo && "inverse" in undo ? undo.inverse : null;
}
