// The event spine: an append-only, HMAC-chained event table written in the same transaction as each change.
import { createHmac, timingSafeEqual } from "node:crypto";
import type { Barrier } from "../seal/barrier.js";
import type { SqlValue, Store, Tx } from "../store/store.js";

export type Role = "admin" | "auditor" | "client" | "peer";

/** Who did it: taken from the verified client certificate (null fields for anonymous/unknown). */
export interface Actor {
  cn: string | null;
  ou: string | null;
  role: Role | null;
  serial: string | null;
  address: string | null;
}

export type Outcome = "success" | "denied" | "error";

export interface AuditInput {
  actor: Actor | null;
  action: string;
  target?: { name?: string | null; version?: number | null };
  outcome: Outcome;
  reason?: string | null;
  requestId?: string | null;
  /** Non-secret details only (never key material, plaintext, shares or passphrases). */
  detail?: Record<string, unknown>;
}

export interface AuditEvent {
  seq: number;
  time: string;
  node: string;
  actor: Actor;
  action: string;
  target: { name: string | null; version: number | null };
  outcome: Outcome;
  reason: string | null;
  requestId: string | null;
  detail: Record<string, unknown> | null;
}

interface EventRow {
  seq: number;
  time: string;
  node: string;
  actor_cn: string | null;
  actor_ou: string | null;
  actor_role: string | null;
  actor_serial: string | null;
  actor_address: string | null;
  action: string;
  target_name: string | null;
  target_version: number | null;
  outcome: string;
  reason: string | null;
  request_id: string | null;
  detail: string | null;
  mac: string | null;
}

export interface AuditFilter {
  from?: string;
  to?: string;
  actor?: string;
  key?: string;
  action?: string;
  outcome?: Outcome;
  /** Return events with seq greater than this (cursor). */
  after?: number;
  limit?: number;
}

/**
 * How a range of sequence numbers is broken: `altered` (the row does not match its MAC), `missing` (no row with
 * that seq), `unchained` (the MAC was removed), `head` (the MAC'd chain head is missing or forged, so removal of
 * the newest events cannot be ruled out; reported at the seq after the last event).
 */
export type BreakKind = "altered" | "missing" | "unchained" | "head";

export interface BrokenRange {
  from: number;
  to: number;
  kind: BreakKind;
}

export interface VerifyResult {
  ok: boolean;
  /** Events read and checked. */
  checked: number;
  /** The lowest broken seq (`broken[0].from`), kept for callers that read only the first break. */
  firstBroken: number | null;
  /** Every broken range in seq order, adjacent rows of one kind merged; at most MAX_BROKEN_RANGES listed. */
  broken: BrokenRange[];
  /** Further broken ranges past the listed ones. */
  omitted: number;
}

/** Broken ranges listed by verify: a wholesale rewrite cannot turn the answer into an unbounded document. */
export const MAX_BROKEN_RANGES = 1000;

/**
 * Longest text stored per event field, in UTF-16 code units: one request cannot bloat the log. Longer text is cut
 * (never inside a surrogate pair) and ends with TRUNCATED.
 */
export const FIELD_LIMITS = { text: 1024, reason: 2048, detail: 16384 } as const;
export const TRUNCATED = "…[truncated]";

/** Lone surrogates become U+FFFD (String.prototype.toWellFormed, Node 20; not in the ES2022 lib typings). */
const toWellFormed = (s: string): string => (s as unknown as { toWellFormed(): string }).toWellFormed();

/**
 * The stored (and MAC'd) form of one text field: well-formed Unicode, at most `max` code units. Without this a
 * lone surrogate is MAC'd as the JavaScript string but stored by SQLite as U+FFFD, and the row never verifies.
 * NUL and other control characters are kept: SQLite stores and returns them unchanged.
 */
export function canonicalText(value: unknown, max: number): string | null {
  if (value === null || value === undefined) return null;
  const s = typeof value === "string" ? value : String(value);
  if (s.length <= max) return toWellFormed(s);
  let cut = max - TRUNCATED.length;
  const c = s.charCodeAt(cut - 1);
  if (c >= 0xd800 && c <= 0xdbff) cut--; // do not split a surrogate pair
  return toWellFormed(s.slice(0, cut)) + TRUNCATED;
}

/** The stored form of `detail`: JSON (lone surrogates escaped by JSON.stringify), bounded, always parseable. */
export function canonicalDetail(detail: Record<string, unknown> | undefined): string | null {
  if (!detail) return null;
  let json: string | undefined;
  try {
    json = JSON.stringify(detail, (_k, v) => (typeof v === "bigint" ? v.toString() : v));
  } catch {
    json = JSON.stringify({ unserializable: true }); // a cycle: still one event, never a failed request
  }
  if (json === undefined) return null;
  json = toWellFormed(json);
  if (json.length <= FIELD_LIMITS.detail) return json;
  // Escaping can at most double the head's length; the wrapper keeps the stored detail valid JSON.
  const head = canonicalText(json, Math.floor(FIELD_LIMITS.detail / 2) - 64) as string;
  return JSON.stringify({ truncated: true, length: json.length, head });
}

/** Settings row holding the MAC'd chain head. */
const HEAD = "audit_head";

const COLUMNS =
  "seq, time, node, actor_cn, actor_ou, actor_role, actor_serial, actor_address, action, target_name, target_version, outcome, reason, request_id, detail, mac";

/** The newest event: its seq and MAC (null while unchained). */
type Tail = { seq: number; mac: string | null };

const INSERT = `INSERT INTO events (${COLUMNS}) VALUES (${COLUMNS.split(",")
  .map((_, i) => `$${i + 1}`)
  .join(", ")})`;

/** The bytes the MAC covers: the previous MAC and every column but the MAC, in a fixed order. */
function macInput(prev: string, r: Omit<EventRow, "mac">): string {
  return JSON.stringify([
    prev,
    r.seq,
    r.time,
    r.node,
    r.actor_cn,
    r.actor_ou,
    r.actor_role,
    r.actor_serial,
    r.actor_address,
    r.action,
    r.target_name,
    r.target_version,
    r.outcome,
    r.reason,
    r.request_id,
    r.detail,
  ]);
}

/**
 * The row as stored and MAC'd. Every field goes through here, so what the MAC covers is exactly what the store
 * returns: text well-formed and bounded, the version a safe integer or null.
 */
function canonicalRow(seq: number, time: string, node: string, ev: AuditInput): Omit<EventRow, "mac"> {
  const t = (v: unknown) => canonicalText(v, FIELD_LIMITS.text);
  const version = ev.target?.version;
  return {
    seq,
    time,
    node: t(node) as string,
    actor_cn: t(ev.actor?.cn),
    actor_ou: t(ev.actor?.ou),
    actor_role: t(ev.actor?.role),
    actor_serial: t(ev.actor?.serial),
    actor_address: t(ev.actor?.address),
    action: t(ev.action) ?? "",
    target_name: t(ev.target?.name),
    target_version: Number.isSafeInteger(version) ? (version as number) : null,
    outcome: t(ev.outcome) ?? "",
    reason: ev.reason ? canonicalText(ev.reason, FIELD_LIMITS.reason) : null,
    request_id: t(ev.requestId),
    detail: canonicalDetail(ev.detail),
  };
}

export class AuditLog {
  private queue: { ev: AuditInput; resolve: () => void; reject: (e: unknown) => void }[] = [];
  private scheduled = false;
  /**
   * The newest event as of the last group this log committed itself; null when unknown (a change transaction
   * appended since, or a group failed). Saves the tail lookup in back-to-back read groups.
   */
  private tail: Tail | null = null;
  /** Counts appends, so that a group's tail is kept only if nothing else appended before it committed. */
  private appends = 0;

  constructor(
    private readonly store: Store,
    private readonly barrier: Barrier,
    private readonly node: string,
    private readonly clock: () => Date,
    /** Wait for the disk before answering reads and refusals too (config `storage.syncReads`). */
    private readonly syncReads = false,
  ) {
    barrier.onUnseal(() => this.chainPending());
  }

  private mac(prev: string, row: Omit<EventRow, "mac">): string {
    return createHmac("sha256", this.barrier.auditKey()).update(macInput(prev, row)).digest("hex");
  }

  /** Appends one event inside `tx` (the caller's transaction, so the event commits with the change). */
  async append(tx: Tx, ev: AuditInput): Promise<number> {
    this.forgetTail(); // the caller's transaction may still roll back: read the tail from the table next time
    return (await this.appendAll(tx, [ev])).seq;
  }

  /** Drops the remembered tail; a group that started before this call will not remember its own either. */
  private forgetTail(): void {
    this.tail = null;
    this.appends++;
  }

  /** Appends events in order inside `tx`; the chain head is written once, after the last. Returns the last seq. */
  private async appendAll(tx: Tx, evs: AuditInput[], tail: Tail | null = null): Promise<Tail> {
    const last = tail ?? (await tx.get<{ seq: number; mac: string | null }>("SELECT seq, mac FROM events ORDER BY seq DESC LIMIT 1"));
    let seq = last?.seq ?? 0;
    // While sealed there is no MAC key: rows are written unchained and chained at unseal (chainPending).
    let prevMac: string | null = this.barrier.sealed || (last && last.mac === null) ? null : (last?.mac ?? "");
    const time = this.clock().toISOString();
    for (const ev of evs) {
      const row = canonicalRow(++seq, time, this.node, ev);
      const mac = prevMac === null ? null : this.mac(prevMac, row);
      await tx.run(INSERT, [
        row.seq,
        row.time,
        row.node,
        row.actor_cn,
        row.actor_ou,
        row.actor_role,
        row.actor_serial,
        row.actor_address,
        row.action,
        row.target_name,
        row.target_version,
        row.outcome,
        row.reason,
        row.request_id,
        row.detail,
        mac,
      ]);
      prevMac = mac;
    }
    if (prevMac !== null && evs.length > 0) await this.writeHead(tx, seq, prevMac);
    return { seq, mac: prevMac };
  }

  /**
   * Appends an event for a read or a refusal; resolves once it is committed (group commit). The disk sync
   * is not waited for: a read changes nothing, so its reply need not wait for the disk. Its event survives a
   * process crash from the commit on, and a power loss once the store's background sync (≤ ~50 ms) is done.
   */
  record(ev: AuditInput): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({ ev, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  /**
   * Writes everything queued during the last turn of the event loop as one transaction. It does not wait for
   * that transaction's fsync: the next group can commit meanwhile and the store coalesces their syncs.
   */
  private flush(): void {
    this.scheduled = false;
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, 1000);
      let mine = 0;
      this.store
        .atomic(
          async (tx) => {
            const known = this.tail;
            this.tail = null;
            mine = ++this.appends;
            return this.appendAll(
              tx,
              batch.map((b) => b.ev),
              known,
            );
          },
          { durability: this.syncReads ? "wait" : "background", appendOnly: true },
        )
        .then(
          (tail) => {
            // Committed, still the newest event, and chained: an unchained (sealed-time) tail gets its MAC from
            // chainPending later, so remembering it would chain every later event onto a NULL MAC.
            if (this.appends === mine && tail.mac !== null) this.tail = tail;
            for (const item of batch) item.resolve();
          },
          (e) => {
            for (const item of batch) item.reject(e);
          },
        );
    }
  }

  /**
   * The chain head — last chained seq and MAC, itself MAC'd — written with every chained append, so
   * that removing the newest events (which leaves a valid but shorter chain) is detected by verify.
   */
  private async writeHead(tx: Tx, seq: number, mac: string): Promise<void> {
    const sig = createHmac("sha256", this.barrier.auditKey()).update(`head|${seq}|${mac}`).digest("hex");
    await tx.run("INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET value = excluded.value", [
      HEAD,
      JSON.stringify({ seq, mac, sig }),
    ]);
  }

  private async readHead(db: Tx | Store): Promise<{ seq: number; mac: string; valid: boolean } | null> {
    const row = await db.get<{ value: string }>("SELECT value FROM settings WHERE name = $1", [HEAD]);
    if (!row) return null;
    let h: { seq: number; mac: string; sig: string };
    try {
      h = JSON.parse(row.value);
    } catch {
      return { seq: 0, mac: "", valid: false }; // overwritten with garbage: reported by verify, not an internal error
    }
    if (typeof h !== "object" || h === null) return { seq: 0, mac: "", valid: false };
    const want = createHmac("sha256", this.barrier.auditKey()).update(`head|${h.seq}|${h.mac}`).digest();
    const got = Buffer.from(String(h.sig), "hex");
    return { seq: Number(h.seq), mac: h.mac, valid: got.length === want.length && timingSafeEqual(got, want) };
  }

  /** Chains events written while sealed, in sequence order (only those after the recorded head). */
  async chainPending(): Promise<void> {
    this.forgetTail(); // MACs of the newest events change here
    await this.store.atomic(async (tx) => {
      this.forgetTail(); // again inside the transaction: a group queued before it may have committed meanwhile
      const head = await this.readHead(tx);
      // Rows at or before the head were chained once: a NULL MAC there is tampering, left for verify to report.
      const first = await tx.get<{ seq: number }>("SELECT MIN(seq) AS seq FROM events WHERE mac IS NULL AND seq > $1", [
        head?.valid ? head.seq : 0,
      ]);
      if (first?.seq == null) return;
      const prev = await tx.get<{ mac: string | null }>("SELECT mac FROM events WHERE seq = $1", [first.seq - 1]);
      let prevMac = prev?.mac ?? "";
      const rows = await tx.all<EventRow>(`SELECT ${COLUMNS} FROM events WHERE seq >= $1 ORDER BY seq`, [first.seq]);
      let last: number | null = null;
      for (const r of rows) {
        if (r.mac !== null) break;
        prevMac = this.mac(prevMac, r);
        await tx.run("UPDATE events SET mac = $1 WHERE seq = $2", [prevMac, r.seq]);
        last = Number(r.seq);
      }
      if (last !== null) await this.writeHead(tx, last, prevMac);
    });
  }

  async query(f: AuditFilter): Promise<{ events: AuditEvent[]; next: number | null }> {
    const where: string[] = [];
    const params: SqlValue[] = [];
    const add = (sql: string, v: SqlValue) => {
      params.push(v);
      where.push(sql.replace("?", `$${params.length}`));
    };
    if (f.after !== undefined) add("seq > ?", f.after);
    if (f.from) add("time >= ?", f.from);
    if (f.to) add("time < ?", f.to);
    if (f.actor) add("actor_cn = ?", f.actor);
    if (f.key) add("target_name = ?", f.key);
    if (f.action) add("action = ?", f.action);
    if (f.outcome) add("outcome = ?", f.outcome);
    const limit = Math.min(Math.max(f.limit ?? 100, 1), 1000);
    params.push(limit + 1);
    const rows = await this.store.all<EventRow>(
      `SELECT ${COLUMNS} FROM events ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY seq LIMIT $${params.length}`,
      params,
    );
    const more = rows.length > limit;
    const page = rows.slice(0, limit).map(toEvent);
    return { events: page, next: more ? page[page.length - 1].seq : null };
  }

  private macMatches(prev: string, r: EventRow): boolean {
    const want = Buffer.from(this.mac(prev, r), "hex");
    const got = Buffer.from(r.mac ?? "", "hex");
    return got.length === want.length && timingSafeEqual(got, want);
  }

  /**
   * Recomputes the chain and reports every broken range, not only the first: after a break it goes on, checking
   * each row against the *stored* MAC of the row before it, so each alteration is found on its own and an early
   * break cannot mask later tampering. A row right after a missing or unchained one cannot be checked (its MAC
   * covers the MAC that is gone); the row after it is checked again.
   */
  async verify(): Promise<VerifyResult> {
    const broken: BrokenRange[] = [];
    let omitted = 0;
    let last: BrokenRange | null = null;
    const mark = (from: number, to: number, kind: BreakKind) => {
      if (last && last.kind === kind && from <= last.to + 1) {
        if (to > last.to) last.to = to;
        return;
      }
      last = { from, to, kind };
      if (broken.length < MAX_BROKEN_RANGES) broken.push(last);
      else omitted++;
    };
    let prev: string | null = ""; // the stored MAC of the previous row; null when unknown (missing or unchained)
    let expected = 1;
    let checked = 0;
    let chained = false;
    for (;;) {
      const rows = await this.store.all<EventRow>(`SELECT ${COLUMNS} FROM events WHERE seq >= $1 ORDER BY seq LIMIT 2000`, [expected]);
      if (rows.length === 0) break;
      for (const r of rows) {
        const seq = Number(r.seq);
        checked++;
        if (seq > expected) {
          mark(expected, seq - 1, "missing");
          prev = null;
        }
        expected = seq + 1;
        if (r.mac === null) {
          mark(seq, seq, "unchained");
          prev = null;
          continue;
        }
        chained = true;
        if (prev !== null && !this.macMatches(prev, r)) mark(seq, seq, "altered");
        prev = r.mac;
      }
    }
    // The chain must reach the recorded head: removing the newest events leaves a valid but shorter chain.
    const end = expected; // the seq after the last event
    const head = await this.readHead(this.store);
    if (!head ? chained : !head.valid) mark(end, end, "head");
    else if (head && head.seq >= end) mark(end, head.seq, "missing");
    else if (head) {
      const at = await this.store.get<{ mac: string | null }>("SELECT mac FROM events WHERE seq = $1", [head.seq]);
      if (at?.mac != null && at.mac !== head.mac && !broken.some((b) => b.from <= head.seq && head.seq <= b.to)) {
        // The newest chained event's MAC is not the one recorded: it was replaced.
        if (broken.length < MAX_BROKEN_RANGES) broken.push({ from: head.seq, to: head.seq, kind: "altered" });
        else omitted++;
        broken.sort((a, b) => a.from - b.from);
      }
    }
    return { ok: broken.length === 0 && omitted === 0, checked, firstBroken: broken[0]?.from ?? null, broken, omitted };
  }
}

function toEvent(r: EventRow): AuditEvent {
  return {
    seq: Number(r.seq),
    time: r.time,
    node: r.node,
    actor: {
      cn: r.actor_cn,
      ou: r.actor_ou,
      role: r.actor_role as Role | null,
      serial: r.actor_serial,
      address: r.actor_address,
    },
    action: r.action,
    target: { name: r.target_name, version: r.target_version },
    outcome: r.outcome as Outcome,
    reason: r.reason,
    requestId: r.request_id,
    detail: r.detail ? (JSON.parse(r.detail) as Record<string, unknown>) : null,
  };
}
