// `passthrough guide` (and plain `passthrough` on a terminal): the flow of docs/design.md walked
// interactively — check the host, pick the device, read the plan, confirm — by running the
// same commands a user can run alone, so the guide adds no logic of its own and prints each
// command it runs (the user learns the non-interactive way as they go).

import type { Command } from "commander";
import type * as Readline from "node:readline";
import { findCandidates } from "../../checks/candidates.js";
import type { Candidate } from "../../checks/types.js";
import { EXIT, InputError } from "../../errors.js";
import { privileges } from "../apply-target.js";
import { loadHost, type CommandContext } from "../context.js";
import { isInteractive } from "../io.js";
import type { RunAction } from "../registration.js";

export interface GuideOptions {
  snapshot?: string;
}

/** Runs another command of this program with the same terminal (given by program.ts). */
export type SubCommandRunner = (argv: string[]) => Promise<number>;

export function registerGuide(program: Command, run: RunAction, sub: SubCommandRunner): void {
  program
    .command("guide")
    .description(
      "walk the whole flow interactively: check, pick the device, read the plan, confirm (also: `passthrough` alone on a terminal)",
    )
    .option(
      "--snapshot <path>",
      "walk a snapshot instead of this host (shows the plan; applying needs the host itself)",
    )
    .addHelpText(
      "after",
      `
Each step runs one of the ordinary commands and prints it first, so you can repeat any step
alone or script it. Nothing changes before you answer yes to the plan (and \`apply\` itself
asks again); Ctrl-C leaves at any point.`,
    )
    .action(run<GuideOptions>((ctx, opts) => guide(ctx, opts, sub)));
}

function ask(ctx: CommandContext, question: string): Promise<string> {
  const rl = (require("node:readline") as typeof Readline).createInterface({
    input: ctx.io.stdin!,
    terminal: false,
  });
  return new Promise<string>((resolve) => {
    ctx.io.stdout.write(question);
    rl.once("line", (l) => {
      resolve(l.trim()); // before close(): closing emits "close" at once, which would answer ""
      rl.close();
    });
    rl.once("close", () => resolve(""));
  });
}

function describe(c: Candidate): string {
  const where =
    c.iommuGroup === null
      ? "no IOMMU group"
      : `group ${c.iommuGroup}${c.isolated ? ", isolated" : `, shared with ${c.groupMates.length} other device${c.groupMates.length === 1 ? "" : "s"}`}`;
  const notes = [
    c.bootVga ? "boot display" : null,
    c.hostCritical ? "the host needs it" : null,
    c.assignedTo.length ? `in VM ${c.assignedTo.join(", ")}` : null,
  ].filter(Boolean);
  return `${c.address}  ${c.title}  (${where}${notes.length ? `; ${notes.join("; ")}` : ""})`;
}

async function guide(
  ctx: CommandContext,
  opts: GuideOptions,
  sub: SubCommandRunner,
): Promise<number> {
  if (!isInteractive(ctx.io) || !ctx.io.stdin) {
    throw new InputError(
      "the guide asks questions and needs a terminal; without one run the steps as commands: passthrough check, plan --device ADDR, apply --device ADDR --yes",
    );
  }
  const { style } = ctx;
  const snap = opts.snapshot ? ["--snapshot", opts.snapshot] : [];
  const step = (n: number, title: string, argv: string[] | null) =>
    ctx.out(
      "",
      style.bold(`Step ${n} of 4: ${title}`) +
        (argv ? style.dim(`   $ passthrough ${argv.join(" ")}`) : ""),
      "",
    );

  step(1, "check the host", ["check", ...snap]);
  await sub(["check", ...snap]);

  const { state } = loadHost({ snapshot: opts.snapshot });
  const choices = findCandidates(state).filter((c) => !c.hostCritical);
  step(2, "pick the device for the VM", null);
  if (choices.length === 0) {
    ctx.out("No device here can be passed to a VM (only bridges, or devices the host needs).");
    return EXIT.problems;
  }
  choices.forEach((c, i) => ctx.out(`  ${String(i + 1).padStart(2)}) ${describe(c)}`));
  const answer = await ask(ctx, `\nWhich device? [1-${choices.length}, Enter for 1, q to quit] `);
  if (/^q/i.test(answer)) return EXIT.ok;
  const index = answer === "" ? 0 : Number(answer) - 1;
  const chosen = choices[index];
  if (!chosen)
    throw new InputError(
      `"${answer}" is not one of 1-${choices.length}; run \`passthrough guide\` again`,
    );

  const planArgv = ["plan", "--device", chosen.address, ...snap];
  step(3, `the plan for ${chosen.address}`, planArgv);
  const planCode = await sub(planArgv);
  if (planCode === EXIT.refused) {
    ctx.out(
      "",
      `The plan was refused for safety (the reason is above, with the flag that overrides it where one exists); nothing was changed. \`passthrough check --device ${chosen.address}\` shows the device's isolation and drivers.`,
    );
    return planCode;
  }

  const applyArgv = ["apply", "--device", chosen.address];
  step(4, "apply it", opts.snapshot ? null : applyArgv);
  if (opts.snapshot) {
    ctx.out(
      `This is a snapshot: apply on the host itself with \`sudo passthrough ${applyArgv.join(" ")}\`.`,
    );
  } else if (privileges.euid() !== 0) {
    ctx.out(
      `Applying needs root: run \`sudo passthrough ${applyArgv.join(" ")}\` (it shows this plan again and asks before changing anything).`,
    );
  } else {
    const code = await sub(applyArgv);
    if (code !== EXIT.ok) return code;
  }
  ctx.out(
    "",
    style.bold("Then:"),
    "  reboot, and prove it worked:        passthrough verify --device " + chosen.address,
    "  give the device to a VM:            passthrough vm configure --vmid N --device " +
      chosen.address,
    "  reach the VM without a screen:      passthrough guest setup --ssh --tailscale --gpu-driver -o setup.sh",
    "  inside the VM, prove the GPU works: passthrough guest check",
  );
  return EXIT.ok;
}
