// Hostile and malformed REST requests: exact error code and status, request ids, no stack traces, audited, nothing changed, server keeps serving.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import type { IncomingMessage } from "node:http";
import { type Agent, request } from "node:https";
import { after, before, test } from "node:test";
import { client, type Instance, newInstance, type Response } from "./helpers.js";

let i: Instance;

before(async () => {
  i = await newInstance();
  const mk = async (body: unknown) => {
    const r = await i.as.admin1.call("POST", "/v1/keys", body);
    assert.equal(r.status, 201, JSON.stringify(r.body));
  };
  await mk({ name: "orders", type: "aes-256" });
  await mk({ name: "frozen", type: "aes-256", rotation: { mode: "none" } });
  await mk({ name: "signer", type: "ec-p256" });
});
after(async () => {
  await i?.cleanup();
});

/** Sends exactly these bytes (optionally chunked) and collects the reply, whatever the content type. */
function raw(
  agent: Agent,
  method: string,
  path: string,
  body: string | Buffer | undefined,
  headers: Record<string, string | number> = {},
  chunks = 1,
): Promise<Response & { text: string }> {
  const h: Record<string, string | number> = { ...headers };
  // Node sends a GET body without framing unless told its length.
  if (body !== undefined && !("transfer-encoding" in h) && !("content-length" in h)) h["content-length"] = Buffer.byteLength(body);
  return new Promise((resolve, reject) => {
    const req = request(new URL(path, i.url), { method, agent, headers: h }, (res: IncomingMessage) => {
      const parts: Buffer[] = [];
      res.on("data", (c: Buffer) => parts.push(c));
      res.on("end", () => {
        const text = Buffer.concat(parts).toString("utf8");
        let parsed: unknown = text;
        try {
          parsed = JSON.parse(text);
        } catch {}
        resolve({ status: res.statusCode ?? 0, body: parsed as any, headers: res.headers, text });
      });
      res.on("error", reject);
    });
    req.on("error", reject);
    if (body === undefined) {
      req.end();
      return;
    }
    const buf = Buffer.isBuffer(body) ? body : Buffer.from(body);
    const size = Math.ceil(buf.length / chunks);
    for (let off = 0; off < buf.length - size; off += size) req.write(buf.subarray(off, off + size));
    req.end(buf.subarray(Math.floor((buf.length - 1) / size) * size));
  });
}

/** Everything a user can see of an instance's keys (list plus every key's full view). */
async function snapshot(): Promise<unknown> {
  const list = await i.as.admin1.call("GET", "/v1/keys?limit=1000");
  assert.equal(list.status, 200);
  const views = [];
  for (const k of list.body.keys) views.push((await i.as.admin1.call("GET", `/v1/keys/${k.name}`)).body);
  return { list: list.body, views };
}

const STACK = [/\n\s+at /, /\bat \S+ \(/, /\.(ts|js):\d+/, /node:internal/, /node_modules/, /\/work\//, /\bError: /, /StrongroomError/];

/**
 * Checks the error envelope, the request id (body and header), that nothing internal leaks, that the
 * failure is in the audit log under that request id, and that another client is still served.
 */
async function expectError(r: Response, status: number, code: string, label: string): Promise<any> {
  const text = typeof r.body === "string" ? r.body : JSON.stringify(r.body);
  assert.equal(r.status, status, `${label}: ${text}`);
  assert.match(String(r.headers["content-type"]), /^application\/json/, label);
  assert.ok(r.body && typeof r.body === "object" && r.body.error, `${label}: error envelope`);
  assert.deepEqual(Object.keys(r.body).sort(), ["error"], `${label}: only the error member`);
  const e = r.body.error;
  assert.deepEqual(Object.keys(e).sort(), ["code", "message", "requestId"], label);
  assert.equal(e.code, code, `${label}: ${text}`);
  assert.equal(typeof e.message, "string");
  assert.ok(e.message.length > 0 && e.message.length < 600, `${label}: a short message`);
  assert.match(e.requestId, /^[0-9a-f-]{36}$/, `${label}: request id`);
  assert.equal(r.headers["x-request-id"], e.requestId, `${label}: x-request-id header`);
  for (const re of STACK) assert.doesNotMatch(text, re, `${label}: response leaks internals (${re})`);

  const ev = (await i.as.auditor.call("GET", `/v1/audit?limit=1000&outcome=error`)).body.events
    .concat((await i.as.auditor.call("GET", `/v1/audit?limit=1000&outcome=denied`)).body.events)
    .filter((x: any) => x.requestId === e.requestId);
  assert.equal(ev.length, 1, `${label}: exactly one audit event for request ${e.requestId}`);
  assert.ok(["error", "denied"].includes(ev[0].outcome), label);
  assert.ok(String(ev[0].reason).startsWith(code), `${label}: audit reason ${ev[0].reason}`);
  for (const re of STACK) assert.doesNotMatch(JSON.stringify(ev[0]), re, `${label}: audit event leaks internals`);

  const other = await i.as.app.call("GET", "/v1/sys/status");
  assert.equal(other.status, 200, `${label}: server keeps serving other clients`);
  return ev[0];
}

const b64 = (s: string | Buffer) => Buffer.from(s).toString("base64");

test("malformed bodies: invalid JSON, wrong types, unknown fields, wrong shapes, wrong content type", async () => {
  const before = await snapshot();
  const a = i.as.admin1;
  const json = { "content-type": "application/json" };
  for (const [label, body] of [
    ["truncated", '{"name":"x1","type":'],
    ["single quotes", "{'name':'x1'}"],
    ["trailing comma", '{"name":"x1","type":"aes-256",}'],
    ["not JSON at all", "name=x1&type=aes-256"],
    ["invalid UTF-8", Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d])],
  ] as const) {
    await expectError(await raw(a.agent, "POST", "/v1/keys", body, json), 400, "invalid_json", `malformed JSON (${label})`);
  }
  await expectError(await a.call("POST", "/v1/keys", { name: 123, type: "aes-256" }), 400, "validation", "name as number");
  await expectError(await a.call("POST", "/v1/keys", { name: "x2", type: ["aes-256"] }), 400, "validation", "type as array");
  await expectError(
    await a.call("POST", "/v1/keys", { name: "x2", type: "aes-256", exportable: "yes" }),
    400,
    "validation",
    "boolean as string",
  );
  await expectError(await a.call("POST", "/v1/keys", { name: "x2", type: "aes-999" }), 400, "validation", "unknown key type");
  await expectError(
    await a.call("POST", "/v1/keys", { name: "x2", type: "aes-256", rotation: { mode: "auto", periodDays: "7" } }),
    400,
    "validation",
    "nested wrong type",
  );
  await expectError(
    await a.call("POST", "/v1/keys", { name: "x2", type: "aes-256", rotation: { mode: "auto" } }),
    400,
    "validation",
    "auto without period",
  );
  await expectError(await a.call("POST", "/v1/keys", { name: "x2" }), 400, "validation", "missing required field");
  await expectError(await a.call("POST", "/v1/keys", [{ name: "x2", type: "aes-256" }]), 400, "validation", "array body");
  await expectError(await a.call("POST", "/v1/keys", "null"), 400, "validation", "null body");
  await expectError(await a.call("POST", "/v1/keys", "42"), 400, "validation", "number body");
  const unknown = await expectError(
    await a.call("POST", "/v1/keys", { name: "x3", type: "aes-256", colour: "red" }),
    400,
    "validation",
    "unknown body field",
  );
  // The unknown field's name is request content: its position is reported, never its name.
  assert.doesNotMatch(unknown.reason, /colour/);
  assert.match(unknown.reason, /field 3 of 3 is not a known field/);
  await expectError(
    await a.call("POST", "/v1/keys", '{"name":"x3","type":"aes-256","__proto__":{"admin":true}}'),
    400,
    "validation",
    "__proto__ field",
  );
  // An attacker-sized field name is not reflected in full.
  const longField = await a.call("POST", "/v1/keys", `{"name":"x3","type":"aes-256","${"f".repeat(200_000)}":1}`);
  await expectError(longField, 400, "validation", "200 kB unknown field name");
  assert.ok(JSON.stringify(longField.body).length < 1000, "the error stays small");
  // Names inherited from Object.prototype are unknown fields too.
  for (const f of ["constructor", "toString", "hasOwnProperty"]) {
    await expectError(await a.call("POST", "/v1/keys", `{"name":"x3","type":"aes-256","${f}":1}`), 400, "validation", `${f} field`);
  }
  await expectError(
    await a.call("POST", "/v1/keys", { name: "x3", type: "aes-256", policy: { users: ["a"], roles: ["admin"] } }),
    400,
    "validation",
    "unknown nested field",
  );
  await expectError(await a.call("POST", "/v1/keys/orders/revoke", { reason: "because" }), 400, "validation", "bad enum");
  await expectError(
    await a.call("POST", "/v1/keys/orders/revoke", { reason: "superseded", version: 1.5 }),
    400,
    "validation",
    "fractional version",
  );
  await expectError(
    await a.call("POST", "/v1/keys/orders/revoke", { reason: "superseded", version: -1 }),
    400,
    "validation",
    "negative version",
  );
  await expectError(await i.as.app.call("POST", "/v1/keys/orders/encrypt", { plaintext: "not base64!" }), 400, "validation", "bad base64");
  await expectError(await i.as.app.call("POST", "/v1/keys/orders/encrypt", { batch: [] }), 400, "validation", "empty batch");
  await expectError(
    await i.as.app.call("POST", "/v1/keys/orders/encrypt", { batch: [{ plaintext: b64("a") }], plaintext: b64("b") }),
    400,
    "validation",
    "batch with extra field",
  );
  // Deep nesting within the size limit is rejected by validation, not by a crashed parser.
  const deep = `{"name":"x4","type":"aes-256","policy":${"[".repeat(200_000)}${"]".repeat(200_000)}}`;
  await expectError(await a.call("POST", "/v1/keys", deep), 400, "validation", "deeply nested JSON");
  await expectError(
    await raw(a.agent, "POST", "/v1/keys", JSON.stringify({ name: "x5", type: "aes-256" }), { "content-type": "text/plain" }),
    415,
    "unsupported_media_type",
    "wrong content type",
  );
  await expectError(await raw(a.agent, "GET", "/v1/keys", "{}", json), 400, "bad_request", "body on a GET");
  assert.deepEqual(await snapshot(), before, "no failed request changed any key");
});

test("oversize bodies (> 1 MiB) get 413 body_too_large, declared or streamed", async () => {
  const big = JSON.stringify({ name: "huge", type: "aes-256", description: "x".repeat(1024 * 1024 + 10) });
  // Each on its own connection: the server closes a connection after refusing its body.
  for (const [label, headers, chunks] of [
    ["content-length", { "content-type": "application/json", "content-length": Buffer.byteLength(big) }, 1],
    ["chunked", { "content-type": "application/json", "transfer-encoding": "chunked" }, 64],
  ] as const) {
    const c = client(i.url, i.bundle("admin1"));
    try {
      const r = await raw(c.agent, "POST", "/v1/keys", big, headers, chunks);
      await expectError(r, 413, "body_too_large", `oversize body (${label})`);
      assert.equal(r.headers.connection, "close");
    } finally {
      c.close();
    }
  }
  // Exactly at the limit is not "too large" (it fails validation instead: description is too long).
  const limit = 1024 * 1024;
  const prefix = '{"name":"huge","type":"aes-256","description":"';
  const atLimit = `${prefix}${"y".repeat(limit - prefix.length - 2)}"}`;
  assert.equal(Buffer.byteLength(atLimit), limit);
  await expectError(await i.as.admin1.call("POST", "/v1/keys", atLimit), 400, "validation", "body of exactly 1 MiB");
  assert.equal((await i.as.admin1.call("GET", "/v1/keys/huge")).status, 404);
  // The same admin connection still works.
  assert.equal((await i.as.admin1.call("GET", "/v1/keys")).status, 200);
});

test("lifecycle refusals: unknown key, duplicate name, invalid state transitions", async () => {
  const a = i.as.admin1;
  const orders = (await a.call("GET", "/v1/keys/orders")).body;
  await expectError(await a.call("GET", "/v1/keys/no-such-key"), 404, "key_not_found", "unknown key (read)");
  await expectError(await a.call("POST", "/v1/keys/no-such-key/rotate"), 404, "key_not_found", "unknown key (rotate)");
  await expectError(await a.call("PATCH", "/v1/keys/no-such-key", { description: "x" }), 404, "key_not_found", "unknown key (update)");
  await expectError(
    await i.as.app.call("POST", "/v1/keys/no-such-key/encrypt", { plaintext: b64("x") }),
    404,
    "key_not_found",
    "unknown key (encrypt)",
  );
  await expectError(await i.as.app.call("GET", "/v1/keys/orders/material?version=7"), 404, "version_not_found", "unknown version");

  const dup = await expectError(
    await a.call("POST", "/v1/keys", { name: "orders", type: "hmac-sha256", description: "impostor" }),
    409,
    "key_exists",
    "duplicate name",
  );
  assert.equal(dup.action, "key.create");
  const dupByClient = await i.as.app.call("POST", "/v1/keys", { name: "orders", type: "aes-128" });
  await expectError(dupByClient, 409, "key_exists", "duplicate name (client)");
  const after = (await a.call("GET", "/v1/keys/orders")).body;
  assert.deepEqual(after, orders, "the duplicate create did not alter the existing key");
  assert.equal(after.type, "aes-256");
  assert.equal(after.versions.length, 1);

  await expectError(await a.call("POST", "/v1/keys/orders/cancel-deletion"), 409, "invalid_state", "cancel-deletion when not scheduled");
  const frozen = (await a.call("GET", "/v1/keys/frozen")).body;
  await expectError(await a.call("POST", "/v1/keys/frozen/rotate"), 409, "rotation_disabled", "rotate with rotation mode none");
  assert.deepEqual((await a.call("GET", "/v1/keys/frozen")).body, frozen, "no version was added");

  // Schedule destruction, then scheduling again and rotating are refused; cancel works once.
  const sched = await a.call("DELETE", "/v1/keys/frozen", { pendingDays: 5 });
  assert.equal(sched.status, 200, JSON.stringify(sched.body));
  await expectError(await a.call("DELETE", "/v1/keys/frozen", { pendingDays: 5 }), 409, "invalid_state", "schedule twice");
  await expectError(
    await i.as.app.call("POST", "/v1/keys/frozen/encrypt", { plaintext: b64("x") }),
    409,
    "invalid_state",
    "use while scheduled",
  );
  assert.equal((await a.call("POST", "/v1/keys/frozen/cancel-deletion")).status, 200);
  await expectError(await a.call("POST", "/v1/keys/frozen/cancel-deletion"), 409, "invalid_state", "cancel twice");

  const rv = await a.call("POST", "/v1/keys/orders/revoke", { reason: "superseded", version: 1 });
  assert.equal(rv.status, 200, JSON.stringify(rv.body));
  await expectError(
    await a.call("POST", "/v1/keys/orders/revoke", { reason: "superseded", version: 1 }),
    409,
    "invalid_state",
    "revoke twice",
  );
  await expectError(
    await i.as.app.call("POST", "/v1/keys/orders/encrypt", { plaintext: b64("x") }),
    409,
    "invalid_state",
    "encrypt with a deactivated version",
  );
  // Wrong key family and role refusals.
  await expectError(
    await i.as.app.call("POST", "/v1/keys/signer/encrypt", { plaintext: b64("x") }),
    400,
    "wrong_key_type",
    "encrypt with an EC key",
  );
  const denied = await expectError(await a.call("GET", "/v1/keys/signer/material"), 403, "forbidden", "admin asking for material");
  assert.equal(denied.outcome, "denied");
  await expectError(
    await i.as.auditor.call("POST", "/v1/keys", { name: "aud-key", type: "aes-256" }),
    403,
    "forbidden",
    "auditor creating a key",
  );
  await expectError(await i.as.app.call("GET", "/v1/audit"), 403, "forbidden", "client reading the audit log");
});

test("ciphertext refusals: tampered, wrong context, not Strongroom's", async () => {
  const a = i.as.admin1;
  assert.equal((await a.call("POST", "/v1/keys", { name: "vault", type: "aes-256" })).status, 201);
  const app = i.as.app;
  const context = b64("tenant=42");
  const enc = await app.call("POST", "/v1/keys/vault/encrypt", { plaintext: b64("card 4111 1111 1111 1111"), context });
  assert.equal(enc.status, 200, JSON.stringify(enc.body));
  const ct = Buffer.from(enc.body.ciphertext, "base64");
  const ok = await app.call("POST", "/v1/keys/vault/decrypt", { ciphertext: enc.body.ciphertext, context });
  assert.equal(Buffer.from(ok.body.plaintext, "base64").toString(), "card 4111 1111 1111 1111");

  for (const at of [ct.length - 1, ct.length - 20, Math.floor(ct.length / 2)]) {
    const t = Buffer.from(ct);
    t[at] ^= 0x01;
    const r = await app.call("POST", "/v1/keys/vault/decrypt", { ciphertext: t.toString("base64"), context });
    const ev = await expectError(r, 400, "decrypt_failed", `tampered byte ${at}`);
    assert.equal(ev.target.name, "vault");
    assert.doesNotMatch(JSON.stringify(r.body), /4111/);
  }
  await expectError(
    await app.call("POST", "/v1/keys/vault/decrypt", { ciphertext: ct.subarray(0, ct.length - 1).toString("base64"), context }),
    400,
    "decrypt_failed",
    "truncated tag",
  );
  await expectError(
    await app.call("POST", "/v1/keys/vault/decrypt", { ciphertext: enc.body.ciphertext, context: b64("tenant=43") }),
    400,
    "decrypt_failed",
    "wrong AAD context",
  );
  await expectError(
    await app.call("POST", "/v1/keys/vault/decrypt", { ciphertext: enc.body.ciphertext }),
    400,
    "decrypt_failed",
    "missing AAD context",
  );
  await expectError(
    await app.call("POST", "/v1/keys/vault/rewrap", { ciphertext: enc.body.ciphertext, context: b64("x") }),
    400,
    "decrypt_failed",
    "rewrap with wrong context",
  );
  // Ciphertext from another key of the same type does not decrypt either.
  assert.equal((await a.call("POST", "/v1/keys", { name: "vault-2", type: "aes-256" })).status, 201);
  await expectError(
    await app.call("POST", "/v1/keys/vault-2/decrypt", { ciphertext: enc.body.ciphertext, context }),
    400,
    "decrypt_failed",
    "another key's ciphertext",
  );

  for (const [label, bytes] of [
    ["random bytes", randomBytes(64)],
    ["short", Buffer.from([1, 2, 3])],
    ["empty", Buffer.alloc(0)],
    ["plain text", Buffer.from("hello, this is not ciphertext")],
  ] as const) {
    await expectError(
      await app.call("POST", "/v1/keys/vault/decrypt", { ciphertext: bytes.toString("base64") }),
      400,
      "invalid_ciphertext",
      `non-Strongroom ciphertext (${label})`,
    );
  }
  // In a batch each item gets its own error; the request as a whole succeeds.
  const batch = await app.call("POST", "/v1/keys/vault/decrypt", {
    batch: [
      { ciphertext: enc.body.ciphertext, context },
      { ciphertext: randomBytes(40).toString("base64") },
      { ciphertext: enc.body.ciphertext },
    ],
  });
  assert.equal(batch.status, 200, JSON.stringify(batch.body));
  assert.equal(batch.body.batch.length, 3);
  assert.equal(Buffer.from(batch.body.batch[0].plaintext, "base64").toString(), "card 4111 1111 1111 1111");
  assert.equal(batch.body.batch[1].error.code, "invalid_ciphertext");
  assert.equal(batch.body.batch[2].error.code, "decrypt_failed");
  for (const re of STACK) assert.doesNotMatch(JSON.stringify(batch.body), re);
});

test("routing and parameters: unknown route, wrong method, bad query, illegal key names", async () => {
  const a = i.as.admin1;
  await expectError(await a.call("GET", "/v1/nope"), 404, "route_not_found", "unknown route");
  await expectError(await a.call("GET", "/v2/keys"), 404, "route_not_found", "unknown version prefix");
  await expectError(await a.call("GET", "/v1/keys/orders/explode"), 404, "route_not_found", "unknown sub-resource");
  await expectError(await a.call("GET", "/"), 404, "route_not_found", "root");
  const m1 = await a.call("PUT", "/v1/keys");
  await expectError(m1, 405, "method_not_allowed", "PUT on /v1/keys");
  assert.deepEqual(String(m1.headers.allow).split(/,\s*/).sort(), ["GET", "POST"], "405 names the allowed methods");
  const m2 = await a.call("DELETE", "/v1/audit");
  await expectError(m2, 405, "method_not_allowed", "DELETE on /v1/audit");
  assert.equal(m2.headers.allow, "GET");
  await expectError(await a.call("POST", "/v1/keys/orders"), 405, "method_not_allowed", "POST on a key");

  await expectError(await a.call("GET", "/v1/keys?limit=abc"), 400, "validation", "non-numeric limit");
  await expectError(await a.call("GET", "/v1/keys?limit=0"), 400, "validation", "limit 0");
  await expectError(await a.call("GET", "/v1/keys?limit=100000"), 400, "validation", "limit too large");
  await expectError(await a.call("GET", "/v1/keys?state=Bogus"), 400, "validation", "unknown state");
  await expectError(await a.call("GET", "/v1/keys?sort=name"), 400, "validation", "unknown query parameter");
  await expectError(
    await a.call("GET", "/v1/keys?constructor=1"),
    400,
    "validation",
    "query parameter named like an Object.prototype member",
  );
  await expectError(await i.as.auditor.call("GET", "/v1/audit?from=yesterday"), 400, "validation", "bad time");
  await expectError(await i.as.auditor.call("GET", "/v1/audit?outcome=maybe"), 400, "validation", "bad outcome");
  await expectError(await i.as.app.call("GET", "/v1/keys/orders/material?version=-1"), 400, "validation", "negative version");

  for (const name of ["bad name", "semi;colon", "-leading-dash", "x".repeat(129), "ünïcode", "new\nline", "quote'", "<script>"]) {
    const r = await a.call("POST", "/v1/keys", { name, type: "aes-256" });
    await expectError(r, 400, "validation", `illegal key name ${JSON.stringify(name)}`);
    for (const re of [/<script>/]) assert.doesNotMatch(r.body.error.message, re);
  }
  for (const path of ["/v1/keys/bad%20name", "/v1/keys/a%2Fb", "/v1/keys/.hidden", "/v1/keys/semi%3Bcolon"]) {
    await expectError(await a.call("GET", path), 400, "validation", `illegal name in path ${path}`);
  }
  await expectError(await a.call("GET", "/v1/keys/%E0%A4%A"), 400, "validation", "malformed percent-encoding");
  await expectError(await a.call("DELETE", "/v1/certs/not-hex!"), 400, "validation", "bad certificate serial");
  const list = await a.call("GET", "/v1/keys?limit=1000");
  assert.ok(!list.body.keys.some((k: any) => !/^[A-Za-z0-9][A-Za-z0-9._:@-]*$/.test(k.name)), "no illegal name was created");
});

test("after all of that the audit chain is intact and the server still serves", async () => {
  const v = await i.as.auditor.call("GET", "/v1/audit/verify");
  assert.equal(v.status, 200);
  assert.equal(v.body.ok, true, JSON.stringify(v.body));
  assert.equal(v.body.firstBroken, null);
  const enc = await i.as.app.call("POST", "/v1/keys/vault/encrypt", { plaintext: b64("still here") });
  assert.equal(enc.status, 200);
});
