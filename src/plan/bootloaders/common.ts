// What every boot loader planner returns, and the refresh/reboot bookkeeping they share.

import type { CmdlineParam } from "../../host/types.js";
import type { WantedParam } from "../cmdline.js";
import { satisfied } from "../cmdline.js";
import type { CommandStep } from "../types.js";

export interface CmdlineEdit {
  add: WantedParam[];
  remove: Array<{ raw: string; why: string }>;
  /** Tokens repairs already took out of the active config files (their own steps): the boot config must be refreshed. */
  repaired: string[];
}

export interface BootResult {
  /** Commands that write the change or make the configured command line the next boot's. */
  commands: CommandStep[];
  /** The command line configured for the next boot once the plan is carried out. */
  configuredAfter: CmdlineParam[] | null;
  /** Whether a reboot is needed for the command line (params not yet running). */
  rebootFor: string[];
}

/** Wanted parameters the running kernel did not get. */
export function notRunning(
  running: readonly CmdlineParam[] | null,
  add: readonly WantedParam[],
): WantedParam[] {
  return add.filter((w) => !satisfied(running ?? [], w.param));
}

export function raws(ws: ReadonlyArray<{ param: CmdlineParam }>): string {
  return ws.map((w) => w.param.raw).join(" ");
}
