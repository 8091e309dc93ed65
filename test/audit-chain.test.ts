// The audit chain under hostile text: what is MAC'd is what is stored (any string in any field verifies), and verify
// reports every broken range — an early break never masks later tampering.
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import Database from "better-sqlite3";
import fc from "fast-check";
import { type AuditInput, FIELD_LIMITS, TRUNCATED } from "../src/audit/audit-log.js";
import { type Instance, newInstance } from "./helpers.js";

const RUNS = Number(process.env.AUDIT_FC_RUNS ?? 40);

/** Any UTF-16 code units: lone surrogates, NUL, control characters, astral pairs. */
const units = fc.array(fc.integer({ min: 0, max: 0xffff }), { maxLength: 24 }).map((a) => String.fromCharCode(...a));
const nasty = fc.oneof(
  { weight: 3, arbitrary: units },
  { weight: 2, arbitrary: fc.string({ unit: "binary", maxLength: 24 }) },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      "\ud800",
      "\udc00",
      "a\ud800b",
      "\udfff\ud800",
      "\0",
      "x\0y",
      "\u0001\u001f\u007f\u0085",
      "\ud83d\ude00",
      "",
    ),
  },
  // 1 MB strings, some made of surrogate pairs so that the cut can fall inside one.
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.integer({ min: 1_000_000, max: 1_048_576 }), fc.constantFrom("x", "\ud800", "\ud83d\ude00", "\0", "é"))
      .map(([n, c]) => c.repeat(Math.ceil(n / c.length))),
  },
);
const maybe = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: null });

const eventArb: fc.Arbitrary<AuditInput> = fc.record({
  actor: maybe(
    fc.record({
      cn: maybe(nasty),
      ou: maybe(nasty),
      role: fc.constantFrom("admin", "auditor", "client", "peer", null),
      serial: maybe(nasty),
      address: maybe(nasty),
    }),
  ),
  action: nasty,
  target: fc.record({
    name: maybe(nasty),
    version: maybe(fc.oneof(fc.integer(), fc.double(), fc.constant(Number.MAX_SAFE_INTEGER + 2))),
  }),
  outcome: fc.constantFrom("success", "denied", "error"),
  reason: maybe(nasty),
  requestId: maybe(nasty),
  detail: fc.option(fc.dictionary(nasty, fc.oneof(nasty, fc.integer(), fc.array(nasty, { maxLength: 3 })), { maxKeys: 4 }), {
    nil: undefined,
  }),
});

describe("audit chain: canonical storage and every broken range", () => {
  let i: Instance;
  before(async () => {
    i = await newInstance();
  });
  after(async () => {
    await i.cleanup();
  });

  const top = async () => (await i.server.app.store.get<{ seq: number }>("SELECT MAX(seq) AS seq FROM events"))?.seq as number;

  test("NUL, control characters and astral text round-trip unchanged; lone surrogates become U+FFFD; long text is cut", async () => {
    const { audit, store } = i.server.app;
    const reason = "a\0b\u0001\u001f\u007f\ud83d\ude00 \ud800 \udc00";
    const actor = { cn: "c\0n", ou: "\u0007", role: null, serial: null, address: null };
    await audit.record({ actor, action: "test.nul", outcome: "success", reason, detail: { "k\ud800": "v\0\ud800" } });
    const e = (await audit.query({ action: "test.nul" })).events[0];
    assert.equal(e.reason, "a\0b\u0001\u001f\u007f\ud83d\ude00 \ufffd \ufffd");
    assert.equal(e.actor.cn, "c\0n");
    assert.equal(e.actor.ou, "\u0007");
    assert.deepEqual(e.detail, { "k\ud800": "v\0\ud800" }, "detail keeps its exact JSON (lone surrogates escaped)");
    // The NUL is in the stored bytes, not a C string cut short.
    const raw = await store.get<{ h: string }>("SELECT hex(reason) AS h FROM events WHERE seq = $1", [e.seq]);
    assert.ok(raw?.h.startsWith("610062011F7F"), raw?.h);

    await audit.record({
      actor,
      action: "test.long",
      outcome: "error",
      reason: "r".repeat(1_000_000),
      detail: { big: "d".repeat(1_000_000) },
    });
    const l = (await audit.query({ action: "test.long" })).events[0];
    assert.equal(l.reason?.length, FIELD_LIMITS.reason);
    assert.ok(l.reason?.endsWith(TRUNCATED));
    assert.equal(l.detail?.truncated, true, "an oversized detail is replaced by a bounded, parseable summary");
    assert.ok(JSON.stringify(l.detail).length <= FIELD_LIMITS.detail);
    const size = await store.get<{ n: number }>(
      "SELECT length(CAST(reason AS BLOB)) + length(CAST(detail AS BLOB)) AS n FROM events WHERE seq = $1",
      [l.seq],
    );
    assert.ok((size?.n ?? 0) < 64 * 1024, `stored ${size?.n} bytes for 2 MB of input`);
    const v = await audit.verify();
    assert.equal(v.ok, true, JSON.stringify(v));
  });

  test("property: any text in any field verifies; altering or deleting rows reports exactly those ranges", async () => {
    const { audit, store } = i.server.app;
    const result = await fc.check(
      fc.asyncProperty(
        fc.array(eventArb, { minLength: 4, maxLength: 6 }),
        fc.boolean(),
        fc.constantFrom("alter", "delete"),
        fc.constantFrom("alter", "delete"),
        fc.nat(),
        async (events, grouped, firstKind, secondKind, pick) => {
          const before = await top();
          if (grouped) await Promise.all(events.map((ev) => audit.record(ev)));
          else for (const ev of events) await store.atomic((tx) => audit.append(tx, ev));
          const first = await audit.verify();
          assert.deepEqual({ ok: first.ok, broken: first.broken }, { ok: true, broken: [] }, JSON.stringify(first));

          // Two tamperings at least two rows apart (the row right after a removed one cannot be checked on its
          // own): one among the older events, one among the new ones, the newest event included.
          const last = await top();
          const early = 1 + (pick % (before - 1));
          const late = last - (pick % events.length);
          assert.ok(late - early >= 2);
          const saved = await store.all<Record<string, unknown>>("SELECT * FROM events WHERE seq IN ($1, $2) ORDER BY seq", [early, late]);
          const tamper = (seq: number, kind: string) =>
            store.atomic((tx) =>
              kind === "delete"
                ? tx.run("DELETE FROM events WHERE seq = $1", [seq])
                : tx.run("UPDATE events SET action = action || 'x' WHERE seq = $1", [seq]),
            );
          await tamper(early, firstKind);
          await tamper(late, secondKind);
          const kind = (k: string) => (k === "delete" ? "missing" : "altered");
          const v = await audit.verify();
          assert.deepEqual(
            { ok: v.ok, firstBroken: v.firstBroken, broken: v.broken, omitted: v.omitted },
            {
              ok: false,
              firstBroken: early,
              broken: [
                { from: early, to: early, kind: kind(firstKind) },
                { from: late, to: late, kind: kind(secondKind) },
              ],
              omitted: 0,
            },
          );
          // Put the rows back exactly as they were: the chain verifies again.
          const cols = Object.keys(saved[0]);
          await store.atomic(async (tx) => {
            await tx.run("DELETE FROM events WHERE seq IN ($1, $2)", [early, late]);
            for (const row of saved)
              await tx.run(
                `INSERT INTO events (${cols.join(", ")}) VALUES (${cols.map((_, n) => `$${n + 1}`).join(", ")})`,
                cols.map((c) => row[c] as never),
              );
          });
          const again = await audit.verify();
          assert.equal(again.ok, true, JSON.stringify(again));
        },
      ),
      { numRuns: RUNS },
    );
    // Counterexamples hold 1 MB strings: report the failure, the seed and the path, not the whole value.
    if (result.failed)
      assert.fail(`seed ${result.seed}, path ${result.counterexamplePath}: ${String(result.errorInstance).slice(0, 2000)}`);
  });

  test("a forged MAC breaks its row and the next one; a removed MAC is 'unchained'; a forged head is reported", async () => {
    const { audit, store } = i.server.app;
    for (let n = 0; n < 6; n++) await audit.record({ actor: null, action: "test.more", outcome: "success" });
    const last = await top();
    const a = last - 4;
    const saved = await store.all<{ seq: number; mac: string }>("SELECT seq, mac FROM events WHERE seq >= $1", [a]);
    const macOf = (seq: number) => saved.find((r) => r.seq === seq)?.mac as string;
    await store.atomic(async (tx) => {
      await tx.run("UPDATE events SET mac = $1 WHERE seq = $2", ["00".repeat(32), a]);
      await tx.run("UPDATE events SET mac = NULL WHERE seq = $1", [a + 3]);
    });
    const v = await audit.verify();
    assert.deepEqual(v.broken, [
      { from: a, to: a + 1, kind: "altered" },
      { from: a + 3, to: a + 3, kind: "unchained" },
    ]);
    const head = await store.get<{ value: string }>("SELECT value FROM settings WHERE name = 'audit_head'");
    await store.atomic((tx) =>
      tx.run("UPDATE settings SET value = $1 WHERE name = 'audit_head'", [JSON.stringify({ seq: 1, mac: "x", sig: "00" })]),
    );
    const forged = await audit.verify();
    assert.deepEqual(forged.broken.at(-1), { from: last + 1, to: last + 1, kind: "head" });
    await store.atomic((tx) => tx.run("UPDATE settings SET value = 'not json' WHERE name = 'audit_head'"));
    assert.deepEqual((await audit.verify()).broken.at(-1), { from: last + 1, to: last + 1, kind: "head" });
    await store.atomic((tx) => tx.run("DELETE FROM settings WHERE name = 'audit_head'"));
    assert.deepEqual((await audit.verify()).broken.at(-1), { from: last + 1, to: last + 1, kind: "head" }, "a removed head");
    await store.atomic(async (tx) => {
      await tx.run("INSERT INTO settings (name, value) VALUES ('audit_head', $1)", [head?.value ?? null]);
      await tx.run("UPDATE events SET mac = $1 WHERE seq = $2", [macOf(a), a]);
      await tx.run("UPDATE events SET mac = $1 WHERE seq = $2", [macOf(a + 3), a + 3]);
    });
    assert.equal((await audit.verify()).ok, true);
  });
});

describe("audit chain through the real server", () => {
  test("a lone surrogate as a REST field name or a KMIP-JSON tag keeps the chain verifiable; later tampering is still found", async () => {
    const i = await newInstance();
    try {
      // Raw JSON text: the escape reaches JSON.parse, which yields a lone surrogate as the field name.
      const rest = await i.as.admin1.call("POST", "/v1/keys", '{"name":"k1","type":"aes-256","\\ud800":1}');
      assert.equal(rest.status, 400);
      assert.equal(rest.body.error.code, "validation");
      const kmipJson = '{"tag":"RequestMessage","value":[{"tag":"\\ud800","value":[]}]}';
      const kmip = await i.as.app.call("POST", "/kmip", kmipJson, { "content-type": "application/json" });
      assert.equal(kmip.status, 200);
      assert.match(JSON.stringify(kmip.body), /OperationFailed/);
      // A KMIP-JSON value and an unknown query parameter with lone surrogates too.
      await i.as.app.call("POST", "/kmip", '{"tag":"RequestMessage","type":"Integer","value":"\\udc00"}', {
        "content-type": "application/json",
      });
      await i.as.auditor.call("GET", "/v1/audit?%ED%A0%80=1");

      const ok = await i.as.auditor.call("GET", "/v1/audit/verify");
      assert.equal(ok.status, 200);
      assert.deepEqual(
        { ok: ok.body.ok, broken: ok.body.broken, firstBroken: ok.body.firstBroken },
        { ok: true, broken: [], firstBroken: null },
      );

      // Someone with the database file alters two events and removes a third: each is reported on its own.
      for (let n = 0; n < 4; n++) await i.as.app.call("GET", "/v1/sys/status");
      const db = new Database(join(i.dir, "data", "strongroom.db"), { timeout: 5000 });
      let top: number;
      try {
        top = (db.prepare("SELECT MAX(seq) AS seq FROM events").get() as { seq: number }).seq;
        db.prepare("UPDATE events SET reason = 'nothing to see' WHERE seq = 2").run();
        db.prepare("UPDATE events SET actor_cn = 'someone-else' WHERE seq = ?").run(top - 3);
        db.prepare("DELETE FROM events WHERE seq = ?").run(top - 1);
      } finally {
        db.close();
      }
      const v = await i.as.auditor.call("GET", "/v1/audit/verify");
      assert.equal(v.body.ok, false);
      assert.equal(v.body.firstBroken, 2);
      assert.deepEqual(v.body.broken, [
        { from: 2, to: 2, kind: "altered" },
        { from: top - 3, to: top - 3, kind: "altered" },
        { from: top - 1, to: top - 1, kind: "missing" },
      ]);
      assert.equal(v.body.omitted, 0);
      // The verify event records the summary.
      const ev = await i.as.auditor.call("GET", "/v1/audit?action=audit.verify");
      assert.deepEqual(ev.body.events.at(-1).detail, { ok: false, checked: v.body.checked, firstBroken: 2, brokenRanges: 3 });
    } finally {
      await i.cleanup();
    }
  });
});
