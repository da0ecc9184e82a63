// Proxmox VMs whose `hookscript:` names a snippet that is not there. qemu-server runs the
// script before every start and refuses to start the VM when it is missing
// (PVE::GuestHelpers::check_hookscript): what peers hit after restoring a backup on another
// node, whose config keeps the line but not the file. A file that cannot be looked for (a
// snapshot without the snippets folder, a storage without a path) is not reported.

import type { CheckContext } from "./context.js";
import { finding, type Finding } from "../findings/finding.js";

export function checkHookscripts(ctx: CheckContext): Finding[] {
  return ctx.state.vms
    .filter((vm) => vm.hookscript?.present === false)
    .map((vm) => hookscriptMissing(vm.vmid, vm.hookscript!.volume, vm.hookscript!.file));
}

/**
 * The finding for one VM whose hookscript is not there: `file` is the root-relative path when
 * known (this host), null when only the storage's content listing said so (the REST API).
 */
export function hookscriptMissing(vmid: number, volume: string, file: string | null): Finding {
  const ours = /\/passthrough-[0-9a-f-]+\.sh$/.test(volume);
  return finding(
    "vm.hookscript-missing",
    "warn",
    `VM ${vmid}'s hookscript ${volume} is missing (${file !== null ? `/${file}` : "not in its storage's snippets"}): the VM will not start`,
    {
      subject: `VM ${vmid}`,
      fix: ours
        ? `install it again: \`passthrough mode vm --device SLOT --hookscript --vmid ${vmid}\`, or remove it: qm set ${vmid} --delete hookscript`
        : `copy the script back${file !== null ? ` to /${file}` : ""} (chmod 0700), or remove it: qm set ${vmid} --delete hookscript`,
    },
  );
}
