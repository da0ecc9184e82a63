// plan --reset-method METHOD (issue 15): a udev rule that writes sysfs reset_method for each
// selected function, only with a method the kernel lists for it; a file step like the others
// (diff, journal, rollback), idempotent on re-plan.
import { describe, expect, it } from "vitest";
import { verifyHost } from "../../src/apply/verify.js";
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

describe("verify after --reset-method", () => {
  const run = (methods: string[], bootedAt: Date | null, appliedAt: Date | null) => {
    const state = fixtureState("verify-ok");
    for (const d of state.pci) if (d.address.startsWith("0000:01:00.")) d.resetMethods = methods;
    const expect = planHost(
      withMethods(["flr", "bus"]),
      planOpts({ devices: ["0000:01:00"], resetMethod: "bus" }),
    ).expect;
    return verifyHost({
      state,
      expect: { ...expect, cmdline: [], modulesLoaded: [], boundToVfio: [] },
      allowUnsafeInterrupts: false,
      grubCfg: null,
      bootedAt,
      appliedAt,
    }).findings.filter((f) => f.subject?.endsWith("/reset_method"));
  };

  it("records each function's method in the plan's expectation", () => {
    const p = planHost(
      withMethods(["flr", "bus"]),
      planOpts({ devices: ["0000:01:00"], resetMethod: "bus" }),
    );
    expect(p.expect.resetMethods).toEqual([
      { address: "0000:01:00.0", method: "bus" },
      { address: "0000:01:00.1", method: "bus" },
    ]);
  });

  it("passes when sysfs lists only the chosen method, fails naming the rule otherwise", () => {
    expect(run(["bus"], null, null).map((f) => f.status)).toEqual(["pass", "pass"]);
    const [bad] = run(["flr", "bus"], null, null);
    expect(bad).toMatchObject({ id: "verify.binding", status: "fail" });
    expect(bad!.summary).toBe(
      "/sys/bus/pci/devices/0000:01:00.0/reset_method reads flr bus, the plan's udev rule sets bus",
    );
    expect(bad!.fix).toContain("/etc/udev/rules.d/99-passthrough-reset.rules");
  });

  it("blames the missing reboot when the host has not booted since the apply", () => {
    const [bad] = run(["flr", "bus"], new Date(1000), new Date(2000));
    expect(bad!.summary).toMatch(/has not rebooted since the apply$/);
    expect(bad!.fix).toBe("reboot, then run `passthrough verify` again");
  });
});
