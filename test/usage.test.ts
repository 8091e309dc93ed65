// Key usage tracking: counts per key version, principal and operation over REST and KMIP, flushed to key_usage; the
// usage endpoint and CLI; the keys report (stale, past cryptoperiod, most principals) with the injectable clock.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { Enum } from "../src/kmip/codec/tables.js";
import { bytes, enm, struct, Tag, text } from "../src/kmip/codec/ttlv.js";
import { type Client, client, type Instance, newInstance } from "./helpers.js";
import { KmipClient } from "./kmip-client.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const DAY = 86_400_000;
const b64 = (s: string) => Buffer.from(s).toString("base64");
const uid = (id: string) => text(Tag.UniqueIdentifier, id);
const gcm = () => struct(Tag.CryptographicParameters, enm(Tag.BlockCipherMode, Enum.BlockCipherMode.GCM));

interface UsageRow {
  object_id: string;
  name: string;
  version: number;
  principal: string;
  operation: string;
  count: number;
  last_used_at: string;
}

/** Runs the CLI as `bundle` against the instance; returns stdout (the command must succeed). */
function cli(i: Instance, bundle: string, args: string[]): Promise<string> {
  const b = i.init.bundles[bundle];
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("STRONGROOM_")) env[k] = v;
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [join(ROOT, "bin", "strongroom.js"), ...args, "--addr", i.url, "--cert", b.cert, "--key", b.key, "--ca", b.ca],
      { cwd: ROOT, env },
    );
    let out = "";
    let err = "";
    child.stdout.on("data", (c: Buffer) => {
      out += c.toString("utf8");
    });
    child.stderr.on("data", (c: Buffer) => {
      err += c.toString("utf8");
    });
    child.on("error", reject);
    child.on("close", (code) => (code === 0 ? resolve(out) : reject(new Error(`strongroom ${args.join(" ")}: ${code} ${err}`))));
  });
}

describe("key usage tracking", () => {
  let i: Instance;
  let bob: Client;
  let appKmip: KmipClient;
  let bobKmip: KmipClient;
  const rows = () =>
    i.server.app.store.all<UsageRow>(
      "SELECT object_id, name, version, principal, operation, count, last_used_at FROM key_usage WHERE name = $1 ORDER BY version, principal, operation",
      ["ledger"],
    );

  before(async () => {
    i = await newInstance();
    const r = await i.as.admin1.call("POST", "/v1/certs", { cn: "bob", ou: "payments", role: "client" });
    assert.equal(r.status, 201);
    const tls = { cert: r.body.certificate, key: r.body.privateKey, ca: r.body.ca };
    bob = client(i.url, tls);
    appKmip = await KmipClient.open(i.server.kmipPort, i.bundle("app"));
    bobKmip = await KmipClient.open(i.server.kmipPort, tls);
  });
  after(async () => {
    bob.close();
    appKmip.close();
    bobKmip.close();
    await i.cleanup();
  });

  test("REST and KMIP uses by two principals are counted per version and operation, written on flush", async () => {
    // The periodic flush (every 5 s) is stopped: this test decides when the counters are written.
    await i.server.app.usage.stop();
    const t0 = i.clock.t;
    const created = await i.as.app.call("POST", "/v1/keys", { name: "ledger", type: "aes-256" });
    assert.equal(created.status, 201);
    const v1 = created.body.versions[0].id as string;
    let ct = "";
    for (let n = 0; n < 3; n++) {
      const e = await i.as.app.call("POST", "/v1/keys/ledger/encrypt", { plaintext: b64(`m${n}`) });
      assert.equal(e.status, 200);
      ct = e.body.ciphertext;
    }
    i.clock.t = t0 + 60_000;
    assert.equal((await i.as.app.call("POST", "/v1/keys/ledger/decrypt", { ciphertext: ct })).status, 200);
    assert.equal((await i.as.app.call("GET", "/v1/keys/ledger/material")).status, 200);
    // A batch of two counts two uses.
    const batch = await bob.call("POST", "/v1/keys/ledger/encrypt", { batch: [{ plaintext: b64("a") }, { plaintext: b64("b") }] });
    assert.equal(batch.status, 200);
    // KMIP Get (material) by app, on version 1.
    await appKmip.ok([1, 4], "Get", [uid(v1)]);
    // Refused and failed requests are not uses.
    assert.equal((await i.as.admin1.call("POST", "/v1/keys/ledger/encrypt", { plaintext: b64("x") })).status, 403);
    assert.equal((await i.as.app.call("POST", "/v1/keys/ledger/decrypt", { ciphertext: b64("garbage-garbage") })).status, 400);

    // Nothing is written per request: the counters wait in memory until a flush.
    assert.deepEqual(await rows(), []);

    // Version 2: app over REST, bob over KMIP (twice), one minute later.
    const rotated = await i.as.app.call("POST", "/v1/keys/ledger/rotate");
    const v2 = rotated.body.versions[1].id as string;
    i.clock.t = t0 + 120_000;
    assert.equal((await i.as.app.call("POST", "/v1/keys/ledger/encrypt", { plaintext: b64("v2") })).status, 200);
    for (let n = 0; n < 2; n++) await bobKmip.ok([1, 4], "Encrypt", [uid(v2), gcm(), bytes(Tag.Data, Buffer.from("x"))]);

    assert.ok((await i.server.app.usage.flush()) > 0);
    const at = (ms: number) => new Date(t0 + ms).toISOString();
    assert.deepEqual(
      (await rows()).map((r) => [r.object_id, r.version, r.principal, r.operation, Number(r.count), r.last_used_at]),
      [
        [v1, 1, "app", "decrypt", 1, at(60_000)],
        [v1, 1, "app", "encrypt", 3, at(0)],
        [v1, 1, "app", "material", 2, at(60_000)],
        [v1, 1, "bob", "encrypt", 2, at(60_000)],
        [v2, 2, "app", "encrypt", 1, at(120_000)],
        [v2, 2, "bob", "encrypt", 2, at(120_000)],
      ],
    );

    // Later uses add to the same rows (upsert) and move the last-use time.
    i.clock.t = t0 + 180_000;
    await i.as.app.call("POST", "/v1/keys/ledger/encrypt", { plaintext: b64("again") });
    await i.server.app.usage.flush();
    const enc2 = (await rows()).find((r) => r.version === 2 && r.principal === "app");
    assert.deepEqual([Number(enc2?.count), enc2?.last_used_at], [2, at(180_000)]);

    // GET /v1/keys/{name}/usage: per version, per principal, per operation, with totals.
    const u = await i.as.auditor.call("GET", "/v1/keys/ledger/usage");
    assert.equal(u.status, 200, JSON.stringify(u.body));
    assert.deepEqual(u.body.total, { count: 12, lastUsedAt: at(180_000), principals: 2 });
    assert.deepEqual(u.body.operations, { decrypt: 1, encrypt: 9, material: 2 });
    assert.deepEqual(
      u.body.principals.map((p: { principal: string; count: number }) => [p.principal, p.count]),
      [
        ["app", 8],
        ["bob", 4],
      ],
    );
    assert.deepEqual(
      u.body.versions.map((v: { version: number; id: string; count: number; lastUsedAt: string }) => [
        v.version,
        v.id,
        v.count,
        v.lastUsedAt,
      ]),
      [
        [1, v1, 8, at(60_000)],
        [2, v2, 4, at(180_000)],
      ],
    );
    assert.equal((await i.as.admin1.call("GET", "/v1/keys/ledger/usage")).status, 200);
    assert.equal((await i.as.app.call("GET", "/v1/keys/ledger/usage")).status, 403);
    assert.equal((await i.as.auditor.call("GET", "/v1/keys/nope/usage")).status, 404);

    // The CLI: a table and --json.
    const human = await cli(i, "auditor", ["keys", "usage", "ledger"]);
    assert.match(human, /^VERSION\s+STATE\s+PRINCIPAL\s+OPERATION\s+COUNT\s+LAST USED/m);
    assert.match(human, /^1\s+Active\s+bob\s+encrypt\s+2\s+/m);
    assert.match(human, /total: 12 use\(s\) by 2 principal\(s\)/);
    assert.deepEqual(JSON.parse(await cli(i, "admin1", ["keys", "usage", "ledger", "--json"])).total.count, 12);
  });

  test("counters still in memory are written when the server stops", async () => {
    await i.as.app.call("POST", "/v1/keys/ledger/decrypt", {
      ciphertext: (await i.as.app.call("POST", "/v1/keys/ledger/encrypt", { plaintext: b64("z") })).body.ciphertext,
    });
    appKmip.close();
    bobKmip.close();
    bob.close();
    await i.restart();
    const dec = (await rows()).filter((r) => r.operation === "decrypt").reduce((n, r) => n + Number(r.count), 0);
    assert.equal(dec, 2);
  });
});

describe("keys report", () => {
  test("stale and never-used keys, keys past their cryptoperiod, keys with the most principals; human and --json", async () => {
    const i = await newInstance({ timeZone: "UTC" });
    try {
      const r = await i.as.admin1.call("POST", "/v1/certs", { cn: "carol", role: "client" });
      const carol = client(i.url, { cert: r.body.certificate, key: r.body.privateKey, ca: r.body.ca });
      const t0 = i.clock.t;
      const mk = async (name: string, rotation?: unknown) =>
        assert.equal((await i.as.app.call("POST", "/v1/keys", { name, type: "aes-256", rotation })).status, 201);
      await mk("busy");
      await mk("idle");
      await mk("never");
      await mk("auto-30", { mode: "auto", periodDays: 30 });
      await mk("manual-30", { mode: "manual", periodDays: 30 });
      await mk("manual-none");
      await mk("doomed");
      // Used by two principals, then scheduled for destruction: no report section lists it (docs/operations.md).
      for (const c of [i.as.app, carol]) await c.call("POST", "/v1/keys/doomed/encrypt", { plaintext: b64("x") });
      await i.as.app.call("DELETE", "/v1/keys/doomed", { pendingDays: 365 });
      for (const c of [i.as.app, carol]) await c.call("POST", "/v1/keys/busy/encrypt", { plaintext: b64("x") });
      await i.as.app.call("POST", "/v1/keys/idle/encrypt", { plaintext: b64("x") });

      // Day 10: nothing is stale or overdue yet.
      i.clock.t = t0 + 10 * DAY;
      await i.as.app.call("POST", "/v1/keys/busy/encrypt", { plaintext: b64("x") });
      let rep = await i.as.auditor.call("GET", "/v1/reports/keys?staleDays=90");
      assert.equal(rep.status, 200, JSON.stringify(rep.body));
      assert.deepEqual(rep.body.stale.keys, []);
      assert.deepEqual(rep.body.overdue.keys, []);
      assert.deepEqual(rep.body.mostPrincipals[0], {
        name: "busy",
        principals: 2,
        uses: 3,
        lastUsedAt: new Date(t0 + 10 * DAY).toISOString(),
      });
      assert.equal(rep.body.mostPrincipals[1].name, "idle");
      assert.ok(!rep.body.mostPrincipals.some((k: { name: string }) => k.name === "doomed"), "scheduled for destruction: left out");

      // Day 95: keys not used since day 0 (or never) are stale; busy (used on day 10) is not. The scheduler has not
      // run, so the auto key's rollover is overdue; the manual key with a 30-day period is past it too.
      i.clock.t = t0 + 95 * DAY;
      rep = await i.as.admin1.call("GET", "/v1/reports/keys?staleDays=90");
      assert.equal(rep.status, 200);
      const stale = rep.body.stale.keys as { name: string; lastUsedAt: string | null; uses: number; idleDays: number }[];
      assert.deepEqual(stale.map((k) => k.name).sort(), ["auto-30", "idle", "manual-30", "manual-none", "never"]);
      const facts = (name: string) => {
        const k = stale.find((x) => x.name === name);
        return [k?.lastUsedAt === null, k?.uses, k?.idleDays];
      };
      assert.deepEqual(facts("never"), [true, 0, 95]);
      assert.deepEqual(facts("idle"), [false, 1, 95]);
      const overdue = rep.body.overdue.keys as { name: string; mode: string; periodDays: number; overdueDays: number }[];
      assert.deepEqual(overdue.map((k) => [k.name, k.mode, k.periodDays]).sort(), [
        ["auto-30", "auto", 30],
        ["manual-30", "manual", 30],
      ]);
      assert.ok(overdue.every((k) => k.overdueDays >= 64 && k.overdueDays <= 65));
      // Fewer stale days widen the list; a use takes a key off it.
      await i.as.app.call("POST", "/v1/keys/idle/encrypt", { plaintext: b64("x") });
      rep = await i.as.auditor.call("GET", "/v1/reports/keys?staleDays=90");
      assert.ok(!rep.body.stale.keys.some((k: { name: string }) => k.name === "idle"));
      rep = await i.as.auditor.call("GET", "/v1/reports/keys?staleDays=30");
      assert.ok(rep.body.stale.keys.some((k: { name: string }) => k.name === "busy"));
      // Rotating the manual key ends its overdue state.
      await i.as.app.call("POST", "/v1/keys/manual-30/rotate");
      rep = await i.as.auditor.call("GET", "/v1/reports/keys");
      assert.deepEqual(
        rep.body.overdue.keys.map((k: { name: string }) => k.name),
        ["auto-30"],
      );
      assert.equal((await i.as.app.call("GET", "/v1/reports/keys")).status, 403);
      assert.equal((await i.as.auditor.call("GET", "/v1/reports/keys?staleDays=0")).status, 400);

      const human = await cli(i, "auditor", ["report", "keys", "--stale-days", "90"]);
      assert.match(human, /^Stale keys \(not used for 90 days or more\)$/m);
      assert.match(human, /^never\s+aes-256\s+app\s+\S+\s+never\s+0\s+95$/m);
      assert.match(human, /^Keys past their cryptoperiod$/m);
      assert.match(human, /^auto-30\s+aes-256\s+auto\s+30\s+1\s/m);
      assert.match(human, /^busy\s+2\s+3\s/m);
      const json = JSON.parse(await cli(i, "admin1", ["report", "keys", "--stale-days", "90", "--top", "1", "--json"]));
      assert.equal(json.mostPrincipals.length, 1);
      assert.equal(json.staleDays, 90);
      carol.close();
    } finally {
      await i.cleanup();
    }
  });
});
