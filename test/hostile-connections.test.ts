// Hostile connections (loopback only, bounded): silent and slow clients are cut by the handshake, first-request and
// frame deadlines; connection counts per address and in total are enforced before TLS with a rate-limited audit; the
// global budget for partial KMIP frames holds; a well-behaved client is served throughout.
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { request } from "node:https";
import { type Socket, connect as tcpConnect } from "node:net";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { connect as tlsConnect } from "node:tls";
import YAML from "yaml";
import { FrameError, FrameReader } from "../src/kmip/codec/frame-reader.js";
import { Enum } from "../src/kmip/codec/tables.js";
import { encodeTtlv } from "../src/kmip/codec/ttlv.js";
import { createLogger } from "../src/logger.js";
import { InputBudget, REFUSAL_AUDIT_INTERVAL_MS, RefusalAudit } from "../src/transport/connection-guard.js";
import { type Instance, newInstance } from "./helpers.js";
import { KmipClient, request as kmipRequest } from "./kmip-client.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Resolves with the milliseconds until `socket` closes, or null if it is still open after `waitMs`. */
function closedWithin(socket: Socket, waitMs: number): Promise<number | null> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    if (socket.destroyed) return resolve(0);
    const timer = setTimeout(() => resolve(null), waitMs);
    socket.once("close", () => {
      clearTimeout(timer);
      resolve(Date.now() - t0);
    });
  });
}

/** A raw TCP connection that never sends a byte (reads, so the client sees the server's close). */
function silentTcp(port: number, localAddress = "127.0.0.1"): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = tcpConnect({ host: "127.0.0.1", port, localAddress });
    s.on("error", () => undefined);
    s.resume();
    s.once("connect", () => resolve(s));
    s.once("close", () => reject(new Error("closed before connecting")));
  });
}

/** GET /v1/sys/health on a fresh connection (no certificate), with the time it took. */
function health(url: string, ca: string, localAddress = "127.0.0.1"): Promise<{ status: number; ms: number }> {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const req = request(new URL("/v1/sys/health", url), { ca, agent: false, localAddress, timeout: 5000 }, (res) => {
      res.resume();
      res.on("end", () => resolve({ status: res.statusCode ?? 0, ms: Date.now() - t0 }));
    });
    req.on("timeout", () => req.destroy(new Error("health timed out")));
    req.on("error", reject);
    req.end();
  });
}

describe("hostile connections (loopback only)", () => {
  let i: Instance;
  let path = "";
  let original = "";
  let ca = "";
  /** Rewrites `limits` (on top of the defaults) and restarts the server. */
  async function configure(limits: Record<string, number>) {
    const doc = YAML.parse(original);
    doc.limits = { ...doc.limits, ...limits };
    writeFileSync(path, YAML.stringify(doc));
    await i.restart();
  }
  const events = (action: string) =>
    i.server.app.store.all<{ actor_address: string | null; outcome: string; reason: string; detail: string | null }>(
      "SELECT actor_address, outcome, reason, detail FROM events WHERE action = $1 ORDER BY seq",
      [action],
    );
  /** Audit events are written after the connection is closed: poll for them briefly. */
  async function eventually<T>(read: () => Promise<T[]>, ok: (rows: T[]) => boolean): Promise<T[]> {
    let rows = await read();
    for (let n = 0; n < 40 && !ok(rows); n++) {
      await sleep(50);
      rows = await read();
    }
    return rows;
  }
  const kmipWorks = async () => {
    const k = await KmipClient.open(i.server.kmipPort, i.bundle("app"));
    try {
      const [r] = await k.call([1, 4], [["DiscoverVersions", []]]);
      return r.status === Enum.ResultStatus.Success;
    } finally {
      k.close();
    }
  };

  before(async () => {
    i = await newInstance();
    path = join(i.dir, "strongroom.yaml");
    original = readFileSync(path, "utf8");
    ca = i.bundle("app").ca;
  });
  after(async () => {
    await i.cleanup();
  });

  test("a silent TCP connection is closed at the handshake deadline on both listeners, and no longer counted", async () => {
    await configure({ handshakeTimeoutMs: 400 });
    const kmip = await silentTcp(i.server.kmipPort);
    const api = await silentTcp(i.server.apiPort);
    const [k, a] = await Promise.all([closedWithin(kmip, 3000), closedWithin(api, 3000)]);
    assert.ok(k !== null && k >= 300, `KMIP: closed after ${k} ms (deadline 400 ms)`);
    assert.ok(a !== null && a >= 300, `HTTPS: closed after ${a} ms (deadline 400 ms)`);
    const timeouts = await eventually(
      () => events("tls.handshake"),
      (rows) => rows.length >= 2,
    );
    assert.ok(timeouts.some((e) => e.reason === "kmip: ERR_TLS_HANDSHAKE_TIMEOUT (limits.handshakeTimeoutMs)"));
    assert.ok(timeouts.some((e) => e.reason === "ERR_TLS_HANDSHAKE_TIMEOUT (limits.handshakeTimeoutMs)"));
    assert.ok(timeouts.every((e) => e.outcome === "denied" && e.actor_address === "127.0.0.1"));
    for (let n = 0; n < 40 && i.server.guard.open > 0; n++) await sleep(25);
    assert.equal(i.server.guard.open, 0, "closed connections are no longer counted");
  });

  test("a handshake and then silence is closed at the first-request deadline (HTTPS without a certificate, KMIP)", async () => {
    await configure({ firstRequestTimeoutMs: 500 });
    const anonymous = tlsConnect({ host: "127.0.0.1", port: i.server.apiPort, servername: "localhost", ca });
    anonymous.on("error", () => undefined);
    anonymous.resume();
    await new Promise((r) => anonymous.once("secureConnect", r));
    const kmip = await KmipClient.open(i.server.kmipPort, i.bundle("app"));
    const [a, k] = await Promise.all([closedWithin(anonymous, 3000), closedWithin(kmip.socket, 3000)]);
    assert.ok(a !== null && a >= 400, `HTTPS: closed after ${a} ms (deadline 500 ms)`);
    assert.ok(k !== null && k >= 400, `KMIP: closed after ${k} ms (deadline 500 ms)`);
    const rows = await eventually(
      () => events("connection.timeout"),
      (r) => r.length >= 2,
    );
    assert.ok(rows.some((e) => e.reason === "api: no request within 500 ms of the handshake (limits.firstRequestTimeoutMs)"));
    assert.ok(rows.some((e) => e.reason === "kmip: no request within 500 ms of the handshake (limits.firstRequestTimeoutMs)"));
    // A client that asks at once is served.
    assert.equal((await health(i.url, ca)).status, 200);
    assert.ok(await kmipWorks());
  });

  test("the connection over the per-address limit is refused before TLS, audited once; others still get health", async () => {
    await configure({ maxConnectionsPerAddress: 20, maxConnections: 100, handshakeTimeoutMs: 30_000 });
    const attack: Socket[] = [];
    try {
      // 127.0.0.2 (another loopback address) holds 20 silent connections over both listeners …
      for (let n = 0; n < 20; n++) attack.push(await silentTcp(n % 2 ? i.server.apiPort : i.server.kmipPort, "127.0.0.2"));
      for (let n = 0; n < 40 && i.server.guard.open < 20; n++) await sleep(25);
      assert.equal(i.server.guard.open, 20);
      // … so its next 30 are closed at once, however they arrive.
      const extra = await Promise.all(
        Array.from({ length: 30 }, (_, n) =>
          silentTcp(n % 2 ? i.server.apiPort : i.server.kmipPort, "127.0.0.2").then((s) => closedWithin(s, 2000)),
        ),
      );
      assert.ok(
        extra.every((ms) => ms !== null),
        `every connection over the limit is closed: ${extra.filter((m) => m === null).length} stayed open`,
      );
      // The held ones stay open (their handshake deadline is 30 s): the limit did not close them.
      assert.equal(i.server.guard.open, 20);
      // A client from another address is served, promptly.
      const h = await health(i.url, ca, "127.0.0.1");
      assert.equal(h.status, 200);
      assert.ok(h.ms < 2000, `health answered in ${h.ms} ms during the attack`);
      assert.ok(await kmipWorks());

      const refused = await eventually(
        () => events("connection.refused"),
        (r) => r.length >= 2,
      );
      await sleep(200); // had more been written, they would be there by now
      // 15 refusals on each listener, one audit event per listener (rate-limited).
      const fromAttacker = (await events("connection.refused")).filter((e) => e.actor_address === "127.0.0.2");
      assert.deepEqual(fromAttacker.map((e) => e.reason.split(":")[0]).sort(), ["api", "kmip"]);
      assert.equal(refused[0].outcome, "denied");
      assert.match(refused[0].reason, /^(api|kmip): 20 connections are open from this address \(limits\.maxConnectionsPerAddress\)$/);
      assert.deepEqual(
        (await events("tls.handshake")).filter((e) => e.actor_address === "127.0.0.2"),
        [],
        "refused connections are not audited again as failed handshakes",
      );
    } finally {
      for (const s of attack) s.destroy();
    }
    for (let n = 0; n < 40 && i.server.guard.open > 0; n++) await sleep(25);
    assert.equal(i.server.guard.open, 0, "the attacker's connections are uncounted when they close");
  });

  test("the total limit covers both listeners and every address", async () => {
    await configure({ maxConnectionsPerAddress: 10, maxConnections: 15, handshakeTimeoutMs: 30_000 });
    const attack: Socket[] = [];
    try {
      for (let n = 0; n < 10; n++) attack.push(await silentTcp(i.server.kmipPort, "127.0.0.2"));
      for (let n = 0; n < 5; n++) attack.push(await silentTcp(i.server.apiPort, "127.0.0.3"));
      for (let n = 0; n < 40 && i.server.guard.open < 15; n++) await sleep(25);
      assert.equal(i.server.guard.open, 15);
      const late = await silentTcp(i.server.apiPort, "127.0.0.4");
      assert.notEqual(await closedWithin(late, 2000), null, "the 16th connection is closed");
      const rows = await eventually(
        () => events("connection.refused"),
        (r) => r.some((e) => e.actor_address === "127.0.0.4"),
      );
      assert.ok(rows.some((e) => e.actor_address === "127.0.0.4" && e.reason === "api: 15 connections are open (limits.maxConnections)"));
    } finally {
      for (const s of attack) s.destroy();
    }
    for (let n = 0; n < 40 && i.server.guard.open > 0; n++) await sleep(25);
    assert.equal((await health(i.url, ca)).status, 200, "served again once the attacker lets go");
  });

  test("slowloris: one byte at a time is cut by the frame deadline (the idle timer alone never fires)", async () => {
    await configure({ frameTimeoutMs: 800, firstRequestTimeoutMs: 10_000 });
    const k = await KmipClient.open(i.server.kmipPort, i.bundle("app"));
    const frame = encodeTtlv(kmipRequest([1, 4], [["DiscoverVersions", []]]));
    let sent = 0;
    const drip = setInterval(() => {
      if (sent < frame.length - 1 && !k.socket.destroyed) k.socket.write(frame.subarray(sent, ++sent));
    }, 50);
    try {
      const ms = await closedWithin(k.socket, 4000);
      assert.ok(ms !== null, `still open after 4 s with ${sent} of ${frame.length} bytes sent`);
      assert.ok(ms >= 700, `closed after ${ms} ms (frame deadline 800 ms)`);
    } finally {
      clearInterval(drip);
      k.close();
    }
    const rows = await eventually(
      () => events("connection.timeout"),
      (r) => r.length >= 1,
    );
    assert.ok(rows.some((e) => e.reason === "kmip: a request frame was not complete within 800 ms (limits.frameTimeoutMs)"));
    assert.ok(await kmipWorks(), "a client that sends its request at once is served");
  });

  test("near-complete frames on many connections are bounded by the global budget; memory is released; others served", async () => {
    const budgetBytes = 8 * 1024 * 1024;
    const frameBytes = 1024 * 1024;
    await configure({
      maxBufferedInputBytes: budgetBytes,
      kmipMaxFrameBytes: frameBytes,
      frameTimeoutMs: 60_000,
      maxConnectionsPerAddress: 1000,
      maxConnections: 1000,
    });
    global.gc?.();
    const rssBefore = process.memoryUsage().rss;
    // A frame header declaring the largest frame, then all of it but its last 8 bytes.
    const partial = Buffer.alloc(frameBytes - 8, 0x42);
    partial.writeUInt32BE(0x42007801, 0);
    partial.writeUInt32BE(frameBytes - 8, 4);
    const count = 120;
    const attack: KmipClient[] = [];
    try {
      for (let n = 0; n < count; n += 10)
        attack.push(...(await Promise.all(Array.from({ length: 10 }, () => KmipClient.open(i.server.kmipPort, i.bundle("app"))))));
      const closings = attack.map((c) => closedWithin(c.socket, 20_000));
      // Ten at a time, so the test's own client buffers stay small (it shares the process, and its RSS, with the server).
      const send = (c: KmipClient) =>
        new Promise<void>((resolve) => {
          c.socket.once("close", () => resolve());
          c.socket.write(partial, () => resolve());
        });
      for (let n = 0; n < count; n += 10) await Promise.all(attack.slice(n, n + 10).map(send));
      // Well-behaved clients are served while the attack holds the budget.
      const h = await health(i.url, ca);
      assert.equal(h.status, 200);
      assert.ok(h.ms < 2000, `health answered in ${h.ms} ms during the attack`);
      const t0 = Date.now();
      assert.ok(await kmipWorks(), "a KMIP client is served during the attack");
      assert.ok(Date.now() - t0 < 2000, "promptly");
      // The server keeps at most budget / frame of them; the others are closed.
      const most = budgetBytes / frameBytes;
      for (let n = 0; n < 200 && attack.filter((c) => !c.closed).length > most; n++) await sleep(50);
      const open = attack.filter((c) => !c.closed).length;
      assert.ok(open <= most, `${open} connections still hold partial frames (budget allows ${most})`);
      const rows = await eventually(
        () => events("kmip.message"),
        (r) => r.length >= 1,
      );
      assert.ok(rows.some((e) => /limits\.maxBufferedInputBytes/.test(e.reason)));
      for (const c of attack) c.close();
      await Promise.all(closings);
    } finally {
      for (const c of attack) c.close();
    }
    for (let n = 0; n < 40 && i.server.guard.open > 0; n++) await sleep(25);
    assert.equal(i.server.guard.open, 0);
    assert.equal(i.server.inputBudget.used, 0, "every partial frame's memory is returned to the budget on close");
    global.gc?.();
    const grown = (process.memoryUsage().rss - rssBefore) / 1024 / 1024;
    assert.ok(grown < 256, `RSS grew by ${grown.toFixed(0)} MiB`);
    console.log(`# ${count} connections x ${frameBytes - 8} B partial frames: RSS +${grown.toFixed(0)} MiB after`);
  });

  test("the refusal audit: one event per address, listener and kind per interval, then the suppressed count", async () => {
    let now = 1_000_000;
    const audit = new RefusalAudit(i.server.app.access, createLogger(null), () => now);
    const mine = async () =>
      (await events("connection.refused")).filter((e) => e.actor_address === "192.0.2.7" || e.actor_address === "192.0.2.8");
    for (let n = 0; n < 5; n++) audit.note("kmip", "192.0.2.7", "connection.refused", "kmip: test");
    audit.note("api", "192.0.2.7", "connection.refused", "api: test");
    audit.note("kmip", "192.0.2.8", "connection.refused", "kmip: test");
    now += REFUSAL_AUDIT_INTERVAL_MS;
    audit.note("kmip", "192.0.2.7", "connection.refused", "kmip: test");
    const rows = await eventually(mine, (r) => r.length >= 4);
    assert.deepEqual(
      rows.map((e) => [e.actor_address, e.reason, e.detail && JSON.parse(e.detail)]),
      [
        ["192.0.2.7", "kmip: test", null],
        ["192.0.2.7", "api: test", null],
        ["192.0.2.8", "kmip: test", null],
        ["192.0.2.7", "kmip: test (and 4 more from this address since the last event)", { suppressed: 4 }],
      ],
    );
  });

  test("the partial-frame budget: charged as a frame's buffer grows, released when it completes or is dropped", () => {
    const budget = new InputBudget(48 * 1024);
    const frame = Buffer.alloc(40 * 1024, 0);
    frame.writeUInt32BE(0x42007801, 0);
    frame.writeUInt32BE(frame.length - 8, 4);
    const a = new FrameReader({ budget });
    assert.deepEqual(a.push(frame.subarray(0, 20_000)), []);
    assert.equal(budget.used, a.held);
    assert.ok(budget.used >= 20_000);
    assert.equal(a.push(frame.subarray(20_000)).length, 1, "completed");
    assert.equal(budget.used, 0, "a completed frame leaves the budget");
    assert.equal(new FrameReader({ budget }).push(frame).length, 1, "a frame that arrives whole is never charged");
    assert.equal(budget.used, 0);
    // Two readers: the second one's growth past the budget is refused; the first keeps its frame.
    a.push(frame.subarray(0, 30_000));
    const b = new FrameReader({ budget });
    assert.throws(
      () => b.push(frame.subarray(0, 30_000)),
      (e: Error) => e instanceof FrameError && /limits\.maxBufferedInputBytes/.test(e.message),
    );
    assert.equal(budget.used, a.held);
    a.reset();
    assert.equal(budget.used, 0, "a dropped partial frame returns its memory");
  });
});
