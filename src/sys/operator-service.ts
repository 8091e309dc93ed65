// Operator actions on the master key and KEKs: rekey (new Shamir shares), rotate-master, rotate-kek, seal. Admin only; audited without shares, passphrases, PINs or keys.
import type { AuditLog } from "../audit/audit-log.js";
import { audited } from "../audit/operation.js";
import type { AuthCtx } from "../auth/identity.js";
import { requireRole } from "../auth/policy.js";
import type { Config } from "../config/config.js";
import { fail } from "../errors/registry.js";
import type { Logger } from "../logger.js";
import type { Barrier, Commit, SealRecord } from "../seal/barrier.js";
import { PIN_ENV } from "../seal/pkcs11.js";
import { Rekey, type RekeyResult, type RekeyStatus } from "../seal/rekey.js";
import type { Store } from "../store/store.js";
import { KekRotation, type RotationProgress } from "./kek-rotation.js";
import { writeSealRecord } from "./seal-config.js";

export interface OperatorDeps {
  store: Store;
  barrier: Barrier;
  audit: AuditLog;
  clock: () => Date;
  config: Config;
  log: Logger;
  /** Where rotate-master finds the PKCS#11 PIN when the request has none (default process.env). */
  env?: NodeJS.ProcessEnv;
}

export interface RotateMasterRequest {
  /** passphrase seal: the current and the new passphrase. */
  passphrase?: string;
  newPassphrase?: string;
  /** pkcs11 seal: the label of the new HSM key, and the token PIN if the server has none in its environment. */
  newKeyLabel?: string;
  pin?: string;
}

export class OperatorService {
  readonly rekeys: Rekey;
  readonly kek: KekRotation;

  constructor(private readonly deps: OperatorDeps) {
    this.rekeys = new Rekey(deps.barrier);
    this.kek = new KekRotation({ store: deps.store, barrier: deps.barrier, audit: deps.audit, clock: deps.clock, log: deps.log });
    // An unfinished re-wrap (the server stopped or crashed mid-way) resumes as soon as the KEKs are readable.
    deps.barrier.onUnseal(async () => {
      setImmediate(() => this.kek.start());
    });
  }

  /** At start, before unseal: a rekey or rotation that committed but did not reach strongroom.yaml is written there now. */
  async open(): Promise<void> {
    const record = await this.deps.barrier.adoptSealRecord();
    if (!record) return;
    this.deps.log.warn("strongroom.yaml seal settings were behind the database (interrupted rekey or rotate-master); rewriting them", {
      seal: record.type,
    });
    this.persistSeal(record);
  }

  async close(): Promise<void> {
    await this.kek.stop();
  }

  private persistSeal(record: SealRecord): void {
    try {
      writeSealRecord(this.deps.config, record);
    } catch (e) {
      // The database holds the same record; the next start repairs the file.
      this.deps.log.error("could not rewrite the seal section of strongroom.yaml", { error: (e as Error).message });
    }
  }

  private admin(ctx: AuthCtx, what: string): void {
    requireRole(ctx.actor, ["admin"], what);
  }

  // ---- rekey ----

  async rekeyInit(ctx: AuthCtx, req: { shares: number; threshold: number }): Promise<RekeyStatus> {
    return audited(this.deps.audit, ctx, "sys.rekey.init", {}, async (op) => {
      this.admin(ctx, "start a rekey");
      op.detail = { shares: req.shares, threshold: req.threshold };
      return this.rekeys.init(req.shares, req.threshold, ctx.actor.cn, this.deps.clock().toISOString());
    });
  }

  async rekeyStatus(ctx: AuthCtx): Promise<RekeyStatus> {
    return audited(this.deps.audit, ctx, "sys.rekey.status", {}, async () => {
      this.admin(ctx, "read the rekey status");
      return this.rekeys.status();
    });
  }

  async rekeyUpdate(ctx: AuthCtx, req: { nonce: string; share: string }): Promise<RekeyResult> {
    return audited(this.deps.audit, ctx, "sys.rekey.update", {}, async (op) => {
      this.admin(ctx, "submit rekey shares");
      const commit: Commit = (fn) => op.commit(this.deps.store, fn);
      // Set before the update: the completing call commits its event together with the new keyring.
      const before = this.rekeys.status();
      op.detail = {
        progress: before.progress + 1,
        required: before.required,
        complete: before.progress + 1 >= before.required,
        shares: before.shares,
        threshold: before.threshold,
      };
      const r = await this.rekeys.update(req.nonce, req.share, commit);
      op.detail = { progress: r.progress, required: r.required, complete: r.complete, shares: r.shares, threshold: r.threshold };
      if (r.complete) {
        const c = this.deps.barrier.config;
        if (c.type === "shamir") this.persistSeal({ type: "shamir", shares: c.shares, threshold: c.threshold, setId: c.setId });
      }
      return r;
    });
  }

  async rekeyCancel(ctx: AuthCtx): Promise<{ cancelled: boolean }> {
    return audited(this.deps.audit, ctx, "sys.rekey.cancel", {}, async () => {
      this.admin(ctx, "cancel a rekey");
      return { cancelled: this.rekeys.cancel() };
    });
  }

  // ---- rotate-master ----

  async rotateMaster(ctx: AuthCtx, req: RotateMasterRequest): Promise<{ type: string; rotated: true }> {
    return audited(this.deps.audit, ctx, "sys.rotate-master", {}, async (op) => {
      this.admin(ctx, "rotate the master key");
      const b = this.deps.barrier;
      const type = b.config.type;
      op.detail = { seal: type };
      const commit: Commit = (fn) => op.commit(this.deps.store, fn);
      const only = (allowed: (keyof RotateMasterRequest)[]) => {
        for (const k of Object.keys(req) as (keyof RotateMasterRequest)[])
          if (req[k] !== undefined && !allowed.includes(k)) fail("validation", { detail: `${k}: does not apply to the ${type} seal` });
      };
      if (type === "shamir")
        fail("bad_request", {
          detail: "with the shamir seal a new master key means new shares: use rekey (strongroom operator rekey, POST /v1/sys/rekey/init)",
        });
      if (type === "passphrase") {
        only(["passphrase", "newPassphrase"]);
        if (!req.passphrase || !req.newPassphrase) fail("validation", { detail: "give passphrase (the current one) and newPassphrase" });
        this.persistSeal(await b.rotatePassphrase(commit, req.passphrase as string, req.newPassphrase as string));
      } else if (type === "file") {
        only([]);
        await b.rotateKeyFile(commit);
      } else {
        only(["newKeyLabel", "pin"]);
        if (!req.newKeyLabel) fail("validation", { detail: "newKeyLabel: the label of the new HSM key is required" });
        const pin = req.pin ?? (this.deps.env ?? process.env)[PIN_ENV];
        if (!pin) fail("validation", { detail: `pin: required (the server has no ${PIN_ENV})` });
        op.detail = { seal: type, keyLabel: req.newKeyLabel };
        this.persistSeal(await b.rotateHsmKey(commit, pin as string, req.newKeyLabel as string));
      }
      return { type, rotated: true as const };
    });
  }

  // ---- KEKs ----

  async rotateKek(ctx: AuthCtx): Promise<RotationProgress> {
    return audited(this.deps.audit, ctx, "sys.rotate-kek", {}, async (op) => {
      this.admin(ctx, "rotate the KEK");
      if (this.kek.running) {
        const p = await this.kek.status();
        fail("invalid_state", { detail: `a KEK rotation is in progress (${p.done}/${p.total} re-wrapped); wait for it to finish` });
      }
      const pending = await this.kek.status();
      if (pending.state === "paused") {
        // Work is left from an earlier rotation (stopped by an error): resume it instead of adding a KEK.
        op.detail = { resumed: true, kek: pending.currentKek, remaining: pending.remaining };
        this.kek.start();
        return this.kek.status();
      }
      await this.kek.rotate((fn) =>
        op.commit(this.deps.store, async (tx) => {
          const v = await fn(tx);
          // The event names the new KEK and what the re-wrap has to move (read back in the same transaction).
          const info = await this.deps.barrier.keyringInfo(tx);
          op.detail = { kek: info.current, total: info.rewrap?.total ?? 0 };
          return v;
        }),
      );
      return this.kek.status();
    });
  }

  async rotateKekStatus(ctx: AuthCtx): Promise<RotationProgress> {
    return audited(this.deps.audit, ctx, "sys.rotate-kek.status", {}, async () => {
      this.admin(ctx, "read the KEK rotation status");
      return this.kek.status();
    });
  }

  // ---- seal ----

  /** Zeroes the master key, the KEKs and cached key material; the server answers only health and unseal until unsealed. */
  async seal(ctx: AuthCtx): Promise<{ sealed: true }> {
    return audited(this.deps.audit, ctx, "sys.seal", {}, async (op) => {
      this.admin(ctx, "seal the server");
      op.detail = { seal: this.deps.barrier.config.type };
      // The event is durable (and chained) before the keys go.
      await op.commit(this.deps.store, async () => undefined);
      this.deps.barrier.seal();
      this.deps.log.warn("sealed by an operator", { cn: ctx.actor.cn, seal: this.deps.barrier.config.type });
      return { sealed: true as const };
    });
  }
}
