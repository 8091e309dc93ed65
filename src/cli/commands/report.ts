// `strongroom keys usage` and `strongroom report keys`: key usage counters and the keys report (admins and auditors).
import type { KeysReport } from "../../keys/key-report.js";
import type { KeyUsage } from "../../keys/usage-tracker.js";
import { type CommandSpec, optInt, seg } from "../command.js";
import { note, print, printJson, table } from "../output.js";

const keysUsage: CommandSpec = {
  path: ["keys", "usage"],
  summary: "Show how often each principal used each version of a key, per operation, and when last (admin, auditor).",
  args: "NAME",
  positionals: [1, 1],
  details: "Counters are kept in memory and written every few seconds; the server writes them before answering.",
  options: {},
  client: true,
  async run(inv) {
    const u = await inv.api().call<KeyUsage>("GET", `/v1/keys/${seg(inv.positionals[0])}/usage`);
    if (inv.json) {
      printJson(u);
      return 0;
    }
    const rows = u.versions.flatMap((v) =>
      v.usage.length
        ? v.usage.map((e) => [v.version, v.state, e.principal, e.operation, e.count, e.lastUsedAt])
        : [[v.version, v.state, null, null, 0, null]],
    );
    print(table(["version", "state", "principal", "operation", "count", "last used"], rows));
    const ops = Object.entries(u.operations)
      .map(([op, n]) => `${op} ${n}`)
      .join(", ");
    print(
      `total: ${u.total.count} use(s) by ${u.total.principals} principal(s)${ops ? ` (${ops})` : ""}; last used ${u.total.lastUsedAt ?? "never"}`,
    );
    return 0;
  },
};

const reportKeys: CommandSpec = {
  path: ["report", "keys"],
  summary: "Keys not used for N days (or never), keys past their cryptoperiod, keys used by the most principals.",
  details:
    "A key is stale when it was not used for --stale-days days, counted from its last use or, if never used, from its\n" +
    "creation. Overdue: auto rotation whose rollover is due but has not run, or manual rotation with a period whose\n" +
    "current version is older than the period. Destroyed keys and keys scheduled for destruction are left out.",
  options: {
    "stale-days": { type: "string", arg: "N", help: "days without use that make a key stale (default 90)" },
    top: { type: "string", arg: "N", help: "how many keys the most-principals list shows (1-1000, default 10)" },
    limit: { type: "string", arg: "N", help: "most stale and overdue keys listed (1-10000, default 1000)" },
  },
  client: true,
  async run(inv) {
    const v = inv.values;
    const query = { staleDays: optInt(v, "stale-days", 1, 36500), top: optInt(v, "top", 1, 1000), limit: optInt(v, "limit", 1, 10000) };
    const r = await inv.api().call<KeysReport>("GET", "/v1/reports/keys", { query });
    if (inv.json) {
      printJson(r);
      return 0;
    }
    print(`Stale keys (not used for ${r.staleDays} days or more)`);
    print(
      r.stale.keys.length
        ? table(
            ["name", "type", "owner", "created", "last used", "uses", "idle days"],
            r.stale.keys.map((k) => [k.name, k.type, k.owner, k.createdAt, k.lastUsedAt ?? "never", k.uses, k.idleDays]),
          )
        : "none\n",
    );
    if (r.stale.truncated) note("more stale keys: raise --limit");
    print("");
    print("Keys past their cryptoperiod");
    print(
      r.overdue.keys.length
        ? table(
            ["name", "type", "rotation", "period days", "version", "version created", "due", "overdue days"],
            r.overdue.keys.map((k) => [
              k.name,
              k.type,
              k.mode,
              k.periodDays,
              k.currentVersion,
              k.currentVersionCreatedAt,
              k.dueAt,
              k.overdueDays,
            ]),
          )
        : "none\n",
    );
    if (r.overdue.truncated) note("more overdue keys: raise --limit");
    print("");
    print("Keys used by the most principals");
    print(
      r.mostPrincipals.length
        ? table(
            ["name", "principals", "uses", "last used"],
            r.mostPrincipals.map((k) => [k.name, k.principals, k.uses, k.lastUsedAt]),
          )
        : "none\n",
    );
    return 0;
  },
};

export const usageCommands: CommandSpec[] = [keysUsage];
export const reportCommands: CommandSpec[] = [reportKeys];
