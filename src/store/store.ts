// The storage interface: a small async SQL surface with an atomic transaction, shared by every backend.

/** A value bound to a `$n` placeholder. Buffers map to BLOB / BYTEA. */
export type SqlValue = string | number | bigint | Buffer | null;
export type Row = Record<string, unknown>;

/** Statements run inside a transaction (or as single autocommit statements on the Store). */
export interface Queryable {
  /** All rows of a SELECT. SQL uses `$1, $2, …` placeholders on every backend. */
  all<T = Row>(sql: string, params?: SqlValue[]): Promise<T[]>;
  /** The first row of a SELECT, or undefined. */
  get<T = Row>(sql: string, params?: SqlValue[]): Promise<T | undefined>;
  /** INSERT/UPDATE/DELETE; returns the number of changed rows. */
  run(sql: string, params?: SqlValue[]): Promise<number>;
}

export type Tx = Queryable;

export interface AtomicOptions {
  /** "wait" (default): resolve after the commit is on disk. "background": resolve at commit, sync within ~50 ms. */
  durability?: "wait" | "background";
  /** The transaction only appends audit events (and the chain head): rows read with `cachedGet` stay valid. */
  appendOnly?: boolean;
}

export interface Store extends Queryable {
  readonly dialect: "sqlite" | "postgres";
  /**
   * Runs `fn` in one serializable transaction: all of its writes commit together (durably, before
   * the returned promise resolves) or none do. `fn` must only use `tx`, never the outer store.
   * With `durability: "background"` the promise resolves once the transaction is committed (visible,
   * and safe from a process crash) and it is flushed to disk by a sync that starts within about 50 ms
   * (sooner if a change commits meanwhile): only for the audit events of reads (DESIGN: reads are committed before the
   * reply; changes are durable before the reply).
   */
  atomic<T>(fn: (tx: Tx) => Promise<T>, opts?: AtomicOptions): Promise<T>;
  /**
   * `get` for the hot rows every request reads (its certificate, the key, the object), answered from memory
   * until the next change: any committed or rolled-back transaction that is not `appendOnly`, any autocommit
   * write, or a commit by another connection to the same database drops every cached row. Returns a copy.
   */
  cachedGet<T = Row>(sql: string, params: SqlValue[]): Promise<T | undefined>;
  /** Applies pending schema migrations; returns the schema version now and the versions this call applied (for the log). */
  migrate(): Promise<{ version: number; applied: number[] }>;
  close(): Promise<void>;
}
