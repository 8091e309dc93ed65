// The audit chain: every request is an event, the HMAC chain detects edits and deletions, queries filter and paginate.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { client, type Instance, newInstance } from "./helpers.js";

const b64 = (s: string) => Buffer.from(s).toString("base64");

describe("audit", () => {
  let i: Instance;
  before(async () => {
    i = await newInstance();
    await i.as.admin1.call("POST", "/v1/keys", { name: "a1", type: "aes-256" });
    for (let n = 0; n < 5; n++) await i.as.app.call("POST", "/v1/keys/a1/encrypt", { plaintext: b64("secret plaintext value") });
    await i.as.app.call("GET", "/v1/keys/nope");
  });
  after(async () => {
    await i.cleanup();
  });

  test("events carry who, what, which key and version, outcome — never plaintext or material", async () => {
    const r = await i.as.auditor.call("GET", "/v1/audit?key=a1&action=key.encrypt");
    assert.equal(r.body.events.length, 5);
    const e = r.body.events[0];
    assert.deepEqual(Object.keys(e).sort(), [
      "action",
      "actor",
      "detail",
      "node",
      "outcome",
      "reason",
      "requestId",
      "seq",
      "target",
      "time",
    ]);
    assert.equal(e.actor.cn, "app");
    assert.equal(e.actor.ou, "apps");
    assert.equal(e.actor.role, "client");
    assert.equal(e.actor.address, "127.0.0.1");
    assert.deepEqual(e.target, { name: "a1", version: 1 });
    assert.equal(e.outcome, "success");
    const raw = await i.server.app.store.all<Record<string, unknown>>("SELECT * FROM events");
    const text = JSON.stringify(raw);
    assert.ok(!text.includes(b64("secret plaintext value")));
    assert.ok(!text.includes("secret plaintext value"));
    const nf = await i.as.auditor.call("GET", "/v1/audit?key=nope");
    assert.equal(nf.body.events[0].outcome, "error");
    assert.match(nf.body.events[0].reason, /key_not_found/);
  });

  test("query by time range, actor, outcome; cursor pagination", async () => {
    const all: number[] = [];
    let after = 0;
    for (;;) {
      const r = await i.as.auditor.call("GET", `/v1/audit?limit=3&after=${after}`);
      all.push(...r.body.events.map((e: { seq: number }) => e.seq));
      if (!r.body.next) break;
      after = r.body.next;
    }
    assert.deepEqual(
      all,
      all.map((_, n) => n + 1),
    );
    const future = new Date(Date.now() + 86400_000 * 400).toISOString();
    assert.equal((await i.as.auditor.call("GET", `/v1/audit?from=${future}`)).body.events.length, 0);
    const r = await i.as.auditor.call("GET", `/v1/audit?actor=admin1&to=${future}`);
    assert.ok(r.body.events.every((e: { actor: { cn: string } }) => e.actor.cn === "admin1"));
  });

  test("verify passes, then detects an edited row and a deleted row by sequence number", async () => {
    const ok = await i.as.auditor.call("GET", "/v1/audit/verify");
    assert.equal(ok.body.ok, true);
    assert.equal(ok.body.firstBroken, null);
    assert.ok(ok.body.checked >= 8);
    const db = i.server.app.store;
    // An insider edits who did something…
    await db.atomic((tx) => tx.run("UPDATE events SET actor_cn = 'someone-else' WHERE seq = 4"));
    const edited = await i.as.auditor.call("GET", "/v1/audit/verify");
    assert.deepEqual({ ok: edited.body.ok, firstBroken: edited.body.firstBroken }, { ok: false, firstBroken: 4 });
    assert.deepEqual(edited.body.broken, [{ from: 4, to: 4, kind: "altered" }]);
    assert.equal(edited.body.checked, ok.body.checked + 1, "verify reads on past the break (the first verify added one event)");
    await db.atomic((tx) => tx.run("UPDATE events SET actor_cn = 'app' WHERE seq = 4"));
    assert.equal((await i.as.auditor.call("GET", "/v1/audit/verify")).body.ok, true);
    // …or removes an event.
    const saved = await db.all<Record<string, unknown>>("SELECT * FROM events WHERE seq = 6");
    await db.atomic((tx) => tx.run("DELETE FROM events WHERE seq = 6"));
    const deleted = await i.as.auditor.call("GET", "/v1/audit/verify");
    assert.deepEqual({ ok: deleted.body.ok, firstBroken: deleted.body.firstBroken }, { ok: false, firstBroken: 6 });
    assert.deepEqual(deleted.body.broken, [{ from: 6, to: 6, kind: "missing" }]);
    // …or removes the newest events, which leaves a chain that is valid but too short: the MAC'd head catches it.
    const cols = Object.keys(saved[0]);
    await db.atomic((tx) =>
      tx.run(
        `INSERT INTO events (${cols.join(", ")}) VALUES (${cols.map((_, n) => `$${n + 1}`).join(", ")})`,
        cols.map((c) => saved[0][c] as never),
      ),
    );
    assert.equal((await i.as.auditor.call("GET", "/v1/audit/verify")).body.ok, true, "restored");
    const top = (await db.get<{ seq: number }>("SELECT MAX(seq) AS seq FROM events"))?.seq as number;
    await db.atomic((tx) => tx.run("DELETE FROM events WHERE seq >= $1", [top - 1]));
    const truncated = await i.as.auditor.call("GET", "/v1/audit/verify");
    assert.equal(truncated.body.ok, false);
    assert.equal(truncated.body.firstBroken, top - 1);
    assert.deepEqual(truncated.body.broken, [{ from: top - 1, to: top, kind: "missing" }]);
  });
});

describe("audit while sealed", () => {
  test("events written while sealed (refusals, unseal attempts) are chained at unseal", async () => {
    const i = await newInstance({ seal: "shamir", shares: 3, threshold: 2 });
    try {
      assert.equal((await i.as.app.call("POST", "/v1/keys/x/encrypt", { plaintext: b64("x") })).body.error.code, "sealed");
      const shares = i.init.unsealShares as string[];
      await i.as.admin1.call("POST", "/v1/sys/unseal", { share: shares[0] });
      await i.as.admin2.call("POST", "/v1/sys/unseal", { share: shares[2] });
      const v = await i.as.auditor.call("GET", "/v1/audit/verify");
      assert.equal(v.body.ok, true, JSON.stringify(v.body));
      const q = await i.as.auditor.call("GET", "/v1/audit?action=sys.unseal");
      assert.equal(q.body.events.length, 2);
      assert.ok(!JSON.stringify(q.body).includes(shares[0].slice(20, 60)), "no share text in the audit log");
      // A certificate from elsewhere: the refused handshake is audited too.
      void client;
    } finally {
      await i.cleanup();
    }
  });
});

describe("audit group commit", () => {
  test("reads interleaved with changes that commit or roll back keep one unbroken chain", async () => {
    const i = await newInstance();
    try {
      const { audit, store } = i.server.app;
      const actor = { cn: "t", ou: "t", role: null, serial: null, address: null };
      const read = (n: number) =>
        Promise.all(Array.from({ length: n }, (_, k) => audit.record({ actor, action: "test.read", outcome: "success", detail: { k } })));
      await read(20);
      // A change whose transaction appends its event and then fails: the event must not be chained onto.
      await assert.rejects(
        store.atomic(async (tx) => {
          await audit.append(tx, { actor, action: "test.change", outcome: "success" });
          throw new Error("rolled back");
        }),
        /rolled back/,
      );
      await read(5);
      await store.atomic((tx) => audit.append(tx, { actor, action: "test.change", outcome: "success" }));
      await Promise.all([read(7), store.atomic((tx) => audit.append(tx, { actor, action: "test.change", outcome: "success" })), read(3)]);
      const v = await audit.verify();
      assert.equal(v.ok, true, JSON.stringify(v));
      const changes = await audit.query({ action: "test.change" });
      assert.equal(changes.events.length, 2, "the rolled-back event is gone, the committed ones are there");
      assert.equal((await audit.query({ action: "test.read", limit: 1000 })).events.length, 35);
    } finally {
      await i.cleanup();
    }
  });
});

describe("audit across an unseal", () => {
  test("a read group that commits while the unseal is chaining the sealed-time events keeps the chain MAC'd", async () => {
    const i = await newInstance({ seal: "shamir", shares: 3, threshold: 2 });
    try {
      const { audit, store, barrier } = i.server.app;
      const actor = { cn: "t", ou: "t", role: null, serial: null, address: null };
      const read = () => audit.record({ actor, action: "test.read", outcome: "success" });
      await Promise.all([read(), read()]); // written while sealed: no MAC yet
      // Hold the store so that the next group is queued before the unseal's chaining transaction.
      let release!: () => void;
      const held = store.atomic(() => new Promise<void>((r) => (release = r)));
      const queued = read();
      await new Promise((r) => setImmediate(r));
      const shares = i.init.unsealShares as string[];
      await barrier.submitShare(shares[0]);
      const unsealed = barrier.submitShare(shares[1]);
      while (barrier.sealed) await new Promise((r) => setImmediate(r));
      release();
      await Promise.all([held, queued, unsealed]);
      for (let n = 0; n < 3; n++) await Promise.all([read(), read()]);
      await store.atomic((tx) => audit.append(tx, { actor, action: "test.change", outcome: "success" }));
      const v = await audit.verify();
      assert.equal(v.ok, true, JSON.stringify(v));
      const unchained = await store.get<{ n: number }>("SELECT COUNT(*) AS n FROM events WHERE mac IS NULL");
      assert.equal(unchained?.n, 0, "every event after the unseal is chained");
    } finally {
      await i.cleanup();
    }
  });
});

describe("storage.syncReads", () => {
  test("when set, the events of reads wait for their fsync like changes do; a non-boolean is refused", async () => {
    const i = await newInstance();
    try {
      const { readFileSync, writeFileSync } = await import("node:fs");
      const path = `${i.dir}/strongroom.yaml`;
      const yaml = readFileSync(path, "utf8");
      assert.match(yaml, /\n {2}type: sqlite\n/);
      writeFileSync(path, yaml.replace("\n  type: sqlite\n", "\n  type: sqlite\n  syncReads: true\n"));
      await i.restart();
      const store = i.server.app.store;
      const seen: string[] = [];
      const atomic = store.atomic.bind(store);
      store.atomic = ((fn, opts) => {
        seen.push(opts?.durability ?? "wait");
        return atomic(fn, opts);
      }) as typeof store.atomic;
      assert.equal((await i.as.app.call("GET", "/v1/sys/status")).status, 200);
      assert.ok(seen.length > 0 && seen.every((d) => d === "wait"), JSON.stringify(seen));
      await i.stop();
      writeFileSync(path, yaml.replace("\n  type: sqlite\n", "\n  type: sqlite\n  syncReads: yes please\n"));
      await assert.rejects(i.restart(), /storage.syncReads must be true or false/);
    } finally {
      await i.cleanup();
    }
  });
});
