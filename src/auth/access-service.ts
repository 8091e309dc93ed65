// Access service for the listeners: who a certificate is, and the audit events of refusals made before any service runs.
import type { Actor, AuditLog } from "../audit/audit-log.js";
import { audited, wasAudited } from "../audit/operation.js";
import type { StrongroomError } from "../errors/registry.js";
import type { Store } from "../store/store.js";
import { type Identity, identify, type PeerCertificate } from "./identity.js";

/** A refusal by a listener: a handshake, an address outside an allowlist, a connection over a limit, a bad frame. */
export interface Refusal {
  actor: Actor;
  action: string;
  reason: string;
  /** "denied" for a refused caller (the default); "error" for input that could not be read. */
  outcome?: "denied" | "error";
  detail?: Record<string, unknown>;
}

/**
 * What HTTPS and KMIP listeners need beyond the domain services: identity lookup and the audit of what they refuse.
 * Transports never touch the store or the audit log themselves (docs/architecture.md, "One service API").
 */
export class AccessService {
  constructor(private readonly deps: { store: Pick<Store, "cachedGet">; audit: AuditLog; clock: () => Date }) {}

  /** The identity of a verified peer certificate, checked against the certificate table on every request. */
  identify(peer: PeerCertificate, address: string | null): Promise<Identity> {
    return identify(this.deps.store, peer, address, this.deps.clock());
  }

  /** Records a refusal that belongs to no request (no identity yet): group-committed like every read. */
  recordRefusal(r: Refusal): Promise<void> {
    return this.deps.audit.record({ actor: r.actor, action: r.action, outcome: r.outcome ?? "denied", reason: r.reason, detail: r.detail });
  }

  /**
   * Refuses a request: records `err` as the event of `action` (outcome denied or error by its code) and throws it,
   * marked as audited so that the transport does not record it a second time.
   */
  async refuse(ctx: { actor: Actor; requestId: string }, action: string, err: StrongroomError): Promise<never> {
    return audited(this.deps.audit, ctx, action, {}, async () => {
      throw err;
    });
  }

  /**
   * Records the failure of a request the services did not audit themselves (route not found, validation, sealed,
   * unauthenticated …) as `reported`, the error the caller is answered with; `cause` is what was thrown, and one a
   * service already recorded is not recorded again. Never throws.
   */
  async recordFailure(ctx: { actor: Actor; requestId: string }, action: string, cause: unknown, reported: StrongroomError): Promise<void> {
    if (wasAudited(cause)) return;
    await this.refuse(ctx, action, reported).catch(() => undefined);
  }
}
