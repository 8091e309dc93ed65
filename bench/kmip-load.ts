// Load generators: N persistent mutual-TLS connections sending one pre-encoded request back to back (KMIP TTLV or
// HTTP/1.1), and N loops opening new TLS connections (full or resumed handshakes). Warm-up, then a fixed window.
import { type ConnectionOptions, connect, createSecureContext, type SecureContext, type TLSSocket } from "node:tls";
import { FrameReader } from "../src/kmip/codec/frame-reader.js";
import { Enum, Tag } from "../src/kmip/codec/tables.js";
import { decodeTtlv, find, findAll } from "../src/kmip/codec/ttlv.js";

export interface TlsMaterial {
  cert: string | Buffer;
  key: string | Buffer;
  ca: string | Buffer | (string | Buffer)[];
}

export interface Target {
  port: number;
  tls: TlsMaterial;
  /** Always 127.0.0.1: every server of the benchmark listens on loopback only. */
  host?: string;
  servername?: string;
}

export interface LoadOptions {
  connections: number;
  warmupSeconds: number;
  seconds: number;
}

export interface LoadResult {
  ok: number;
  failed: number;
  seconds: number;
  /** Successful operations per second in the measuring window. */
  rate: number;
  p50ms: number;
  p99ms: number;
  /** What the first failed response said (Result Reason / message, HTTP status / body, TLS error). */
  firstFailure?: string;
}

/** One response parsed off a stream: null when it succeeded, else a short description of the failure. */
type Outcome = string | null;
type Parser = (chunk: Buffer) => Outcome[];

const contexts = new WeakMap<TlsMaterial, SecureContext>();

/**
 * Connection options with the client's secure context built once per target: `tls.connect({cert, key, ca})` would
 * parse the key and certificates again for every connection, which costs more than a handshake.
 */
function connectOptions(t: Target): ConnectionOptions {
  let secureContext = contexts.get(t.tls);
  if (!secureContext) {
    secureContext = createSecureContext({ ...t.tls, minVersion: "TLSv1.2" });
    contexts.set(t.tls, secureContext);
  }
  return { host: t.host ?? "127.0.0.1", port: t.port, servername: t.servername ?? "localhost", secureContext };
}

export function openTls(t: Target): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const s = connect(connectOptions(t), () => {
      s.off("error", reject);
      resolve(s);
    });
    s.once("error", reject);
  });
}

// ---------------------------------------------------------------------------------------------- KMIP responses

const HEADER = 8;

/** The [start, end) of the value of each child of the structure whose value spans [start, end) with `tag`. */
function* children(buf: Buffer, start: number, end: number, tag: number): Generator<[number, number]> {
  let pos = start;
  while (pos + HEADER <= end) {
    const t = buf.readUIntBE(pos, 3);
    const type = buf[pos + 3];
    const len = buf.readUInt32BE(pos + 4);
    // Structures carry padded lengths; primitive values are padded to 8 bytes.
    const padded = type === 0x01 ? len : Math.ceil(len / 8) * 8;
    if (t === tag) yield [pos + HEADER, pos + HEADER + len];
    pos += HEADER + padded;
  }
}

/**
 * Whether every batch item of a KMIP response has Result Status Success. Walks the item headers without decoding
 * values (the load generator must cost as little CPU as possible on a shared machine); failures are then decoded
 * fully for their Result Reason and Message.
 */
export function kmipOutcome(frame: Buffer): Outcome {
  let items = 0;
  let good = 0;
  if (frame.length >= HEADER && frame.readUIntBE(0, 3) === Tag.ResponseMessage) {
    for (const [s, e] of children(frame, HEADER, Math.min(frame.length, HEADER + frame.readUInt32BE(4)), Tag.BatchItem)) {
      items++;
      for (const [vs] of children(frame, s, e, Tag.ResultStatus)) if (frame.readUInt32BE(vs) === Enum.ResultStatus.Success) good++;
    }
  }
  if (items > 0 && good === items) return null;
  return describeKmipFailure(frame);
}

export function describeKmipFailure(frame: Buffer): string {
  try {
    const msg = decodeTtlv(frame);
    const bad = findAll(msg, Tag.BatchItem).find((b) => find(b, Tag.ResultStatus)?.value !== Enum.ResultStatus.Success);
    if (!bad) return "response without batch items";
    const reason = find(bad, Tag.ResultReason)?.value;
    const name = Object.entries(Enum.ResultReason).find(([, v]) => v === reason)?.[0] ?? String(reason);
    return `KMIP ${name}: ${String(find(bad, Tag.ResultMessage)?.value ?? "")}`.slice(0, 200);
  } catch (e) {
    return `undecodable response: ${(e as Error).message}`;
  }
}

export function kmipParser(): Parser {
  const reader = new FrameReader({ maxFrameBytes: 1 << 24 });
  return (chunk) => reader.push(chunk).map(kmipOutcome);
}

// ---------------------------------------------------------------------------------------------- HTTP responses

export interface HttpResponse {
  status: number;
  head: string;
  body: Buffer;
}

const CRLF2 = Buffer.from("\r\n\r\n");

/** Splits an HTTP/1.1 response stream into responses (Content-Length or chunked bodies). */
export class HttpResponseReader {
  #buf: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): HttpResponse[] {
    this.#buf = this.#buf.length ? Buffer.concat([this.#buf, chunk]) : chunk;
    const out: HttpResponse[] = [];
    for (;;) {
      const he = this.#buf.indexOf(CRLF2);
      if (he < 0) break;
      const head = this.#buf.toString("latin1", 0, he);
      if (!head.startsWith("HTTP/1.")) throw new Error(`not an HTTP response: ${head.slice(0, 40)}`);
      const status = Number(head.slice(9, 12));
      const bodyStart = he + 4;
      const cl = /\r\ncontent-length:[ \t]*(\d+)/i.exec(head);
      if (cl) {
        const end = bodyStart + Number(cl[1]);
        if (this.#buf.length < end) break;
        out.push({ status, head, body: this.#buf.subarray(bodyStart, end) });
        this.#buf = this.#buf.subarray(end);
        continue;
      }
      if (!/\r\ntransfer-encoding:[ \t]*chunked/i.test(head)) throw new Error("HTTP response without Content-Length or chunked body");
      const parts: Buffer[] = [];
      let pos = bodyStart;
      let done = false;
      for (;;) {
        const le = this.#buf.indexOf("\r\n", pos);
        if (le < 0) break;
        const size = Number.parseInt(this.#buf.toString("latin1", pos, le), 16);
        if (size === 0) {
          const te = this.#buf.indexOf(CRLF2, le - 2); // no trailers are expected: "0\r\n\r\n"
          if (te < 0) break;
          pos = te + 4;
          done = true;
          break;
        }
        if (this.#buf.length < le + 2 + size + 2) break;
        parts.push(this.#buf.subarray(le + 2, le + 2 + size));
        pos = le + 2 + size + 2;
      }
      if (!done) break;
      out.push({ status, head, body: Buffer.concat(parts) });
      this.#buf = this.#buf.subarray(pos);
    }
    return out;
  }
}

/** An HTTP/1.1 request with a JSON body, encoded once. */
export function httpRequest(method: string, path: string, body?: string): Buffer {
  const b = body === undefined ? "" : body;
  return Buffer.from(
    `${method} ${path} HTTP/1.1\r\nhost: localhost\r\nconnection: keep-alive\r\n` +
      (body === undefined ? "" : `content-type: application/json\r\ncontent-length: ${Buffer.byteLength(b)}\r\n`) +
      `\r\n${b}`,
  );
}

export function httpParser(): Parser {
  const reader = new HttpResponseReader();
  return (chunk) => reader.push(chunk).map((r) => (r.status === 200 ? null : `HTTP ${r.status}: ${r.body.toString("utf8").slice(0, 160)}`));
}

/** Sends one request on an open socket and returns the one response (setup and checks, not load). */
export function httpOnce(s: TLSSocket, request: Buffer): Promise<HttpResponse> {
  return new Promise((resolve, reject) => {
    const reader = new HttpResponseReader();
    const onData = (c: Buffer) => {
      const [r] = reader.push(c);
      if (!r) return;
      s.off("data", onData);
      s.off("error", reject);
      resolve({ ...r, body: Buffer.from(r.body) });
    };
    s.on("data", onData);
    s.once("error", reject);
    s.write(request);
  });
}

// ---------------------------------------------------------------------------------------------- closed loops

function percentiles(latencies: Float64Array, n: number): { p50ms: number; p99ms: number } {
  const sorted = latencies.subarray(0, n).sort();
  const pct = (p: number) => (n === 0 ? 0 : sorted[Math.min(n - 1, Math.floor(n * p))]);
  return { p50ms: pct(0.5), p99ms: pct(0.99) };
}

class Recorder {
  measuring = false;
  stop = false;
  ok = 0;
  failed = 0;
  firstFailure: string | undefined;
  #lat = new Float64Array(1 << 16);
  #n = 0;

  /** Successes count inside the window only; a failure counts whenever it happens (warm-up included). */
  record(outcome: Outcome, ms: number): void {
    if (outcome !== null) {
      this.failed++;
      this.firstFailure ??= outcome;
    }
    if (!this.measuring) return;
    if (outcome === null) this.ok++;
    if (this.#n === this.#lat.length) {
      const grown = new Float64Array(this.#lat.length * 2);
      grown.set(this.#lat);
      this.#lat = grown;
    }
    this.#lat[this.#n++] = ms;
  }

  async window(o: LoadOptions): Promise<number> {
    await sleep(o.warmupSeconds * 1000);
    this.measuring = true;
    const start = process.hrtime.bigint();
    await sleep(o.seconds * 1000);
    this.measuring = false;
    this.stop = true;
    return Number(process.hrtime.bigint() - start) / 1e9;
  }

  result(seconds: number): LoadResult {
    return {
      ok: this.ok,
      failed: this.failed,
      seconds,
      rate: this.ok / seconds,
      ...percentiles(this.#lat, this.#n),
      ...(this.firstFailure ? { firstFailure: this.firstFailure } : {}),
    };
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `connections` persistent connections, each sending `request` again as soon as the previous response arrived. */
export async function closedLoop(target: Target, request: Buffer, parser: () => Parser, o: LoadOptions): Promise<LoadResult> {
  const sockets = await Promise.all(Array.from({ length: o.connections }, () => openTls(target)));
  for (const s of sockets) s.setNoDelay(true);
  const rec = new Recorder();
  const loops = sockets.map(
    (s) =>
      new Promise<void>((resolve) => {
        const parse = parser();
        let sent = process.hrtime.bigint();
        s.on("data", (chunk: Buffer) => {
          let outcomes: Outcome[];
          try {
            outcomes = parse(chunk);
          } catch (e) {
            rec.record(`unparseable response: ${(e as Error).message}`, 0);
            s.destroy();
            return;
          }
          for (const outcome of outcomes) {
            const now = process.hrtime.bigint();
            rec.record(outcome, Number(now - sent) / 1e6);
            if (rec.stop) {
              s.destroy();
              return;
            }
            sent = now;
            s.write(request);
          }
        });
        s.on("error", (e) => {
          rec.record(`connection error: ${e.message}`, 0);
        });
        s.on("close", () => {
          if (!rec.stop) rec.record("connection closed by the server", 0);
          resolve();
        });
        s.write(request);
      }),
  );
  const seconds = await rec.window(o);
  // A loop ends at its next response; a server that stopped answering must not hang the benchmark.
  const hung = setTimeout(() => {
    for (const s of sockets) s.destroy();
  }, 10_000);
  await Promise.all(loops);
  clearTimeout(hung);
  return rec.result(seconds);
}

export const kmipLoad = (target: Target, request: Buffer, o: LoadOptions) => closedLoop(target, request, kmipParser, o);
export const httpLoad = (target: Target, request: Buffer, o: LoadOptions) => closedLoop(target, request, httpParser, o);

/**
 * `connections` loops each opening a TLS connection, completing the handshake (client certificate included), closing
 * it cleanly and opening the next. With `resume`, each loop offers the session ticket of its previous connection; a
 * connection that was not resumed then counts as failed. Latency is the time to a completed handshake.
 */
export async function handshakeLoad(target: Target, resume: boolean, o: LoadOptions): Promise<LoadResult> {
  const rec = new Recorder();
  const options = connectOptions(target);
  const once = (session: Buffer | undefined, onSession: (s: Buffer) => void) =>
    new Promise<void>((resolve) => {
      const t0 = process.hrtime.bigint();
      let ms = 0;
      let outcome: Outcome = "closed before the handshake completed";
      const s = connect({ ...options, ...(session ? { session } : {}) });
      s.on("session", onSession);
      s.once("secureConnect", () => {
        ms = Number(process.hrtime.bigint() - t0) / 1e6;
        outcome = resume && session && !s.isSessionReused() ? "session not resumed" : null;
        s.end(); // close_notify + FIN; the server's FIN follows once it has processed our Finished
      });
      s.on("data", () => undefined);
      s.on("error", (e) => {
        outcome = `TLS error: ${e.message}`;
        s.destroy();
      });
      s.on("close", () => {
        rec.record(outcome, ms);
        resolve();
      });
    });
  const loops = Array.from({ length: o.connections }, async () => {
    let session: Buffer | undefined;
    while (!rec.stop) {
      await once(resume ? session : undefined, (s) => {
        session = s;
      });
    }
  });
  const seconds = await rec.window(o);
  await Promise.all(loops);
  return rec.result(seconds);
}
