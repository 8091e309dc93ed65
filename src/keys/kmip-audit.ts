// Authorization and audit of KMIP requests in the service layer: one event per batch item, per undone batch, per unreadable message.
import type { AuditLog } from "../audit/audit-log.js";
import { audited, type OpScope } from "../audit/operation.js";
import type { AuthCtx } from "../auth/identity.js";
import { authorizeKmipOperation } from "../auth/policy.js";
import { StrongroomError } from "../errors/registry.js";
import type { ObjectService, UndoJournal } from "./object-service.js";

const kebab = (s: string) => s.replace(/([a-z0-9])([A-Z])/g, "$1-$2").toLowerCase();

/**
 * What the KMIP transport needs to authorize and record its requests without touching the audit log itself
 * (docs/architecture.md, "One service API"): each batch item is its own audited operation (`kmip.<operation>`),
 * whose scope the object services commit their changes through.
 */
export class KmipAuditService {
  constructor(private readonly deps: { audit: AuditLog; objects: Pick<ObjectService, "undo"> }) {}

  /**
   * Runs one batch item as one audited event `kmip.<operation>`: refused when the operation is not supported
   * (`run` is null) or the caller's role may not run it at all (auth/policy.ts, KMIP_OPERATION_ROLES), else `run`
   * with the item's audit scope. `operation` is the name as the operation table spells it ("CreateKeyPair").
   */
  item<T>(ctx: AuthCtx, operation: string, run: ((op: OpScope) => Promise<T>) | null): Promise<T> {
    return audited(this.deps.audit, ctx, `kmip.${kebab(operation)}`, {}, async (op) => {
      if (!run) throw new StrongroomError("operation_not_supported", { operation });
      authorizeKmipOperation(ctx.actor, operation);
      return run(op);
    });
  }

  /** Reverts a batch run with Batch Error Continuation Option Undo (ObjectService.undoable), as one event `kmip.undo`. */
  undo(ctx: AuthCtx, journal: UndoJournal): Promise<void> {
    return audited(this.deps.audit, ctx, "kmip.undo", {}, (op) => this.deps.objects.undo(op, journal));
  }

  /**
   * Records a request message that could not be read (`kmip.message`): outcome error, or denied for a refusal of the
   * caller; anything but a StrongroomError is recorded as an internal error. Never throws.
   */
  async unreadable(ctx: AuthCtx, err: unknown): Promise<void> {
    await audited(this.deps.audit, ctx, "kmip.message", {}, async () => {
      throw err;
    }).catch(() => undefined);
  }
}
