// `strongroom audit …`: query audit events and verify the hash chain (auditor role).
import { type CommandSpec, optEnum, optInt, optStr } from "../command.js";
import { CliError } from "../http-client.js";
import { note, print, printJson, table } from "../output.js";

interface AuditEvent {
  seq: number;
  time: string;
  node: string;
  actor: { cn: string | null; ou: string | null; role: string | null; serial: string | null; address: string | null };
  action: string;
  target: { name: string | null; version: number | null };
  outcome: string;
  reason: string | null;
  requestId: string | null;
}

const ISO = /^\d{4}-\d{2}-\d{2}(T[0-9:.]+(Z|[+-]\d{2}:\d{2})?)?$/;

function isoOpt(v: Record<string, string | boolean | undefined>, name: string): string | undefined {
  const x = optStr(v, name);
  if (x !== undefined && (!ISO.test(x) || Number.isNaN(Date.parse(x))))
    throw new CliError(`--${name} must be an ISO 8601 time, e.g. 2025-01-31 or 2025-01-31T12:00:00Z`);
  return x;
}

const query: CommandSpec = {
  path: ["audit", "query"],
  summary: "Query audit events by time, actor, key, action and outcome (oldest first).",
  options: {
    from: { type: "string", arg: "ISO", help: "events at or after this time" },
    to: { type: "string", arg: "ISO", help: "events before this time" },
    actor: { type: "string", arg: "CN", help: "events by this certificate CN" },
    key: { type: "string", arg: "NAME", help: "events on this key" },
    action: { type: "string", arg: "A", help: "action, e.g. key.create, key.encrypt, sys.unseal" },
    outcome: { type: "string", arg: "O", help: "success, denied or error" },
    limit: { type: "string", arg: "N", help: "at most N events (1-1000, default 100)" },
    after: { type: "string", arg: "SEQ", help: "events after this sequence number (the `next` of the previous page)" },
  },
  client: true,
  async run(inv) {
    const v = inv.values;
    const q = {
      from: isoOpt(v, "from"),
      to: isoOpt(v, "to"),
      actor: optStr(v, "actor"),
      key: optStr(v, "key"),
      action: optStr(v, "action"),
      outcome: optEnum(v, "outcome", ["success", "denied", "error"] as const),
      limit: optInt(v, "limit", 1, 1000),
      after: optInt(v, "after", 0, Number.MAX_SAFE_INTEGER),
    };
    const r = await inv.api().call<{ events: AuditEvent[]; next: number | null }>("GET", "/v1/audit", { query: q });
    if (inv.json) {
      printJson(r);
      return 0;
    }
    if (r.events.length === 0) print("no events");
    else
      print(
        table(
          ["seq", "time", "actor", "role", "action", "key/version", "outcome", "reason"],
          r.events.map((e) => [
            e.seq,
            e.time,
            e.actor.cn ?? (e.actor.address ? `(${e.actor.address})` : null),
            e.actor.role,
            e.action,
            e.target.name ? `${e.target.name}${e.target.version != null ? `/${e.target.version}` : ""}` : null,
            e.outcome,
            e.reason,
          ]),
        ),
      );
    if (r.next !== null) note(`more events: --after ${r.next}`);
    return 0;
  },
};

const verify: CommandSpec = {
  path: ["audit", "verify"],
  summary: "Recompute the audit hash chain; exits 1 when an event is missing or altered.",
  options: {},
  client: true,
  async run(inv) {
    const r = await inv.api().call<{ ok: boolean; checked: number; firstBroken: number | null }>("GET", "/v1/audit/verify");
    if (inv.json) printJson(r);
    else print(r.ok ? `audit chain intact: ${r.checked} events` : `audit chain BROKEN at seq ${r.firstBroken}`);
    return r.ok ? 0 : 1;
  },
};

export const auditCommands: CommandSpec[] = [query, verify];
