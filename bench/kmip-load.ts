// KMIP load generator: N persistent mutual-TLS connections sending the same pre-encoded request back to back.
import { connect, type TLSSocket } from "node:tls";
import { FrameReader } from "../src/kmip/codec/frame-reader.js";
import { Enum } from "../src/kmip/codec/tables.js";
import { decodeTtlv, find, Tag } from "../src/kmip/codec/ttlv.js";

export interface LoadResult {
  ok: number;
  failed: number;
  seconds: number;
  rate: number;
  p50ms: number;
  p99ms: number;
}

function open(port: number, tls: { cert: Buffer; key: Buffer; ca: Buffer }): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: "127.0.0.1", port, servername: "localhost", ...tls }, () => resolve(s));
    s.once("error", reject);
  });
}

/** Runs `connections` closed loops for `seconds` after a warm-up; counts responses whose Result Status is Success. */
export async function kmipLoad(
  port: number,
  tls: { cert: Buffer; key: Buffer; ca: Buffer },
  request: Buffer,
  connections: number,
  seconds: number,
): Promise<LoadResult> {
  const sockets = await Promise.all(Array.from({ length: connections }, () => open(port, tls)));
  let measuring = false;
  let stop = false;
  let ok = 0;
  let failed = 0;
  const latencies: number[] = [];
  const loops = sockets.map(
    (s) =>
      new Promise<void>((resolve) => {
        const reader = new FrameReader({ maxFrameBytes: 1 << 24 });
        let sent = process.hrtime.bigint();
        s.on("data", (chunk: Buffer) => {
          for (const f of reader.push(chunk)) {
            const status = find(find(decodeTtlv(f), Tag.BatchItem) ?? decodeTtlv(f), Tag.ResultStatus)?.value;
            if (measuring) {
              if (status === Enum.ResultStatus.Success) ok++;
              else failed++;
              latencies.push(Number(process.hrtime.bigint() - sent) / 1e6);
            }
            if (stop) {
              s.destroy();
              resolve();
              return;
            }
            sent = process.hrtime.bigint();
            s.write(request);
          }
        });
        s.on("close", () => resolve());
        s.write(request);
      }),
  );
  await new Promise((r) => setTimeout(r, 500)); // warm-up
  measuring = true;
  const start = process.hrtime.bigint();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  measuring = false;
  const elapsed = Number(process.hrtime.bigint() - start) / 1e9;
  stop = true;
  await Promise.all(loops);
  latencies.sort((a, b) => a - b);
  const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))] ?? 0;
  return { ok, failed, seconds: elapsed, rate: ok / elapsed, p50ms: pct(0.5), p99ms: pct(0.99) };
}
