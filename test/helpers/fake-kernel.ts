// A fake kernel behind apply/driver-switch.ts's sysfsPort, over a fake host tree: it reacts to
// the writes as drivers/pci/pci-driver.c and bus.c do. driver_override stores the name (an
// empty line clears it, shown as "(null)"); an address written to drivers/DRV/unbind detaches
// a device bound to DRV (ENODEV otherwise) and its DRM/sound nodes go; an address written to
// drivers_probe binds an unbound device to its override, or without one to the first loaded
// driver of `natives` (modules.alias order). Also a fake `modprobe` for PATH that registers the
// driver folder, as loading a PCI driver module does.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

export function fakeKernel(rootDir: string, natives: Record<string, string[]>) {
  const writes: Array<[string, string]> = [];
  const devDir = (a: string) => fs.realpathSync(path.join(rootDir, `sys/bus/pci/devices/${a}`));
  const drvDir = (d: string) => path.join(rootDir, `sys/bus/pci/drivers/${d}`);
  const bound = (a: string) => {
    try {
      return path.basename(fs.readlinkSync(path.join(devDir(a), "driver")));
    } catch {
      return null;
    }
  };
  const err = (code: string, msg: string) => Object.assign(new Error(msg), { code });
  /** The uevent attribute is made on each read from the bound driver (pci_uevent): DRIVER= follows it. */
  function setUeventDriver(a: string, d: string | null) {
    const file = path.join(devDir(a), "uevent");
    if (!fs.existsSync(file)) return;
    const lines = fs
      .readFileSync(file, "utf8")
      .split("\n")
      .filter((l) => l && !l.startsWith("DRIVER="));
    fs.writeFileSync(file, [...(d ? [`DRIVER=${d}`] : []), ...lines].join("\n") + "\n");
  }
  function bind(a: string, d: string) {
    setUeventDriver(a, d);
    fs.symlinkSync(
      path.relative(devDir(a), fs.realpathSync(drvDir(d))),
      path.join(devDir(a), "driver"),
    );
    fs.symlinkSync(path.relative(drvDir(d), devDir(a)), path.join(drvDir(d), a));
  }
  function write(file: string, value: string): void {
    const rel = path.relative(rootDir, file);
    writes.push([rel, value]);
    let m = /^sys\/bus\/pci\/devices\/([^/]+)\/driver_override$/.exec(rel);
    if (m) {
      const v = value.trim();
      fs.writeFileSync(path.join(devDir(m[1]!), "driver_override"), `${v === "" ? "(null)" : v}\n`);
      return;
    }
    m = /^sys\/bus\/pci\/drivers\/([^/]+)\/unbind$/.exec(rel);
    if (m) {
      const a = value.trim();
      if (bound(a) !== m[1]) throw err("ENODEV", "No such device");
      fs.unlinkSync(path.join(devDir(a), "driver"));
      setUeventDriver(a, null);
      fs.rmSync(path.join(drvDir(m[1]!), a), { force: true });
      for (const sub of ["drm", "sound"])
        fs.rmSync(path.join(devDir(a), sub), { recursive: true, force: true });
      return;
    }
    if (rel === "sys/bus/pci/drivers_probe") {
      const a = value.trim();
      if (bound(a) !== null) return;
      let override = "(null)";
      try {
        override = fs.readFileSync(path.join(devDir(a), "driver_override"), "utf8").trim();
      } catch {
        // no driver_override attribute: an old kernel, no override
      }
      const choices = override !== "(null)" ? [override] : (natives[a] ?? []);
      const d = choices.find((c) => fs.existsSync(drvDir(c)));
      if (d) bind(a, d);
      return;
    }
    throw err("EACCES", `fake kernel: no such attribute ${rel}`);
  }
  return { write, writes, bound };
}

/** A folder with a `modprobe` that registers sys/bus/pci/drivers/NAME (and sys/module) in the tree. */
export function fakeModprobe(rootDir: string): {
  bin: string;
  calls: () => string[];
  cleanup: () => void;
} {
  const bin = fs.mkdtempSync(path.join(os.tmpdir(), "passthrough-fake-modprobe-"));
  const log = path.join(bin, "calls.log");
  fs.writeFileSync(
    path.join(bin, "modprobe"),
    `#!/bin/sh
echo "$*" >> "${log}"
# PCI driver names are the module's, except vfio_pci, which registers as vfio-pci.
name=$1; [ "$1" = vfio_pci ] && name=vfio-pci
mkdir -p "${rootDir}/sys/bus/pci/drivers/$name" "${rootDir}/sys/module/$(echo "$1" | tr - _)"
`,
    { mode: 0o755 },
  );
  return {
    bin,
    calls: () => (fs.existsSync(log) ? fs.readFileSync(log, "utf8").trim().split("\n") : []),
    cleanup: () => fs.rmSync(bin, { recursive: true, force: true }),
  };
}
