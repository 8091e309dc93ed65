// Benchmarks: REST encrypt throughput over one keep-alive mTLS connection, as a ratio to the server's own no-op baseline.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { Agent, request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { initInstance } from "../src/init.js";
import { Enum } from "../src/kmip/codec/tables.js";
import { bytes, encodeTtlv, enm, int, struct, Tag, text } from "../src/kmip/codec/ttlv.js";
import { createLogger } from "../src/logger.js";
import { startServer } from "../src/server.js";
import { kmipLoad } from "./kmip-load.js";

const kmipRequest = (op: number, payload: ReturnType<typeof text>[]) =>
  encodeTtlv(
    struct(
      Tag.RequestMessage,
      struct(
        Tag.RequestHeader,
        struct(Tag.ProtocolVersion, int(Tag.ProtocolVersionMajor, 1), int(Tag.ProtocolVersionMinor, 4)),
        int(Tag.BatchCount, 1),
      ),
      struct(Tag.BatchItem, enm(Tag.Operation, op), struct(Tag.RequestPayload, ...payload)),
    ),
  );

const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);

function call(agent: Agent, url: string, method: string, path: string, body?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      new URL(path, url),
      { method, agent, headers: body ? { "content-type": "application/json", "content-length": String(Buffer.byteLength(body)) } : {} },
      (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode ?? 0));
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

function callBody(agent: Agent, url: string, method: string, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(new URL(path, url), { method, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => resolve(Buffer.concat(chunks).toString()));
    });
    req.on("error", reject);
    req.end();
  });
}

/** Sequential requests over one keep-alive connection for SECONDS; returns requests per second. */
async function measure(name: string, fn: () => Promise<number>): Promise<number> {
  for (let n = 0; n < 50; n++) await fn(); // warm-up: TLS session, JIT, caches
  let count = 0;
  const start = process.hrtime.bigint();
  const end = start + BigInt(SECONDS * 1e9);
  while (process.hrtime.bigint() < end) {
    const status = await fn();
    if (status !== 200) throw new Error(`${name}: HTTP ${status}`);
    count++;
  }
  const rps = count / (Number(process.hrtime.bigint() - start) / 1e9);
  return rps;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "strongroom-bench-"));
  const init = await initInstance({ dir, seal: "file", hosts: ["localhost", "127.0.0.1"], apiPort: 0, kmipPort: 0 });
  const server = await startServer({ dir, address: "127.0.0.1", apiPort: 0, log: createLogger(null) });
  const url = `https://localhost:${server.apiPort}`;
  const tls = (b: string) => ({
    cert: readFileSync(init.bundles[b].cert),
    key: readFileSync(init.bundles[b].key),
    ca: readFileSync(init.bundles[b].ca),
  });
  const admin = new Agent({ keepAlive: true, maxSockets: 1, ...tls("admin1") });
  const app = new Agent({ keepAlive: true, maxSockets: 1, ...tls("app") });
  try {
    await call(admin, url, "POST", "/v1/keys", JSON.stringify({ name: "bench", type: "aes-256" }));
    const plaintext = JSON.stringify({ plaintext: Buffer.alloc(64, 7).toString("base64") });
    const results: [string, number][] = [];
    const health = await measure("health", () => call(app, url, "GET", "/v1/sys/health"));
    results.push(["GET /v1/sys/health (no auth, no audit) — baseline", health]);
    const status = await measure("status", () => call(app, url, "GET", "/v1/sys/status"));
    results.push(["GET /v1/sys/status (identity + audited)", status]);
    const enc = await measure("encrypt", () => call(app, url, "POST", "/v1/keys/bench/encrypt", plaintext));
    results.push(["POST encrypt 64 B (AES-256-GCM, audited)", enc]);
    const batchBody = JSON.stringify({ batch: Array.from({ length: 100 }, () => ({ plaintext: Buffer.alloc(64, 7).toString("base64") })) });
    const batch = await measure("batch", () => call(app, url, "POST", "/v1/keys/bench/encrypt", batchBody));
    results.push(["POST encrypt batch of 100 × 64 B (items/s)", batch * 100]);
    console.log(`Strongroom REST benchmark — one keep-alive mTLS connection, sequential requests, ${SECONDS}s each`);
    for (const [name, rps] of results) {
      console.log(`${name.padEnd(56)} ${rps.toFixed(0).padStart(8)} req/s   ratio to baseline ${(rps / health).toFixed(2)}`);
    }

    // KMIP: 8 persistent connections, pre-encoded requests back to back.
    const key = JSON.parse(await callBody(admin, url, "GET", "/v1/keys/bench")) as { versions: { id: string }[] };
    const id = key.versions[0].id;
    const appTls = tls("app");
    const discover = await kmipLoad(server.kmipPort, appTls, kmipRequest(Enum.Operation.DiscoverVersions, []), 8, SECONDS);
    const get = await kmipLoad(server.kmipPort, appTls, kmipRequest(Enum.Operation.Get, [text(Tag.UniqueIdentifier, id)]), 8, SECONDS);
    const encrypt = await kmipLoad(
      server.kmipPort,
      appTls,
      kmipRequest(Enum.Operation.Encrypt, [
        text(Tag.UniqueIdentifier, id),
        struct(Tag.CryptographicParameters, enm(Tag.BlockCipherMode, Enum.BlockCipherMode.GCM), int(Tag.TagLength, 16)) as never,
        bytes(Tag.Data, Buffer.alloc(64, 7)) as never,
        bytes(Tag.IVCounterNonce, Buffer.alloc(12, 1)) as never,
      ]),
      8,
      SECONDS,
    );
    console.log(`\nKMIP over TLS — 8 persistent connections, ${SECONDS}s each (baseline: Discover Versions; every item is audited)`);
    for (const [name, r] of [
      ["Discover Versions (audited) — baseline", discover],
      ["Get (AES-256, audited)", get],
      ["Encrypt 64 B AES-GCM (audited)", encrypt],
    ] as const) {
      console.log(
        `${name.padEnd(56)} ${r.rate.toFixed(0).padStart(8)} ops/s   p50 ${r.p50ms.toFixed(2)} ms  p99 ${r.p99ms.toFixed(2)} ms  failed ${r.failed}  ratio ${(r.rate / discover.rate).toFixed(2)}`,
      );
    }
  } finally {
    admin.destroy();
    app.destroy();
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

void main().catch((e) => {
  console.error(e);
  process.exit(1);
});
