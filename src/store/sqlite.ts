// SQLite backend of the Store (better-sqlite3, WAL, synchronous=FULL so a commit is fsynced before we reply).
import Database from "better-sqlite3";
import { MIGRATIONS } from "./migrations.js";
import type { Row, SqlValue, Store, Tx } from "./store.js";

interface Prepared {
  stmt: Database.Statement;
  /** For each positional `?`, which `$n` parameter (0-based) feeds it. */
  order: number[];
}

export class SqliteStore implements Store {
  readonly dialect = "sqlite" as const;
  private readonly db: Database.Database;
  private readonly cache = new Map<string, Prepared>();
  /** Serializes transactions: better-sqlite3 has one connection, and `atomic` bodies are async. */
  private queue: Promise<unknown> = Promise.resolve();
  private readonly tx: Tx;

  constructor(path: string, opts: { busyTimeoutMs?: number } = {}) {
    this.db = new Database(path, { timeout: opts.busyTimeoutMs ?? 5000 });
    this.db.pragma("journal_mode = WAL");
    // FULL: every commit is fsynced, so an acknowledged change survives kill -9 and power loss.
    this.db.pragma("synchronous = FULL");
    this.db.pragma("foreign_keys = ON");
    // Destroyed material is overwritten on disk, not just unlinked from the page.
    this.db.pragma("secure_delete = ON");
    this.tx = { all: (s, p) => this.all(s, p), get: (s, p) => this.get(s, p), run: (s, p) => this.run(s, p) };
  }

  private prepare(sql: string): Prepared {
    let p = this.cache.get(sql);
    if (!p) {
      const order: number[] = [];
      const text = sql.replace(/\$(\d+)/g, (_, n: string) => {
        order.push(Number(n) - 1);
        return "?";
      });
      p = { stmt: this.db.prepare(text), order };
      if (this.cache.size > 500) this.cache.clear();
      this.cache.set(sql, p);
    }
    return p;
  }

  private bind(p: Prepared, params: SqlValue[]): SqlValue[] {
    return p.order.map((i) => {
      const v = params[i];
      if (v === undefined) throw new Error(`missing SQL parameter $${i + 1}`);
      return v;
    });
  }

  async all<T = Row>(sql: string, params: SqlValue[] = []): Promise<T[]> {
    const p = this.prepare(sql);
    return p.stmt.all(...this.bind(p, params)) as T[];
  }

  async get<T = Row>(sql: string, params: SqlValue[] = []): Promise<T | undefined> {
    const p = this.prepare(sql);
    return p.stmt.get(...this.bind(p, params)) as T | undefined;
  }

  async run(sql: string, params: SqlValue[] = []): Promise<number> {
    const p = this.prepare(sql);
    return p.stmt.run(...this.bind(p, params)).changes;
  }

  atomic<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    const result = this.queue.then(async () => {
      this.db.exec("BEGIN IMMEDIATE");
      try {
        const value = await fn(this.tx);
        this.db.exec("COMMIT");
        return value;
      } catch (e) {
        if (this.db.inTransaction) this.db.exec("ROLLBACK");
        throw e;
      }
    });
    this.queue = result.catch(() => undefined);
    return result;
  }

  async migrate(): Promise<number> {
    this.db.exec("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL, applied_at TEXT NOT NULL)");
    const row = this.db.prepare("SELECT MAX(version) AS v FROM schema_version").get() as { v: number | null };
    let current = row.v ?? 0;
    for (const m of MIGRATIONS) {
      if (m.version <= current) continue;
      this.db.transaction(() => {
        for (const stmt of m.sqlite) this.db.exec(stmt);
        this.db.prepare("INSERT INTO schema_version (version, applied_at) VALUES (?, ?)").run(m.version, new Date().toISOString());
      })();
      current = m.version;
    }
    return current;
  }

  async close(): Promise<void> {
    await this.queue;
    this.db.close();
  }
}
