// The `vm` command group. Several files add subcommands to it (vm plan/configure/create,
// vm mapping ...); each asks for the group here so it is created once.
import type { Command } from "commander";

export function vmCommand(program: Command): Command {
  const existing = program.commands.find((c) => c.name() === "vm");
  if (existing) return existing;
  return program
    .command("vm")
    .description(
      "configure the VM that gets the device: Proxmox (qm or REST API), libvirt, or plain QEMU",
    )
    .addHelpText(
      "after",
      `
Proxmox backends are chosen automatically: local \`qm\` on a Proxmox node, the REST API when
--api is given; override with --backend qm|api|libvirt|qemu.`,
    );
}
