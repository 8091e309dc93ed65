// `strongroom approvals …`: dual control — list pending requests, approve or deny them, open an authorization window.
import { type CommandSpec, optEnum, optInt, seg } from "../command.js";
import { CliError } from "../http-client.js";
import { kv, print, printJson, table } from "../output.js";

interface Approval {
  id: string;
  action: string;
  target: string | null;
  requestedBy: string;
  createdAt: string;
  expiresAt: string;
  status: string;
  approvers: string[];
  quorum: number;
  result: unknown;
}

const STATUSES = ["pending", "executed", "failed", "denied", "expired"] as const;

const list: CommandSpec = {
  path: ["approvals", "list"],
  summary: "List dual-control requests (default: pending) with who asked for what.",
  options: { status: { type: "string", arg: "S", help: `${STATUSES.join(", ")} (default pending)` } },
  client: true,
  async run(inv) {
    const status = optEnum(inv.values, "status", STATUSES) ?? "pending";
    const r = await inv.api().call<{ approvals: Approval[] }>("GET", "/v1/approvals", { query: { status } });
    if (inv.json) printJson(r);
    else
      print(
        table(
          ["ID", "ACTION", "TARGET", "REQUESTED BY", "APPROVERS", "EXPIRES", "STATUS"],
          r.approvals.map((a) => [
            a.id,
            a.action,
            a.target ?? "-",
            a.requestedBy,
            `${a.approvers.length}/${a.quorum}`,
            a.expiresAt,
            a.status,
          ]),
        ),
      );
    return 0;
  },
};

function decide(kind: "approve" | "deny"): CommandSpec {
  return {
    path: ["approvals", kind],
    summary:
      kind === "approve" ? "Approve a request as a second, distinct admin (executes it at quorum)." : "Deny (discard) a pending request.",
    args: "ID",
    positionals: [1, 1],
    options: {},
    client: true,
    async run(inv) {
      const a = await inv.api().call<Approval>("POST", `/v1/approvals/${seg(inv.positionals[0])}/${kind}`, { body: {} });
      if (inv.json) printJson(a);
      else print(kv({ id: a.id, action: a.action, target: a.target ?? "-", status: a.status, approvers: a.approvers.join(", ") }));
      return a.status === "failed" ? 1 : 0;
    },
  };
}

const window: CommandSpec = {
  path: ["approvals", "window"],
  summary: "Open an authorization window: for N minutes, protected operations by other admins execute directly.",
  options: { minutes: { type: "string", arg: "N", help: "window length in minutes (1-1440, required)" } },
  client: true,
  async run(inv) {
    const minutes = optInt(inv.values, "minutes", 1, 1440);
    if (minutes === undefined) throw new CliError("give --minutes N");
    const r = await inv.api().call<{ openedBy: string; closesAt: string }>("POST", "/v1/approvals/window", { body: { minutes } });
    if (inv.json) printJson(r);
    else print(kv({ "opened by": r.openedBy, "closes at": r.closesAt }));
    return 0;
  },
};

export const approvalCommands: CommandSpec[] = [list, decide("approve"), decide("deny"), window];
