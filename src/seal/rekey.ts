// Shamir rekey (split knowledge kept through a change of custodians): M current shares rebuild and verify the master key; a new master key is split into new shares.
import { randomBytes, timingSafeEqual } from "node:crypto";
import { combine, type Share } from "../crypto/shamir.js";
import { fail } from "../errors/registry.js";
import type { Barrier, Commit, SealConfig, SealRecord } from "./barrier.js";
import { newShamir } from "./barrier.js";
import { SoftwareMasterKey } from "./master-key.js";
import { decodeShare } from "./shares.js";

export interface RekeyStatus {
  started: boolean;
  /** Identifies this rekey; every submitted share must name it (a cancelled or restarted rekey refuses stale submissions). */
  nonce: string | null;
  /** The new share count and threshold. */
  shares: number | null;
  threshold: number | null;
  /** Current shares submitted so far, and how many the current threshold needs. */
  progress: number;
  required: number;
  startedAt: string | null;
  startedBy: string | null;
}

export interface RekeyResult extends RekeyStatus {
  complete: boolean;
  /** Only in the reply that completed the rekey: the new shares, shown once. */
  newShares?: string[];
}

interface Pending {
  nonce: string;
  shares: number;
  threshold: number;
  startedAt: string;
  startedBy: string;
  submitted: Share[];
}

/** One rekey at a time, in memory: a restart or a seal cancels it (no share ever reaches the disk). */
export class Rekey {
  private op: Pending | null = null;
  private completing = false;

  constructor(private readonly barrier: Barrier) {
    barrier.onSeal(() => this.cancel());
  }

  private shamir(): Extract<SealConfig, { type: "shamir" }> {
    const c = this.barrier.config;
    if (c.type !== "shamir")
      return fail("bad_request", {
        detail: `rekey applies to the shamir seal; this instance uses the ${c.type} seal (use rotate-master)`,
      });
    return c;
  }

  status(): RekeyStatus {
    const c = this.barrier.config;
    const required = c.type === "shamir" ? c.threshold : 0;
    const op = this.op;
    return {
      started: op !== null,
      nonce: op?.nonce ?? null,
      shares: op?.shares ?? null,
      threshold: op?.threshold ?? null,
      progress: op?.submitted.length ?? 0,
      required,
      startedAt: op?.startedAt ?? null,
      startedBy: op?.startedBy ?? null,
    };
  }

  init(shares: number, threshold: number, by: string, now: string): RekeyStatus {
    this.shamir();
    if (threshold > shares) fail("validation", { detail: `threshold (${threshold}) cannot be larger than shares (${shares})` });
    if (this.op) fail("invalid_state", { detail: "a rekey is already in progress; cancel it first (DELETE /v1/sys/rekey)" });
    this.op = { nonce: randomBytes(16).toString("hex"), shares, threshold, startedAt: now, startedBy: by, submitted: [] };
    return this.status();
  }

  cancel(): boolean {
    const had = this.op !== null;
    for (const s of this.op?.submitted ?? []) s.value.fill(0);
    this.op = null;
    return had;
  }

  /**
   * Adds one current share. At the current threshold, rebuilds the master key, verifies it against
   * the keyring, generates a new master key and re-wraps the keyring under it in one transaction
   * (`commit`); the new shares are returned once. If the shares do not open the keyring, progress
   * starts again from zero and the rekey stays open.
   */
  async update(nonce: string, shareText: string, commit: Commit): Promise<RekeyResult> {
    const cfg = this.shamir();
    // Read first: from here to the push below nothing awaits, so concurrent submissions cannot interleave.
    const retired = await this.barrier.retiredSetIds();
    const op = this.op;
    if (!op) return fail("invalid_state", { detail: "no rekey in progress; start one with POST /v1/sys/rekey/init" });
    const a = Buffer.from(nonce);
    const b = Buffer.from(op.nonce);
    if (a.length !== b.length || !timingSafeEqual(a, b)) fail("invalid_state", { detail: "nonce does not match the rekey in progress" });
    if (this.completing) fail("invalid_state", { detail: "the rekey is completing; wait for it" });
    const share = decodeShare(shareText, cfg.setId, retired);
    if (op.submitted.some((s) => s.index === share.index)) {
      share.value.fill(0);
      fail("duplicate_share");
    }
    op.submitted.push(share);
    if (op.submitted.length < cfg.threshold) return { ...this.status(), complete: false };

    this.completing = true;
    const old = combine(op.submitted);
    for (const s of op.submitted) s.value.fill(0);
    op.submitted = [];
    const fresh = newShamir(op.shares, op.threshold);
    const verify = new SoftwareMasterKey(old);
    try {
      const record: SealRecord = { ...fresh.config };
      await this.barrier.rewrapMaster(commit, new SoftwareMasterKey(fresh.master), { verify, seal: record });
    } finally {
      verify.destroy();
      this.completing = false;
    }
    const done = this.status();
    this.op = null;
    return { ...done, started: false, progress: cfg.threshold, required: cfg.threshold, complete: true, newShares: fresh.shares };
  }
}
