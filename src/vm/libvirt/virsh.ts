// libvirt through `virsh` (argv arrays through a CommandRunner). Domains are read with
// `dumpxml --inactive`: the persistent definition, without the live state (aliases, runtime
// ports) that must not be written back. A changed domain is written with `virsh define`, which
// libvirt validates and swaps in as a whole; the XML goes in on stdin. virsh reads the file it
// is given by name (virFileReadAll), so it gets /dev/stdin, which the runner makes a file of
// its own (src/process/stdin-file.ts): no temporary file with the domain's XML is left behind.

import { ApplyError, InputError } from "../../errors.js";
import { quoteArgv } from "../../process/quote.js";
import { commandSucceeded, firstErrorLine, type CommandRunner } from "../../process/run.js";

export class Virsh {
  constructor(private readonly runner: CommandRunner) {}

  /** The domain's persistent XML, null when there is no such domain. */
  async dumpxml(domain: string): Promise<string | null> {
    const argv = ["virsh", "dumpxml", "--inactive", "--domain", domain];
    const r = this.runner.run(argv);
    if (!commandSucceeded(r)) {
      // virsh: "error: failed to get domain 'x'" / "Domain not found"
      if (/failed to get domain|[Dd]omain not found/.test(r.stderr)) return null;
      throw new InputError(
        `could not read libvirt domain ${domain}: \`${quoteArgv(argv)}\` failed: ${firstErrorLine(r)}`,
      );
    }
    return r.stdout;
  }

  /** Names of every defined domain, running or not. */
  async listDomains(): Promise<string[]> {
    const argv = ["virsh", "list", "--all", "--name"];
    const r = this.runner.run(argv);
    if (!commandSucceeded(r))
      throw new InputError(
        `could not list libvirt domains: \`${quoteArgv(argv)}\` failed: ${firstErrorLine(r)}`,
      );
    return r.stdout
      .split("\n")
      .map((l) => l.trim())
      .filter(Boolean);
  }

  /** Every other domain's XML, for "device already assigned". */
  async otherDomains(except: string | null): Promise<Array<{ name: string; xml: string }>> {
    const out: Array<{ name: string; xml: string }> = [];
    for (const name of await this.listDomains()) {
      if (name === except) continue;
      const xml = await this.dumpxml(name);
      if (xml !== null) out.push({ name, xml });
    }
    return out;
  }

  async define(xml: string): Promise<void> {
    const r = this.runner.run(["virsh", "define", "--file", "/dev/stdin"], { input: xml });
    if (!commandSucceeded(r))
      throw new ApplyError(
        `\`virsh define\` refused the domain XML: ${firstErrorLine(r)}; libvirt keeps the previous definition — check it with \`passthrough vm plan --backend libvirt\``,
      );
  }

  /** A qcow2 volume in a storage pool, for a new domain's disk. */
  async createVolume(pool: string, name: string, sizeGiB: number): Promise<void> {
    const argv = [
      "virsh",
      "vol-create-as",
      "--pool",
      pool,
      "--name",
      name,
      "--capacity",
      `${sizeGiB}G`,
      "--format",
      "qcow2",
    ];
    const r = this.runner.run(argv);
    if (!commandSucceeded(r))
      throw new ApplyError(
        `\`${quoteArgv(argv)}\` failed: ${firstErrorLine(r)}; nothing was defined`,
      );
  }
}
