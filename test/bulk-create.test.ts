// Key service bulk create (createMany): each key as a single create makes it — own material, wrapped, one audit event
// per key — in one transaction; all or none; roles and batch size enforced.
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { after, before, describe, test } from "node:test";
import type { AuthCtx } from "../src/auth/identity.js";
import { identify } from "../src/auth/identity.js";
import type { ObjectRow } from "../src/keys/key-model.js";
import { CREATE_MANY_MAX, OBJECT_COLUMNS } from "../src/keys/key-service.js";
import { type Instance, newInstance } from "./helpers.js";

describe("key service createMany", () => {
  let i: Instance;
  const ctxOf = async (bundle: string, requestId: string): Promise<AuthCtx> => {
    const cert = new X509Certificate(i.bundle(bundle).cert);
    const field = (k: string) => new RegExp(`${k}=([^\\n,]+)`).exec(cert.subject)?.[1] ?? "";
    const actor = await identify(i.server.app.store, { serial: cert.serialNumber, cn: field("CN"), ou: field("OU") }, null, i.clock.now());
    return { actor, requestId };
  };
  before(async () => {
    i = await newInstance();
  });
  after(async () => {
    await i.cleanup();
  });

  test("creates every key with its own wrapped material and one key.create event each", async () => {
    const app = i.server.app;
    const names = Array.from({ length: 50 }, (_, n) => `bulk-${n}`);
    const ids = await app.keys.createMany(
      await ctxOf("app", "bulk-1"),
      names.map((name) => ({ name, type: "aes-256" })),
    );
    assert.equal(ids.length, names.length);
    assert.equal(new Set(ids).size, names.length);

    const materials = new Set<string>();
    for (const [n, name] of names.entries()) {
      const k = await i.as.app.call("GET", `/v1/keys/${name}`);
      assert.equal(k.status, 200);
      assert.equal(k.body.owner, "app");
      assert.equal(k.body.type, "aes-256");
      assert.equal(k.body.state, "Active");
      assert.equal(k.body.versions[0].id, ids[n]);
      // The stored blob is wrapped (not the key) and unwraps, bound to its own object id, to the key the API serves.
      const row = await app.store.get<ObjectRow>(`SELECT ${OBJECT_COLUMNS} FROM objects WHERE id = $1`, [ids[n]]);
      assert.ok(row?.material && row.kek_id !== null);
      const clear = app.barrier.unwrap(row.id, row.kek_id, row.material);
      const m = await i.as.app.call("GET", `/v1/keys/${name}/material`);
      assert.equal(m.status, 200);
      assert.equal(Buffer.from(m.body.material, "base64").length, 32);
      assert.ok(clear.equals(Buffer.from(m.body.material, "base64")));
      assert.equal(row.material.indexOf(clear), -1);
      materials.add(clear.toString("hex"));
      clear.fill(0);
      // KMIP Locate by name finds it too (object_names).
      const names = await app.store.all<{ object_id: string }>("SELECT object_id FROM object_names WHERE name = $1", [name]);
      assert.deepEqual(
        names.map((r) => r.object_id),
        [ids[n]],
      );
    }
    assert.equal(materials.size, names.length, "every key has material of its own");

    const events = (await app.audit.query({ action: "key.create", limit: 1000 })).events.filter((e) => e.requestId === "bulk-1");
    assert.deepEqual(
      events.map((e) => e.target.name),
      names,
    );
    for (const e of events) {
      assert.equal(e.outcome, "success");
      assert.equal(e.actor.cn, "app");
      assert.equal(e.target.version, 1);
      assert.deepEqual(e.detail, { type: "aes-256" });
    }
    const verify = await i.as.auditor.call("GET", "/v1/audit/verify");
    assert.equal(verify.body.ok, true);
  });

  test("all or none: one existing name creates nothing and is one audited error", async () => {
    const app = i.server.app;
    const ctx = await ctxOf("app", "bulk-2");
    await assert.rejects(
      app.keys.createMany(ctx, [
        { name: "fresh-1", type: "aes-128" },
        { name: "bulk-3", type: "aes-128" },
        { name: "fresh-2", type: "aes-128" },
      ]),
      (e: Error & { code?: string }) => e.code === "key_exists",
    );
    for (const name of ["fresh-1", "fresh-2"]) assert.equal((await i.as.app.call("GET", `/v1/keys/${name}`)).status, 404);
    const events = (await app.audit.query({ action: "key.create", limit: 1000 })).events.filter((e) => e.requestId === "bulk-2");
    assert.equal(events.length, 1);
    assert.equal(events[0].outcome, "error");
    assert.deepEqual(events[0].detail, { batch: 3 });
  });

  test("roles and batch size are enforced", async () => {
    const app = i.server.app;
    await assert.rejects(
      app.keys.createMany(await ctxOf("auditor", "bulk-3"), [{ name: "by-auditor", type: "aes-256" }]),
      (e: Error & { code?: string }) => e.code === "forbidden",
    );
    const denied = (await app.audit.query({ action: "key.create", limit: 1000 })).events.filter((e) => e.requestId === "bulk-3");
    assert.equal(denied.length, 1);
    assert.equal(denied[0].outcome, "denied");
    const tooMany = Array.from({ length: CREATE_MANY_MAX + 1 }, (_, n) => ({ name: `over-${n}`, type: "aes-256" as const }));
    await assert.rejects(
      app.keys.createMany(await ctxOf("admin1", "bulk-4"), tooMany),
      (e: Error & { code?: string }) => e.code === "bad_request",
    );
    assert.equal((await i.as.admin1.call("GET", "/v1/keys/over-0")).status, 404);
  });
});
