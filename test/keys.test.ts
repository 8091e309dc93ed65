// Key lifecycle over the real HTTPS listener: create every type, list/filter/paginate, show, update, rotate, revoke, destroy.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { type Instance, newInstance } from "./helpers.js";

const b64 = (s: string) => Buffer.from(s).toString("base64");

describe("key lifecycle", () => {
  let i: Instance;
  before(async () => {
    i = await newInstance();
  });
  after(async () => {
    await i.cleanup();
  });

  test("create every key type; contract shape of GET /v1/keys/{name}", async () => {
    const types = [
      "aes-128",
      "aes-192",
      "aes-256",
      "rsa-2048",
      "rsa-3072",
      "ec-p256",
      "ec-p384",
      "hmac-sha256",
      "hmac-sha384",
      "hmac-sha512",
    ];
    for (const type of types) {
      const r = await i.as.admin1.call("POST", "/v1/keys", { name: `t-${type}`, type });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      assert.equal(r.body.type, type);
    }
    const k = (await i.as.admin1.call("GET", "/v1/keys/t-aes-256")).body;
    assert.equal(k.name, "t-aes-256");
    assert.equal(k.state, "Active");
    assert.equal(k.currentVersion, 1);
    assert.equal(k.owner, "admin1");
    assert.deepEqual(k.rotation, { mode: "manual" });
    assert.deepEqual(k.policy, { users: [], groups: [], operations: [] });
    assert.equal(k.versions.length, 1);
    assert.equal(k.versions[0].version, 1);
    assert.match(k.versions[0].id, /^[0-9a-f-]{36}$/);
    assert.equal(k.versions[0].state, "Active");
    assert.ok(!Number.isNaN(Date.parse(k.versions[0].createdAt)));
    // Names are unique.
    const dup = await i.as.admin1.call("POST", "/v1/keys", { name: "t-aes-256", type: "aes-128" });
    assert.equal(dup.status, 409);
    assert.equal(dup.body.error.code, "key_exists");
  });

  test("RSA-4096 keys are generated too", { timeout: 60_000 }, async () => {
    const r = await i.as.admin1.call("POST", "/v1/keys", { name: "t-rsa-4096", type: "rsa-4096" });
    assert.equal(r.status, 201);
    const m = await i.as.app.call("GET", "/v1/keys/t-rsa-4096/material");
    assert.equal(m.status, 200);
    assert.equal(m.body.format, "pkcs8");
  });

  test("list: prefix, type, state filters and cursor pagination", async () => {
    for (let n = 0; n < 7; n++) await i.as.admin1.call("POST", "/v1/keys", { name: `page-${n}`, type: "aes-256" });
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const q: string = `/v1/keys?prefix=page-&limit=3${cursor ? `&cursor=${cursor}` : ""}`;
      const r = await i.as.admin1.call("GET", q);
      assert.equal(r.status, 200);
      assert.ok(r.body.keys.length <= 3);
      seen.push(...r.body.keys.map((k: { name: string }) => k.name));
      cursor = r.body.next;
    } while (cursor);
    assert.deepEqual(seen, ["page-0", "page-1", "page-2", "page-3", "page-4", "page-5", "page-6"]);
    const ec = await i.as.admin1.call("GET", "/v1/keys?type=ec-p256");
    assert.deepEqual(
      ec.body.keys.map((k: { name: string }) => k.name),
      ["t-ec-p256"],
    );
    await i.as.admin1.call("POST", "/v1/keys/page-3/revoke", { reason: "cessation-of-operation" });
    const deact = await i.as.admin1.call("GET", "/v1/keys?state=Deactivated&prefix=page");
    assert.deepEqual(
      deact.body.keys.map((k: { name: string }) => k.name),
      ["page-3"],
    );
  });

  test("update changes description, policy and rotation", async () => {
    await i.as.admin1.call("POST", "/v1/keys", { name: "upd", type: "aes-256", description: "before" });
    const r = await i.as.admin1.call("PATCH", "/v1/keys/upd", {
      description: "after",
      policy: { users: ["app"], operations: ["encrypt"] },
      rotation: { mode: "auto", periodDays: 30 },
    });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.description, "after");
    assert.deepEqual(r.body.policy, { users: ["app"], groups: [], operations: ["encrypt"] });
    assert.deepEqual(r.body.rotation, { mode: "auto", periodDays: 30 });
    assert.ok(r.body.nextRotationAt);
    const bad = await i.as.admin1.call("PATCH", "/v1/keys/upd", { rotation: { mode: "auto" } });
    assert.equal(bad.status, 400);
  });

  test("rotate adds a version; old versions still decrypt; mode none refuses", async () => {
    await i.as.admin1.call("POST", "/v1/keys", { name: "rot", type: "aes-256" });
    const ct1 = (await i.as.app.call("POST", "/v1/keys/rot/encrypt", { plaintext: b64("v1 data") })).body;
    assert.equal(ct1.version, 1);
    const r = await i.as.admin1.call("POST", "/v1/keys/rot/rotate");
    assert.equal(r.status, 200);
    assert.equal(r.body.currentVersion, 2);
    assert.equal(r.body.versions.length, 2);
    assert.notEqual(r.body.versions[0].id, r.body.versions[1].id);
    const ct2 = (await i.as.app.call("POST", "/v1/keys/rot/encrypt", { plaintext: b64("v2 data") })).body;
    assert.equal(ct2.version, 2);
    const d1 = await i.as.app.call("POST", "/v1/keys/rot/decrypt", { ciphertext: ct1.ciphertext });
    assert.equal(Buffer.from(d1.body.plaintext, "base64").toString(), "v1 data");
    const m1 = await i.as.app.call("GET", "/v1/keys/rot/material?version=1");
    const m2 = await i.as.app.call("GET", "/v1/keys/rot/material");
    assert.equal(m1.body.version, 1);
    assert.equal(m2.body.version, 2);
    assert.notEqual(m1.body.material, m2.body.material);

    await i.as.admin1.call("POST", "/v1/keys", { name: "norot", type: "aes-256", rotation: { mode: "none" } });
    const refused = await i.as.admin1.call("POST", "/v1/keys/norot/rotate");
    assert.equal(refused.status, 409);
    assert.equal(refused.body.error.code, "rotation_disabled");
  });

  test("revoke one version or the whole key; state rules for encrypt/decrypt/sign/verify", async () => {
    await i.as.admin1.call("POST", "/v1/keys", { name: "rev", type: "aes-256" });
    const ct = (await i.as.app.call("POST", "/v1/keys/rev/encrypt", { plaintext: b64("secret") })).body.ciphertext;
    const r = await i.as.admin1.call("POST", "/v1/keys/rev/revoke", { reason: "superseded", version: 1 });
    assert.equal(r.status, 200);
    assert.equal(r.body.versions[0].state, "Deactivated");
    assert.equal(r.body.versions[0].revocationReason, "superseded");
    // Deactivated: may decrypt, may not encrypt.
    const enc = await i.as.app.call("POST", "/v1/keys/rev/encrypt", { plaintext: b64("x") });
    assert.equal(enc.status, 409);
    assert.equal(enc.body.error.code, "invalid_state");
    const dec = await i.as.app.call("POST", "/v1/keys/rev/decrypt", { ciphertext: ct });
    assert.equal(dec.status, 200);
    // Compromise moves even a Deactivated version to Compromised; still decrypts.
    const c = await i.as.admin1.call("POST", "/v1/keys/rev/revoke", { reason: "key-compromise" });
    assert.equal(c.body.versions[0].state, "Compromised");
    assert.equal((await i.as.app.call("POST", "/v1/keys/rev/decrypt", { ciphertext: ct })).status, 200);
    // Revoking again with a non-compromise reason has nothing to do.
    const again = await i.as.admin1.call("POST", "/v1/keys/rev/revoke", { reason: "unspecified" });
    assert.equal(again.status, 409);
    // Rotating after a compromise gives a fresh Active version.
    const rot = await i.as.admin1.call("POST", "/v1/keys/rev/rotate");
    assert.equal(rot.body.state, "Active");

    await i.as.admin1.call("POST", "/v1/keys", { name: "rev-sig", type: "ec-p256" });
    const sig = (await i.as.app.call("POST", "/v1/keys/rev-sig/sign", { input: b64("msg") })).body;
    await i.as.admin1.call("POST", "/v1/keys/rev-sig/revoke", { reason: "key-compromise" });
    assert.equal((await i.as.app.call("POST", "/v1/keys/rev-sig/sign", { input: b64("msg") })).status, 409);
    const ver = await i.as.app.call("POST", "/v1/keys/rev-sig/verify", { input: b64("msg"), signature: sig.signature });
    assert.equal(ver.status, 200);
    assert.equal(ver.body.valid, true);
    const bad = await i.as.admin1.call("POST", "/v1/keys/rev/revoke", { reason: "lost-it" });
    assert.equal(bad.status, 400);
  });

  test("scheduled destruction: waiting period, cancel, then destruction erases material and keeps metadata", async () => {
    await i.as.admin1.call("POST", "/v1/keys", { name: "doomed", type: "aes-256" });
    const ct = (await i.as.app.call("POST", "/v1/keys/doomed/encrypt", { plaintext: b64("bye") })).body.ciphertext;
    const s = await i.as.admin1.call("DELETE", "/v1/keys/doomed", { pendingDays: 7 });
    assert.equal(s.status, 200, JSON.stringify(s.body));
    assert.ok(s.body.deletionScheduledAt);
    // Pending deletion: the key cannot be used, so dependents surface before the material is gone.
    assert.equal((await i.as.app.call("POST", "/v1/keys/doomed/decrypt", { ciphertext: ct })).status, 409);
    const c = await i.as.admin1.call("POST", "/v1/keys/doomed/cancel-deletion");
    assert.equal(c.status, 200);
    assert.equal(c.body.deletionScheduledAt, null);
    assert.equal((await i.as.app.call("POST", "/v1/keys/doomed/decrypt", { ciphertext: ct })).status, 200);

    await i.as.admin1.call("DELETE", "/v1/keys/doomed", { pendingDays: 1 });
    await i.server.app.tick();
    assert.equal((await i.as.admin1.call("GET", "/v1/keys/doomed")).body.state, "Active", "not before the period ends");
    i.clock.advanceDays(1.01);
    const t = await i.server.app.tick();
    assert.equal(t.destroyed, 1);
    const k = (await i.as.admin1.call("GET", "/v1/keys/doomed")).body;
    assert.equal(k.state, "Destroyed");
    assert.ok(k.destroyedAt);
    assert.equal(k.versions[0].state, "Destroyed");
    const m = await i.as.app.call("GET", "/v1/keys/doomed/material");
    assert.equal(m.status, 409);
    // The name stays taken.
    assert.equal((await i.as.admin1.call("POST", "/v1/keys", { name: "doomed", type: "aes-256" })).status, 409);
    const rawRow = await i.server.app.store.get<{ material: Buffer | null }>("SELECT material FROM objects WHERE name = $1", ["doomed"]);
    assert.equal(rawRow?.material, null);
    const ev = await i.as.auditor.call("GET", "/v1/audit?key=doomed&action=key.destroy");
    assert.equal(ev.body.events.length, 1);
    assert.equal(ev.body.events[0].actor.cn, "strongroom");
  });
});
