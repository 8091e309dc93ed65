// Benchmark child process for bench/scale.ts: starts an EXISTING Strongroom instance (no init) on 127.0.0.1 at the
// given ports, as `strongroom server` would, and answers memory questions over IPC. The parent times how long it
// takes from spawning this process until a KMIP Get over TLS succeeds.
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { createLogger } from "../src/logger.js";
import { startServer } from "../src/server.js";

/** Milliseconds since this process started, when the module began to run (Node.js boot and module loading). */
const moduleStart = performance.now();

const { values } = parseArgs({
  options: { dir: { type: "string" }, "kmip-port": { type: "string" }, "api-port": { type: "string" } },
});

/** Warnings and errors reach the benchmark's stderr (JSON lines); the info lines do not. */
const log = createLogger(process.stderr, { level: "warn" });

process.on("disconnect", () => process.exit(0)); // the benchmark went away: never outlive it

/** VmRSS and VmHWM (peak) of this process, in bytes (Linux). */
function vm(): { rss: number; hwm: number } {
  const status = readFileSync("/proc/self/status", "utf8");
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? 0) * 1024;
  return { rss: kb("VmRSS"), hwm: kb("VmHWM") };
}

const t0 = performance.now();
const server = await startServer({
  dir: values.dir as string,
  address: "127.0.0.1",
  apiPort: Number(values["api-port"]),
  kmipPort: Number(values["kmip-port"]),
  log,
});
const listening = performance.now();

process.on("message", (m: { type: string; id?: number }) => {
  if (m.type === "close") {
    void server.close().finally(() => process.exit(0));
  } else if (m.type === "memory") {
    const u = process.memoryUsage();
    process.send?.({ id: m.id, ...vm(), heapUsed: u.heapUsed, heapTotal: u.heapTotal, external: u.external, arrayBuffers: u.arrayBuffers });
  }
});
process.send?.({
  type: "ready",
  pid: process.pid,
  sealed: server.app.barrier.sealed,
  timings: { moduleStartMs: moduleStart, startServerMs: listening - t0, readyMs: performance.now() },
});
