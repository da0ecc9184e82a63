// libvirt as a VmBackend: a domain's persistent XML (virsh dumpxml --inactive, or a file with
// --domain-xml) changed through the DOM (domain-xml.ts), written with `virsh define`, and read
// back. A new domain gets a qcow2 volume in a pool first. With --emit libvirt it only shows the
// XML.

import { readInputText } from "../../input-file.js";
import { ApplyError, InputError, RefusedError } from "../../errors.js";
import {
  hostPathExists,
  passedFunctions,
  specFor,
  type VmBackend,
  type VmHost,
  type VmPlan,
  type VmReadBack,
  type VmRequest,
} from "../backend.js";
import { findOvmf, ovmfWarning, type OvmfPaths } from "../firmware.js";
import type { VmSpec } from "../spec.js";
import {
  buildDomainXml,
  diskVolumeName,
  domainMemoryMiB,
  hostdevAddresses,
  modifyDomainXml,
} from "./domain-xml.js";
import type { Virsh } from "./virsh.js";
import { parseXml } from "./xml.js";

export interface LibvirtTarget {
  /** --libvirt DOMAIN. */
  domain: string | null;
  /** --domain-xml FILE: the domain's XML from a file instead of virsh. */
  domainXmlFile: string | null;
  /** --emit libvirt: print the XML, change nothing. */
  emitOnly: boolean;
}

/** The domain as it is now (null for a new one), and where its XML came from. */
export interface LibvirtCurrent {
  xml: string | null;
  source: string;
}

export interface LibvirtVmPlan extends VmPlan {
  name: string;
  xml: string;
  /** A new domain's disk volume; null when configuring one. */
  volume: { pool: string; name: string; sizeGiB: number } | null;
  functions: string[];
}

export class LibvirtVmBackend implements VmBackend<LibvirtCurrent, LibvirtVmPlan> {
  readonly kind = "libvirt" as const;
  readonly defaultBridge = null;

  constructor(
    private readonly virsh: Virsh,
    private readonly target: LibvirtTarget,
  ) {}

  async read(request: VmRequest): Promise<LibvirtCurrent> {
    const { domain, domainXmlFile } = this.target;
    if (request.create) {
      const name = request.create.name;
      // A dry run may be made where libvirt is not even installed: only a real create asks.
      if (!request.dryRun && !this.target.emitOnly && (await this.virsh.dumpxml(name)) !== null)
        throw new RefusedError(
          `libvirt domain ${name} exists already; pick another --name or use \`passthrough vm configure --libvirt ${name}\``,
        );
      return { xml: null, source: "" };
    }
    if (domainXmlFile) {
      // A domain definition is a few KiB; 4 MiB is far beyond any real one.
      const xml = readInputText(domainXmlFile, { what: "--domain-xml", maxBytes: 4 * 2 ** 20 });
      return { xml, source: domainXmlFile };
    }
    if (domain) {
      const xml = await this.virsh.dumpxml(domain);
      if (xml === null)
        throw new InputError(`there is no libvirt domain ${domain}; see \`virsh list --all\``);
      return { xml, source: `virsh dumpxml --inactive --domain ${domain}` };
    }
    throw new InputError(
      `vm ${request.mode} with libvirt needs --libvirt DOMAIN (or --domain-xml FILE)`,
    );
  }

  async plan(request: VmRequest, current: LibvirtCurrent, host: VmHost): Promise<LibvirtVmPlan> {
    const fw = findOvmf(host.state, request.options.preEnrolledKeys, hostPathExists(host));
    return current.xml === null
      ? this.planCreate(request, fw, host)
      : this.planChange(request, current.xml, current.source, fw, host);
  }

  private planCreate(request: VmRequest, fw: OvmfPaths, host: VmHost): LibvirtVmPlan {
    const create = request.create!;
    const name = create.name;
    const result = specFor(request, host, null);
    const xml = buildDomainXml(result.spec, { firmware: fw });
    const fwWarning = ovmfWarning(fw);
    const warnings = [...result.warnings, ...(fwWarning ? [fwWarning] : [])];
    const volume = {
      pool: create.disk.storage,
      name: diskVolumeName(name),
      sizeGiB: create.disk.sizeGiB,
    };
    return {
      ...this.common(name, xml, result.spec, warnings),
      volume,
      action: `create libvirt domain ${name}`,
      refusals: result.refusals,
      json: {
        backend: "libvirt",
        domain: name,
        spec: result.spec,
        before: null,
        after: xml,
        warnings,
      },
      report: {
        subject: `libvirt domain ${name}`,
        diff: { oldName: "(no domain)", newName: name, before: "", after: xml },
        unchanged: "",
        why: {},
      },
      empty: false,
      confirm: this.asks({
        question: `Create the ${volume.sizeGiB} GiB volume ${volume.name} in pool ${volume.pool} and define domain ${name}?`,
        doing: "creating a domain",
      }),
    };
  }

  private async planChange(
    request: VmRequest,
    xml: string,
    source: string,
    fw: OvmfPaths,
    host: VmHost,
  ): Promise<LibvirtVmPlan> {
    const result = specFor(request, host, domainMemoryMiB(xml));
    // Other domains can only be listed through virsh; a file on its own has no neighbours.
    const domain = this.target.domain;
    const others = domain ? await this.virsh.otherDomains(domain) : [];
    const mod = modifyDomainXml(xml, result.spec, fw, others);
    const fwWarning = ovmfWarning(fw);
    const warnings = [
      ...result.warnings,
      ...mod.warnings,
      ...(fwWarning && mod.xml !== mod.before ? [fwWarning] : []),
    ];
    if (!domain)
      warnings.push(
        `other libvirt domains were not checked for these devices (the XML came from ${source}); use --libvirt DOMAIN on the host to check them`,
      );
    const changed = mod.xml !== mod.before;
    return {
      ...this.common(mod.name, mod.xml, result.spec, warnings),
      volume: null,
      action: `configure libvirt domain ${mod.name}`,
      refusals: [...result.refusals, ...mod.refusals],
      json: {
        backend: "libvirt",
        domain: mod.name,
        spec: result.spec,
        before: mod.before,
        after: mod.xml,
        warnings,
      },
      report: {
        subject: `libvirt domain ${mod.name} (${source})`,
        diff: changed
          ? {
              oldName: `${mod.name} (now)`,
              newName: `${mod.name} (after)`,
              before: mod.before,
              after: mod.xml,
            }
          : null,
        unchanged: `Domain ${mod.name} is already configured for passthrough: nothing to change.`,
        why: {},
      },
      empty: !changed,
      confirm: this.asks({
        question: `Define domain ${mod.name} with these changes?`,
        doing: "changing the domain",
      }),
    };
  }

  private common(name: string, xml: string, spec: VmSpec, warnings: string[]) {
    return {
      name,
      xml,
      warnings,
      functions: passedFunctions(spec),
      artefact: xml,
      readOnly: null,
    };
  }

  /** --emit libvirt only shows the XML. */
  private asks(confirm: { question: string; doing: string }) {
    return this.target.emitOnly ? null : confirm;
  }

  async apply(plan: LibvirtVmPlan): Promise<void> {
    if (plan.volume)
      await this.virsh.createVolume(plan.volume.pool, plan.volume.name, plan.volume.sizeGiB);
    await this.virsh.define(plan.xml);
  }

  /** After `virsh define`: the domain is there and has every passed function. */
  async readBack(plan: LibvirtVmPlan): Promise<VmReadBack> {
    const { name } = plan;
    const back = await this.virsh.dumpxml(name);
    const have = back === null ? [] : hostdevAddresses(parseXml(back, `domain ${name}'s XML`));
    const missing = plan.functions.filter((f) => !have.includes(f));
    if (back === null || missing.length > 0)
      throw new ApplyError(
        `virsh define reported success, but ${back === null ? `domain ${name} is not there` : `its XML lacks ${missing.join(", ")}`}; check it with \`virsh dumpxml ${name}\``,
      );
    return {
      json: {},
      message: plan.volume
        ? `Defined libvirt domain ${name}. Start it with \`virsh start ${name}\`.`
        : `Defined ${name} (read back and checked). The changes take effect at the domain's next start.`,
    };
  }
}
