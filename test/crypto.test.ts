// On-board cryptography over HTTPS: AES modes and AAD, rewrap, data keys, sign/verify, HMAC, batch forms, material.
import assert from "node:assert/strict";
import { constants, createDecipheriv, createHmac, createPrivateKey, createPublicKey, verify as cryptoVerify } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { type Instance, newInstance } from "./helpers.js";

const b64 = (s: string | Buffer) => Buffer.from(s).toString("base64");
const unb64 = (s: string) => Buffer.from(s, "base64");

describe("on-board cryptography", () => {
  let i: Instance;
  before(async () => {
    i = await newInstance();
    for (const [name, type] of [
      ["aes", "aes-256"],
      ["aes128", "aes-128"],
      ["rsa", "rsa-2048"],
      ["ec", "ec-p256"],
      ["ec384", "ec-p384"],
      ["mac", "hmac-sha256"],
      ["mac512", "hmac-sha512"],
    ]) {
      const r = await i.as.admin1.call("POST", "/v1/keys", { name, type });
      assert.equal(r.status, 201);
    }
  });
  after(async () => {
    await i.cleanup();
  });

  test("AES-GCM default; ciphertext is self-describing and independently decryptable with the material", async () => {
    const e = await i.as.app.call("POST", "/v1/keys/aes/encrypt", { plaintext: b64("card 4111") });
    assert.equal(e.status, 200);
    assert.equal(e.body.version, 1);
    const blob = unb64(e.body.ciphertext);
    assert.equal(blob.subarray(0, 2).toString(), "SR");
    assert.equal(blob[3], 1, "algorithm id 1 = AES-GCM");
    assert.equal(blob.readUInt32BE(4), 1, "version in header");
    // Cross-check with node:crypto directly, from the retrieved material.
    const key = unb64((await i.as.app.call("GET", "/v1/keys/aes/material")).body.material);
    const d = createDecipheriv("aes-256-gcm", key, blob.subarray(8, 20));
    d.setAAD(blob.subarray(0, 8));
    d.setAuthTag(blob.subarray(blob.length - 16));
    assert.equal(Buffer.concat([d.update(blob.subarray(20, blob.length - 16)), d.final()]).toString(), "card 4111");
    // Two encryptions of the same plaintext differ (fresh nonce).
    const e2 = await i.as.app.call("POST", "/v1/keys/aes/encrypt", { plaintext: b64("card 4111") });
    assert.notEqual(e2.body.ciphertext, e.body.ciphertext);
  });

  test("AAD context must match; tampering is detected", async () => {
    const ctx = b64("tenant=42");
    const e = await i.as.app.call("POST", "/v1/keys/aes/encrypt", { plaintext: b64("x"), context: ctx });
    assert.equal((await i.as.app.call("POST", "/v1/keys/aes/decrypt", { ciphertext: e.body.ciphertext, context: ctx })).status, 200);
    const wrong = await i.as.app.call("POST", "/v1/keys/aes/decrypt", { ciphertext: e.body.ciphertext, context: b64("tenant=43") });
    assert.equal(wrong.status, 400);
    assert.equal(wrong.body.error.code, "decrypt_failed");
    const none = await i.as.app.call("POST", "/v1/keys/aes/decrypt", { ciphertext: e.body.ciphertext });
    assert.equal(none.body.error.code, "decrypt_failed");
    const blob = unb64(e.body.ciphertext);
    blob[blob.length - 20] ^= 1;
    const t = await i.as.app.call("POST", "/v1/keys/aes/decrypt", { ciphertext: b64(blob), context: ctx });
    assert.equal(t.body.error.code, "decrypt_failed");
    // Changing the version in the header is caught by the AAD binding too (or finds no such version).
    const v = unb64(e.body.ciphertext);
    v.writeUInt32BE(7, 4);
    assert.equal((await i.as.app.call("POST", "/v1/keys/aes/decrypt", { ciphertext: b64(v), context: ctx })).status, 404);
  });

  test("AES-CBC and AES-CTR for compatibility, on a 128-bit key", async () => {
    for (const algorithm of ["aes-cbc", "aes-ctr"]) {
      const e = await i.as.app.call("POST", "/v1/keys/aes128/encrypt", { plaintext: b64("legacy system"), algorithm });
      assert.equal(e.status, 200, JSON.stringify(e.body));
      const d = await i.as.app.call("POST", "/v1/keys/aes128/decrypt", { ciphertext: e.body.ciphertext });
      assert.equal(unb64(d.body.plaintext).toString(), "legacy system");
    }
    const ctx = await i.as.app.call("POST", "/v1/keys/aes/encrypt", { plaintext: b64("x"), algorithm: "aes-cbc", context: b64("c") });
    assert.equal(ctx.status, 400);
  });

  test("rewrap moves ciphertext to the current version without revealing plaintext", async () => {
    await i.as.admin1.call("POST", "/v1/keys", { name: "rw", type: "aes-256" });
    const e = await i.as.app.call("POST", "/v1/keys/rw/encrypt", { plaintext: b64("payload"), context: b64("c") });
    await i.as.admin1.call("POST", "/v1/keys/rw/rotate");
    const r = await i.as.app.call("POST", "/v1/keys/rw/rewrap", { ciphertext: e.body.ciphertext, context: b64("c") });
    assert.equal(r.status, 200);
    assert.equal(r.body.version, 2);
    assert.equal(r.body.plaintext, undefined);
    const d = await i.as.app.call("POST", "/v1/keys/rw/decrypt", { ciphertext: r.body.ciphertext, context: b64("c") });
    assert.equal(unb64(d.body.plaintext).toString(), "payload");
  });

  test("datakey: plaintext+wrapped, or wrapped only", async () => {
    const both = await i.as.app.call("POST", "/v1/keys/aes/datakey", {});
    assert.equal(both.status, 200);
    assert.equal(unb64(both.body.plaintext).length, 32);
    const d = await i.as.app.call("POST", "/v1/keys/aes/decrypt", { ciphertext: both.body.ciphertext });
    assert.equal(d.body.plaintext, both.body.plaintext);
    const wrapped = await i.as.app.call("POST", "/v1/keys/aes/datakey", { mode: "wrapped", bits: 128 });
    assert.equal(wrapped.body.plaintext, null);
    assert.equal(
      unb64((await i.as.app.call("POST", "/v1/keys/aes/decrypt", { ciphertext: wrapped.body.ciphertext })).body.plaintext).length,
      16,
    );
    assert.equal((await i.as.app.call("POST", "/v1/keys/aes/datakey", { bits: 200 })).status, 400);
  });

  test("sign/verify: RSA-PSS, RSA PKCS#1 v1.5, ECDSA with SHA-256/384/512; signatures check out with the public key", async () => {
    const msg = b64("approve payment 991");
    const cases: [string, string | undefined, string][] = [
      ["rsa", "pss", "sha256"],
      ["rsa", "pkcs1", "sha384"],
      ["rsa", undefined, "sha512"],
      ["ec", "ecdsa", "sha256"],
      ["ec384", undefined, "sha384"],
    ];
    for (const [key, algorithm, hash] of cases) {
      const s = await i.as.app.call("POST", `/v1/keys/${key}/sign`, { input: msg, hash, ...(algorithm ? { algorithm } : {}) });
      assert.equal(s.status, 200, JSON.stringify(s.body));
      const v = await i.as.app.call("POST", `/v1/keys/${key}/verify`, {
        input: msg,
        signature: s.body.signature,
        hash,
        ...(algorithm ? { algorithm } : {}),
      });
      assert.equal(v.body.valid, true, `${key} ${algorithm} ${hash}`);
      const forged = await i.as.app.call("POST", `/v1/keys/${key}/verify`, {
        input: b64("approve payment 992"),
        signature: s.body.signature,
        hash,
        ...(algorithm ? { algorithm } : {}),
      });
      assert.equal(forged.body.valid, false);
      // Independent check with the public key from the material (PKCS#8).
      const priv = createPrivateKey({
        key: unb64((await i.as.app.call("GET", `/v1/keys/${key}/material`)).body.material),
        format: "der",
        type: "pkcs8",
      });
      const pad =
        s.body.algorithm === "pss"
          ? { padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST }
          : s.body.algorithm === "pkcs1"
            ? { padding: constants.RSA_PKCS1_PADDING }
            : {};
      assert.ok(cryptoVerify(hash, unb64(msg), { key: createPublicKey(priv), ...pad }, unb64(s.body.signature)));
    }
    assert.equal((await i.as.app.call("POST", "/v1/keys/ec/sign", { input: msg, algorithm: "pss" })).status, 400);
    assert.equal((await i.as.app.call("POST", "/v1/keys/aes/sign", { input: msg })).body.error.code, "wrong_key_type");
  });

  test("hmac and hmac-verify", async () => {
    const input = b64("webhook body");
    const h = await i.as.app.call("POST", "/v1/keys/mac/hmac", { input });
    assert.equal(h.status, 200);
    const key = unb64((await i.as.app.call("GET", "/v1/keys/mac/material")).body.material);
    assert.equal(h.body.mac, createHmac("sha256", key).update("webhook body").digest("base64"));
    assert.equal((await i.as.app.call("POST", "/v1/keys/mac/hmac-verify", { input, mac: h.body.mac })).body.valid, true);
    assert.equal((await i.as.app.call("POST", "/v1/keys/mac/hmac-verify", { input: b64("other"), mac: h.body.mac })).body.valid, false);
    assert.equal(unb64((await i.as.app.call("POST", "/v1/keys/mac512/hmac", { input })).body.mac).length, 64);
  });

  test("batch forms return a result or an error per item, in order", async () => {
    const enc = await i.as.app.call("POST", "/v1/keys/aes/encrypt", {
      batch: [{ plaintext: b64("a") }, { plaintext: b64("b"), context: b64("c") }],
    });
    assert.equal(enc.status, 200);
    assert.equal(enc.body.batch.length, 2);
    const [ca, cb] = enc.body.batch;
    const dec = await i.as.app.call("POST", "/v1/keys/aes/decrypt", {
      batch: [
        { ciphertext: ca.ciphertext },
        { ciphertext: cb.ciphertext },
        { ciphertext: cb.ciphertext, context: b64("wrong") },
        { ciphertext: b64("junk") },
      ],
    });
    assert.equal(dec.status, 200);
    assert.equal(unb64(dec.body.batch[0].plaintext).toString(), "a");
    assert.equal(dec.body.batch[1].error.code, "decrypt_failed");
    assert.equal(dec.body.batch[2].error.code, "decrypt_failed");
    assert.equal(dec.body.batch[3].error.code, "invalid_ciphertext");
    const rw = await i.as.app.call("POST", "/v1/keys/aes/rewrap", { batch: [{ ciphertext: ca.ciphertext }] });
    assert.equal(rw.body.batch[0].version, 1);
    const sig = await i.as.app.call("POST", "/v1/keys/ec/sign", { batch: [{ input: b64("1") }, { input: b64("2") }] });
    const ver = await i.as.app.call("POST", "/v1/keys/ec/verify", {
      batch: [
        { input: b64("1"), signature: sig.body.batch[0].signature },
        { input: b64("1"), signature: sig.body.batch[1].signature },
      ],
    });
    assert.deepEqual(
      ver.body.batch.map((r: { valid: boolean }) => r.valid),
      [true, false],
    );
    const mac = await i.as.app.call("POST", "/v1/keys/mac/hmac", { batch: [{ input: b64("1") }] });
    assert.equal(mac.body.batch.length, 1);
    const mv = await i.as.app.call("POST", "/v1/keys/mac/hmac-verify", { batch: [{ input: b64("1"), mac: mac.body.batch[0].mac }] });
    assert.equal(mv.body.batch[0].valid, true);
    // Bounded: more than 1000 items, or mixing batch with single fields, is refused.
    const tooMany = await i.as.app.call("POST", "/v1/keys/aes/encrypt", { batch: Array.from({ length: 1001 }, () => ({ plaintext: "" })) });
    assert.equal(tooMany.status, 400);
    assert.equal((await i.as.app.call("POST", "/v1/keys/aes/encrypt", { batch: [], plaintext: b64("x") })).status, 400);
  });

  test("material: raw bytes for AES/HMAC, PKCS#8 for RSA/EC; non-exportable keys refuse", async () => {
    const aes = await i.as.app.call("GET", "/v1/keys/aes/material");
    assert.equal(aes.body.format, "raw");
    assert.equal(unb64(aes.body.material).length, 32);
    const ec = await i.as.app.call("GET", "/v1/keys/ec/material");
    assert.equal(ec.body.format, "pkcs8");
    assert.equal(createPrivateKey({ key: unb64(ec.body.material), format: "der", type: "pkcs8" }).asymmetricKeyType, "ec");
    await i.as.admin1.call("POST", "/v1/keys", { name: "sealed-in", type: "aes-256", exportable: false });
    const m = await i.as.app.call("GET", "/v1/keys/sealed-in/material");
    assert.equal(m.status, 403);
    assert.equal((await i.as.app.call("POST", "/v1/keys/sealed-in/encrypt", { plaintext: b64("ok") })).status, 200);
    assert.equal((await i.as.app.call("GET", "/v1/keys/aes/material?version=9")).status, 404);
  });
});

test("pooled IVs: the requested length, never repeated across pool refills, independent copies", async () => {
  const { randomIv } = await import("../src/crypto/random-pool.js");
  const seen = new Set<string>();
  for (let i = 0; i < 5000; i++) {
    const n = [12, 16, 7][i % 3];
    const iv = randomIv(n);
    assert.equal(iv.length, n);
    const hex = iv.toString("hex");
    assert.ok(!seen.has(hex), "an IV was handed out twice");
    seen.add(hex);
  }
  const a = randomIv(16);
  const copy = Buffer.from(a);
  randomIv(16);
  assert.deepEqual(a, copy, "a handed-out IV does not change afterwards");
  assert.equal(randomIv(100).length, 100);
  assert.throws(() => randomIv(-12), RangeError);
  assert.throws(() => randomIv(1.5), RangeError);
});
