// Benchmark child process: a fresh Strongroom instance (temporary directory, file seal) served on 127.0.0.1.
// Started by bench/run.ts with child_process.fork so that the server has an event loop (and a core) of its own.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { resolvePath } from "../src/config/config.js";
import { initInstance } from "../src/init.js";
import { createLogger } from "../src/logger.js";
import { startServer } from "../src/server.js";

const { values } = parseArgs({ options: { dir: { type: "string" } } });
const dir = values.dir as string;

/** Warnings and errors reach the benchmark's stderr (JSON lines); the info lines do not. */
const log = createLogger(process.stderr, { level: "warn" });

process.on("disconnect", () => process.exit(0)); // the benchmark went away: never outlive it

const init = await initInstance({ dir, seal: "file", hosts: ["localhost", "127.0.0.1"], apiPort: 0, kmipPort: 0, profile: "development" });
const server = await startServer({ dir, address: "127.0.0.1", apiPort: 0, kmipPort: 0, log });
const cfg = server.app.config;
process.on("message", (m: { type: string }) => {
  if (m.type === "close") {
    void server.close().finally(() => process.exit(0));
  }
});
process.send?.({
  type: "ready",
  pid: process.pid,
  apiPort: server.apiPort,
  kmipPort: server.kmipPort,
  bundles: init.bundles,
  tls: {
    ca: readFileSync(resolvePath(cfg, cfg.tls.ca), "utf8"),
    cert: readFileSync(resolvePath(cfg, cfg.tls.cert), "utf8"),
    key: readFileSync(resolvePath(cfg, cfg.tls.key), "utf8"),
  },
  database: join(dir, "data"),
});
