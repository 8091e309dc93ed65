// Worker thread that checkpoints the SQLite WAL into the database file, so the serving thread never does.
// A checkpoint copies pages and fsyncs the WAL and the database: milliseconds the event loop would otherwise stall.
import { parentPort, workerData } from "node:worker_threads";
import Database from "better-sqlite3";

const { path, intervalMs } = workerData as { path: string; intervalMs: number };
const db = new Database(path, { timeout: 5000 });
// NORMAL in WAL mode: the WAL is synced before a checkpoint copies it and the database after (what the main
// connection's automatic checkpoints did).
db.pragma("synchronous = NORMAL");

let failures = 0;
function checkpoint(): void {
  try {
    // PASSIVE: copies what it can without waiting for the writer or readers; the next one picks up the rest.
    db.pragma("wal_checkpoint(PASSIVE)");
    failures = 0;
  } catch (e) {
    // A busy database is retried at the next tick; report only a persistent failure (the WAL keeps growing).
    if (++failures === 10) parentPort?.postMessage({ type: "error", message: (e as Error).message });
  }
}

const timer = setInterval(checkpoint, intervalMs);
parentPort?.on("message", (m: { type: string }) => {
  if (m.type === "close") {
    clearInterval(timer);
    checkpoint();
    db.close();
    parentPort?.postMessage({ type: "closed" });
  }
});
