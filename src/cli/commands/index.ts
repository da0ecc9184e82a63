// Every command, in the order `passthrough --help` lists them. One file per command.
import { planHost } from "../../plan/plan.js";
import type { CommandRegistration } from "../registration.js";
import { registerApplyWith } from "./apply.js";
import { registerCheck } from "./check.js";
import { registerCt } from "./ct.js";
import { registerExplain } from "./explain.js";
import { registerGuestCheck } from "./guest-check.js";
import { registerGuestSetup } from "./guest-setup.js";
import { registerGuide } from "./guide.js";
import { registerHistory } from "./history.js";
import { registerList } from "./list.js";
import { registerMode } from "./mode.js";
import { registerPlan } from "./plan.js";
import { registerReportWith } from "./report.js";
import { registerRollback } from "./rollback.js";
import { registerRom } from "./rom.js";
import { registerSnapshot } from "./snapshot.js";
import { registerVerifyWith } from "./verify.js";
import { registerVm } from "./vm.js";
import { registerVmMapping } from "./vm-mapping.js";

export const COMMANDS: CommandRegistration[] = [
  registerCheck,
  registerList,
  registerSnapshot,
  registerPlan,
  registerApplyWith(planHost),
  registerVerifyWith(planHost),
  registerRollback,
  registerHistory,
  registerReportWith(planHost),
  registerExplain,
  registerVm,
  registerVmMapping,
  registerCt,
  registerMode,
  registerRom,
  registerGuestSetup,
  registerGuestCheck,
  registerGuide,
];
