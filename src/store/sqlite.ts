// SQLite backend of the Store (better-sqlite3, WAL); a commit resolves only after the WAL is fsynced (group commit).
import { closeSync, fdatasync, openSync } from "node:fs";
import Database from "better-sqlite3";
import { MIGRATIONS } from "./migrations.js";
import type { AtomicOptions, Row, SqlValue, Store, Tx } from "./store.js";

interface Prepared {
  stmt: Database.Statement;
  /** For each positional `?`, which `$n` parameter (0-based) feeds it. */
  order: number[];
}

/** At most this long between a background commit (a read's audit event) and the fdatasync that covers it. */
const BACKGROUND_SYNC_MS = 50;

/** Rows kept by cachedGet (then it starts over): the hot keys and certificates, bounded for a million-key database. */
const ROW_CACHE_SIZE = 20_000;

/** Callers own what they get: a shallow copy, with Buffers copied so that zeroing one cannot reach the cache. */
function copyRow(r: Row): Row {
  const out: Row = {};
  for (const k in r) {
    const v = r[k];
    out[k] = Buffer.isBuffer(v) ? Buffer.from(v) : v;
  }
  return out;
}

export class SqliteStore implements Store {
  readonly dialect = "sqlite" as const;
  private readonly db: Database.Database;
  /**
   * A second connection for the store's own reads (outside `atomic`): a WAL reader sees committed data only. On the
   * one writing connection, a read made while another request's transaction body awaits would see that
   * transaction's uncommitted writes — and answer a client with state that may yet roll back.
   */
  private readonly reader: Database.Database;
  private readonly cache = new Map<string, Prepared>();
  private readonly readerCache = new Map<string, Prepared>();
  /** Serializes transactions: better-sqlite3 has one connection, and `atomic` bodies are async. */
  private queue: Promise<unknown> = Promise.resolve();
  private readonly tx: Tx;
  private readonly walPath: string;
  private walFd: number | null = null;
  /** The fdatasync now running, and the one queued behind it (which covers every commit made since it started). */
  private syncing: Promise<void> | null = null;
  private queuedSync: Promise<void> | null = null;
  /** Rows read with cachedGet since the last change, by statement and then by parameters (null: no row). */
  private readonly rows = new Map<string, Map<string, Row | null>>();
  private rowCount = 0;
  private versionCheckedAt = 0;
  private readonly dataVersion: Database.Statement;
  private lastDataVersion = 0;
  /** Set once an fdatasync has failed: what reached the disk is unknown, so nothing more is acknowledged. */
  private failed: Error | null = null;
  private syncTimer: NodeJS.Timeout | null = null;
  /** Commits so far; the last one that was a change (waits for its sync); the last one known to be on disk. */
  private commits = 0;
  private lastChange = 0;
  private synced = 0;

  constructor(path: string, opts: { busyTimeoutMs?: number } = {}) {
    this.db = new Database(path, { timeout: opts.busyTimeoutMs ?? 5000 });
    this.db.pragma("journal_mode = WAL");
    this.walPath = `${path}-wal`;
    // Durability without blocking the event loop: SQLite's FULL mode would fsync the WAL inside COMMIT, on this
    // thread. NORMAL differs from FULL only by that per-commit sync (the WAL header is still synced when the WAL
    // restarts, and checkpoints still sync), so `atomic` adds it back as an fdatasync of the WAL on the libuv
    // thread pool, shared by every commit made before it starts, and resolves only after it completes.
    this.db.pragma("synchronous = NORMAL");
    // Checkpoint (copy the WAL into the database and fsync both, on this thread) every 10,000 pages instead of
    // 1,000: under load a commit every few hundred microseconds would otherwise stall for a checkpoint ~20 times
    // a second. The WAL stays under ~40 MB and is reused after each checkpoint.
    this.db.pragma("wal_autocheckpoint = 10000");
    this.db.pragma("foreign_keys = ON");
    // Destroyed material is overwritten on disk, not just unlinked from the page.
    this.db.pragma("secure_delete = ON");
    this.dataVersion = this.db.prepare("PRAGMA data_version").pluck();
    this.lastDataVersion = this.dataVersion.get() as number;
    if (path === ":memory:") this.reader = this.db;
    else {
      this.reader = new Database(path, { timeout: opts.busyTimeoutMs ?? 5000 });
      this.reader.pragma("query_only = ON");
      // 64 MiB of page cache (better-sqlite3's default is 16 MB): with a million keys a Locate by name touches ~5
      // pages of a 1 GB file, and pages served from here skip a read() and a parse.
      this.reader.pragma("cache_size = -65536");
    }
    this.tx = {
      all: async (s, p) => this.allOn(this.db, this.cache, s, p),
      get: async (s, p) => this.getOn(this.db, this.cache, s, p),
      run: async (s, p) => {
        const q = this.prepare(this.db, this.cache, s);
        return q.stmt.run(...this.bind(q, p ?? [])).changes;
      },
    };
  }

  private prepare(db: Database.Database, cache: Map<string, Prepared>, sql: string): Prepared {
    let p = cache.get(sql);
    if (!p) {
      const order: number[] = [];
      const text = sql.replace(/\$(\d+)/g, (_, n: string) => {
        order.push(Number(n) - 1);
        return "?";
      });
      p = { stmt: db.prepare(text), order };
      if (cache.size > 500) cache.clear();
      cache.set(sql, p);
    }
    return p;
  }

  private allOn<T>(db: Database.Database, cache: Map<string, Prepared>, sql: string, params: SqlValue[] = []): T[] {
    const p = this.prepare(db, cache, sql);
    return p.stmt.all(...this.bind(p, params)) as T[];
  }

  private getOn<T>(db: Database.Database, cache: Map<string, Prepared>, sql: string, params: SqlValue[] = []): T | undefined {
    const p = this.prepare(db, cache, sql);
    return p.stmt.get(...this.bind(p, params)) as T | undefined;
  }

  private bind(p: Prepared, params: SqlValue[]): SqlValue[] {
    return p.order.map((i) => {
      const v = params[i];
      if (v === undefined) throw new Error(`missing SQL parameter $${i + 1}`);
      return v;
    });
  }

  /** Reads committed data (the reader connection). */
  async all<T = Row>(sql: string, params: SqlValue[] = []): Promise<T[]> {
    return this.allOn<T>(this.reader, this.readerCache, sql, params);
  }

  /** Reads committed data (the reader connection). */
  async get<T = Row>(sql: string, params: SqlValue[] = []): Promise<T | undefined> {
    return this.getOn<T>(this.reader, this.readerCache, sql, params);
  }

  /** A single write is a transaction of its own: never part of another request's open one, durable when it resolves. */
  run(sql: string, params: SqlValue[] = []): Promise<number> {
    return this.atomic((tx) => tx.run(sql, params));
  }

  async cachedGet<T = Row>(sql: string, params: SqlValue[]): Promise<T | undefined> {
    // Another connection (an offline tool, a misconfigured second server) may have committed: SQLite's
    // data_version says so. Asking costs as much as the row itself, so it is asked at most once a millisecond.
    const now = performance.now();
    if (now - this.versionCheckedAt >= 1) {
      this.versionCheckedAt = now;
      const version = this.dataVersion.get() as number;
      if (version !== this.lastDataVersion) {
        this.lastDataVersion = version;
        this.clearRows();
      }
    }
    let key = "";
    for (const p of params) {
      if (typeof p !== "string" && typeof p !== "number") return this.get<T>(sql, params);
      key += `${p}\u0000`;
    }
    // Keyed by the statement text (a constant string whose hash V8 keeps) and then by the parameters.
    let bySql = this.rows.get(sql);
    const hit = bySql?.get(key);
    if (hit !== undefined) return (hit === null ? undefined : copyRow(hit)) as T | undefined;
    // The reader sees committed rows only; read and store synchronously, so that no commit (which empties the
    // cache) can fall in between. (With one in-memory connection there is no reader: skip caching inside a tx.)
    const cacheable = this.reader !== this.db || !this.db.inTransaction;
    const row = this.getOn<Row>(this.reader, this.readerCache, sql, params);
    if (cacheable) {
      if (this.rowCount >= ROW_CACHE_SIZE) this.clearRows();
      if (!bySql) {
        bySql = new Map();
        this.rows.set(sql, bySql);
      }
      bySql.set(key, row ?? null);
      this.rowCount++;
    }
    return (row === undefined ? undefined : copyRow(row)) as T | undefined;
  }

  private clearRows(): void {
    if (this.rowCount === 0) return;
    this.rows.clear();
    this.rowCount = 0;
  }

  atomic<T>(fn: (tx: Tx) => Promise<T>, opts: AtomicOptions = {}): Promise<T> {
    const background = opts.durability === "background";
    const committed = this.queue.then(async () => {
      if (this.failed) throw this.failed;
      this.db.exec("BEGIN IMMEDIATE");
      try {
        const value = await fn(this.tx);
        this.db.exec("COMMIT");
        this.commits++;
        if (!background) this.lastChange = this.commits;
        return value;
      } catch (e) {
        if (this.db.inTransaction) this.db.exec("ROLLBACK");
        throw e;
      } finally {
        if (!opts.appendOnly) this.clearRows();
      }
    });
    // The next transaction may start while this one's sync runs; this one resolves after the sync.
    this.queue = committed.catch(() => undefined);
    if (background) {
      return committed.then(async (value) => {
        // A read answered now may have seen a change that is committed but not yet on disk (its own sync still
        // running): the read's reply must not get ahead of it, or a power loss could take back what the client
        // was told (e.g. a new key version it already encrypted under). Rare, and that sync is under way.
        if (this.lastChange > this.synced) await this.durable();
        else this.syncSoon();
        return value;
      });
    }
    return committed.then(async (value) => {
      await this.durable();
      return value;
    });
  }

  /**
   * Background commits reach the disk within BACKGROUND_SYNC_MS (or with the next waiting commit's sync, if
   * sooner). Not at once: an fdatasync of the WAL holds up the next commit's write to it, and syncing after
   * every read would cost the server a third of its throughput.
   */
  private syncSoon(): void {
    if (this.syncTimer) return;
    this.syncTimer = setTimeout(() => {
      this.syncTimer = null;
      this.durable().catch(() => undefined); // a failure is reported by every later commit (fail-stop)
    }, BACKGROUND_SYNC_MS);
  }

  /** Resolves when everything committed so far is on disk: joins the next fdatasync to start (group commit). */
  private durable(): Promise<void> {
    if (this.failed) return Promise.reject(this.failed);
    if (!this.syncing) {
      this.syncing = this.fdatasyncWal();
      return this.syncing;
    }
    // A sync already running may have started before our commit: wait for the one after it.
    if (!this.queuedSync) {
      this.queuedSync = this.syncing.then(
        () => this.startQueued(),
        () => this.startQueued(),
      );
    }
    return this.queuedSync;
  }

  private startQueued(): Promise<void> {
    this.queuedSync = null;
    this.syncing = this.fdatasyncWal();
    return this.syncing;
  }

  private fdatasyncWal(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (this.failed) {
        this.syncing = null;
        return reject(this.failed);
      }
      try {
        this.walFd ??= openSync(this.walPath, "r");
      } catch (e) {
        this.syncing = null;
        return reject(this.fail(e));
      }
      const covers = this.commits; // every commit made so far is in the WAL this sync flushes
      fdatasync(this.walFd, (err) => {
        this.syncing = null;
        if (err) reject(this.fail(err));
        else {
          if (covers > this.synced) this.synced = covers;
          resolve();
        }
      });
    });
  }

  private fail(e: unknown): Error {
    // After a failed fsync the kernel may have dropped the dirty pages: retrying could report success for data
    // that is gone. Stop acknowledging; a restart recovers from what the WAL really holds.
    this.failed ??= new Error(`database WAL fsync failed, restart required: ${(e as Error).message}`);
    return this.failed;
  }

  async migrate(): Promise<{ version: number; applied: number[] }> {
    this.db.exec("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL, applied_at TEXT NOT NULL)");
    const row = this.db.prepare("SELECT MAX(version) AS v FROM schema_version").get() as { v: number | null };
    let current = row.v ?? 0;
    const applied: number[] = [];
    for (const m of MIGRATIONS) {
      if (m.version <= current) continue;
      this.db.transaction(() => {
        for (const stmt of m.sqlite) this.db.exec(stmt);
        this.db.prepare("INSERT INTO schema_version (version, applied_at) VALUES (?, ?)").run(m.version, new Date().toISOString());
      })();
      current = m.version;
      applied.push(m.version);
    }
    return { version: current, applied };
  }

  async close(): Promise<void> {
    await this.queue;
    if (this.syncTimer) {
      clearTimeout(this.syncTimer);
      this.syncTimer = null;
      await this.durable().catch(() => undefined);
    }
    await this.queuedSync?.catch(() => undefined);
    await this.syncing?.catch(() => undefined);
    if (this.reader !== this.db) this.reader.close();
    this.db.close();
    if (this.walFd !== null) closeSync(this.walFd);
    this.walFd = null;
  }
}
