// `strongroom audit …`: query audit events and verify the hash chain (auditor role).
import { existsSync } from "node:fs";
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
    // Not --key: that is the client private key file of every client command (the old spelling here clashed with it).
    "key-name": { type: "string", arg: "NAME", help: "events on this key" },
    action: { type: "string", arg: "A", help: "action, e.g. key.create, key.encrypt, sys.unseal" },
    outcome: { type: "string", arg: "O", help: "success, denied or error" },
    limit: { type: "string", arg: "N", help: "at most N events (1-1000, default 100)" },
    after: { type: "string", arg: "SEQ", help: "events after this sequence number (the `next` of the previous page)" },
  },
  client: true,
  async run(inv) {
    const v = inv.values;
    // Before --key-name, --key NAME filtered by key here; now it is the client key file, as everywhere else.
    const keyFile = optStr(v, "key");
    if (keyFile !== undefined && !existsSync(keyFile))
      throw new CliError(`--key is the client private key file (no file '${keyFile}'): filter events by key with --key-name NAME`);
    const q = {
      from: isoOpt(v, "from"),
      to: isoOpt(v, "to"),
      actor: optStr(v, "actor"),
      key: optStr(v, "key-name"),
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

interface VerifyReply {
  ok: boolean;
  checked: number;
  firstBroken: number | null;
  broken: { from: number; to: number; kind: string }[];
  omitted: number;
}

const PROBLEM: Record<string, string> = {
  altered: "altered (does not match its MAC)",
  missing: "missing",
  unchained: "unchained (MAC removed)",
  head: "chain head missing or forged: newer events may have been removed",
};

const verify: CommandSpec = {
  path: ["audit", "verify"],
  summary: "Recompute the audit hash chain and list every broken range; exits 1 when an event is missing or altered.",
  options: {},
  client: true,
  async run(inv) {
    const r = await inv.api().call<VerifyReply>("GET", "/v1/audit/verify");
    if (inv.json) printJson(r);
    else if (r.ok) print(`audit chain intact: ${r.checked} events`);
    else {
      const count = r.broken.length + r.omitted;
      print(`audit chain BROKEN at seq ${r.firstBroken}: ${count} broken range${count === 1 ? "" : "s"} in ${r.checked} events`);
      print(
        table(
          ["seq", "problem"],
          r.broken.map((b) => [b.from === b.to ? b.from : `${b.from}-${b.to}`, PROBLEM[b.kind] ?? b.kind]),
        ),
      );
      if (r.omitted > 0) note(`${r.omitted} more broken ranges not listed`);
    }
    return r.ok ? 0 : 1;
  },
};

export const auditCommands: CommandSpec[] = [query, verify];
