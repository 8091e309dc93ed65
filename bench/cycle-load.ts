// A closed-loop KMIP load generator over many different pre-encoded requests (bench/scale.ts): N persistent mutual-TLS
// connections take the next request of a list in turn (Locate of a different name, Get of a different key each time),
// a fixed number of warm-up requests first, then a fixed number measured. Latency is from writing a request to its
// complete response.
import type { TLSSocket } from "node:tls";
import { FrameReader } from "../src/kmip/codec/frame-reader.js";
import { kmipOutcome, openTls, type Target } from "./kmip-load.js";

export interface CycleOptions {
  connections: number;
  /** Requests sent (and checked) before the measured ones. */
  warmup: number;
  /** Requests measured. */
  count: number;
  /** Index of the first request in `requests` (the list is used round-robin from there). */
  start?: number;
  /** Give up when no response arrived for this long (a server that stopped answering). */
  stallMs?: number;
}

export interface CycleResult {
  ok: number;
  failed: number;
  /** From the first measured request written to the last measured response. */
  seconds: number;
  rate: number;
  p50ms: number;
  p90ms: number;
  p99ms: number;
  maxms: number;
  firstFailure?: string;
}

/**
 * Sends `warmup + count` requests: request k is `requests[(start + k) % requests.length]`. `check` may refuse a
 * successful response (e.g. a Locate that did not find exactly the expected object); it runs after the latency is
 * taken, so its cost is not in the latency.
 */
export async function cycleLoad(
  target: Target,
  requests: Buffer[],
  o: CycleOptions,
  check?: (frame: Buffer, index: number) => string | null,
): Promise<CycleResult> {
  const total = o.warmup + o.count;
  const start = o.start ?? 0;
  const latencies = new Float64Array(o.count);
  let measured = 0;
  let ok = 0;
  let failed = 0;
  let firstFailure: string | undefined;
  let next = 0;
  let windowStart = 0n;
  let windowEnd = 0n;
  let lastProgress = Date.now();
  const sockets: TLSSocket[] = await Promise.all(Array.from({ length: o.connections }, () => openTls(target)));
  const fail = (why: string) => {
    failed++;
    firstFailure ??= why;
  };
  const loops = sockets.map(
    (s) =>
      new Promise<void>((resolve) => {
        s.setNoDelay(true);
        const reader = new FrameReader({ maxFrameBytes: 1 << 24 });
        let k = -1;
        let sent = 0n;
        const send = () => {
          if (next >= total) {
            s.destroy();
            return;
          }
          k = next++;
          if (k === o.warmup) windowStart = process.hrtime.bigint();
          const index = (start + k) % requests.length;
          sent = process.hrtime.bigint();
          s.write(requests[index]);
        };
        s.on("data", (chunk: Buffer) => {
          for (const frame of reader.push(chunk)) {
            const now = process.hrtime.bigint();
            lastProgress = Date.now();
            const index = (start + k) % requests.length;
            const outcome = kmipOutcome(frame) ?? check?.(Buffer.from(frame), index) ?? null;
            if (k >= o.warmup) {
              latencies[measured++] = Number(now - sent) / 1e6;
              if (now > windowEnd) windowEnd = now;
              if (outcome === null) ok++;
            }
            if (outcome !== null) fail(outcome);
            send();
          }
        });
        s.on("error", (e) => fail(`connection error: ${e.message}`));
        s.on("close", () => {
          if (next < total) fail("connection closed by the server");
          resolve();
        });
        send();
      }),
  );
  const stall = setInterval(() => {
    if (Date.now() - lastProgress > (o.stallMs ?? 30_000)) {
      fail("no response for too long");
      next = total;
      for (const s of sockets) s.destroy();
    }
  }, 1000);
  try {
    await Promise.all(loops);
  } finally {
    clearInterval(stall);
  }
  const sorted = latencies.subarray(0, measured).sort();
  const pct = (p: number) => (measured === 0 ? 0 : sorted[Math.min(measured - 1, Math.floor(measured * p))]);
  const seconds = windowEnd > windowStart ? Number(windowEnd - windowStart) / 1e9 : 0;
  return {
    ok,
    failed,
    seconds,
    rate: seconds > 0 ? measured / seconds : 0,
    p50ms: pct(0.5),
    p90ms: pct(0.9),
    p99ms: pct(0.99),
    maxms: measured ? sorted[measured - 1] : 0,
    ...(firstFailure ? { firstFailure } : {}),
  };
}
