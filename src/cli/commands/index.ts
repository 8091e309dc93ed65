// The table of CLI commands and command groups.
import type { CommandSpec } from "../command.js";
import { auditCommands } from "./audit.js";
import { approvalCommands } from "./approvals.js";
import { certCommands } from "./certs.js";
import { initCommand } from "./init.js";
import { keyCommands } from "./keys.js";
import { serverCommand } from "./server.js";
import { statusCommand, unsealCommand } from "./sys.js";

export const COMMANDS: CommandSpec[] = [
  initCommand,
  serverCommand,
  unsealCommand,
  statusCommand,
  ...keyCommands,
  ...certCommands,
  ...approvalCommands,
  ...auditCommands,
];

export const GROUPS: Record<string, string> = {
  keys: "Manage keys and use them for on-board cryptography.",
  certs: "Issue, list and revoke client certificates.",
  audit: "Query and verify the audit log.",
};
