// plan --reset-method METHOD (issue 15): a udev rule that writes sysfs reset_method for each
// selected function, only with a method the kernel lists for it; a file step like the others
// (diff, journal, rollback), idempotent on re-plan.
import { describe, expect, it } from "vitest";
import { runChecks } from "../../src/checks/run-checks.js";
import { InputError } from "../../src/errors.js";
import type { HostState } from "../../src/host/types.js";
import { planHost, rerunCommand } from "../../src/plan/plan.js";
import { fixtureState } from "../helpers/fixtures.js";
import { planOpts } from "../helpers/plan.js";

const RULES = "/etc/udev/rules.d/99-passthrough-reset.rules";

function withMethods(methods: string[]): HostState {
  const s = fixtureState("seed-after");
  for (const d of s.pci) if (d.address.startsWith("0000:01:00.")) d.resetMethods = [...methods];
  return s;
}

describe("plan --reset-method", () => {
  it("writes one udev line per selected function, and re-planning after apply changes nothing", () => {
    const s = withMethods(["flr", "bus"]);
    const opts = planOpts({ devices: ["0000:01:00"], resetMethod: "bus" });
    const p = planHost(s, opts);
    const step = p.steps.find((x) => x.kind === "file" && x.path === RULES);
    expect(step && step.kind === "file" ? step.after : null).toBe(
      [
        "# Written by passthrough (--reset-method): the reset method the kernel uses for these",
        "# functions (sysfs reset_method). Undo with `passthrough rollback` or delete this file.",
        'ACTION=="add", SUBSYSTEM=="pci", KERNEL=="0000:01:00.0", ATTR{reset_method}="bus"',
        'ACTION=="add", SUBSYSTEM=="pci", KERNEL=="0000:01:00.1", ATTR{reset_method}="bus"',
        "",
      ].join("\n"),
    );
    const f = p.findings.find((x) => x.id === "reset.udev-rule")!;
    expect(f.summary).toContain("now: 0000:01:00.0 flr bus; 0000:01:00.1 flr bus");
    expect(f.fix).toContain("echo bus > /sys/bus/pci/devices/0000:01:00.0/reset_method");
    expect(rerunCommand(opts)).toContain("--reset-method bus");

    s.configFiles["etc/udev/rules.d/99-passthrough-reset.rules"] =
      step && step.kind === "file" ? step.after! : "";
    expect(planHost(s, opts).steps.some((x) => x.kind === "file" && x.path === RULES)).toBe(false);
  });

  it("refuses a method a function does not list, or a name the kernel does not know (exit 2)", () => {
    const s = withMethods(["flr", "pm"]);
    expect(() => planHost(s, planOpts({ devices: ["0000:01:00"], resetMethod: "bus" }))).toThrow(
      new InputError("--reset-method bus: 0000:01:00.0 supports flr, pm; choose one of those"),
    );
    expect(() => planHost(s, planOpts({ devices: ["0000:01:00"], resetMethod: "hot" }))).toThrow(
      /--reset-method hot: not a kernel reset method; use one of device_specific, acpi, flr/,
    );
  });

  it("writes nothing without the flag", () => {
    const p = planHost(withMethods(["flr", "bus"]), planOpts({ devices: ["0000:01:00"] }));
    expect(p.steps.some((x) => x.kind === "file" && x.path === RULES)).toBe(false);
  });
});

describe("check: a device whose FLR is known broken", () => {
  it("warns while the kernel lists flr first, and points at --reset-method bus", () => {
    const s = withMethods(["flr", "bus"]);
    const audio = s.pci.find((d) => d.address === "0000:01:00.1")!;
    audio.vendorId = "1022";
    audio.deviceId = "1487";
    const [f] = runChecks(s).findings.filter(
      (x) => x.id === "reset.method" && x.summary.includes("1487") === false && x.status === "warn",
    );
    expect(f!.summary).toContain("0000:01:00.1 (AMD Starship/Matisse HD Audio Controller)");
    expect(f!.fix).toContain("`passthrough plan --device 0000:01:00 --reset-method bus`");
    expect(f!.fix).toContain("echo bus > /sys/bus/pci/devices/0000:01:00.1/reset_method");
    // A kernel with quirk_no_flr no longer lists flr: the usual verdict.
    audio.resetMethods = ["bus"];
    expect(runChecks(s).findings.some((x) => x.id === "reset.method" && x.status === "warn")).toBe(
      false,
    );
  });
});
