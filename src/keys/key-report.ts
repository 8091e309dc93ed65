// The keys report (admins and auditors): stale keys, keys past their cryptoperiod, keys used by the most principals.
import type { AuditLog } from "../audit/audit-log.js";
import { audited } from "../audit/operation.js";
import type { AuthCtx } from "../auth/identity.js";
import { requireRole } from "../auth/policy.js";
import type { Store } from "../store/store.js";
import type { Rotation } from "./key-model.js";
import type { UsageTracker } from "./usage-tracker.js";

const DAY = 86_400_000;

export interface KeysReportRequest {
  /** A key is stale when it has not been used for this many days (default 90). */
  staleDays?: number;
  /** How many keys the most-principals list shows (default 10). */
  top?: number;
  /** Most keys listed as stale or overdue (default 1000). */
  limit?: number;
}

export interface StaleKey {
  name: string;
  type: string;
  owner: string;
  createdAt: string;
  /** null: never used since usage tracking began. */
  lastUsedAt: string | null;
  uses: number;
  idleDays: number;
}

export interface OverdueKey {
  name: string;
  type: string;
  mode: "auto" | "manual";
  periodDays: number;
  currentVersion: number;
  currentVersionCreatedAt: string;
  dueAt: string;
  overdueDays: number;
}

export interface BusyKey {
  name: string;
  principals: number;
  uses: number;
  lastUsedAt: string;
}

export interface KeysReport {
  generatedAt: string;
  staleDays: number;
  stale: { keys: StaleKey[]; truncated: boolean };
  overdue: { keys: OverdueKey[]; truncated: boolean };
  mostPrincipals: BusyKey[];
}

export class KeyReports {
  constructor(private readonly deps: { store: Store; audit: AuditLog; clock: () => Date; usage: UsageTracker }) {}

  /**
   * Live keys (not destroyed, not scheduled for destruction) that are:
   * - stale: not used for `staleDays` days — counted from the last use, or from creation for a key never used;
   * - overdue: past their cryptoperiod — auto rotation whose rollover is due and has not run, or manual rotation
   *   with a `periodDays` whose current version is older than that;
   * and the `top` keys by distinct principals that used them.
   */
  async keys(ctx: AuthCtx, req: KeysReportRequest): Promise<KeysReport> {
    const staleDays = req.staleDays ?? 90;
    return audited(this.deps.audit, ctx, "report.keys", {}, async (op) => {
      requireRole(ctx.actor, ["admin", "auditor"], "read key reports");
      op.detail = { staleDays };
      await this.deps.usage.flush().catch(() => undefined);
      const { store } = this.deps;
      const now = this.deps.clock();
      const limit = req.limit ?? 1000;
      const days = (from: string) => Math.floor((now.getTime() - Date.parse(from)) / DAY);

      const staleRows = await store.all<{
        name: string;
        type: string;
        owner: string;
        created_at: string;
        last_used_at: string | null;
        uses: number | string | null;
      }>(
        `SELECT k.name, k.type, k.owner, k.created_at, u.last_used_at, u.uses
           FROM keys k
           LEFT JOIN (SELECT name, MAX(last_used_at) AS last_used_at, SUM(count) AS uses FROM key_usage GROUP BY name) u ON u.name = k.name
          WHERE k.destroyed_at IS NULL AND k.deletion_at IS NULL AND COALESCE(u.last_used_at, k.created_at) < $1
          ORDER BY COALESCE(u.last_used_at, k.created_at), k.name
          LIMIT $2`,
        [new Date(now.getTime() - staleDays * DAY).toISOString(), limit + 1],
      );
      const stale: StaleKey[] = staleRows.slice(0, limit).map((r) => ({
        name: r.name,
        type: r.type,
        owner: r.owner,
        createdAt: r.created_at,
        lastUsedAt: r.last_used_at,
        uses: Number(r.uses ?? 0),
        idleDays: days(r.last_used_at ?? r.created_at),
      }));

      // Auto rotation: the scheduler's own due date. Manual rotation: a periodDays is a cryptoperiod to report on,
      // never acted on (rotation JSON is filtered in code: the text match only narrows the scan).
      const rotRows = await store.all<{
        name: string;
        type: string;
        rotation: string;
        current_version: number;
        next_rotation_at: string | null;
        created_at: string;
      }>(
        `SELECT k.name, k.type, k.rotation, k.current_version, k.next_rotation_at, o.created_at
           FROM keys k JOIN objects o ON o.name = k.name AND o.version = k.current_version AND o.is_primary = 1
          WHERE k.destroyed_at IS NULL AND k.deletion_at IS NULL
            AND ((k.next_rotation_at IS NOT NULL AND k.next_rotation_at <= $1)
              OR (k.next_rotation_at IS NULL AND k.rotation LIKE '%periodDays%'))`,
        [now.toISOString()],
      );
      const overdue: OverdueKey[] = [];
      for (const r of rotRows) {
        const rot = JSON.parse(r.rotation) as Rotation;
        if (!rot.periodDays || (rot.mode !== "auto" && rot.mode !== "manual")) continue;
        const dueAt =
          rot.mode === "auto" && r.next_rotation_at
            ? r.next_rotation_at
            : new Date(Date.parse(r.created_at) + rot.periodDays * DAY).toISOString();
        if (dueAt > now.toISOString()) continue;
        overdue.push({
          name: r.name,
          type: r.type,
          mode: rot.mode,
          periodDays: rot.periodDays,
          currentVersion: r.current_version,
          currentVersionCreatedAt: r.created_at,
          dueAt,
          overdueDays: days(dueAt),
        });
      }
      overdue.sort((a, b) => a.dueAt.localeCompare(b.dueAt) || a.name.localeCompare(b.name));

      const busy = await store.all<{ name: string; principals: number | string; uses: number | string; last_used_at: string }>(
        `SELECT u.name, COUNT(DISTINCT u.principal) AS principals, SUM(u.count) AS uses, MAX(u.last_used_at) AS last_used_at
           FROM key_usage u JOIN keys k ON k.name = u.name
          WHERE k.destroyed_at IS NULL AND k.deletion_at IS NULL
          GROUP BY u.name
          ORDER BY COUNT(DISTINCT u.principal) DESC, SUM(u.count) DESC, u.name
          LIMIT $1`,
        [req.top ?? 10],
      );
      op.detail = { staleDays, stale: stale.length, overdue: overdue.length };
      return {
        generatedAt: now.toISOString(),
        staleDays,
        stale: { keys: stale, truncated: staleRows.length > limit },
        overdue: { keys: overdue.slice(0, limit), truncated: overdue.length > limit },
        mostPrincipals: busy.map((b) => ({
          name: b.name,
          principals: Number(b.principals),
          uses: Number(b.uses),
          lastUsedAt: b.last_used_at,
        })),
      };
    });
  }
}
