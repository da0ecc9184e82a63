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
    .map((vm) => {
      const h = vm.hookscript!;
      return finding(
        "vm.hookscript-missing",
        "warn",
        `VM ${vm.vmid}'s hookscript ${h.volume} is missing (/${h.file}): the VM will not start`,
        {
          subject: `VM ${vm.vmid}`,
          fix: /\/passthrough-[0-9a-f-]+\.sh$/.test(h.file ?? "")
            ? `install it again: \`passthrough mode vm --device SLOT --hookscript --vmid ${vm.vmid}\`, or remove it: qm set ${vm.vmid} --delete hookscript`
            : `copy the script back to /${h.file} (chmod 0700), or remove it: qm set ${vm.vmid} --delete hookscript`,
        },
      );
    });
}
