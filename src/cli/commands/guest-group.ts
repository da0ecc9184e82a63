// The `guest` command group: `guest setup` (run on the host or anywhere: writes a bootstrap for
// the VM) and `guest check` (run inside the VM). Each asks for the group here so it is made once.
import type { Command } from "commander";

export function guestCommand(program: Command): Command {
  const existing = program.commands.find((c) => c.name() === "guest");
  if (existing) return existing;
  return program
    .command("guest")
    .description(
      "inside the VM: a bootstrap for SSH, Tailscale, the GPU driver and Sunshine; and the proof that the GPU works there",
    )
    .addHelpText(
      "after",
      `
Once the GPU is passed and \`vga: none\` is set, the Proxmox console is gone: set up a way in
(SSH, Tailscale) before that, then prove the result from inside the VM.

  passthrough guest setup --ssh --ssh-key ~/.ssh/id_ed25519.pub --tailscale --gpu-driver -o setup.sh
  passthrough guest check      (inside the VM)`,
    );
}
