// Dual control: protected operations wait for a second, distinct admin (or run inside another admin's authorization window).
import { randomUUID } from "node:crypto";
import type { Actor, AuditLog } from "../audit/audit-log.js";
import { audited, markAudited } from "../audit/operation.js";
import type { GovernanceConfig } from "../config/config.js";
import { fail, isStrongroomError, StrongroomError } from "../errors/registry.js";
import type { Store } from "../store/store.js";
import type { AuthCtx, Identity } from "./identity.js";
import { requireRole } from "./policy.js";

/** Operations that need a second admin when dual control is on. */
export const PROTECTED_ACTIONS = [
  "key.schedule-destroy",
  "key.revoke",
  "key.policy-change",
  "key.rotation-change",
  "key.export",
  "key.import",
  "kmip.destroy",
  "kmip.revoke",
  "cert.issue",
  "cert.revoke",
  "governance.change",
] as const;
export type ProtectedAction = (typeof PROTECTED_ACTIONS)[number];

type Executor = (ctx: AuthCtx, args: unknown) => Promise<unknown>;

export interface ApprovalView {
  id: string;
  action: string;
  target: string | null;
  requestedBy: string;
  createdAt: string;
  expiresAt: string;
  status: "pending" | "executed" | "failed" | "denied" | "expired";
  approvers: string[];
  quorum: number;
  result: unknown;
}

interface ApprovalRow {
  id: string;
  action: string;
  target: string | null;
  request: string;
  requested_by: string;
  requester: string;
  created_at: string;
  expires_at: string;
  status: ApprovalView["status"];
  approvers: string;
  decided_at: string | null;
  result: string | null;
}

const SETTINGS = "governance";

export class GovernanceService {
  private readonly executors = new Map<string, Executor>();
  private settings: GovernanceConfig;

  constructor(private readonly deps: { store: Store; audit: AuditLog; clock: () => Date; initial: GovernanceConfig }) {
    this.settings = { ...deps.initial };
  }

  /** Loads the stored settings (they win over the configuration file once the server has run). */
  async load(): Promise<void> {
    const row = await this.deps.store.get<{ value: string }>("SELECT value FROM settings WHERE name = $1", [SETTINGS]);
    if (row) this.settings = { ...this.deps.initial, ...(JSON.parse(row.value) as Partial<GovernanceConfig>) };
  }

  current(): GovernanceConfig {
    return { ...this.settings };
  }

  /** Registers how an approved request of `action` is carried out (the same service call, with the requester's identity). */
  register(action: ProtectedAction, execute: Executor): void {
    this.executors.set(action, execute);
  }

  private now(): string {
    return this.deps.clock().toISOString();
  }

  /**
   * Runs `execute` now, or — with dual control on — records an approval request and throws
   * `approval_required` (REST answers 202, KMIP Operation Pending). Call it after the caller's
   * own right to the operation has been checked, so only permitted requests can wait for approval.
   */
  async guard<T>(ctx: AuthCtx, action: ProtectedAction, args: unknown, target: string | null, execute: () => Promise<T>): Promise<T> {
    if (!this.settings.dualControl || ctx.approval) return execute();
    if (ctx.actor.role === "admin") {
      // Authorization window: opened by a *different* admin, protected operations run directly.
      const w = await this.deps.store.get<{ opened_by: string }>(
        "SELECT opened_by FROM approval_windows WHERE closes_at > $1 AND opened_by <> $2 ORDER BY closes_at DESC LIMIT 1",
        [this.now(), ctx.actor.cn],
      );
      if (w) return execute();
    }
    const id = randomUUID();
    const expires = new Date(this.deps.clock().getTime() + this.settings.approvalWindowMinutes * 60_000).toISOString();
    await audited(this.deps.audit, ctx, "approval.request", { name: target }, async (op) => {
      op.detail = { approval: id, action };
      await op.commit(this.deps.store, (tx) =>
        tx.run(
          `INSERT INTO approvals (id, action, target, request, requested_by, requester, created_at, expires_at, status, approvers)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending', $9)`,
          [
            id,
            action,
            target,
            JSON.stringify(args ?? null),
            ctx.actor.cn,
            JSON.stringify(ctx.actor),
            this.now(),
            expires,
            // The requester is the first party of the quorum (a client's KMIP Destroy then needs one admin).
            JSON.stringify([ctx.actor.cn]),
          ],
        ),
      );
    });
    const err = new StrongroomError("approval_required", { id, action, expiresAt: expires });
    // Already audited as approval.request: the caller's own wrapper must not record it as a failure.
    markAudited(err);
    throw err;
  }

  private view(r: ApprovalRow): ApprovalView {
    const status = r.status === "pending" && r.expires_at <= this.now() ? "expired" : r.status;
    return {
      id: r.id,
      action: r.action,
      target: r.target,
      requestedBy: r.requested_by,
      createdAt: r.created_at,
      expiresAt: r.expires_at,
      status,
      approvers: JSON.parse(r.approvers) as string[],
      quorum: this.settings.quorum,
      result: r.result ? JSON.parse(r.result) : null,
    };
  }

  async list(ctx: AuthCtx, status?: ApprovalView["status"]): Promise<ApprovalView[]> {
    return audited(this.deps.audit, ctx, "approval.list", {}, async () => {
      requireRole(ctx.actor, ["admin", "auditor"], "list approval requests");
      // Filter in SQL (pending = not decided and not expired) so that old requests cannot push live ones out of view.
      const now = this.now();
      const rows =
        status === "pending"
          ? await this.deps.store.all<ApprovalRow>(
              "SELECT * FROM approvals WHERE status = 'pending' AND expires_at > $1 ORDER BY created_at DESC LIMIT 500",
              [now],
            )
          : status === "expired"
            ? await this.deps.store.all<ApprovalRow>(
                "SELECT * FROM approvals WHERE status = 'pending' AND expires_at <= $1 ORDER BY created_at DESC LIMIT 500",
                [now],
              )
            : status
              ? await this.deps.store.all<ApprovalRow>("SELECT * FROM approvals WHERE status = $1 ORDER BY created_at DESC LIMIT 500", [
                  status,
                ])
              : await this.deps.store.all<ApprovalRow>("SELECT * FROM approvals ORDER BY created_at DESC LIMIT 500");
      return rows.map((r) => this.view(r));
    });
  }

  private async load1(id: string): Promise<ApprovalRow> {
    const r = await this.deps.store.get<ApprovalRow>("SELECT * FROM approvals WHERE id = $1", [id]);
    if (!r) return fail("approval_not_found", { id: id.slice(0, 64) });
    return r;
  }

  /**
   * Approves as a distinct admin. Approvals are counted by CN, so the same person approving twice
   * (or with a second certificate of the same CN) does not count. At quorum the request executes
   * with the requester's identity; its outcome is stored with the approval.
   */
  async approve(ctx: AuthCtx, id: string): Promise<ApprovalView> {
    let ready: ApprovalRow | null = null;
    const view = await audited(this.deps.audit, ctx, "approval.approve", {}, async (op) => {
      requireRole(ctx.actor, ["admin"], "approve requests");
      op.detail = { approval: id };
      return op.commit(this.deps.store, async (tx) => {
        const r = await tx.get<ApprovalRow>("SELECT * FROM approvals WHERE id = $1", [id]);
        if (!r) return fail("approval_not_found", { id: id.slice(0, 64) });
        op.target = { name: r.target };
        const v = this.view(r);
        if (v.status !== "pending") fail("approval_closed", { id, status: v.status });
        if (r.requested_by === ctx.actor.cn) fail("forbidden", { detail: "the requester cannot approve its own request" });
        if (v.approvers.includes(ctx.actor.cn)) fail("forbidden", { detail: `${ctx.actor.cn} has already approved this request` });
        const approvers = [...v.approvers, ctx.actor.cn];
        await tx.run("UPDATE approvals SET approvers = $1 WHERE id = $2", [JSON.stringify(approvers), id]);
        if (approvers.length >= this.settings.quorum) {
          await tx.run("UPDATE approvals SET status = 'executing', decided_at = $1 WHERE id = $2", [this.now(), id]);
          ready = { ...r, approvers: JSON.stringify(approvers) };
        }
        return { ...v, approvers };
      });
    });
    if (!ready) return view;
    return this.execute(ready);
  }

  private async execute(r: ApprovalRow): Promise<ApprovalView> {
    const exec = this.executors.get(r.action);
    const requester = JSON.parse(r.requester) as Identity;
    const ctx: AuthCtx = { actor: requester, requestId: `approval-${r.id}`, approval: r.id };
    let status: ApprovalView["status"] = "executed";
    let result: unknown;
    try {
      if (!exec) throw new StrongroomError("internal", { requestId: ctx.requestId });
      // The requester's certificate must still be valid when the request finally runs.
      const cert = await this.deps.store.get<{ status: string; not_after: string }>(
        "SELECT status, not_after FROM certificates WHERE serial = $1",
        [requester.serial],
      );
      if (cert?.status !== "valid") throw new StrongroomError("cert_revoked");
      if (new Date(cert.not_after) < this.deps.clock()) throw new StrongroomError("cert_expired");
      result = await exec(ctx, JSON.parse(r.request));
    } catch (e) {
      status = "failed";
      result = { error: isStrongroomError(e) ? { code: e.code, message: e.message } : { code: "internal", message: "internal error" } };
    }
    await this.deps.store.atomic((tx) =>
      tx.run("UPDATE approvals SET status = $1, result = $2 WHERE id = $3", [status, JSON.stringify(summarize(result)), r.id]),
    );
    return this.view(await this.load1(r.id));
  }

  async deny(ctx: AuthCtx, id: string): Promise<ApprovalView> {
    return audited(this.deps.audit, ctx, "approval.deny", {}, async (op) => {
      requireRole(ctx.actor, ["admin"], "deny requests");
      op.detail = { approval: id };
      await op.commit(this.deps.store, async (tx) => {
        const r = await tx.get<ApprovalRow>("SELECT * FROM approvals WHERE id = $1", [id]);
        if (!r) return fail("approval_not_found", { id: id.slice(0, 64) });
        op.target = { name: r.target };
        const v = this.view(r);
        if (v.status !== "pending") fail("approval_closed", { id, status: v.status });
        await tx.run("UPDATE approvals SET status = 'denied', decided_at = $1 WHERE id = $2", [this.now(), id]);
      });
      return this.view(await this.load1(id));
    });
  }

  /** Opens an authorization window: for `minutes`, protected operations by *other* admins run directly. */
  async openWindow(ctx: AuthCtx, minutes: number): Promise<{ openedBy: string; closesAt: string }> {
    return audited(this.deps.audit, ctx, "approval.window", {}, async (op) => {
      requireRole(ctx.actor, ["admin"], "open an authorization window");
      const closesAt = new Date(this.deps.clock().getTime() + minutes * 60_000).toISOString();
      op.detail = { minutes, closesAt };
      await op.commit(this.deps.store, (tx) =>
        tx.run("INSERT INTO approval_windows (id, opened_by, opened_at, closes_at) VALUES ($1, $2, $3, $4)", [
          randomUUID(),
          ctx.actor.cn,
          this.now(),
          closesAt,
        ]),
      );
      return { openedBy: ctx.actor.cn, closesAt };
    });
  }

  /** Changes the governance settings (itself protected while dual control is on, including turning it off). */
  async change(ctx: AuthCtx, patch: Partial<GovernanceConfig>): Promise<GovernanceConfig> {
    requireRole(ctx.actor, ["admin"], "change governance settings");
    return this.guard(ctx, "governance.change", patch, "governance", () =>
      audited(this.deps.audit, ctx, "governance.change", { name: "governance" }, async (op) => {
        op.detail = { ...patch };
        const next = { ...this.settings, ...patch };
        await op.commit(this.deps.store, async (tx) => {
          await tx.run("DELETE FROM settings WHERE name = $1", [SETTINGS]);
          await tx.run("INSERT INTO settings (name, value) VALUES ($1, $2)", [SETTINGS, JSON.stringify(next)]);
        });
        this.settings = next;
        return this.current();
      }),
    );
  }
}

/** What an approval keeps of an executed call's result: no key material (exports keep only their shape). */
function summarize(result: unknown): unknown {
  if (result && typeof result === "object" && !Array.isArray(result)) {
    const r = result as Record<string, unknown>;
    const keep: Record<string, unknown> = {};
    // An approved export keeps its wrapped blob (safe to store: it is wrapped) so the requester can collect it.
    for (const k of [
      "name",
      "state",
      "currentVersion",
      "serial",
      "certificate",
      "error",
      "dualControl",
      "quorum",
      "approvalWindowMinutes",
      "pciMode",
      "version",
      "format",
      "scheme",
      "wrappingKey",
      "wrapped",
    ]) {
      if (k in r) keep[k] = r[k];
    }
    return keep;
  }
  return null;
}

export type { Actor };
