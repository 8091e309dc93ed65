// PCI mode (no clear-text key material over REST or KMIP), wrapped export (RSA-AES-KWP, AES-KWP) and BYOK import between instances.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import {
  constants,
  createCipheriv,
  createDecipheriv,
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  privateDecrypt,
  publicEncrypt,
  randomBytes,
} from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import YAML from "yaml";
import { decryptBlob } from "../src/crypto/ciphertext.js";
import { Enum } from "../src/kmip/codec/tables.js";
import { bytes, enm, find, int, struct, Tag, type TtlvItem, text } from "../src/kmip/codec/ttlv.js";
import { type Client, client, type Instance, newInstance } from "./helpers.js";
import { KmipClient } from "./kmip-client.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const b64 = (b: Buffer) => b.toString("base64");
const KWP_IV = Buffer.from("A65959A6", "hex");

/** RFC 5649 AES Key Wrap with Padding, straight from node:crypto (independent of the server's code). */
function kwp(kek: Buffer, data: Buffer, decrypt: boolean): Buffer {
  const alg = `id-aes${kek.length * 8}-wrap-pad` as "id-aes256-wrap-pad";
  const c = decrypt ? createDecipheriv(alg, kek, KWP_IV) : createCipheriv(alg, kek, KWP_IV);
  return Buffer.concat([c.update(data), c.final()]);
}

/** CKM_RSA_AES_KEY_WRAP: RSA-OAEP-SHA-256(ephemeral AES-256 key) ‖ AES-KWP(target). */
function rsaAesWrap(pub: KeyObject, target: Buffer): Buffer {
  const aes = randomBytes(32);
  const head = publicEncrypt({ key: pub, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha256" }, aes);
  return Buffer.concat([head, kwp(aes, target, false)]);
}

function rsaAesUnwrap(priv: KeyObject, blob: Buffer): Buffer {
  const n = (priv.asymmetricKeyDetails?.modulusLength as number) / 8;
  const aes = privateDecrypt({ key: priv, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha256" }, blob.subarray(0, n));
  assert.equal(aes.length, 32, "the ephemeral key is AES-256");
  return kwp(aes, blob.subarray(n), true);
}

const pkcs8 = (b64der: string) => createPrivateKey({ key: Buffer.from(b64der, "base64"), format: "der", type: "pkcs8" });

function setGovernance(i: Instance, g: Record<string, unknown>): void {
  const file = join(i.dir, "strongroom.yaml");
  const cfg = YAML.parse(readFileSync(file, "utf8"));
  cfg.governance = { ...cfg.governance, ...g };
  writeFileSync(file, YAML.stringify(cfg), { mode: 0o600 });
}

async function ok(c: Client, method: string, path: string, body?: unknown, status = 200) {
  const r = await c.call(method, path, body);
  assert.equal(r.status, status, `${method} ${path}: ${JSON.stringify(r.body)}`);
  return r.body;
}

async function refused(c: Client, method: string, path: string, body: unknown, status: number, code: string, message?: RegExp) {
  const r = await c.call(method, path, body);
  assert.equal(r.status, status, `${method} ${path}: ${JSON.stringify(r.body)}`);
  assert.equal(r.body.error.code, code, r.body.error.message);
  if (message) assert.match(r.body.error.message, message);
  return r.body.error.message as string;
}

const uid = (id: string) => text(Tag.UniqueIdentifier, id);
const symmetricKey = (key: Buffer) =>
  struct(
    Tag.SymmetricKey,
    struct(
      Tag.KeyBlock,
      enm(Tag.KeyFormatType, Enum.KeyFormatType.Raw),
      struct(Tag.KeyValue, bytes(Tag.KeyMaterial, key)),
      enm(Tag.CryptographicAlgorithm, Enum.CryptographicAlgorithm.AES),
      int(Tag.CryptographicLength, key.length * 8),
    ),
  );

describe("PCI mode, wrapped export and BYOK import", () => {
  let a: Instance; // PCI mode off
  let p: Instance; // PCI mode on
  const secrets: string[] = []; // base64 material and blobs that must never show up in audit events
  let importPem = "";
  let importKeyId = "";

  before(async () => {
    [a, p] = await Promise.all([newInstance(), newInstance()]);
    setGovernance(p, { pciMode: true });
    await p.restart();
  });
  after(async () => {
    await Promise.all([a?.cleanup(), p?.cleanup()]);
  });

  test("GET /v1/sys/wrapping-key publishes one RSA-4096 import key, created at first use and reused", async () => {
    const w = await ok(p.as.app, "GET", "/v1/sys/wrapping-key");
    const pub = createPublicKey(w.publicKey);
    assert.equal(pub.asymmetricKeyType, "rsa");
    assert.equal(pub.asymmetricKeyDetails?.modulusLength, 4096);
    assert.equal(w.scheme, "rsa-aes-kwp");
    assert.equal(
      w.fingerprint,
      createHash("sha256")
        .update(pub.export({ type: "spki", format: "der" }))
        .digest("hex"),
    );
    const again = await ok(p.as.admin1, "GET", "/v1/sys/wrapping-key");
    assert.equal(again.keyId, w.keyId);
    await refused(p.as.auditor, "GET", "/v1/sys/wrapping-key", undefined, 403, "forbidden");
    importPem = w.publicKey;
    importKeyId = w.keyId;
    // Its private half never leaves: not over KMIP either (clients are not in its policy, and it is reserved).
    const kmip = await KmipClient.open(p.server.kmipPort, p.bundle("app"));
    try {
      const [r] = await kmip.call([1, 4], [["Get", [uid(w.keyId), struct(Tag.KeyWrappingSpecification)]]]);
      assert.equal(r.status, Enum.ResultStatus.OperationFailed);
      assert.equal(r.reason, Enum.ResultReason.ItemNotFound, "not visible to clients: answered as unknown");
    } finally {
      kmip.close();
    }
  });

  test("PCI mode: REST refuses clear-text material out (GET material) and in (clear import) with pci_cleartext_refused", async () => {
    await ok(p.as.app, "POST", "/v1/keys", { name: "pci-aes", type: "aes-256" }, 201);
    await refused(
      p.as.app,
      "GET",
      "/v1/keys/pci-aes/material",
      undefined,
      403,
      "pci_cleartext_refused",
      /POST \/v1\/keys\/pci-aes\/export/,
    );
    const body = { name: "clear-in", type: "aes-256", material: b64(randomBytes(32)) };
    await refused(p.as.app, "POST", "/v1/keys/import", body, 403, "pci_cleartext_refused", /GET \/v1\/sys\/wrapping-key/);
    assert.equal((await p.as.app.call("GET", "/v1/keys/clear-in")).status, 404);
    // Keys still leave wrapped: under a partner's public key, proven by decrypting the server's ciphertext locally.
    const partner = generateKeyPairSync("rsa", { modulusLength: 3072 });
    const pem = partner.publicKey.export({ type: "spki", format: "pem" }) as string;
    const e = await ok(p.as.app, "POST", "/v1/keys/pci-aes/export", { wrappingKey: { publicKey: pem } });
    assert.equal(e.scheme, "rsa-aes-kwp");
    assert.equal(e.format, "raw");
    assert.equal(e.wrappingKey.bits, 3072);
    const key = rsaAesUnwrap(partner.privateKey, Buffer.from(e.wrapped, "base64"));
    const ct = await ok(p.as.app, "POST", "/v1/keys/pci-aes/encrypt", { plaintext: b64(Buffer.from("card 4111")) });
    assert.equal(decryptBlob(Buffer.from(ct.ciphertext, "base64"), key, null).toString(), "card 4111");
    secrets.push(b64(key), e.wrapped);
  });

  test("PCI mode: KMIP Get/Export without a Key Wrapping Specification, Register and Import in clear are refused", async () => {
    const kmip = await KmipClient.open(p.server.kmipPort, p.bundle("app"));
    try {
      const key = await ok(p.as.app, "GET", "/v1/keys/pci-aes");
      const id = key.versions[0].id as string;
      for (const v of [
        [1, 4],
        [2, 1],
      ] as [number, number][]) {
        const [r] = await kmip.call(v, [["Get", [uid(id)]]]);
        assert.equal(r.status, Enum.ResultStatus.OperationFailed);
        assert.equal(r.reason, Enum.ResultReason.PermissionDenied, `KMIP ${v.join(".")}`);
        assert.match(r.message ?? "", /PCI mode.*Key Wrapping Specification/);
      }
      const [x] = await kmip.call([2, 1], [["Export", [uid(id)]]]);
      assert.equal(x.reason, Enum.ResultReason.PermissionDenied);
      assert.match(x.message ?? "", /PCI mode/);
      const specFor = (kek: string) =>
        struct(
          Tag.KeyWrappingSpecification,
          enm(Tag.WrappingMethod, Enum.WrappingMethod.Encrypt),
          struct(
            Tag.EncryptionKeyInformation,
            uid(kek),
            struct(Tag.CryptographicParameters, enm(Tag.BlockCipherMode, Enum.BlockCipherMode.AESKeyWrapPadding)),
          ),
        );
      // A wrapping key that may also Decrypt (every REST AES key) is refused: its users could unwrap the
      // key right here with a KMIP Decrypt in a key-wrap mode.
      await ok(p.as.app, "POST", "/v1/keys", { name: "pci-kek-decrypts", type: "aes-256" }, 201);
      const weak = (await ok(p.as.app, "GET", "/v1/keys/pci-kek-decrypts")).versions[0].id as string;
      const [refused] = await kmip.call([1, 4], [["Get", [uid(id), specFor(weak)]]]);
      assert.equal(refused.reason, Enum.ResultReason.PermissionDenied);
      assert.match(refused.message ?? "", /can also Decrypt/);
      const exported = await p.as.app.call("POST", "/v1/keys/pci-aes/export", { wrappingKey: { name: "pci-kek-decrypts" } });
      assert.equal(exported.status, 403);
      assert.equal(exported.body.error.code, "pci_cleartext_refused");
      // A key-encrypting key with Wrap/Unwrap Key usage only (made over KMIP) may wrap: AES Key Wrap with Padding.
      const kekObj = await kmip.ok([1, 4], "Create", [
        enm(Tag.ObjectType, Enum.ObjectType.SymmetricKey),
        struct(
          Tag.TemplateAttribute,
          struct(
            Tag.Attribute,
            text(Tag.AttributeName, "Cryptographic Algorithm"),
            enm(Tag.AttributeValue, Enum.CryptographicAlgorithm.AES),
          ),
          struct(Tag.Attribute, text(Tag.AttributeName, "Cryptographic Length"), int(Tag.AttributeValue, 256)),
          struct(Tag.Attribute, text(Tag.AttributeName, "Cryptographic Usage Mask"), int(Tag.AttributeValue, 0x30)),
        ),
      ]);
      const kek = String(find(kekObj, Tag.UniqueIdentifier)?.value);
      await kmip.ok([1, 4], "Activate", [uid(kek)]);
      const got = await kmip.ok([1, 4], "Get", [uid(id), specFor(kek)]);
      const block = find(find(got, Tag.SymmetricKey) as TtlvItem, Tag.KeyBlock) as TtlvItem;
      assert.ok(find(block, Tag.KeyWrappingData));
      assert.equal((find(block, Tag.KeyValue) as TtlvItem & { value: Buffer }).value.length, 40);
      // Clear-text material does not enter: Register (1.4) and Import (2.1).
      const [reg] = await kmip.call(
        [1, 4],
        [["Register", [enm(Tag.ObjectType, Enum.ObjectType.SymmetricKey), struct(Tag.TemplateAttribute), symmetricKey(randomBytes(32))]]],
      );
      assert.equal(reg.status, Enum.ResultStatus.OperationFailed);
      assert.equal(reg.reason, Enum.ResultReason.PermissionDenied);
      assert.match(reg.message ?? "", /PCI mode.*\/v1\/keys\/import/);
      const [imp] = await kmip.call(
        [2, 1],
        [["Import", [uid("imported-in-clear"), enm(Tag.ObjectType, Enum.ObjectType.SymmetricKey), symmetricKey(randomBytes(32))]]],
      );
      assert.equal(imp.reason, Enum.ResultReason.PermissionDenied);
      assert.match(imp.message ?? "", /PCI mode/);
      // Public keys are not secret: registering one is still allowed.
      const spki = generateKeyPairSync("rsa", { modulusLength: 2048 }).publicKey.export({ type: "spki", format: "der" });
      await kmip.ok([1, 4], "Register", [
        enm(Tag.ObjectType, Enum.ObjectType.PublicKey),
        struct(Tag.TemplateAttribute),
        struct(
          Tag.PublicKey,
          struct(
            Tag.KeyBlock,
            enm(Tag.KeyFormatType, Enum.KeyFormatType.X_509),
            struct(Tag.KeyValue, bytes(Tag.KeyMaterial, spki)),
            enm(Tag.CryptographicAlgorithm, Enum.CryptographicAlgorithm.RSA),
            int(Tag.CryptographicLength, 2048),
          ),
        ),
      ]);
    } finally {
      kmip.close();
    }
  });

  test("wrapped export under a named RSA key, a named AES key and a caller-supplied public key recovers exactly the material", async () => {
    const app = a.as.app;
    for (const [name, type] of [
      ["t-aes", "aes-256"],
      ["t-rsa", "rsa-2048"],
      ["w-rsa", "rsa-2048"],
      ["w-aes", "aes-128"],
    ])
      await ok(app, "POST", "/v1/keys", { name, type }, 201);
    const material = async (name: string) => (await ok(app, "GET", `/v1/keys/${name}/material`)).material as string;
    const tAes = await material("t-aes");
    const tRsa = await material("t-rsa");
    secrets.push(tAes, tRsa);

    // (a) named RSA key: RSA-OAEP-SHA-256 + AES-KWP
    const viaRsa = await ok(app, "POST", "/v1/keys/t-aes/export", { wrappingKey: { name: "w-rsa" } });
    assert.equal(viaRsa.scheme, "rsa-aes-kwp");
    assert.deepEqual(viaRsa.wrappingKey, { name: "w-rsa", version: 1, id: (await ok(app, "GET", "/v1/keys/w-rsa")).versions[0].id });
    assert.equal(b64(rsaAesUnwrap(pkcs8(await material("w-rsa")), Buffer.from(viaRsa.wrapped, "base64"))), tAes);
    // (b) named AES key: AES-KWP (RFC 5649), here an RSA private key as PKCS#8 DER
    const viaAes = await ok(app, "POST", "/v1/keys/t-rsa/export", { wrappingKey: { name: "w-aes" }, scheme: "aes-kwp" });
    assert.equal(viaAes.scheme, "aes-kwp");
    assert.equal(viaAes.format, "pkcs8");
    assert.equal(b64(kwp(Buffer.from(await material("w-aes"), "base64"), Buffer.from(viaAes.wrapped, "base64"), true)), tRsa);
    // (c) caller-supplied RSA public key
    const partner = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const pem = partner.publicKey.export({ type: "spki", format: "pem" }) as string;
    const viaPem = await ok(app, "POST", "/v1/keys/t-rsa/export", { wrappingKey: { publicKey: pem } });
    assert.equal(b64(rsaAesUnwrap(partner.privateKey, Buffer.from(viaPem.wrapped, "base64"))), tRsa);
    secrets.push(viaRsa.wrapped, viaAes.wrapped, viaPem.wrapped);

    // Unsuitable wrapping keys and schemes are refused clearly.
    const weak = generateKeyPairSync("rsa", { modulusLength: 1024 }).publicKey.export({ type: "spki", format: "pem" });
    await refused(app, "POST", "/v1/keys/t-aes/export", { wrappingKey: { publicKey: weak } }, 400, "validation", /at least 2048 bits/);
    const ec = generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey.export({ type: "spki", format: "pem" });
    await refused(app, "POST", "/v1/keys/t-aes/export", { wrappingKey: { publicKey: ec } }, 400, "validation", /RSA public key/);
    await refused(app, "POST", "/v1/keys/t-aes/export", { wrappingKey: { publicKey: "not a key" } }, 400, "validation");
    await refused(app, "POST", "/v1/keys/t-aes/export", { wrappingKey: { name: "w-aes" }, scheme: "rsa-aes-kwp" }, 400, "validation");
    await refused(app, "POST", "/v1/keys/t-aes/export", { wrappingKey: { name: "t-aes" } }, 400, "validation", /itself/);
    await ok(app, "POST", "/v1/keys", { name: "w-ec", type: "ec-p256" }, 201);
    await refused(app, "POST", "/v1/keys/t-aes/export", { wrappingKey: { name: "w-ec" } }, 400, "wrong_key_type");
    // Non-exportable keys do not leave, not even wrapped.
    await ok(app, "POST", "/v1/keys", { name: "locked", type: "aes-256", exportable: false }, 201);
    await refused(app, "POST", "/v1/keys/locked/export", { wrappingKey: { publicKey: pem } }, 403, "not_extractable");
    // The key policy applies: the auditor has no material right (nor may it see keys: answered as not found).
    await refused(a.as.auditor, "POST", "/v1/keys/t-aes/export", { wrappingKey: { publicKey: pem } }, 404, "key_not_found");
  });

  test("BYOK round trip: export from A under B's import key, import into B (PCI mode), same key on both sides", async () => {
    await ok(a.as.app, "POST", "/v1/keys", { name: "shared", type: "aes-256" }, 201);
    const e = await ok(a.as.app, "POST", "/v1/keys/shared/export", { wrappingKey: { publicKey: importPem } });
    const imported = await ok(
      p.as.app,
      "POST",
      "/v1/keys/import",
      { name: "shared", type: "aes-256", wrapped: e.wrapped, scheme: "rsa-aes-kwp", description: "from A" },
      201,
    );
    assert.equal(imported.owner, "app");
    assert.equal(imported.versions[0].origin, "imported");
    assert.equal((await ok(a.as.app, "GET", "/v1/keys/shared")).versions[0].origin, "generated");
    const msg = b64(Buffer.from("payroll 2026-11"));
    const onA = await ok(a.as.app, "POST", "/v1/keys/shared/encrypt", { plaintext: msg, context: b64(Buffer.from("ctx")) });
    const onB = await ok(p.as.app, "POST", "/v1/keys/shared/decrypt", { ciphertext: onA.ciphertext, context: b64(Buffer.from("ctx")) });
    assert.equal(onB.plaintext, msg);
    const back = await ok(p.as.app, "POST", "/v1/keys/shared/encrypt", { plaintext: msg });
    assert.equal((await ok(a.as.app, "POST", "/v1/keys/shared/decrypt", { ciphertext: back.ciphertext })).plaintext, msg);
    // A private key moves the same way: sign on B, verify on A.
    const r = await ok(a.as.app, "POST", "/v1/keys/t-rsa/export", { wrappingKey: { publicKey: importPem } });
    await ok(p.as.app, "POST", "/v1/keys/import", { name: "t-rsa", type: "rsa-2048", wrapped: r.wrapped, scheme: "rsa-aes-kwp" }, 201);
    const sig = await ok(p.as.app, "POST", "/v1/keys/t-rsa/sign", { input: msg });
    assert.equal((await ok(a.as.app, "POST", "/v1/keys/t-rsa/verify", { input: msg, signature: sig.signature })).valid, true);
    secrets.push(e.wrapped, r.wrapped);
  });

  test("import as a new version: the owner may (a rotation), another client may not; the version holds the imported material", async () => {
    await ok(p.as.app, "POST", "/v1/keys", { name: "rolling", type: "aes-256" }, 201);
    const material = randomBytes(32);
    secrets.push(b64(material));
    const wrapped = b64(rsaAesWrap(createPublicKey(importPem), material));
    const body = { name: "rolling", type: "aes-256", wrapped, scheme: "rsa-aes-kwp", version: "new-version", wrappingKeyId: importKeyId };
    const issued = await ok(p.as.admin1, "POST", "/v1/certs", { cn: "other", ou: "apps", role: "client" }, 201);
    const other = client(p.url, { cert: issued.certificate, key: issued.privateKey, ca: issued.ca });
    try {
      await refused(other, "POST", "/v1/keys/import", body, 403, "forbidden", /owner/);
    } finally {
      other.close();
    }
    await refused(p.as.app, "POST", "/v1/keys/import", { ...body, type: "aes-128" }, 400, "validation", /aes-256/);
    await refused(p.as.app, "POST", "/v1/keys/import", { ...body, description: "x" }, 400, "validation");
    const k = await ok(p.as.app, "POST", "/v1/keys/import", body, 200);
    assert.equal(k.currentVersion, 2);
    assert.deepEqual(
      k.versions.map((v: { origin: string }) => v.origin),
      ["generated", "imported"],
    );
    const ct = await ok(p.as.app, "POST", "/v1/keys/rolling/encrypt", { plaintext: b64(Buffer.from("v2")) });
    assert.equal(ct.version, 2);
    assert.equal(decryptBlob(Buffer.from(ct.ciphertext, "base64"), material, null).toString(), "v2");
  });

  test("wrong wrapping key, tampered blobs and material that does not fit the type get clear errors", async () => {
    const imp = (body: Record<string, unknown>) => ({ name: "bad", type: "aes-256", scheme: "rsa-aes-kwp", ...body });
    const foreign = generateKeyPairSync("rsa", { modulusLength: 4096 }).publicKey;
    const m1 = await refused(
      p.as.app,
      "POST",
      "/v1/keys/import",
      imp({ wrapped: b64(rsaAesWrap(foreign, randomBytes(32))) }),
      400,
      "unwrap_failed",
    );
    assert.ok(m1.includes(importKeyId), m1);
    const good = rsaAesWrap(createPublicKey(importPem), randomBytes(32));
    for (const at of [10, 512 + 5, good.length - 1]) {
      const t = Buffer.from(good);
      t[at] ^= 0x01;
      // The same message whichever part was altered: no padding oracle.
      assert.equal(await refused(p.as.app, "POST", "/v1/keys/import", imp({ wrapped: b64(t) }), 400, "unwrap_failed"), m1);
    }
    await refused(p.as.app, "POST", "/v1/keys/import", imp({ wrapped: b64(good.subarray(0, 300)) }), 400, "unwrap_failed");
    const pub = createPublicKey(importPem);
    await refused(
      p.as.app,
      "POST",
      "/v1/keys/import",
      imp({ wrapped: b64(rsaAesWrap(pub, randomBytes(16))) }),
      400,
      "invalid_key_material",
      /32 raw bytes/,
    );
    const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({ type: "pkcs8", format: "der" });
    await refused(
      p.as.app,
      "POST",
      "/v1/keys/import",
      imp({ type: "rsa-3072", wrapped: b64(rsaAesWrap(pub, rsa)) }),
      400,
      "invalid_key_material",
      /2048 bits/,
    );
    await refused(
      p.as.app,
      "POST",
      "/v1/keys/import",
      imp({ type: "ec-p256", wrapped: b64(rsaAesWrap(pub, randomBytes(40))) }),
      400,
      "invalid_key_material",
      /PKCS#8/,
    );
    await refused(p.as.app, "POST", "/v1/keys/import", imp({ wrapped: b64(good), scheme: undefined }), 400, "validation", /scheme/);
    await refused(
      p.as.app,
      "POST",
      "/v1/keys/import",
      imp({ wrapped: b64(good), wrappingKeyId: "nope" }),
      400,
      "validation",
      /wrappingKeyId/,
    );
    assert.equal((await p.as.app.call("GET", "/v1/keys/bad")).status, 404);
  });

  test("PCI mode off: clear-text import works (origin imported) and is checked against the type", async () => {
    const m = randomBytes(32);
    secrets.push(b64(m));
    const k = await ok(a.as.app, "POST", "/v1/keys/import", { name: "clear-in", type: "hmac-sha256", material: b64(m) }, 201);
    assert.equal(k.versions[0].origin, "imported");
    assert.equal((await ok(a.as.app, "GET", "/v1/keys/clear-in/material")).material, b64(m));
    await refused(
      a.as.app,
      "POST",
      "/v1/keys/import",
      { name: "short", type: "aes-256", material: b64(randomBytes(31)) },
      400,
      "invalid_key_material",
    );
    await refused(
      a.as.app,
      "POST",
      "/v1/keys/import",
      { name: "both", type: "aes-256", material: b64(m), wrapped: b64(m) },
      400,
      "validation",
      /exactly one/,
    );
  });

  test("the CLI exports to a file under another instance's wrapping key and imports it there", async () => {
    const cli = (i: Instance, args: string[]) =>
      new Promise<{ code: number | null; out: string; err: string }>((resolve, reject) => {
        const b = i.init.bundles.app;
        const child = spawn(
          process.execPath,
          [join(ROOT, "bin", "strongroom.js"), ...args, "--addr", i.url, "--cert", b.cert, "--key", b.key, "--ca", b.ca],
          { cwd: ROOT, env: { PATH: process.env.PATH ?? "", STRONGROOM_DIR: i.dir } },
        );
        let out = "";
        let err = "";
        child.stdout.on("data", (c: Buffer) => {
          out += c;
        });
        child.stderr.on("data", (c: Buffer) => {
          err += c;
        });
        child.on("error", reject);
        child.on("close", (code) => resolve({ code, out, err }));
        child.stdin.end();
      });
    const pem = join(a.dir, "b-import.pem");
    const blob = join(a.dir, "cli-key.wrapped");
    assert.equal((await cli(p, ["keys", "wrapping-key", "--out", pem])).code, 0);
    await ok(a.as.app, "POST", "/v1/keys", { name: "cli-key", type: "aes-256" }, 201);
    const ex = await cli(a, ["keys", "export", "cli-key", "--public-key", pem, "--out", blob]);
    assert.equal(ex.code, 0, ex.err);
    assert.ok(readFileSync(blob).length > 512);
    const im = await cli(p, ["keys", "import", "cli-key", "--type", "aes-256", "--wrapped", blob, "--json"]);
    assert.equal(im.code, 0, im.err);
    assert.equal(JSON.parse(im.out).versions[0].origin, "imported");
    const bad = await cli(a, ["keys", "export", "cli-key"]);
    assert.equal(bad.code, 1);
    assert.match(bad.err, /--wrapping-key NAME, --public-key FILE/);
  });

  test("export and import are audited without key material or wrapped blobs", async () => {
    for (const i of [a, p]) {
      const exp = await ok(i.as.auditor, "GET", "/v1/audit?action=key.export&limit=1000");
      const imp = await ok(i.as.auditor, "GET", "/v1/audit?action=key.import&limit=1000");
      const all = JSON.stringify([exp, imp]);
      for (const s of secrets) assert.ok(!all.includes(s), "audit events must not hold key material or wrapped keys");
      assert.ok(exp.events.some((e: { outcome: string; detail?: { scheme?: string } }) => e.outcome === "success" && e.detail?.scheme));
    }
    const imp = (await ok(p.as.auditor, "GET", "/v1/audit?action=key.import&limit=1000")).events;
    assert.ok(imp.some((e: { outcome: string; target: { name: string } }) => e.outcome === "success" && e.target.name === "shared"));
    assert.ok(imp.some((e: { outcome: string; reason?: string }) => e.outcome === "error" && e.reason?.startsWith("unwrap_failed")));
    assert.ok(imp.some((e: { reason?: string }) => e.reason?.startsWith("pci_cleartext_refused")));
    const wk = (await ok(p.as.auditor, "GET", "/v1/audit?action=sys.wrapping-key")).events;
    assert.ok(wk.length >= 2);
  });

  test("admins export wrapped only with dual control on (a two-person key ceremony)", async () => {
    const partner = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const body = { wrappingKey: { publicKey: partner.publicKey.export({ type: "spki", format: "pem" }) } };
    await refused(a.as.admin1, "POST", "/v1/keys/t-aes/export", body, 403, "forbidden", /dual control/);
    const expected = (await ok(a.as.app, "GET", "/v1/keys/t-aes/material")).material;
    setGovernance(a, { dualControl: true });
    await a.restart();
    const r = await a.as.admin1.call("POST", "/v1/keys/t-aes/export", body);
    if (r.status === 202) {
      // Dual control holds the export until a second admin approves it.
      assert.equal(r.body.approval.action, "key.export");
    } else {
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(b64(rsaAesUnwrap(partner.privateKey, Buffer.from(r.body.wrapped, "base64"))), expected);
    }
  });
});
