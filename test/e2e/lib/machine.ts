// One scenario's guest: a throw-away qcow2 overlay on a cached base image, a 9p share (code in,
// results out) and its boots. Each boot is a fresh QEMU process that runs the script the
// harness wrote to the share and powers off; what the guest kernel reported comes back as
// files, read through `Boot`.
import { execFileSync } from "node:child_process";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { dirname, join } from "node:path";
import { OVMF_VARS, qemuArgs, runQemu, type Iommu } from "./qemu.js";

export interface MachineOptions {
  name: string;
  baseImage: string;
  firmware: "bios" | "uefi";
  iommu: Iommu;
  /** Where the share, serial logs and results go (kept for diagnosis). */
  logDir: string;
  /** Where the overlay and the OVMF variables go (removed with `dispose`). */
  runDir: string;
  /** passthrough's .deb, installed with dpkg at the machine's first boot (lib.sh). */
  deb: string;
  guestLib: string;
  bootTimeoutS: number;
  log: (line: string) => void;
}

export interface BootOptions {
  /** Cut the power (kill QEMU) as soon as this file appears in the boot's output folder. */
  powerCutOn?: string;
  /** A longer hard limit for this boot than the run's --boot-timeout (never a shorter one). */
  timeoutS?: number;
}

export class BootError extends Error {}

export class Machine {
  readonly share: string;
  private boots = 0;
  private readonly disk: string;
  private readonly vars: string;

  constructor(readonly o: MachineOptions) {
    this.share = join(o.logDir, "share");
    rmSync(o.logDir, { recursive: true, force: true });
    rmSync(o.runDir, { recursive: true, force: true });
    mkdirSync(join(this.share, "out"), { recursive: true });
    mkdirSync(o.runDir, { recursive: true });
    copyFileSync(o.deb, join(this.share, "passthrough.deb"));
    copyFileSync(o.guestLib, join(this.share, "lib.sh"));
    // The nested-VM helpers beside it (guest/nested.sh), sourced by the scenarios that use them.
    copyFileSync(join(dirname(o.guestLib), "nested.sh"), join(this.share, "nested.sh"));
    // And the nested VM's /init (guest/l2-init.sh), which nested.sh puts into L2's initramfs.
    copyFileSync(join(dirname(o.guestLib), "l2-init.sh"), join(this.share, "l2-init.sh"));
    this.disk = join(o.runDir, "disk.qcow2");
    execFileSync("qemu-img", [
      "create",
      "-q",
      "-f",
      "qcow2",
      "-b",
      o.baseImage,
      "-F",
      "qcow2",
      this.disk,
    ]);
    this.vars = join(o.runDir, "OVMF_VARS.fd");
    if (o.firmware === "uefi") copyFileSync(OVMF_VARS, this.vars);
  }

  /**
   * Boots once and runs `body` (bash, after lib.sh is sourced) in the guest, then powers off.
   * Throws BootError when the guest did not finish its script (hung, crashed, timed out),
   * unless the power was cut on purpose.
   */
  async boot(label: string, body: string, opts: BootOptions = {}): Promise<Boot> {
    const n = ++this.boots;
    const out = join(this.share, "out", `boot-${n}`);
    rmSync(out, { recursive: true, force: true });
    writeFileSync(join(this.share, "boot-number"), `${n}\n`);
    writeFileSync(
      join(this.share, "boot.sh"),
      `# boot ${n} of ${this.o.name}: ${label} (written by test/e2e)\nsource /mnt/lab/lib.sh\n${body.trim()}\nfinish\n`,
    );
    const serial = join(this.o.logDir, `boot-${n}.serial.log`);
    const args = qemuArgs({
      firmware: this.o.firmware,
      iommu: this.o.iommu,
      disk: this.disk,
      diskFormat: "qcow2",
      share: this.share,
      serialLog: serial,
      ...(this.o.firmware === "uefi" ? { ovmfVars: this.vars } : {}),
    });
    writeFileSync(join(this.o.logDir, `boot-${n}.qemu-argv`), args.join("\n") + "\n");
    const cut = opts.powerCutOn ? join(out, opts.powerCutOn) : null;
    // A panicked kernel just sits there: stop at once instead of waiting for the timeout.
    let panicked = false;
    const timeoutS = Math.max(this.o.bootTimeoutS, opts.timeoutS ?? 0);
    const r = await runQemu(args, {
      timeoutS,
      stderrLog: join(this.o.logDir, `boot-${n}.qemu-stderr.log`),
      stopWhen: () => {
        if (serialShows(serial, "Kernel panic - not syncing")) return (panicked = true);
        return cut !== null && existsSync(cut);
      },
    });
    const boot = new Boot(n, label, out, serial, r.seconds);
    this.o.log(
      `boot ${n} (${label}): ${r.seconds.toFixed(0)} s${panicked ? ", KERNEL PANIC" : r.stopped ? ", power cut" : ""}${r.timedOut ? ", TIMED OUT" : ""}`,
    );
    if (panicked) throw new BootError(`boot ${n} (${label}): kernel panic; serial log: ${serial}`);
    if (r.timedOut)
      throw new BootError(
        `boot ${n} (${label}) timed out after ${timeoutS} s; serial log: ${serial}`,
      );
    if (r.stopped) return boot;
    if (r.code !== 0)
      throw new BootError(`boot ${n} (${label}): QEMU exited ${r.code}; see ${this.o.logDir}`);
    if (!existsSync(join(out, "done")))
      throw new BootError(`boot ${n} (${label}) did not finish its script; serial log: ${serial}`);
    const install = boot.run("dpkg-install");
    if (install && install.rc !== 0)
      throw new BootError(
        `boot ${n}: dpkg -i passthrough.deb exited ${install.rc}: ${install.stderr.trim()}`,
      );
    const node = boot.text("node-path")?.trim();
    if (node) throw new BootError(`boot ${n}: the guest image has Node.js (${node}); it must not`);
    return boot;
  }

  dispose(): void {
    rmSync(this.o.runDir, { recursive: true, force: true });
  }
}

/** Whether the serial log has `text` (read in full: a boot's log is some 100 KB). */
function serialShows(path: string, text: string): boolean {
  try {
    return readFileSync(path, "latin1").includes(text);
  } catch {
    return false;
  }
}

export interface ToolRun {
  rc: number | null;
  stdout: string;
  stderr: string;
}

export interface PciFunction {
  address: string;
  driver: string | null;
  module: string | null;
  iommuGroup: string | null;
}

/** What one boot left in its output folder. */
export class Boot {
  constructor(
    readonly n: number,
    readonly label: string,
    readonly dir: string,
    readonly serialLog: string,
    readonly seconds: number,
  ) {}

  text(name: string): string | null {
    try {
      return readFileSync(join(this.dir, name), "utf8");
    } catch {
      return null;
    }
  }

  /** /proc/cmdline as the kernel reported it. */
  get cmdline(): string {
    return (this.text("cmdline") ?? "").trim();
  }

  get cmdlineTokens(): string[] {
    return this.cmdline.split(/\s+/).filter(Boolean);
  }

  /** The slot's functions as sysfs shows them. */
  get functions(): PciFunction[] {
    return (this.text("functions") ?? "")
      .split("\n")
      .filter(Boolean)
      .map((l) => {
        const [address = "", driver = "-", module = "-", grp = "-"] = l.split(" ");
        const v = (s: string) => (s === "-" ? null : s);
        return { address, driver: v(driver), module: v(module), iommuGroup: v(grp) };
      });
  }

  fn(address: string): PciFunction | undefined {
    return this.functions.find((f) => f.address === address);
  }

  /** IOMMU group id -> member addresses. */
  get iommuGroups(): Map<string, string[]> {
    const m = new Map<string, string[]>();
    for (const l of (this.text("iommu-groups") ?? "").split("\n")) {
      const [id, ...members] = l.trim().split(/\s+/);
      if (id) m.set(id, members);
    }
    return m;
  }

  get devVfio(): string[] {
    return (this.text("dev-vfio") ?? "").split("\n").filter(Boolean);
  }

  get dmesg(): string {
    return this.text("dmesg") ?? "";
  }

  /** `lspci -nnk` of the slot. */
  get lspci(): string {
    return this.text("lspci") ?? "";
  }

  /** sha256 of each config file that existed at this boot, by path. */
  get fileHashes(): Map<string, string> {
    const m = new Map<string, string>();
    for (const l of (this.text("files.sha256") ?? "").split("\n")) {
      const mm = /^([0-9a-f]{64})\s+(.+)$/.exec(l);
      if (mm) m.set(mm[2]!, mm[1]!);
    }
    return m;
  }

  /** A config file's contents at this boot (copied from the guest), or null when absent. */
  file(path: string): string | null {
    return this.text(join("files", path));
  }

  /**
   * The plan the newest apply journal recorded (/var/lib/passthrough/journal/<id>/plan.json,
   * copied at this boot): what apply actually carried out.
   */
  journalPlan<T = any>(): { id: string; plan: T } | null {
    const dir = join(this.dir, "var-lib-passthrough", "journal");
    let ids: string[];
    try {
      ids = readdirSync(dir).sort();
    } catch {
      return null;
    }
    const id = ids[ids.length - 1];
    if (!id) return null;
    try {
      return { id, plan: JSON.parse(readFileSync(join(dir, id, "plan.json"), "utf8")) as T };
    } catch {
      return null;
    }
  }

  journalFiles(): string[] {
    return (this.text("journal-files") ?? "").split("\n").filter(Boolean);
  }

  /** A passthrough (or shell) step run with `pt NAME ...` / `sh_step NAME ...`. */
  run(name: string): ToolRun | null {
    const rc = this.text(`${name}.rc`);
    if (rc === null) return null;
    return {
      rc: Number(rc.trim()),
      stdout: this.text(`${name}.stdout`) ?? "",
      stderr: this.text(`${name}.stderr`) ?? "",
    };
  }

  /** The JSON a `pt NAME ... --json` step printed, or null when it is not JSON. */
  json<T = any>(name: string): T | null {
    const r = this.run(name);
    if (!r) return null;
    try {
      return JSON.parse(r.stdout) as T;
    } catch {
      return null;
    }
  }

  outputs(): string[] {
    try {
      return readdirSync(this.dir);
    } catch {
      return [];
    }
  }
}
