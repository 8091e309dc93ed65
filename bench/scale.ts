// The scale benchmark (`npm run bench:scale`): generates N AES-256 keys (default 1,000,000) through the key service in
// batched transactions, then measures on that database: start-up time to serving, resident memory, KMIP Locate by
// name and Get latency over TLS with names and ids from across the whole set, and database size per key.
import { X509Certificate } from "node:crypto";
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, statSync, writeFileSync, writeSync } from "node:fs";
import { createServer } from "node:net";
import { cpus, release, tmpdir, totalmem } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import Database from "better-sqlite3";
import { openApp } from "../src/app.js";
import { identify } from "../src/auth/identity.js";
import { loadConfig, resolvePath } from "../src/config/config.js";
import { initInstance } from "../src/init.js";
import { FrameReader } from "../src/kmip/codec/frame-reader.js";
import { Enum } from "../src/kmip/codec/tables.js";
import { find, findAll, Tag } from "../src/kmip/codec/ttlv.js";
import { createLogger } from "../src/logger.js";
import { atExit, type Child, forkChild, installCleanup, killAll, ownIds } from "./children.js";
import { type CycleResult, cycleLoad } from "./cycle-load.js";
import { kmipOutcome, openTls, type Target } from "./kmip-load.js";
import { CpuAccount, conditionsLine, fsyncLatency } from "./machine.js";
import { getRequest, locatePagedRequest, locateRequest, responsePayloads } from "./requests.js";

const { values: args } = parseArgs({
  options: {
    keys: { type: "string", default: "1000000" },
    batch: { type: "string", default: "1000" },
    requests: { type: "string", default: "20000" },
    starts: { type: "string", default: "3" },
    rounds: { type: "string", default: "3" },
    dir: { type: "string" },
    reuse: { type: "boolean", default: false },
    write: { type: "boolean", default: false },
    profile: { type: "string" },
    help: { type: "boolean", default: false },
  },
});

if (args.help) {
  console.log(`npm run bench:scale -- [options]
  --keys N        keys in the database (default 1000000)
  --batch B       keys per bulk-create transaction while generating (default 1000, at most 1000)
  --requests R    measured requests per latency run (default 20000; Get runs use R/2)
  --starts S      server start-ups timed (default 3)
  --rounds R      rounds of every latency run, each on names/keys of its own; the best round is reported (default 3)
  --dir PATH      instance directory (kept afterwards); default: a temporary directory, removed at the end
  --reuse         with --dir: use the instance already there, generating only the keys still missing
  --write         write the results into docs/performance.md (between <!-- scale:begin --> and <!-- scale:end -->)
  --profile DIR   run the first server start under node --cpu-prof, writing its .cpuprofile into DIR`);
  process.exit(0);
}

const num = (name: string, v: string | undefined) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`--${name} must be a positive integer`);
  return n;
};
const KEYS = num("keys", args.keys);
const BATCH = num("batch", args.batch);
const REQUESTS = num("requests", args.requests);
const STARTS = num("starts", args.starts);
const ROUNDS = num("rounds", args.rounds);
if (args.reuse && !args.dir) throw new Error("--reuse needs --dir");

const LOCK = "/tmp/bench.lock";
/** From this many keys on, a run takes the machine's benchmark lock (another engineer benchmarks on it too). */
const HEAVY = 100_000;
const TARGET = { startupSeconds: 5, rssBytes: 300e6, locateP99ms: 1, bytesPerKey: 2000 };

const log = (s: string) => process.stderr.write(`${s}\n`);
/** The server's warnings and errors reach the benchmark's stderr (JSON lines); its info lines do not. */
const quiet = createLogger(process.stderr, { level: "warn" });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const int = (n: number) => Math.round(n).toLocaleString("en-US");
const ms = (n: number) => `${n.toFixed(2)} ms`;
const mb = (n: number) => `${int(n / 1e6)} MB`;
const keyName = (i: number) => `scale-${String(i).padStart(7, "0")}`;

// ------------------------------------------------------------------------------------------------ the machine lock

/** Waits until nobody else holds /tmp/bench.lock, then takes it (removed at exit, only if it is ours). */
async function takeLock(): Promise<void> {
  let told = false;
  for (;;) {
    try {
      const fd = openSync(LOCK, "wx");
      writeSync(fd, `bench:scale pid ${process.pid} since ${new Date().toISOString()}\n`);
      closeSync(fd);
      atExit(() => {
        try {
          if (readFileSync(LOCK, "utf8").includes(`pid ${process.pid} `)) rmSync(LOCK);
        } catch {
          /* already gone */
        }
      });
      return;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    }
    if (!told) {
      let holder = "";
      try {
        holder = readFileSync(LOCK, "utf8").trim();
      } catch {
        /* just released */
      }
      log(`${LOCK} exists (${holder || "another benchmark"}): waiting until it is gone …`);
      told = true;
    }
    await sleep(5000);
  }
}

// ------------------------------------------------------------------------------------------------ progress bar

/** keys done / total, rate and ETA on stderr: redrawn at most 10×/s on a terminal, a line every 5 s otherwise. */
class Progress {
  private last = 0;
  private readonly t0 = performance.now();
  private readonly tty = process.stderr.isTTY === true;
  constructor(
    private readonly total: number,
    private readonly from: number,
  ) {}

  update(done: number, force = false): void {
    const now = performance.now();
    if (!force && now - this.last < (this.tty ? 100 : 5000)) return;
    this.last = now;
    const s = (now - this.t0) / 1000;
    const rate = s > 0 ? (done - this.from) / s : 0;
    const eta = rate > 0 ? (this.total - done) / rate : 0;
    const frac = this.total ? done / this.total : 1;
    const width = 30;
    const bar = "#".repeat(Math.round(frac * width)).padEnd(width, ".");
    const clock = (x: number) => `${Math.floor(x / 60)}m${String(Math.round(x % 60)).padStart(2, "0")}s`;
    const line = `[${bar}] ${int(done)} / ${int(this.total)} keys ${(frac * 100).toFixed(1)}%  ${int(rate)} keys/s  ETA ${clock(eta)}`;
    process.stderr.write(this.tty ? `\r${line}\x1b[K` : `${line}\n`);
  }

  finish(done: number): void {
    this.update(done, true);
    if (this.tty) process.stderr.write("\n");
  }
}

// ------------------------------------------------------------------------------------------------ instance and keys

interface Instance {
  dir: string;
  database: string;
  bundle: { cert: string; key: string; ca: string };
}

function instanceOf(dir: string): Instance {
  const cfg = loadConfig(dir);
  const b = join(dir, "bundles", "app");
  return {
    dir,
    database: resolvePath(cfg, cfg.storage.path),
    bundle: { cert: join(b, "cert.pem"), key: join(b, "key.pem"), ca: join(b, "ca.pem") },
  };
}

/** Keys of this benchmark already in the database (names are scale-0000000 …, created in order, batch by batch). */
function countKeys(database: string): number {
  const db = new Database(database, { readonly: true });
  try {
    return (db.prepare("SELECT COUNT(*) AS n FROM keys WHERE name >= 'scale-' AND name < 'scale.'").get() as { n: number }).n;
  } finally {
    db.close();
  }
}

/**
 * Creates keys `from` … `total - 1` as the `app` client would (owner app, AES-256, Active), through the key
 * service's bulk create: material generated and wrapped per key, one audit event per key, `batch` keys per transaction.
 */
async function generate(inst: Instance, from: number, total: number, batch: number): Promise<number> {
  const app = await openApp(inst.dir, { log: quiet });
  try {
    if (!(await app.barrier.autoUnseal(process.env))) throw new Error("the instance did not unseal (file seal expected)");
    const cert = new X509Certificate(readFileSync(inst.bundle.cert));
    const field = (k: string) => new RegExp(`${k}=([^\\n,]+)`).exec(cert.subject)?.[1] ?? "";
    const actor = await identify(app.store, { serial: cert.serialNumber, cn: field("CN"), ou: field("OU") }, null, app.clock());
    const progress = new Progress(total, from);
    const t0 = performance.now();
    for (let i = from; i < total; i += batch) {
      const reqs = Array.from({ length: Math.min(batch, total - i) }, (_, j) => ({ name: keyName(i + j), type: "aes-256" as const }));
      await app.keys.createMany({ actor, requestId: `bench-scale-${i}` }, reqs);
      progress.update(i + reqs.length);
    }
    progress.finish(total);
    return (performance.now() - t0) / 1000;
  } finally {
    await app.close();
  }
}

interface DbSize {
  fileBytes: number;
  walBytes: number;
  pageSize: number;
  pages: number;
  freePages: number;
  /** Per table, its indexes included (dbstat). */
  tables: { table: string; rows: number; bytes: number; indexBytes: number }[];
  keyCreateEvents: number;
  /** SQLite's default page cache per connection (a negative cache_size is KiB). */
  defaultCacheBytes: number;
}

/** Checkpoints the WAL into the data file and measures it (the server is not running). */
function databaseSize(database: string): DbSize {
  const db = new Database(database);
  try {
    db.pragma("wal_checkpoint(TRUNCATE)");
    const size = (p: string) => (existsSync(p) ? statSync(p).size : 0);
    const owner = new Map(
      (db.prepare("SELECT name, tbl_name FROM sqlite_master").all() as { name: string; tbl_name: string }[]).map((r) => [
        r.name,
        r.tbl_name,
      ]),
    );
    const byTable = new Map<string, { bytes: number; indexBytes: number }>();
    for (const r of db.prepare("SELECT name, SUM(pgsize) AS bytes FROM dbstat GROUP BY name").all() as { name: string; bytes: number }[]) {
      const table = owner.get(r.name) ?? r.name;
      const t = byTable.get(table) ?? { bytes: 0, indexBytes: 0 };
      if (table === r.name) t.bytes += r.bytes;
      else t.indexBytes += r.bytes;
      byTable.set(table, t);
    }
    const rows = (t: string) => {
      try {
        return (db.prepare(`SELECT COUNT(*) AS n FROM "${t}"`).get() as { n: number }).n;
      } catch {
        return 0;
      }
    };
    return {
      fileBytes: size(database),
      walBytes: size(`${database}-wal`),
      pageSize: db.pragma("page_size", { simple: true }) as number,
      pages: db.pragma("page_count", { simple: true }) as number,
      freePages: db.pragma("freelist_count", { simple: true }) as number,
      tables: [...byTable.entries()]
        .map(([table, t]) => ({ table, rows: rows(table), ...t }))
        .sort((a, b) => b.bytes + b.indexBytes - (a.bytes + a.indexBytes)),
      defaultCacheBytes: (() => {
        const c = db.pragma("cache_size", { simple: true }) as number;
        return c < 0 ? -c * 1024 : c * (db.pragma("page_size", { simple: true }) as number);
      })(),
      keyCreateEvents: (db.prepare("SELECT COUNT(*) AS n FROM events WHERE action = 'key.create'").get() as { n: number }).n,
    };
  } finally {
    db.close();
  }
}

/** `count` distinct random key indexes in [0, total) with their object ids, in random order. */
function sample(database: string, total: number, count: number): { name: string; id: string }[] {
  const n = Math.min(count, total);
  const picked = new Set<number>();
  while (picked.size < n) picked.add(Math.floor(Math.random() * total));
  const db = new Database(database, { readonly: true });
  try {
    const q = db.prepare("SELECT id FROM objects WHERE name = ? AND version = 1 AND is_primary = 1");
    return [...picked].map((i) => {
      const row = q.get(keyName(i)) as { id: string } | undefined;
      if (!row) throw new Error(`key ${keyName(i)} is missing from the database`);
      return { name: keyName(i), id: row.id };
    });
  } finally {
    db.close();
  }
}

/** Reads the whole file once (into the OS page cache); returns the seconds it took. */
function prewarm(path: string): number {
  const t0 = performance.now();
  const fd = openSync(path, "r");
  const buf = Buffer.allocUnsafe(1 << 20);
  try {
    while (readSync(fd, buf, 0, buf.length, null) > 0);
  } finally {
    closeSync(fd);
  }
  return (performance.now() - t0) / 1000;
}

/** The kernel's DAMON page-out of idle file pages, when this machine runs it (Linux sysfs), in words. */
function pageoutPolicy(): string | null {
  const base = "/sys/kernel/mm/damon/admin/kdamonds/0";
  try {
    if (readFileSync(`${base}/state`, "utf8").trim() !== "on") return null;
    const ctx = `${base}/contexts/0`;
    const scheme = `${ctx}/schemes/0`;
    if (readFileSync(`${scheme}/action`, "utf8").trim() !== "pageout") return null;
    const aggr = Number(readFileSync(`${ctx}/monitoring_attrs/intervals/aggr_us`, "utf8")) / 1e6;
    const age = Number(readFileSync(`${scheme}/access_pattern/age/min`, "utf8"));
    // An "anon" filter that is not allowed: only the file cache is paged out (the server's own memory is not).
    let fileOnly = false;
    for (let i = 0; existsSync(`${scheme}/ops_filters/${i}`); i++) {
      const f = (x: string) => readFileSync(`${scheme}/ops_filters/${i}/${x}`, "utf8").trim();
      if (f("type") === "anon" && f("matching") === "Y" && f("allow") === "N") fileOnly = true;
    }
    return `the kernel pages out ${fileOnly ? "file-cache pages" : "memory"} not accessed for ${Math.round(age * aggr)} s or more (DAMON pageout)`;
  } catch {
    return null;
  }
}

// ------------------------------------------------------------------------------------------------ the server

function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once("error", rej);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => res(port));
    });
  });
}

/** One request, one response frame, on a fresh connection (start-up probe and checks). */
async function kmipCall(target: Target, request: Buffer, timeoutMs = 5000): Promise<Buffer> {
  const s = await openTls(target);
  try {
    return await new Promise<Buffer>((res, rej) => {
      const reader = new FrameReader({ maxFrameBytes: 1 << 24 });
      const t = setTimeout(() => rej(new Error("no response")), timeoutMs);
      s.on("data", (c: Buffer) => {
        const [f] = reader.push(c);
        if (f) {
          clearTimeout(t);
          res(Buffer.from(f));
        }
      });
      s.on("error", rej);
      s.on("close", () => rej(new Error("connection closed before a response")));
      s.write(request);
    });
  } finally {
    s.destroy();
  }
}

interface Memory {
  rss: number;
  hwm: number;
  heapUsed: number;
}

interface Started {
  child: Child;
  target: Target;
  /** Spawn → first successful KMIP Get over TLS. */
  seconds: number;
  /** The child's own view: Node.js boot and module loading, startServer, ready message. */
  timings: { moduleStartMs: number; startServerMs: number; readyMs: number };
  attempts: number;
}

/** Spawns the server on the existing instance and probes it with a KMIP Get until one succeeds. */
async function startTimed(inst: Instance, tls: Target["tls"], probe: Buffer, profile?: string): Promise<Started> {
  const [kmipPort, apiPort] = [await freePort(), await freePort()];
  const target: Target = { port: kmipPort, tls };
  const t0 = performance.now();
  const child = forkChild(
    "./scale-serve.js",
    ["--dir", inst.dir, "--kmip-port", String(kmipPort), "--api-port", String(apiPort)],
    profile ? ["--cpu-prof", "--cpu-prof-dir", profile] : [],
  );
  let attempts = 0;
  let last = "";
  for (;;) {
    if (child.proc.exitCode !== null || child.proc.signalCode !== null) throw new Error(`the server exited during start-up (${last})`);
    if (performance.now() - t0 > 120_000) throw new Error(`the server did not serve within 120 s (${last})`);
    attempts++;
    try {
      const frame = await kmipCall(target, probe);
      const outcome = kmipOutcome(frame);
      if (outcome === null) break;
      last = outcome;
    } catch (e) {
      last = (e as Error).message;
    }
    await sleep(5);
  }
  const seconds = (performance.now() - t0) / 1000;
  const ready = (await child.first) as { timings: Started["timings"] };
  return { child, target, seconds, timings: ready.timings, attempts };
}

// ------------------------------------------------------------------------------------------------ Locate exactness

interface LocateExactness {
  checks: { what: string; ok: boolean; detail: string; ms: number }[];
}

/**
 * KMIP Locate answers exactly at this size (issue 10, finding 3): by name (one name, several names paged with Maximum
 * and Offset Items, an unknown name) and by Object Type with an offset deep into all the keys — identifiers and Located
 * Items compared with the database itself, read directly (a Locate that filtered in memory stopped at 100,000 rows).
 */
async function checkLocate(target: Target, database: string, pool: { name: string; id: string }[]): Promise<LocateExactness> {
  const checks: LocateExactness["checks"] = [];
  const ask = async (req: Buffer) => {
    const t0 = performance.now();
    const p = responsePayloads(await kmipCall(target, req, 120_000))[0];
    return {
      ids: findAll(p, Tag.UniqueIdentifier).map((u) => String(u.value)),
      located: find(p, Tag.LocatedItems)?.value as number | undefined,
      ms: performance.now() - t0,
    };
  };
  const same = (a: string[], b: string[]) => a.length === b.length && a.every((x, i) => x === b[i]);
  const add = (what: string, ok: boolean, detail: string, ms: number) => {
    checks.push({ what, ok, detail, ms });
    log(`  ${ok ? "ok  " : "FAIL"} ${what}: ${detail} (${ms.toFixed(1)} ms)`);
  };
  const one = pool[0];
  let r = await ask(locatePagedRequest({ names: [one.name], max: 10, offset: 0 }));
  add("Locate by one name", same(r.ids, [one.id]) && r.located === 1, `[${r.ids.length} id(s)], Located Items ${r.located}`, r.ms);
  r = await ask(locatePagedRequest({ names: [one.name], max: 10, offset: 1 }));
  add("the same, Offset Items 1", r.ids.length === 0 && r.located === 1, `${r.ids.length} id(s), Located Items ${r.located}`, r.ms);
  r = await ask(locatePagedRequest({ names: ["scale-no-such-key"], max: 10, offset: 0 }));
  add("Locate by an unknown name", r.ids.length === 0 && r.located === 0, `${r.ids.length} id(s), Located Items ${r.located}`, r.ms);
  // Five names from across the set, paged two at a time: every one exactly once, Located Items 5 on every page.
  const five = pool.slice(1, 6);
  const got: string[] = [];
  let okPages = true;
  let ms = 0;
  for (let offset = 0; offset < 6; offset += 2) {
    r = await ask(locatePagedRequest({ names: five.map((p) => p.name), max: 2, offset }));
    ms += r.ms;
    okPages &&= r.located === five.length && r.ids.length === Math.min(2, Math.max(0, five.length - offset));
    got.push(...r.ids);
  }
  add(
    "Locate by 5 names, Maximum Items 2, Offset Items 0/2/4",
    okPages && same([...got].sort(), five.map((p) => p.id).sort()),
    `${got.length} id(s) over 3 pages, ${new Set(got).size} distinct`,
    ms,
  );
  // By Object Type, 5 identifiers from deep in the order: Located Items counts every key, the page is the database's.
  const db = new Database(database, { readonly: true });
  let total: number;
  let deep: string[];
  const where = "object_type = 'SymmetricKey' AND state NOT IN ('Destroyed', 'Destroyed Compromised')";
  try {
    total = (db.prepare(`SELECT COUNT(*) AS n FROM objects WHERE ${where}`).get() as { n: number }).n;
    deep = (
      db.prepare(`SELECT id FROM objects WHERE ${where} ORDER BY created_at DESC, id LIMIT 5 OFFSET ?`).all(Math.max(0, total - 7)) as {
        id: string;
      }[]
    ).map((x) => x.id);
  } finally {
    db.close();
  }
  r = await ask(locatePagedRequest({ objectType: Enum.ObjectType.SymmetricKey, max: 5, offset: Math.max(0, total - 7) }));
  add(
    `Locate by Object Type, Offset Items ${int(Math.max(0, total - 7))}, Maximum Items 5`,
    same(r.ids, deep) && r.located === total,
    `Located Items ${r.located === undefined ? "absent" : int(r.located)} (database: ${int(total)}), page ${same(r.ids, deep) ? "=" : "≠"} database order`,
    r.ms,
  );
  return { checks };
}

// ------------------------------------------------------------------------------------------------ the report

interface Run {
  label: string;
  connections: number;
  /** Measured requests per round. */
  requests: number;
  /** The round with the lowest p99 (noise on a shared machine only ever slows a round down). */
  result: CycleResult;
  rounds: CycleResult[];
}

interface ScaleReport {
  command: string;
  date: string;
  machine: string;
  fsync: { before: { p50ms: number; p99ms: number }; after: { p50ms: number; p99ms: number } };
  othersCores: number | null;
  keys: number;
  generated: { keys: number; seconds: number; batch: number } | null;
  db: DbSize;
  starts: Started[];
  memory: { afterStart: Memory; afterRuns: Memory };
  runs: Record<"locate1" | "locateWarm" | "locate8" | "getFirst" | "getRepeat" | "get8", Run>;
  locateExact: LocateExactness;
  /** Seconds to read the database file before each round of `locateWarm`. */
  prewarmSeconds: number[];
  pageout: string | null;
  totalSeconds: number;
  /** Of which waiting for another benchmark's /tmp/bench.lock. */
  lockSeconds: number;
}

function formatReport(r: ScaleReport): string {
  const dbBytes = r.db.fileBytes + r.db.walBytes;
  const perKey = dbBytes / r.keys;
  const slowest = Math.max(...r.starts.map((s) => s.seconds));
  const peak = Math.max(r.memory.afterStart.hwm, r.memory.afterRuns.hwm);
  const met = (ok: boolean) => (ok ? "met" : "**not met**");
  const lat = (x: Run) => `${ms(x.result.p50ms)} / ${ms(x.result.p99ms)}`;
  const p99s = (x: Run) => x.rounds.map((y) => y.p99ms.toFixed(2)).join(" / ");
  const runFailed = (x: Run) => (x.result.failed > 0 ? ` — **${x.result.failed} failed: ${x.result.firstFailure}**` : "");
  const L: string[] = [];
  L.push(
    `Machine: ${r.machine}; ${r.date}. Command: \`${r.command}\` (${Math.round(r.totalSeconds)} s in all` +
      (r.lockSeconds >= 1 ? `, ${Math.round(r.lockSeconds)} s of it waiting for another benchmark's ${LOCK}).` : ")."),
  );
  L.push("");
  L.push(conditionsLine(r.fsync, r.othersCores));
  L.push("");
  L.push(
    r.generated
      ? `${int(r.keys)} AES-256 keys in the database: ${int(r.generated.keys)} generated in ${r.generated.seconds.toFixed(1)} s ` +
          `(${int(r.generated.keys / r.generated.seconds)} keys/s; key service bulk create, ${int(r.generated.batch)} keys per transaction, ` +
          `${int(r.db.keyCreateEvents)} key.create audit events).`
      : `${int(r.keys)} AES-256 keys in the database (reused instance; ${int(r.db.keyCreateEvents)} key.create audit events).`,
  );
  L.push("");
  L.push("| measure | value | target | met? |");
  L.push("|---|---:|---|---|");
  L.push(
    `| Start-up to serving: spawn → first KMIP Get over TLS succeeds (slowest of ${r.starts.length}) | ${slowest.toFixed(2)} s ` +
      `(${r.starts.map((s) => s.seconds.toFixed(2)).join(" / ")}) | ≤ ${TARGET.startupSeconds} s | ${met(slowest <= TARGET.startupSeconds)} |`,
  );
  L.push(
    `| Resident memory (VmRSS) of the server after start-up | ${mb(r.memory.afterStart.rss)} | ≤ 300 MB | ${met(r.memory.afterStart.rss <= TARGET.rssBytes)} |`,
  );
  L.push(
    `| Resident memory after the latency runs (peak VmHWM) | ${mb(r.memory.afterRuns.rss)} (peak ${mb(peak)}) | ≤ 300 MB | ${met(peak <= TARGET.rssBytes)} |`,
  );
  const loc = r.runs.locate1;
  L.push(
    `| KMIP Locate by name, 1 connection: p50 / p99 | ${lat(loc)} | p99 ≤ ${TARGET.locateP99ms} ms | ${
      loc.result.failed ? "invalid: requests failed" : met(loc.result.p99ms <= TARGET.locateP99ms)
    } |`,
  );
  L.push(
    `| KMIP Locate by name, 1 connection, database file read into the page cache just before (informational) | ${lat(r.runs.locateWarm)} | — | — |`,
  );
  L.push(`| KMIP Get by id, first retrieval of each key, 1 connection: p50 / p99 | ${lat(r.runs.getFirst)} | reported | — |`);
  L.push(`| KMIP Get by id, repeat retrieval, 1 connection: p50 / p99 | ${lat(r.runs.getRepeat)} | reported | — |`);
  L.push(
    `| Database per key: (data file + WAL after a checkpoint) / keys | ${int(perKey)} B (${mb(dbBytes)} in all) | ≤ 2 KB (2,000 B) | ${met(perKey <= TARGET.bytesPerKey)} |`,
  );
  L.push("");
  L.push(
    `Every latency run, each request a different name or key drawn at random from the whole set; ${r.runs.locate1.rounds.length} round(s) ` +
      "per run on names and keys of their own, the round with the lowest p99 shown, the p99 of every round in the last column " +
      "(failures are those of all rounds):",
  );
  L.push("");
  L.push("| run | connections | requests | rate | p50 | p90 | p99 | max | p99 of each round | failed |");
  L.push("|---|---:|---:|---:|---:|---:|---:|---:|---|---:|");
  for (const x of Object.values(r.runs)) {
    const y = x.result;
    L.push(
      `| ${x.label} | ${x.connections} | ${int(x.requests)} | ${int(y.rate)}/s | ${ms(y.p50ms)} | ${ms(y.p90ms)} | ${ms(y.p99ms)} | ${ms(y.maxms)} | ${p99s(x)} ms | ${y.failed}${runFailed(x)} |`,
    );
  }
  L.push("");
  L.push(
    `The database (${mb(dbBytes)}) is larger than SQLite's page cache in the server (${mb(r.db.defaultCacheBytes)} by default), so a lookup of a random name ` +
      "reads pages from the OS page cache or, when they are not there, from the disk" +
      (r.pageout ? `; on this machine ${r.pageout}` : "") +
      `. The informational Locate run reads the whole file first: ${r.prewarmSeconds.map((x) => `${x.toFixed(2)} s`).join(" / ")} per round` +
      (r.prewarmSeconds.length ? `, at least ${(dbBytes / Math.max(...r.prewarmSeconds) / 1e9).toFixed(1)} GB/s` : "") +
      (r.prewarmSeconds.length && dbBytes / Math.max(...r.prewarmSeconds) >= 2e9
        ? " (the file was already in memory: the pre-read changes little)."
        : " (part of it came from the disk)."),
  );
  L.push("");
  const s0 = r.starts[0];
  L.push(
    `Start-up, as the server process saw it (first start): Node.js boot and module loading ${ms(s0.timings.moduleStartMs)}, ` +
      `\`startServer\` (open the database, migrations, unseal, scheduler, TLS listeners) ${ms(s0.timings.startServerMs)}, ` +
      `listening ${ms(s0.timings.readyMs)} after the process started; the first Get succeeded ${ms(s0.seconds * 1000)} after spawn ` +
      `(${s0.attempts} probe attempt(s), one connection each).`,
  );
  L.push("");
  L.push(
    `Memory of the server: after start-up VmRSS ${mb(r.memory.afterStart.rss)} (V8 heap used ${mb(r.memory.afterStart.heapUsed)}); ` +
      `after the latency runs VmRSS ${mb(r.memory.afterRuns.rss)} (heap used ${mb(r.memory.afterRuns.heapUsed)}), peak VmHWM ${mb(peak)}.`,
  );
  L.push("");
  L.push(
    `Database: ${int(r.db.pages)} pages of ${int(r.db.pageSize)} B (${int(r.db.freePages)} free), data file ${mb(r.db.fileBytes)}, ` +
      `WAL ${int(r.db.walBytes)} B after \`PRAGMA wal_checkpoint(TRUNCATE)\`; by table (SQLite \`dbstat\`), indexes included:`,
  );
  L.push("");
  L.push("| table | rows | table bytes | index bytes | bytes per key |");
  L.push("|---|---:|---:|---:|---:|");
  for (const t of r.db.tables.filter((t) => t.bytes + t.indexBytes >= 64 * 1024)) {
    L.push(`| ${t.table} | ${int(t.rows)} | ${mb(t.bytes)} | ${mb(t.indexBytes)} | ${int((t.bytes + t.indexBytes) / r.keys)} B |`);
  }
  const small = r.db.tables.filter((t) => t.bytes + t.indexBytes < 64 * 1024);
  if (small.length)
    L.push(`| ${small.length} other tables | | | | ${int(small.reduce((n, t) => n + t.bytes + t.indexBytes, 0) / r.keys)} B |`);
  L.push("");
  L.push(
    `KMIP Locate exactness at ${int(r.keys)} keys (identifiers and Located Items against the database, read directly; one connection, ` +
      "one request each):",
  );
  L.push("");
  L.push("| check | result | detail | time |");
  L.push("|---|---|---|---:|");
  for (const c of r.locateExact.checks) L.push(`| ${c.what} | ${c.ok ? "exact" : "**wrong**"} | ${c.detail} | ${ms(c.ms)} |`);
  return L.join("\n");
}

const BEGIN = "<!-- scale:begin -->";
const END = "<!-- scale:end -->";

function writeDocs(doc: string, text: string): string {
  const section = `${BEGIN}\n${text}\n${END}`;
  const a = doc.indexOf(BEGIN);
  const b = doc.indexOf(END);
  if (a >= 0 && b > a) return doc.slice(0, a) + section + doc.slice(b + END.length);
  return `${doc.trimEnd()}\n\n## Results (scale)\n\n${section}\n`;
}

// ------------------------------------------------------------------------------------------------ main

async function main(): Promise<void> {
  installCleanup();
  const started = performance.now();
  const dir = args.dir ? resolve(args.dir) : join(mkdtempSync(join(tmpdir(), "strongroom-scale-")), "instance");
  if (!args.dir) atExit(() => rmSync(join(dir, ".."), { recursive: true, force: true }));
  const reuse = args.reuse && existsSync(join(dir, "strongroom.yaml"));
  const present = reuse ? countKeys(instanceOf(dir).database) : 0;
  if (present > KEYS) throw new Error(`${dir} already holds ${int(present)} keys, more than --keys ${int(KEYS)}`);
  const lockWait = performance.now();
  if (KEYS >= HEAVY) await takeLock();
  const lockSeconds = (performance.now() - lockWait) / 1000;

  const fsyncBefore = fsyncLatency(dirname(dir));
  const cpu = new CpuAccount(ownIds);
  cpu.start();
  if (!reuse) {
    log(`initializing a Strongroom instance in ${dir} (file seal)`);
    await initInstance({ dir, seal: "file", hosts: ["localhost", "127.0.0.1"], apiPort: 0, kmipPort: 0, profile: "development" });
  }
  const inst = instanceOf(dir);
  let generated: ScaleReport["generated"] = null;
  if (present < KEYS) {
    log(`generating ${int(KEYS - present)} AES-256 keys (key service bulk create, ${int(BATCH)} per transaction) …`);
    const seconds = await generate(inst, present, KEYS, BATCH);
    generated = { keys: KEYS - present, seconds, batch: BATCH };
  } else log(`reusing ${int(present)} keys in ${dir}`);

  log("measuring the database (checkpoint, dbstat) …");
  const db = databaseSize(inst.database);
  // Every round uses names and keys of its own: with fewer keys than the runs need (a quick check with --keys), the
  // runs shrink to fit rather than reuse a key (a reused key's Get would no longer be a first retrieval).
  const warmOf = (r: number) => Math.min(1000, Math.ceil(r / 10));
  const need = (r: number) => 3 * ROUNDS * (warmOf(r) + r) + ROUNDS * (warmOf(r) + Math.ceil(r / 2)) + 1;
  let perRun = REQUESTS;
  while (perRun > 100 && need(perRun) > KEYS) perRun = Math.floor(perRun * 0.9);
  if (need(perRun) > KEYS) throw new Error(`--keys must be at least ${int(need(100))} for ${ROUNDS} round(s)`);
  if (perRun < REQUESTS) log(`${int(KEYS)} keys: ${int(perRun)} measured requests per round instead of ${int(REQUESTS)}`);
  const warm = warmOf(perRun);
  const getCount = Math.ceil(perRun / 2);
  // Locate: every round of the 1- and 8-connection runs on names of its own. Get: every round on keys of its own,
  // each key retrieved three times over (first retrieval, repeat, repeat at 8 connections).
  const locateSlice = warm + perRun;
  const getSlice = warm + getCount;
  const picks = sample(inst.database, KEYS, 3 * ROUNDS * locateSlice + ROUNDS * getSlice + 1);
  const probe = getRequest(picks[picks.length - 1].id);
  const locatePool = picks.slice(0, 3 * ROUNDS * locateSlice);
  const getPool = picks.slice(3 * ROUNDS * locateSlice, 3 * ROUNDS * locateSlice + ROUNDS * getSlice);
  const locateReqs = locatePool.map((p) => locateRequest(p.name));
  const getReqs = getPool.map((p) => getRequest(p.id));
  const locateCheck = (frame: Buffer, index: number): string | null => {
    const ids = findAll(responsePayloads(frame)[0], Tag.UniqueIdentifier).map((u) => String(u.value));
    return ids.length === 1 && ids[0] === locatePool[index].id ? null : `Locate ${locatePool[index].name} returned [${ids.join(", ")}]`;
  };

  const tls = { cert: readFileSync(inst.bundle.cert), key: readFileSync(inst.bundle.key), ca: readFileSync(inst.bundle.ca) };
  const starts: Started[] = [];
  log(`starting the server on the existing instance (${STARTS} timed start-ups) …`);
  const first = await startTimed(inst, tls, probe, args.profile);
  starts.push(first);
  log(`  serving after ${first.seconds.toFixed(2)} s`);
  await sleep(1000);
  const afterStart = await first.child.call<Memory>({ type: "memory" });

  /** `ROUNDS` rounds of one run; round r starts at `firstStart + r * slice` of the request list. */
  const run = async (
    label: string,
    requests: Buffer[],
    connections: number,
    count: number,
    firstStart: number,
    slice: number,
    check?: typeof locateCheck,
    beforeRound?: () => void,
  ): Promise<Run> => {
    const rounds: CycleResult[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      beforeRound?.();
      const result = await cycleLoad(
        first.target,
        requests,
        { connections, warmup: warm, count, start: firstStart + round * slice },
        check,
      );
      log(
        `  ${label.padEnd(52)} ${connections} conn  p50 ${ms(result.p50ms)}  p99 ${ms(result.p99ms)}  ${int(result.rate)}/s` +
          (result.failed ? `  FAILED ${result.failed}: ${result.firstFailure}` : ""),
      );
      rounds.push(result);
    }
    const best = rounds.reduce((a, b) => (b.p99ms < a.p99ms ? b : a));
    const failed = rounds.reduce((n, x) => n + x.failed, 0);
    const firstFailure = rounds.find((x) => x.firstFailure)?.firstFailure;
    return { label, connections, requests: count, result: { ...best, failed, ...(firstFailure ? { firstFailure } : {}) }, rounds };
  };
  const prewarmSeconds: number[] = [];
  const runs: ScaleReport["runs"] = {
    locate1: await run("KMIP Locate by name", locateReqs, 1, perRun, 0, locateSlice, locateCheck),
    // Informational: the same, with the database file read into the OS page cache just before each round.
    locateWarm: await run(
      "KMIP Locate by name, database file pre-read (page cache)",
      locateReqs,
      1,
      perRun,
      2 * ROUNDS * locateSlice,
      locateSlice,
      locateCheck,
      () => prewarmSeconds.push(prewarm(inst.database)),
    ),
    locate8: await run("KMIP Locate by name", locateReqs, 8, perRun, ROUNDS * locateSlice, locateSlice, locateCheck),
    getFirst: await run("KMIP Get by id, first retrieval (durable Fresh → false)", getReqs, 1, getCount, 0, getSlice),
    getRepeat: await run("KMIP Get by id, repeat retrieval", getReqs, 1, getCount, 0, getSlice),
    get8: await run("KMIP Get by id, repeat retrieval", getReqs, 8, getCount, 0, getSlice),
  };
  log("checking Locate exactness (names, paging, Located Items, a deep offset) …");
  const locateExact = await checkLocate(first.target, inst.database, getPool);
  const afterRuns = await first.child.call<Memory>({ type: "memory" });
  await first.child.close(30_000);
  for (let i = 1; i < STARTS; i++) {
    const s = await startTimed(inst, tls, probe);
    starts.push(s);
    log(`  serving after ${s.seconds.toFixed(2)} s`);
    await s.child.close(30_000);
  }

  const report: ScaleReport = {
    command: `npm run bench:scale${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(" ")}` : ""}`,
    date: new Date().toISOString().slice(0, 10),
    machine: `${cpus().length} cores, ${cpus()[0]?.model.trim() ?? "unknown"}, ${Math.round(totalmem() / 2 ** 30)} GiB, ${process.platform} ${release()}, Node.js ${process.version}`,
    fsync: { before: fsyncBefore, after: fsyncLatency(dirname(dir)) },
    othersCores: cpu.othersCores(),
    keys: KEYS,
    generated,
    db,
    starts,
    memory: { afterStart, afterRuns },
    runs,
    locateExact,
    prewarmSeconds,
    pageout: pageoutPolicy(),
    totalSeconds: (performance.now() - started) / 1000,
    lockSeconds,
  };
  const text = formatReport(report);
  console.log(`\n${text}`);
  if (args.write) {
    const docs = fileURLToPath(new URL("../../docs/performance.md", import.meta.url));
    writeFileSync(docs, writeDocs(readFileSync(docs, "utf8"), text));
    log(`wrote ${docs}`);
  }
  const failed = Object.values(runs).reduce((n, x) => n + x.result.failed, 0) + locateExact.checks.filter((c) => !c.ok).length;
  if (failed > 0) {
    log(`*** ${failed} requests failed: this run is not a valid benchmark ***`);
    process.exitCode = 1;
  }
  if (args.dir) log(`instance kept in ${dir} (rerun with --dir ${args.dir} --reuse)`);
}

main()
  .catch((e) => {
    console.error(e);
    process.exitCode = 1;
  })
  .finally(() => killAll()); // children, the temporary directory and the lock
