// Audit query service: reading and verifying the event chain, for auditors only, each call itself an audited event.
import type { AuthCtx } from "../auth/identity.js";
import { requireRole } from "../auth/policy.js";
import type { AuditEvent, AuditFilter, AuditLog, VerifyResult } from "./audit-log.js";
import { audited } from "./operation.js";

/** Who may read the audit log (docs/security.md, "Role matrix"): auditors — admins act, auditors check them. */
const AUDIT_READERS = ["auditor"] as const;

export class AuditService {
  constructor(private readonly deps: { audit: AuditLog }) {}

  /** Events matching `filter` in sequence order, one page at a time (`next` is the `after` of the next page). */
  query(ctx: AuthCtx, filter: AuditFilter): Promise<{ events: AuditEvent[]; next: number | null }> {
    return audited(this.deps.audit, ctx, "audit.query", {}, async () => {
      requireRole(ctx.actor, [...AUDIT_READERS], "query the audit log");
      return this.deps.audit.query(filter);
    });
  }

  /** Recomputes the HMAC chain and reports every broken range. */
  verify(ctx: AuthCtx): Promise<VerifyResult> {
    return audited(this.deps.audit, ctx, "audit.verify", {}, async (op) => {
      requireRole(ctx.actor, [...AUDIT_READERS], "verify the audit log");
      const r = await this.deps.audit.verify();
      // The ranges themselves are in the reply; the event keeps the summary (its detail is bounded).
      op.detail = { ok: r.ok, checked: r.checked, firstBroken: r.firstBroken, brokenRanges: r.broken.length + r.omitted };
      return r;
    });
  }
}
