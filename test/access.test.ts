// Identity and access: admin/client separation, ownership, per-key users/groups/operations, default policies — all audited.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Enum } from "../src/kmip/codec/tables.js";
import { find, Tag, text } from "../src/kmip/codec/ttlv.js";
import { type Client, client, type Instance, newInstance } from "./helpers.js";
import { aesCreate1x, KmipClient } from "./kmip-client.js";

const b64 = (s: string) => Buffer.from(s).toString("base64");

async function issue(i: Instance, cn: string, ou: string, role: string): Promise<Client> {
  const r = await i.as.admin1.call("POST", "/v1/certs", { cn, ou, role });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return client(i.url, { cert: r.body.certificate, key: r.body.privateKey, ca: r.body.ca });
}

describe("access policy (default any-authenticated)", () => {
  let i: Instance;
  let bob: Client;
  let carol: Client;
  before(async () => {
    i = await newInstance();
    bob = await issue(i, "bob", "payments", "client");
    carol = await issue(i, "carol", "analytics", "client");
  });
  after(async () => {
    bob.close();
    carol.close();
    await i.cleanup();
  });

  test("admins manage keys but never see material or plaintext", async () => {
    assert.equal((await i.as.admin1.call("POST", "/v1/keys", { name: "adm", type: "aes-256" })).status, 201);
    const ct = (await i.as.app.call("POST", "/v1/keys/adm/encrypt", { plaintext: b64("pii") })).body.ciphertext;
    for (const [method, path, body] of [
      ["GET", "/v1/keys/adm/material", undefined],
      ["POST", "/v1/keys/adm/decrypt", { ciphertext: ct }],
      ["POST", "/v1/keys/adm/datakey", {}],
      ["POST", "/v1/keys/adm/encrypt", { plaintext: b64("x") }],
    ] as const) {
      const r = await i.as.admin1.call(method, path, body);
      assert.equal(r.status, 403, `${method} ${path}`);
      assert.equal(r.body.error.code, "forbidden");
    }
    const denied = await i.as.auditor.call("GET", "/v1/audit?actor=admin1&outcome=denied");
    assert.ok(denied.body.events.length >= 4);
    assert.ok(denied.body.events.some((e: { action: string }) => e.action === "key.material"));
  });

  test("auditors read audit but cannot manage or use keys; clients and admins cannot read audit", async () => {
    assert.equal((await i.as.auditor.call("POST", "/v1/keys", { name: "aud", type: "aes-256" })).status, 403);
    assert.equal((await i.as.auditor.call("GET", "/v1/keys/adm")).status, 404, "a key the role may not read is not found");
    assert.equal((await i.as.app.call("GET", "/v1/audit")).status, 403);
    assert.equal((await i.as.admin1.call("GET", "/v1/audit/verify")).status, 403);
  });

  test("a client creates keys it owns; others may use them under the default policy but not manage them", async () => {
    const c = await bob.call("POST", "/v1/keys", { name: "bob-key", type: "aes-256" });
    assert.equal(c.status, 201);
    assert.equal(c.body.owner, "bob");
    const e = await carol.call("POST", "/v1/keys/bob-key/encrypt", { plaintext: b64("hi") });
    assert.equal(e.status, 200, "default any-authenticated lets other clients use it");
    const p = await carol.call("PATCH", "/v1/keys/bob-key", { policy: { users: ["carol"] } });
    assert.equal(p.status, 403, "cannot change another owner's policy");
    assert.equal((await carol.call("POST", "/v1/keys/bob-key/rotate")).status, 403);
    assert.equal((await carol.call("DELETE", "/v1/keys/bob-key", {})).status, 403);
    assert.equal((await bob.call("POST", "/v1/keys/bob-key/rotate")).status, 200, "the owner may rotate");
  });

  test("per-key users, groups and operations", async () => {
    await bob.call("POST", "/v1/keys", { name: "payments-key", type: "aes-256" });
    const p = await bob.call("PATCH", "/v1/keys/payments-key", {
      policy: { groups: ["payments"], users: ["app"], operations: ["encrypt"] },
    });
    assert.equal(p.status, 200);
    assert.equal((await carol.call("POST", "/v1/keys/payments-key/encrypt", { plaintext: b64("x") })).status, 404, "carol: wrong group");
    const e = await i.as.app.call("POST", "/v1/keys/payments-key/encrypt", { plaintext: b64("x") });
    assert.equal(e.status, 200, "app is a listed user");
    const d = await i.as.app.call("POST", "/v1/keys/payments-key/decrypt", { ciphertext: e.body.ciphertext });
    assert.equal(d.status, 403, "decrypt is not in operations");
    assert.equal((await bob.call("POST", "/v1/keys/payments-key/decrypt", { ciphertext: e.body.ciphertext })).status, 200, "the owner may");
    // List shows a client only the keys it may use.
    const names = (await carol.call("GET", "/v1/keys?limit=1000")).body.keys.map((k: { name: string }) => k.name);
    assert.ok(!names.includes("payments-key"));
    assert.ok(names.includes("bob-key"));
    const ev = await i.as.auditor.call("GET", "/v1/audit?actor=carol&key=payments-key&outcome=denied");
    assert.equal(ev.body.events.length, 1);
    assert.equal(ev.body.events[0].action, "key.encrypt");
    assert.equal(ev.body.events[0].actor.role, "client");
    assert.equal(ev.body.events[0].actor.ou, "analytics");
    assert.match(ev.body.events[0].actor.serial, /^[0-9A-F]+$/);
  });
});

describe("access policy (default owner-only)", () => {
  test("other clients are refused unless the key lists them", async () => {
    const i = await newInstance();
    try {
      // Reconfigure the default policy and restart, as an operator would.
      const { readFileSync, writeFileSync } = await import("node:fs");
      const path = `${i.dir}/strongroom.yaml`;
      writeFileSync(path, readFileSync(path, "utf8").replace("default: any-authenticated", "default: owner-only"));
      await i.restart();
      await i.as.admin1.call("POST", "/v1/keys", { name: "oo", type: "aes-256" });
      assert.equal((await i.as.app.call("POST", "/v1/keys/oo/encrypt", { plaintext: b64("x") })).status, 404);
      await i.as.admin1.call("PATCH", "/v1/keys/oo", { policy: { users: ["app"] } });
      assert.equal((await i.as.app.call("POST", "/v1/keys/oo/encrypt", { plaintext: b64("x") })).status, 200);
    } finally {
      await i.cleanup();
    }
  });
});

describe("no existence oracle (issue 9, finding 11)", () => {
  test("a key the caller may not see answers exactly like a key that does not exist, over REST and KMIP; the audit records the truth", async () => {
    const i = await newInstance();
    const kmipApp = await KmipClient.open(i.server.kmipPort, i.bundle("app"));
    try {
      const bundle = (await i.as.admin1.call("POST", "/v1/certs", { cn: "mallory", ou: "guests", role: "client" })).body;
      const mallory = client(i.url, { cert: bundle.certificate, key: bundle.privateKey, ca: bundle.ca });
      const kmipMallory = await KmipClient.open(i.server.kmipPort, { cert: bundle.certificate, key: bundle.privateKey, ca: bundle.ca });
      try {
        assert.equal((await i.as.app.call("POST", "/v1/keys", { name: "hr-payroll-secret", type: "aes-256" })).status, 201);
        assert.equal((await i.as.app.call("PATCH", "/v1/keys/hr-payroll-secret", { policy: { users: ["app"] } })).status, 200);
        const strip = (r: { status: number; body: { error: { code: string; message: string } } }, name: string) => ({
          status: r.status,
          code: r.body.error.code,
          message: r.body.error.message.replace(name, "NAME"),
        });
        for (const [method, suffix, body] of [
          ["GET", "", undefined],
          ["GET", "/material", undefined],
          ["POST", "/encrypt", { plaintext: b64("x") }],
          ["POST", "/rotate", undefined],
          ["PATCH", "", { description: "x" }],
          ["DELETE", "", {}],
        ] as const) {
          const hidden = await mallory.call(method, `/v1/keys/hr-payroll-secret${suffix}`, body);
          const absent = await mallory.call(method, `/v1/keys/no-such-key-anywhere${suffix}`, body);
          assert.deepEqual(strip(hidden, "hr-payroll-secret"), strip(absent, "no-such-key-anywhere"), `${method} ${suffix}`);
          assert.equal(hidden.status, 404);
        }
        // KMIP: the object's Unique Identifier answers as an unknown one.
        const created = await kmipApp.ok([1, 4], "Create", aesCreate1x(256, 0x0c));
        const id = String(find(created, Tag.UniqueIdentifier)?.value);
        await i.as.app.call("PATCH", `/v1/keys/${id}`, { policy: { users: ["app"] } });
        for (const op of ["Get", "GetAttributes", "Activate", "Destroy"] as const) {
          const [hidden] = await kmipMallory.call([2, 1], [[op, [text(Tag.UniqueIdentifier, id)]]]);
          const [absent] = await kmipMallory.call([2, 1], [[op, [text(Tag.UniqueIdentifier, "00000000-0000-4000-8000-000000000000")]]]);
          assert.equal(hidden.reason, Enum.ResultReason.ObjectNotFound, op);
          assert.equal(hidden.reason, absent.reason, op);
          assert.equal(hidden.message?.replace(id, "ID"), absent.message?.replace("00000000-0000-4000-8000-000000000000", "ID"), op);
        }
        // The audit log tells the auditor what really happened.
        const ev = await i.as.auditor.call("GET", "/v1/audit?actor=mallory&key=hr-payroll-secret&outcome=denied");
        assert.ok(ev.body.events.length >= 6, JSON.stringify(ev.body).slice(0, 1500));
        assert.ok(ev.body.events.every((e: { reason: string }) => e.reason.startsWith("forbidden")));
      } finally {
        mallory.close();
        kmipMallory.close();
      }
    } finally {
      kmipApp.close();
      await i.cleanup();
    }
  });
});
