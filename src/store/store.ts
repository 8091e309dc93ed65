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

export interface Store extends Queryable {
  readonly dialect: "sqlite" | "postgres";
  /**
   * Runs `fn` in one serializable transaction: all of its writes commit together (durably, before
   * the returned promise resolves) or none do. `fn` must only use `tx`, never the outer store.
   */
  atomic<T>(fn: (tx: Tx) => Promise<T>): Promise<T>;
  /** Applies pending schema migrations; returns the schema version. */
  migrate(): Promise<number>;
  close(): Promise<void>;
}
