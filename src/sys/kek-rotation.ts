// KEK rotation: a new KEK is current for new writes at once; a background job re-wraps every object and wrapped setting onto it in batches, then drops unused KEKs.
//
// Wrapped values live in `objects` (material, kek_id; AAD `strongroom:object:<id>`) and in settings
// rows shaped `{kekId, blob, …}` (AAD `strongroom:object:settings:<name>`, e.g. the CA key). Each
// batch is one transaction. Nothing about the job's position is stored: what is left is exactly
// what is still on an older KEK, so after a crash the job simply starts again at the next unseal.
import { randomUUID } from "node:crypto";
import type { AuditLog } from "../audit/audit-log.js";
import { audited, type Ctx } from "../audit/operation.js";
import { SYSTEM_ACTOR } from "../auth/identity.js";
import type { Logger } from "../logger.js";
import type { Barrier, Commit, KeyringInfo } from "../seal/barrier.js";
import type { Queryable, Store, Tx } from "../store/store.js";

export interface RotationProgress {
  /** idle: nothing on an older KEK; running: the re-wrap job is at work; paused: work is left but no job runs (sealed, or after an error). */
  state: "idle" | "running" | "paused";
  currentKek: number;
  keks: number[];
  /** Wrapped values that were on older KEKs when the rotation started, and how many of them moved (idle: those of the last rotation this process finished). */
  total: number;
  done: number;
  remaining: number;
  startedAt: string | null;
  lastError: string | null;
  /** When the last rotation in this process finished (old KEKs dropped). */
  finishedAt: string | null;
}

interface WrappedSetting {
  kekId: number;
  blob: string;
}

const isWrappedSetting = (v: unknown): v is WrappedSetting =>
  typeof v === "object" && v !== null && Number.isInteger((v as WrappedSetting).kekId) && typeof (v as WrappedSetting).blob === "string";

const OLD_OBJECTS = "FROM objects WHERE material IS NOT NULL AND kek_id IS NOT NULL AND kek_id <> $1";

export class KekRotation {
  /** Objects per transaction. */
  batchSize = 200;
  /**
   * How long after a rotation in this process old KEKs are kept even once nothing uses them: a
   * request that wrapped material just before the rotation may still be about to commit it.
   * After a restart there is no such request, and old KEKs go as soon as they are unused.
   */
  dropGraceMs = 60_000;
  /** Test hook: the job stops after this many batches, as if the process had died. */
  stopAfterBatches: number | null = null;

  private job: Promise<void> | null = null;
  private stopping = false;
  private rotatedAt: number | null = null;
  private total = 0;
  private remaining = 0;
  /** Whether the running job has counted its work yet (before that, progress is derived from the database). */
  private counted = false;
  private lastError: string | null = null;
  private finishedAt: string | null = null;
  /** How many values the last finished rotation in this process moved (shown while idle). */
  private finishedTotal = 0;
  private wake: (() => void) | null = null;

  constructor(private readonly deps: { store: Store; barrier: Barrier; audit: AuditLog; clock: () => Date; log: Logger }) {
    deps.barrier.onSeal(() => this.requestStop());
  }

  get running(): boolean {
    return this.job !== null;
  }

  /** Counts the objects and settings still wrapped under a KEK other than `current`. */
  private async countOld(q: Queryable, current: number): Promise<number> {
    const row = await q.get<{ n: number }>(`SELECT COUNT(*) AS n ${OLD_OBJECTS}`, [current]);
    const settings = await this.wrappedSettings(q);
    return Number(row?.n ?? 0) + settings.filter((s) => s.value.kekId !== current).length;
  }

  private async wrappedSettings(q: Queryable): Promise<{ name: string; value: WrappedSetting & Record<string, unknown> }[]> {
    const rows = await q.all<{ name: string; value: string }>("SELECT name, value FROM settings WHERE name <> 'keyring'");
    const out: { name: string; value: WrappedSetting & Record<string, unknown> }[] = [];
    for (const r of rows) {
      let v: unknown;
      try {
        v = JSON.parse(r.value);
      } catch {
        continue;
      }
      if (isWrappedSetting(v)) out.push({ name: r.name, value: v as WrappedSetting & Record<string, unknown> });
    }
    return out;
  }

  /** Makes a new KEK current (in `commit`'s transaction) and starts the background re-wrap. */
  async rotate(commit: Commit): Promise<KeyringInfo> {
    const info = await this.deps.barrier.rotateKek(commit, this.deps.clock().toISOString(), (tx, current) => this.countOld(tx, current));
    this.rotatedAt = Date.now();
    this.lastError = null;
    this.start();
    return info;
  }

  /** Starts the job if there is work and none runs (at unseal, after rotate, or to resume after an error). */
  start(): void {
    if (this.job || this.deps.barrier.sealed) return;
    this.stopping = false;
    this.counted = false;
    this.job = this.run()
      .catch((e) => {
        if (this.deps.barrier.sealed || this.stopping) return;
        this.lastError = e instanceof Error ? e.message : String(e);
        this.deps.log.error("KEK re-wrap stopped", { error: this.lastError });
      })
      .finally(() => {
        this.job = null;
      });
  }

  private requestStop(): void {
    this.stopping = true;
    this.wake?.();
  }

  /** Stops the job after its current batch (used when the app closes). */
  async stop(): Promise<void> {
    this.requestStop();
    await this.job;
  }

  private shouldStop(): boolean {
    return this.stopping || this.deps.barrier.sealed;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      t.unref();
      function done() {
        clearTimeout(t);
        resolve();
      }
      this.wake = done;
    });
  }

  private async run(): Promise<void> {
    const { store, barrier, log } = this.deps;
    const info = await barrier.keyringInfo();
    if (info.keks.length <= 1 && !info.rewrap) return;
    this.remaining = await this.countOld(store, info.current);
    this.total = Math.max(info.rewrap?.total ?? 0, this.remaining);
    this.counted = true;
    log.info("KEK re-wrap started", { kek: info.current, remaining: this.remaining, total: this.total });
    let batches = 0;
    let cursor = "";
    for (;;) {
      if (this.shouldStop()) return;
      if (this.stopAfterBatches !== null && batches >= this.stopAfterBatches) return;
      const moved = await store.atomic((tx) => this.batch(tx, cursor));
      batches++;
      this.remaining = Math.max(0, this.remaining - moved.n);
      if (moved.n > 0) {
        cursor = moved.last;
        continue;
      }
      // One pass over the table is done: the wrapped settings (the CA key), then the old KEKs.
      const settings = await store.atomic((tx) => this.moveSettings(tx));
      this.remaining = Math.max(0, this.remaining - settings);
      await this.waitForGrace();
      if (this.shouldStop()) return;
      const { kept } = await this.dropOldKeks();
      if (kept.length === 0) {
        this.remaining = 0;
        this.finishedAt = this.deps.clock().toISOString();
        this.finishedTotal = this.total;
        log.info("KEK re-wrap finished", { kek: barrier.currentKekId(), total: this.total });
        return;
      }
      // Something was wrapped under an old KEK and committed after our pass went by: go round again.
      cursor = "";
      this.remaining = await this.countOld(store, barrier.currentKekId());
    }
  }

  private async batch(tx: Tx, cursor: string): Promise<{ n: number; last: string }> {
    const b = this.deps.barrier;
    const current = b.currentKekId();
    const rows = await tx.all<{ id: string; kek_id: number; material: Buffer }>(
      `SELECT id, kek_id, material ${OLD_OBJECTS} AND id > $2 ORDER BY id LIMIT $3`,
      [current, cursor, this.batchSize],
    );
    for (const r of rows) {
      const w = b.rewrap(r.id, Number(r.kek_id), r.material);
      await tx.run("UPDATE objects SET material = $1, kek_id = $2 WHERE id = $3 AND kek_id = $4", [w.blob, w.kekId, r.id, r.kek_id]);
    }
    return { n: rows.length, last: rows.length ? rows[rows.length - 1].id : cursor };
  }

  private async moveSettings(tx: Tx): Promise<number> {
    const b = this.deps.barrier;
    const current = b.currentKekId();
    let n = 0;
    for (const s of await this.wrappedSettings(tx)) {
      if (s.value.kekId === current) continue;
      const w = b.rewrap(`settings:${s.name}`, s.value.kekId, Buffer.from(s.value.blob, "base64"));
      await tx.run("UPDATE settings SET value = $1 WHERE name = $2", [
        JSON.stringify({ ...s.value, kekId: w.kekId, blob: w.blob.toString("base64") }),
        s.name,
      ]);
      n++;
    }
    return n;
  }

  private async waitForGrace(): Promise<void> {
    if (this.rotatedAt === null) return;
    for (;;) {
      const left = this.rotatedAt + this.dropGraceMs - Date.now();
      if (left <= 0 || this.shouldStop()) return;
      await this.sleep(Math.min(left, 1000));
    }
  }

  private systemCtx(): Ctx {
    return { actor: SYSTEM_ACTOR, requestId: `sys-${randomUUID()}` };
  }

  /** Drops the KEKs nothing is wrapped under any more; audited as the system. */
  private async dropOldKeks(): Promise<{ dropped: number[]; kept: number[] }> {
    const { store, barrier, audit } = this.deps;
    return audited(audit, this.systemCtx(), "sys.rotate-kek.finish", {}, async (op) => {
      const inUse = async (tx: Tx, id: number): Promise<boolean> => {
        if (await tx.get("SELECT id FROM objects WHERE kek_id = $1 AND material IS NOT NULL LIMIT 1", [id])) return true;
        return (await this.wrappedSettings(tx)).some((s) => s.value.kekId === id);
      };
      let r: { dropped: number[]; kept: number[] } = { dropped: [], kept: [] };
      const commit: Commit = (fn) =>
        op.commit(store, async (tx) => {
          const v = await fn(tx);
          op.detail = { kek: barrier.currentKekId(), rewrapped: this.total, dropped: r.dropped, kept: r.kept };
          return v;
        });
      r = await barrier.dropUnusedKeks(commit, async (tx, id) => {
        const used = await inUse(tx, id);
        (used ? r.kept : r.dropped).push(id);
        return used;
      });
      return r;
    });
  }

  /** Progress: from the running job, or derived from what is still on older KEKs. */
  async status(): Promise<RotationProgress> {
    const info = await this.deps.barrier.keyringInfo();
    const base = {
      currentKek: info.current,
      keks: info.keks,
      startedAt: info.rewrap?.startedAt ?? null,
      lastError: this.lastError,
      finishedAt: this.finishedAt,
    };
    if (this.job && this.counted) {
      const total = Math.max(this.total, this.remaining);
      return { ...base, state: "running", total, done: total - this.remaining, remaining: this.remaining };
    }
    if (info.keks.length <= 1 && !info.rewrap)
      return { ...base, state: "idle", total: this.finishedTotal, done: this.finishedTotal, remaining: 0 };
    const remaining = await this.countOld(this.deps.store, info.current);
    const total = Math.max(info.rewrap?.total ?? 0, remaining);
    return { ...base, state: this.job ? "running" : "paused", total, done: total - remaining, remaining };
  }
}
