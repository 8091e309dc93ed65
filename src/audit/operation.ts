// Runs one service operation so that exactly one audit event records it: success, denial or error.
import { isStrongroomError } from "../errors/registry.js";
import type { Store, Tx } from "../store/store.js";
import type { Actor, AuditInput, AuditLog } from "./audit-log.js";

/** Who asks and under which request id; every service call takes one. */
export interface Ctx {
  actor: Actor;
  requestId: string;
}

const AUDITED = Symbol("strongroom.audited");

/** Error codes that are refusals of the caller (outcome "denied"), not failures. */
const DENIALS = new Set<string>([
  "forbidden",
  "unauthenticated",
  "cert_revoked",
  "cert_unknown",
  "cert_expired",
  "usage_not_permitted",
  "usage_limits_exhausted",
  "pci_cleartext_refused",
]);

/** True when a service already recorded this error's audit event (transports must not record it again). */
export const wasAudited = (e: unknown): boolean => typeof e === "object" && e !== null && AUDITED in e;

/** Marks an error as already audited (e.g. a dual-control request, recorded as approval.request). */
export function markAudited(e: unknown): void {
  if (typeof e === "object" && e !== null && !(AUDITED in e)) Object.defineProperty(e, AUDITED, { value: true });
}

export class OpScope {
  target: { name?: string | null; version?: number | null };
  detail: Record<string, unknown> | undefined;
  /** Uses per key version when one request used several (a batch); otherwise `target.version` was used once. */
  uses: Map<number, number> | undefined;
  committed = false;
  constructor(
    private readonly audit: AuditLog,
    private readonly ctx: Ctx,
    private readonly action: string,
    target: { name?: string | null; version?: number | null },
  ) {
    this.target = { ...target };
  }

  event(outcome: AuditInput["outcome"], reason?: string): AuditInput {
    return {
      actor: this.ctx.actor,
      action: this.action,
      target: this.target,
      outcome,
      reason,
      requestId: this.ctx.requestId,
      detail: this.detail,
    };
  }

  /** Applies a change and appends its success event in the same transaction. */
  async commit<T>(store: Store, fn: (tx: Tx) => Promise<T>): Promise<T> {
    // One event per operation: a second change in the same operation (a Get that charges its wrapping key's Usage
    // Limits and then marks the object served) commits without appending the event again.
    const first = !this.committed;
    const result = await store.atomic(async (tx) => {
      const value = await fn(tx);
      if (first) await this.audit.append(tx, this.event("success"));
      return value;
    });
    this.committed = true;
    return result;
  }
}

/** Told of every successful operation (after its event is durable); must be cheap and must not throw. */
export type SuccessObserver = (actor: Actor, action: string, op: OpScope) => void;

const observers = new WeakMap<AuditLog, SuccessObserver>();

/** Sets the success observer of the operations audited by `audit` (one per app: the key usage counters). */
export function observeSuccess(audit: AuditLog, fn: SuccessObserver): void {
  observers.set(audit, fn);
}

export async function audited<T>(
  audit: AuditLog,
  ctx: Ctx,
  action: string,
  target: { name?: string | null; version?: number | null },
  fn: (op: OpScope) => Promise<T>,
): Promise<T> {
  const op = new OpScope(audit, ctx, action, target);
  let result: T;
  try {
    result = await fn(op);
  } catch (e) {
    if (!wasAudited(e)) {
      // A concealed refusal (answered as "not found") is recorded as what it was.
      const known = isStrongroomError(e) ? (e.truth ?? e) : undefined;
      const outcome = known && DENIALS.has(known.code) ? "denied" : "error";
      await audit.record(op.event(outcome, known ? `${known.code}: ${known.message}` : "internal error"));
      markAudited(e);
    }
    throw e;
  }
  // Reads are group-committed: the reply waits until their event is durable.
  if (!op.committed) await audit.record(op.event("success"));
  observers.get(audit)?.(ctx.actor, action, op);
  return result;
}
