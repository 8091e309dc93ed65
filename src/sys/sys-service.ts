// System operations: unseal, status — audited like everything else, never recording shares or passphrases.
import type { AuditLog } from "../audit/audit-log.js";
import { audited } from "../audit/operation.js";
import type { AuthCtx } from "../auth/identity.js";
import { requireRole, SIGNED_IN_ROLES } from "../auth/policy.js";
import { fail, isStrongroomError } from "../errors/registry.js";
import type { Logger } from "../logger.js";
import type { Barrier, UnsealStatus } from "../seal/barrier.js";

export class SysService {
  readonly startedAt: Date;
  constructor(private readonly deps: { barrier: Barrier; audit: AuditLog; clock: () => Date; node: string; version: string; log: Logger }) {
    this.startedAt = deps.clock();
  }

  /** Whether the barrier is sealed (listeners then serve only the routes marked to answer while sealed). */
  get sealed(): boolean {
    return this.deps.barrier.sealed;
  }

  /** Liveness for `GET /v1/sys/health`: needs no identity and is not audited (monitors poll it). */
  health(): { status: "ok"; sealed: boolean; version: string; node: string } {
    return { status: "ok", sealed: this.deps.barrier.status().sealed, version: this.deps.version, node: this.deps.node };
  }

  /** Hands out a description of the API (`GET /v1/openapi.json`, built by the transport) to signed-in roles, audited. */
  describeApi<T>(ctx: AuthCtx, doc: T): Promise<T> {
    return audited(this.deps.audit, ctx, "sys.openapi", {}, async () => {
      requireRole(ctx.actor, SIGNED_IN_ROLES, "read the API description");
      return doc;
    });
  }

  async unseal(ctx: AuthCtx, req: { share?: string; passphrase?: string }): Promise<UnsealStatus> {
    return audited(this.deps.audit, ctx, "sys.unseal", {}, async (op) => {
      requireRole(ctx.actor, SIGNED_IN_ROLES, "submit unseal shares");
      if ((req.share === undefined) === (req.passphrase === undefined))
        fail("validation", { detail: "give exactly one of share, passphrase" });
      // The log says who submitted and how far the unseal is, never the share or passphrase (nor its length).
      const who = { seal: this.deps.barrier.config.type, cn: ctx.actor.cn };
      let status: UnsealStatus;
      try {
        status =
          req.share !== undefined
            ? await this.deps.barrier.submitShare(req.share)
            : await this.deps.barrier.submitPassphrase(req.passphrase as string);
      } catch (e) {
        this.deps.log.warn("unseal attempt refused", { ...who, code: isStrongroomError(e) ? e.code : "internal" });
        throw e;
      }
      if (status.sealed)
        this.deps.log.info("unseal share accepted: waiting for more", {
          ...who,
          sharesSubmitted: status.progress,
          sharesNeeded: status.threshold,
        });
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
