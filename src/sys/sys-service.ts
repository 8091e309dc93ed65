// System operations: unseal, status — audited like everything else, never recording shares or passphrases.
import type { AuditLog } from "../audit/audit-log.js";
import { audited } from "../audit/operation.js";
import type { AuthCtx } from "../auth/identity.js";
import { requireRole, SIGNED_IN_ROLES } from "../auth/policy.js";
import { fail } from "../errors/registry.js";
import type { Barrier, UnsealStatus } from "../seal/barrier.js";

export class SysService {
  readonly startedAt: Date;
  constructor(private readonly deps: { barrier: Barrier; audit: AuditLog; clock: () => Date; node: string; version: string }) {
    this.startedAt = deps.clock();
  }

  async unseal(ctx: AuthCtx, req: { share?: string; passphrase?: string }): Promise<UnsealStatus> {
    return audited(this.deps.audit, ctx, "sys.unseal", {}, async (op) => {
      requireRole(ctx.actor, SIGNED_IN_ROLES, "submit unseal shares");
      if ((req.share === undefined) === (req.passphrase === undefined))
        fail("validation", { detail: "give exactly one of share, passphrase" });
      const status =
        req.share !== undefined
          ? await this.deps.barrier.submitShare(req.share)
          : await this.deps.barrier.submitPassphrase(req.passphrase as string);
      op.detail = { progress: status.progress, threshold: status.threshold, sealed: status.sealed };
      return status;
    });
  }

  async status(ctx: AuthCtx) {
    return audited(this.deps.audit, ctx, "sys.status", {}, async () => {
      requireRole(ctx.actor, SIGNED_IN_ROLES, "read the server status");
      return {
        node: this.deps.node,
        version: this.deps.version,
        identity: { cn: ctx.actor.cn, ou: ctx.actor.ou, role: ctx.actor.role },
        uptimeSeconds: Math.floor((this.deps.clock().getTime() - this.startedAt.getTime()) / 1000),
        seal: this.deps.barrier.status(),
      };
    });
  }
}
