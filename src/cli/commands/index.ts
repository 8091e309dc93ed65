// The table of CLI commands and command groups.
import type { CommandSpec } from "../command.js";
import { approvalCommands } from "./approvals.js";
import { auditCommands } from "./audit.js";
import { certCommands } from "./certs.js";
import { governanceCommands } from "./governance.js";
import { initCommand } from "./init.js";
import { keyCommands } from "./keys.js";
import { operatorCommands } from "./operator.js";
import { reportCommands, usageCommands } from "./report.js";
import { serverCommand } from "./server.js";
import { statusCommand, unsealCommand } from "./sys.js";

export const COMMANDS: CommandSpec[] = [
  initCommand,
  serverCommand,
  unsealCommand,
  statusCommand,
  ...keyCommands,
  ...usageCommands,
  ...certCommands,
  ...approvalCommands,
  ...governanceCommands,
  ...auditCommands,
  ...reportCommands,
  ...operatorCommands,
];

export const GROUPS: Record<string, string> = {
  keys: "Manage keys and use them for on-board cryptography.",
  certs: "Issue, list and revoke client certificates.",
  approvals: "Dual control: list requests with what they will execute, approve by digest, deny, open a window.",
  governance: "Dual control, quorum, approval window and PCI mode: show them, change them (under dual control).",
  audit: "Query and verify the audit log.",
  report: "Reports on keys: stale, past their cryptoperiod, most principals.",
  operator: "Master key and KEK custody: rekey, rotate-master, rotate-kek, seal.",
};
