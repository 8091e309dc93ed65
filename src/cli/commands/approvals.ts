// `strongroom approvals …`: dual control — list pending requests, approve or deny them, open an authorization window.
import { type CommandSpec, optEnum, optInt, optStr, seg } from "../command.js";
import { CliError } from "../http-client.js";
import { cellText, kv, print, printJson } from "../output.js";

interface Approval {
  id: string;
  action: string;
  target: string | null;
  requestedBy: string;
  principal: string;
  summary: Record<string, unknown> | null;
  digest: string | null;
  createdAt: string;
  expiresAt: string;
  status: string;
  approvers: string[];
  quorum: number;
  result: unknown;
}

const STATUSES = ["pending", "executed", "failed", "denied", "expired"] as const;

/** Every field of an execution summary on its own line, nested objects dotted, lists of objects as JSON. */
function summaryLines(v: unknown, prefix: string, out: string[]): void {
  if (v && typeof v === "object" && !Array.isArray(v) && Object.keys(v).length > 0) {
    for (const [k, x] of Object.entries(v)) summaryLines(x, prefix ? `${prefix}.${k}` : k, out);
  } else out.push(`    ${prefix}: ${Array.isArray(v) && v.some((x) => x && typeof x === "object") ? JSON.stringify(v) : cellText(v)}`);
}

/** One block per request: what it is, who asked (and for whom), exactly what will execute, and its digest. */
function describe(a: Approval): string {
  const lines = [
    `${a.id}  ${a.action}  ${a.status}`,
    `  target: ${a.target ?? "-"}`,
    `  requested by: ${a.requestedBy}${a.principal !== a.requestedBy ? ` (acts for ${a.principal})` : ""}`,
    `  approvals: ${a.approvers.length}/${a.quorum} (${a.approvers.join(", ")})`,
    `  expires: ${a.expiresAt}`,
    "  will execute:",
  ];
  if (a.summary) summaryLines(a.summary, "", lines);
  else lines.push("    (no summary: stored before an upgrade; it cannot be approved)");
  lines.push(`  digest: ${a.digest ?? "-"}`);
  return lines.join("\n");
}

const list: CommandSpec = {
  path: ["approvals", "list"],
  summary: "List dual-control requests (default: pending): who asked, exactly what will execute, and the digest to approve it with.",
  options: { status: { type: "string", arg: "S", help: `${STATUSES.join(", ")} (default pending)` } },
  client: true,
  async run(inv) {
    const status = optEnum(inv.values, "status", STATUSES) ?? "pending";
    const r = await inv.api().call<{ approvals: Approval[] }>("GET", "/v1/approvals", { query: { status } });
    if (inv.json) printJson(r);
    else print(r.approvals.length ? r.approvals.map(describe).join("\n\n") : `no ${status} requests`);
    return 0;
  },
};

function decide(kind: "approve" | "deny"): CommandSpec {
  return {
    path: ["approvals", kind],
    summary:
      kind === "approve"
        ? "Approve exactly the content you reviewed (--digest from approvals list), as an admin acting for another principal; executes at quorum."
        : "Deny (discard) a pending request.",
    args: "ID",
    positionals: [1, 1],
    options:
      kind === "approve" ? { digest: { type: "string", arg: "D", help: "required: the digest shown by approvals list (sha256:…)" } } : {},
    client: true,
    async run(inv) {
      const digest = kind === "approve" ? optStr(inv.values, "digest") : undefined;
      if (kind === "approve" && digest === undefined)
        throw new CliError("give --digest D: the digest that approvals list shows for exactly what you reviewed");
      const body = digest !== undefined ? { digest } : {};
      const a = await inv.api().call<Approval>("POST", `/v1/approvals/${seg(inv.positionals[0])}/${kind}`, { body });
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
