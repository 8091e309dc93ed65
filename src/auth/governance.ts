// Dual control: protected operations wait for a second, distinct admin (or run inside another admin's authorization window).
import { createHash, randomUUID } from "node:crypto";
import type { Actor, AuditLog } from "../audit/audit-log.js";
import { audited, markAudited } from "../audit/operation.js";
import type { GovernanceConfig } from "../config/config.js";
import { fail, isStrongroomError, StrongroomError } from "../errors/registry.js";
import type { Store } from "../store/store.js";
import type { AuthCtx, Identity } from "./identity.js";
import { requireRole, SIGNED_IN_ROLES } from "./policy.js";

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

/**
 * What an approver sees: exactly what the stored request will do (role, CN/OU, fingerprints, before/after of
 * changed fields), derived from the stored request and the current state — never material or secrets.
 */
export type ExecutionSummary = Record<string, unknown>;
/** Derives the execution summary of a stored request (also re-derived just before it executes). */
type Describer = (ctx: AuthCtx, args: unknown) => Promise<ExecutionSummary>;

/** JSON with object keys sorted at every level: the same content always gives the same bytes (and digest). */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(",")}]`;
  if (v && typeof v === "object")
    return `{${Object.keys(v)
      .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((v as Record<string, unknown>)[k])}`)
      .join(",")}}`;
  return JSON.stringify(v ?? null);
}

/**
 * The principal a certificate acts for: the CN of the person on whose request it was issued, transitively (an
 * identity issued at admin X's request counts as X; init's bundles are their own principals). Quorums, the
 * no-self-approval rule and authorization windows compare principals, so one person cannot reach a quorum with
 * identities they obtained. Certificates from before the column existed count as their issuer (one level).
 */
export async function principalOf(db: Pick<Store, "get">, actor: Pick<Identity, "cn" | "serial">): Promise<string> {
  if (!actor.serial) return actor.cn;
  const r = await db.get<{ cn: string; principal: string | null; issued_by: string }>(
    "SELECT cn, principal, issued_by FROM certificates WHERE serial = $1",
    [actor.serial],
  );
  if (!r) return actor.cn;
  return r.principal ?? (r.issued_by === "init" ? r.cn : r.issued_by);
}

/** The digest an approver sends back: SHA-256 over the approval's id, action, target, requester and summary. */
export function approvalDigest(a: { id: string; action: string; target: string | null; principal: string; summary: string }): string {
  const h = createHash("sha256")
    .update(canonicalJson({ id: a.id, action: a.action, target: a.target, principal: a.principal, summary: JSON.parse(a.summary) }))
    .digest("hex");
  return `sha256:${h}`;
}

export interface ApprovalView {
  id: string;
  action: string;
  target: string | null;
  requestedBy: string;
  /** The requester's principal (see principalOf): who the request counts as. */
  principal: string;
  /** Exactly what executes at quorum (null for requests stored before summaries existed: they cannot be approved). */
  summary: ExecutionSummary | null;
  /** What an approver must send back to approve this exact content. */
  digest: string | null;
  createdAt: string;
  expiresAt: string;
  status: "pending" | "executed" | "failed" | "denied" | "expired";
  /** Principals counted toward the quorum (the requester's first). */
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
  principal: string | null;
  summary: string | null;
  digest: string | null;
}

const SETTINGS = "governance";

export class GovernanceService {
  private readonly executors = new Map<string, Executor>();
  private readonly describers = new Map<string, Describer>();
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

  /** The settings in force, as a caller reads them (`GET /v1/sys/governance`): every signed-in role, audited. */
  read(ctx: AuthCtx): Promise<GovernanceConfig> {
    return audited(this.deps.audit, ctx, "governance.read", {}, async () => {
      requireRole(ctx.actor, SIGNED_IN_ROLES, "read governance settings");
      return this.current();
    });
  }

  /**
   * Registers how an approved request of `action` is carried out (the same service call, with the requester's
   * identity) and how its execution summary is derived from the stored request.
   */
  register(action: ProtectedAction, execute: Executor, describe: Describer): void {
    this.executors.set(action, execute);
    this.describers.set(action, describe);
  }

  private async describe(ctx: AuthCtx, action: string, request: string): Promise<ExecutionSummary> {
    const d = this.describers.get(action);
    if (!d) throw new StrongroomError("internal", { requestId: ctx.requestId });
    return d(ctx, JSON.parse(request));
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
    const principal = await principalOf(this.deps.store, ctx.actor);
    if (ctx.actor.role === "admin") {
      // Authorization window: opened by a *different* person (principal), protected operations run directly.
      const w = await this.deps.store.get<{ opened_by: string }>(
        "SELECT opened_by FROM approval_windows WHERE closes_at > $1 AND opened_by <> $2 ORDER BY closes_at DESC LIMIT 1",
        [this.now(), principal],
      );
      if (w) return execute();
    }
    // What is described is what is stored is what executes: the summary comes from the stored JSON itself.
    const request = JSON.stringify(args ?? null);
    const summary = canonicalJson(await this.describe(ctx, action, request));
    const id = randomUUID();
    const digest = approvalDigest({ id, action, target, principal, summary });
    const expires = new Date(this.deps.clock().getTime() + this.settings.approvalWindowMinutes * 60_000).toISOString();
    await audited(this.deps.audit, ctx, "approval.request", { name: target }, async (op) => {
      op.detail = { approval: id, action };
      await op.commit(this.deps.store, (tx) =>
        tx.run(
          `INSERT INTO approvals (id, action, target, request, requested_by, requester, created_at, expires_at, status, approvers,
                                  principal, summary, digest)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending', $9, $10, $11, $12)`,
          [
            id,
            action,
            target,
            request,
            ctx.actor.cn,
            JSON.stringify(ctx.actor),
            this.now(),
            expires,
            // The requester is the first party of the quorum (a client's KMIP Destroy then needs one admin).
            JSON.stringify([principal]),
            principal,
            summary,
            digest,
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
      principal: r.principal ?? r.requested_by,
      summary: r.summary ? (JSON.parse(r.summary) as ExecutionSummary) : null,
      digest: r.digest,
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
   * Approves as a distinct person. The approver sends the digest of the content it reviewed (GET /v1/approvals):
   * a request whose content differs is refused. Approvals are counted by principal, so the same person approving
   * twice — with a second certificate of the same CN, or with an identity issued at their request — does not
   * count. At quorum the request executes with the requester's identity; its outcome is stored with the approval.
   */
  async approve(ctx: AuthCtx, id: string, digest: string | undefined): Promise<ApprovalView> {
    let ready: ApprovalRow | null = null;
    const view = await audited(this.deps.audit, ctx, "approval.approve", {}, async (op) => {
      requireRole(ctx.actor, ["admin"], "approve requests");
      op.detail = { approval: id };
      const principal = await principalOf(this.deps.store, ctx.actor);
      return op.commit(this.deps.store, async (tx) => {
        const r = await tx.get<ApprovalRow>("SELECT * FROM approvals WHERE id = $1", [id]);
        if (!r) return fail("approval_not_found", { id: id.slice(0, 64) });
        op.target = { name: r.target };
        const v = this.view(r);
        if (v.status !== "pending") fail("approval_closed", { id, status: v.status });
        if (!r.digest)
          fail("approval_digest_mismatch", { id, detail: "it was stored without a summary (before an upgrade); request it again" });
        if (digest === undefined) fail("approval_digest_required", { id });
        if (digest !== r.digest) fail("approval_digest_mismatch", { id, detail: "list it again and review what it will do" });
        if ((r.principal ?? r.requested_by) === principal)
          fail("forbidden", { detail: `the requester cannot approve its own request (${ctx.actor.cn} acts for ${principal})` });
        if (v.approvers.includes(principal))
          fail("forbidden", { detail: `${principal} has already approved this request (${ctx.actor.cn} acts for ${principal})` });
        op.detail = { approval: id, principal };
        const approvers = [...v.approvers, principal];
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
      // The approvers approved a summary that includes the state it changes (before/after, versions): if that
      // state moved meanwhile, executing would do something nobody approved.
      if (canonicalJson(await this.describe(ctx, r.action, r.request)) !== r.summary)
        throw new StrongroomError("approval_stale", { id: r.id });
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

  /**
   * Opens an authorization window: for `minutes`, protected operations by admins acting for *other* principals run
   * directly (the window records the opener's principal, so identities issued at the opener's request cannot use it).
   */
  async openWindow(ctx: AuthCtx, minutes: number): Promise<{ openedBy: string; principal: string; closesAt: string }> {
    return audited(this.deps.audit, ctx, "approval.window", {}, async (op) => {
      requireRole(ctx.actor, ["admin"], "open an authorization window");
      const closesAt = new Date(this.deps.clock().getTime() + minutes * 60_000).toISOString();
      const principal = await principalOf(this.deps.store, ctx.actor);
      op.detail = { minutes, closesAt, principal };
      await op.commit(this.deps.store, (tx) =>
        tx.run("INSERT INTO approval_windows (id, opened_by, opened_at, closes_at) VALUES ($1, $2, $3, $4)", [
          randomUUID(),
          principal,
          this.now(),
          closesAt,
        ]),
      );
      return { openedBy: ctx.actor.cn, principal, closesAt };
    });
  }

  /** The execution summary of a governance change: each field's value before and after. */
  async describeChange(_ctx: AuthCtx, patch: Partial<GovernanceConfig>): Promise<ExecutionSummary> {
    const before: Record<string, unknown> = {};
    const after: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(patch ?? {})) {
      if (v === undefined) continue;
      before[k] = (this.settings as unknown as Record<string, unknown>)[k];
      after[k] = v;
    }
    return { change: "governance settings", before, after };
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
