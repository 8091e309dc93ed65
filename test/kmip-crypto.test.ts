// KMIP cryptographic operations over the real TLS listener: Encrypt/Decrypt, Sign/Verify, MAC/MAC Verify, RNG Retrieve, Hash.
import assert from "node:assert/strict";
import {
  constants,
  createCipheriv,
  createDecipheriv,
  createHash,
  createHmac,
  createPublicKey,
  verify as cryptoVerify,
  type KeyObject,
  publicEncrypt,
  randomBytes,
} from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { after, before, describe, test } from "node:test";
import { connect, type TLSSocket } from "node:tls";
import { fileURLToPath } from "node:url";
import { FrameReader } from "../src/kmip/codec/frame-reader.js";
import { Enum } from "../src/kmip/codec/tables.js";
import {
  bool,
  bytes,
  dateTime,
  decodeTtlv,
  encodeTtlv,
  enm,
  find,
  findAll,
  ItemType,
  int,
  type StructureItem,
  struct,
  Tag,
  type TtlvItem,
  text,
} from "../src/kmip/codec/ttlv.js";
import { parseXml, xmlElementToTtlv } from "../src/kmip/codec/xml.js";
import { type Instance, newInstance } from "./helpers.js";

// ---- a tiny KMIP client: one request message, one response frame ----

type Version = [number, number];
interface Result {
  status: number;
  reason?: number;
  message?: string;
  payload: TtlvItem;
}

class Kmip {
  private reader = new FrameReader({ maxFrameBytes: 4 * 1024 * 1024 });
  private frames: Buffer[] = [];
  private waiting: ((f: Buffer) => void) | null = null;
  private constructor(private readonly socket: TLSSocket) {
    socket.on("data", (d: Buffer) => {
      for (const f of this.reader.push(d)) {
        const w = this.waiting;
        if (w) {
          this.waiting = null;
          w(Buffer.from(f));
        } else this.frames.push(Buffer.from(f));
      }
    });
  }

  static open(port: number, b: { cert: string; key: string; ca: string }): Promise<Kmip> {
    return new Promise((resolve, reject) => {
      const s = connect({ host: "127.0.0.1", port, servername: "localhost", cert: b.cert, key: b.key, ca: b.ca }, () =>
        resolve(new Kmip(s)),
      );
      s.once("error", reject);
    });
  }

  private next(): Promise<Buffer> {
    const f = this.frames.shift();
    if (f) return Promise.resolve(f);
    return new Promise((resolve) => {
      this.waiting = resolve;
    });
  }

  /** Sends one Request Message with a batch item per operation; returns the batch results. */
  async batch(v: Version, items: [string, TtlvItem[]][]): Promise<Result[]> {
    const msg = struct(
      Tag.RequestMessage,
      struct(
        Tag.RequestHeader,
        struct(Tag.ProtocolVersion, int(Tag.ProtocolVersionMajor, v[0]), int(Tag.ProtocolVersionMinor, v[1])),
        int(Tag.BatchCount, items.length),
      ),
      ...items.map(([op, payload]) =>
        struct(Tag.BatchItem, enm(Tag.Operation, (Enum.Operation as Record<string, number>)[op]), struct(Tag.RequestPayload, ...payload)),
      ),
    );
    this.socket.write(encodeTtlv(msg));
    const resp = decodeTtlv(await this.next());
    return findAll(resp, Tag.BatchItem).map((b) => ({
      status: find(b, Tag.ResultStatus)?.value as number,
      reason: find(b, Tag.ResultReason)?.value as number | undefined,
      message: find(b, Tag.ResultMessage)?.value as string | undefined,
      payload: find(b, Tag.ResponsePayload) ?? struct(Tag.ResponsePayload),
    }));
  }

  async call(v: Version, op: string, payload: TtlvItem[]): Promise<Result> {
    return (await this.batch(v, [[op, payload]]))[0];
  }

  async ok(v: Version, op: string, payload: TtlvItem[]): Promise<TtlvItem> {
    const r = await this.call(v, op, payload);
    assert.equal(r.status, Enum.ResultStatus.Success, `${op} failed: ${r.message}`);
    return r.payload;
  }

  /** Asserts the operation fails with `reason`. */
  async fails(v: Version, op: string, payload: TtlvItem[], reason: number): Promise<Result> {
    const r = await this.call(v, op, payload);
    assert.equal(r.status, Enum.ResultStatus.OperationFailed, `${op} should fail`);
    assert.equal(r.reason, reason, `${op}: reason ${r.reason} (${r.message})`);
    return r;
  }

  close(): void {
    this.socket.end();
  }
}

// ---- request helpers ----

const V14: Version = [1, 4];
const V21: Version = [2, 1];
const R = Enum.ResultReason;
const M = Enum.BlockCipherMode;
const P = Enum.PaddingMethod;
const H = Enum.HashingAlgorithm;
const A = Enum.CryptographicAlgorithm;

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ""), "hex");
const uid = (id: string) => text(Tag.UniqueIdentifier, id);
const data = (b: Buffer) => bytes(Tag.Data, b);
const ivItem = (b: Buffer) => bytes(Tag.IVCounterNonce, b);
const attr1x = (name: string, value: TtlvItem) =>
  struct(Tag.Attribute, text(Tag.AttributeName, name), { ...value, tag: Tag.AttributeValue } as TtlvItem);
const field = (p: TtlvItem, tag: number) => find(p, tag)?.value as Buffer;
const validity = (p: TtlvItem) => find(p, Tag.ValidityIndicator)?.value;

function params(f: {
  mode?: number;
  padding?: number;
  hash?: number;
  alg?: number;
  tagLength?: number;
  randomIV?: boolean;
  dsa?: number;
  mgfHash?: number;
  pSource?: Buffer;
}): StructureItem {
  return struct(
    Tag.CryptographicParameters,
    f.mode !== undefined ? enm(Tag.BlockCipherMode, f.mode) : null,
    f.padding !== undefined ? enm(Tag.PaddingMethod, f.padding) : null,
    f.hash !== undefined ? enm(Tag.HashingAlgorithm, f.hash) : null,
    f.dsa !== undefined ? enm(Tag.DigitalSignatureAlgorithm, f.dsa) : null,
    f.alg !== undefined ? enm(Tag.CryptographicAlgorithm, f.alg) : null,
    f.randomIV !== undefined ? bool(Tag.RandomIV, f.randomIV) : null,
    f.tagLength !== undefined ? int(Tag.TagLength, f.tagLength) : null,
    f.mgfHash !== undefined ? enm(Tag.MaskGeneratorHashingAlgorithm, f.mgfHash) : null,
    f.pSource !== undefined ? bytes(Tag.PSource, f.pSource) : null,
  );
}

const U = { Sign: 0x1, Verify: 0x2, Encrypt: 0x4, Decrypt: 0x8, MACGenerate: 0x80, MACVerify: 0x100 };
const activeNow = (k: Instance) => attr1x("Activation Date", dateTime(Tag.ActivationDate, new Date(k.clock.now().getTime() - 3600_000)));

describe("KMIP cryptographic operations", () => {
  let i: Instance;
  let kmip: Kmip;

  /** Registers a symmetric key (Raw) with known material; Active, with the given usage. */
  async function registerKey(material: Buffer, alg: number, usage: number, extra: TtlvItem[] = []): Promise<string> {
    const p = await kmip.ok(V14, "Register", [
      enm(Tag.ObjectType, Enum.ObjectType.SymmetricKey),
      struct(Tag.TemplateAttribute, attr1x("Cryptographic Usage Mask", int(Tag.CryptographicUsageMask, usage)), activeNow(i), ...extra),
      struct(
        Tag.SymmetricKey,
        struct(
          Tag.KeyBlock,
          enm(Tag.KeyFormatType, Enum.KeyFormatType.Raw),
          struct(Tag.KeyValue, bytes(Tag.KeyMaterial, material)),
          enm(Tag.CryptographicAlgorithm, alg),
          int(Tag.CryptographicLength, material.length * 8),
        ),
      ),
    ]);
    return find(p, Tag.UniqueIdentifier)?.value as string;
  }

  /** Creates an Active AES key over KMIP. */
  async function createAes(bits: number, usage = U.Encrypt | U.Decrypt): Promise<string> {
    const p = await kmip.ok(V14, "Create", [
      enm(Tag.ObjectType, Enum.ObjectType.SymmetricKey),
      struct(
        Tag.TemplateAttribute,
        attr1x("Cryptographic Algorithm", enm(Tag.CryptographicAlgorithm, A.AES)),
        attr1x("Cryptographic Length", int(Tag.CryptographicLength, bits)),
        attr1x("Cryptographic Usage Mask", int(Tag.CryptographicUsageMask, usage)),
        activeNow(i),
      ),
    ]);
    return find(p, Tag.UniqueIdentifier)?.value as string;
  }

  /** Creates an Active key pair; returns the ids and the public key (read back with Get). */
  async function createPair(alg: number, bits: number, curve?: number): Promise<{ priv: string; pub: string; publicKey: KeyObject }> {
    const p = await kmip.ok(V14, "CreateKeyPair", [
      struct(
        Tag.CommonTemplateAttribute,
        attr1x("Cryptographic Algorithm", enm(Tag.CryptographicAlgorithm, alg)),
        attr1x("Cryptographic Length", int(Tag.CryptographicLength, bits)),
        curve !== undefined
          ? attr1x("Cryptographic Domain Parameters", struct(Tag.CryptographicDomainParameters, enm(Tag.RecommendedCurve, curve)))
          : null,
        activeNow(i),
      ),
      // The private key object may also act with its public half (Verify, Encrypt).
      struct(
        Tag.PrivateKeyTemplateAttribute,
        attr1x("Cryptographic Usage Mask", int(Tag.CryptographicUsageMask, U.Sign | U.Verify | U.Decrypt | U.Encrypt)),
      ),
      struct(Tag.PublicKeyTemplateAttribute, attr1x("Cryptographic Usage Mask", int(Tag.CryptographicUsageMask, U.Verify | U.Encrypt))),
    ]);
    const priv = find(p, Tag.PrivateKeyUniqueIdentifier)?.value as string;
    const pub = find(p, Tag.PublicKeyUniqueIdentifier)?.value as string;
    const got = await kmip.ok(V14, "Get", [uid(pub), enm(Tag.KeyFormatType, Enum.KeyFormatType.X_509)]);
    const km = find(find(find(find(got, Tag.PublicKey) as TtlvItem, Tag.KeyBlock) as TtlvItem, Tag.KeyValue) as TtlvItem, Tag.KeyMaterial);
    return { priv, pub, publicKey: createPublicKey({ key: km?.value as Buffer, format: "der", type: "spki" }) };
  }

  before(async () => {
    i = await newInstance();
    kmip = await Kmip.open(i.server.kmipPort, i.bundle("app"));
  });
  after(async () => {
    kmip.close();
    await i.cleanup();
  });

  // NIST SP 800-38A F.1.1 / F.2.1 / F.5.1 (AES-128).
  const sp38a = {
    key: hex("2b7e151628aed2a6abf7158809cf4f3c"),
    plain: hex(
      "6bc1bee22e409f96e93d7e117393172a ae2d8a571e03ac9c9eb76fac45af8e51 30c81c46a35ce411e5fbc1191a0a52ef f69f2445df4f9b17ad2b417be66c3710",
    ),
    ecb: hex(
      "3ad77bb40d7a3660a89ecaf32466ef97 f5d3d58503b9699de785895a96fdbaaf 43b1cd7f598ece23881b00e3ed030688 7b0c785e27e8ad3f8223207104725dd4",
    ),
    cbcIv: hex("000102030405060708090a0b0c0d0e0f"),
    cbc: hex(
      "7649abac8119b246cee98e9b12e9197d 5086cb9b507219ee95db113a917678b2 73bed6b8e3c1743b7116e69e22229516 3ff1caa1681fac09120eca307586e1a7",
    ),
    ctrIv: hex("f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff"),
    ctr: hex(
      "874d6191b620e3261bef6864990db6ce 9806f66b7970fdff8617187bb9fffdff 5ae4df3edbd5d35e5b4f09020db03eab 1e031dda2fbe03d1792170a0f3009cee",
    ),
  };

  test("AES ECB, CBC (no padding) and CTR match the NIST SP 800-38A known answers both ways", async () => {
    const id = await registerKey(sp38a.key, A.AES, U.Encrypt | U.Decrypt);
    for (const [mode, iv, expected] of [
      [M.ECB, undefined, sp38a.ecb],
      [M.CBC, sp38a.cbcIv, sp38a.cbc],
      [M.CTR, sp38a.ctrIv, sp38a.ctr],
    ] as const) {
      const p = params({ mode, padding: P.None });
      const enc = await kmip.ok(
        V14,
        "Encrypt",
        [uid(id), p, data(sp38a.plain), iv ? ivItem(iv) : null].filter((x) => x !== null),
      );
      assert.deepEqual(field(enc, Tag.Data), expected, `mode ${mode}`);
      assert.equal(find(enc, Tag.IVCounterNonce), undefined, "a client IV is not echoed");
      const dec = await kmip.ok(
        V21,
        "Decrypt",
        [uid(id), p, data(expected), iv ? ivItem(iv) : null].filter((x) => x !== null),
      );
      assert.deepEqual(field(dec, Tag.Data), sp38a.plain);
    }
    // Without padding, data that is not whole blocks is refused up front.
    await kmip.fails(V14, "Encrypt", [uid(id), params({ mode: M.ECB }), data(Buffer.from("short"))], R.InvalidField);
  });

  test("AES-CBC PKCS5 round trip with a client IV and with a server-generated IV; Decrypt without IV fails", async () => {
    const key = randomBytes(32);
    const id = await registerKey(key, A.AES, U.Encrypt | U.Decrypt);
    const p = params({ mode: M.CBC, padding: P.PKCS5, alg: A.AES });
    const plain = Buffer.from("strongroom: attack at dawn, bring the big key");
    const iv = randomBytes(16);
    const enc = await kmip.ok(V14, "Encrypt", [uid(id), p, data(plain), ivItem(iv)]);
    const c = createCipheriv("aes-256-cbc", key, iv);
    assert.deepEqual(field(enc, Tag.Data), Buffer.concat([c.update(plain), c.final()]));
    assert.deepEqual(field(await kmip.ok(V14, "Decrypt", [uid(id), p, data(field(enc, Tag.Data)), ivItem(iv)]), Tag.Data), plain);

    // No IV and no Random IV: the server generates one and SHALL return it.
    const gen = await kmip.ok(V14, "Encrypt", [uid(id), p, data(plain)]);
    const giv = field(gen, Tag.IVCounterNonce);
    assert.equal(giv.length, 16);
    const d = createDecipheriv("aes-256-cbc", key, giv);
    assert.deepEqual(Buffer.concat([d.update(field(gen, Tag.Data)), d.final()]), plain);
    // Random IV = true behaves the same; a client IV alongside it is a contradiction.
    const rnd = await kmip.ok(V14, "Encrypt", [uid(id), params({ mode: M.CBC, padding: P.PKCS5, randomIV: true }), data(plain)]);
    assert.equal(field(rnd, Tag.IVCounterNonce).length, 16);
    assert.notDeepEqual(field(rnd, Tag.IVCounterNonce), giv);
    await kmip.fails(
      V14,
      "Encrypt",
      [uid(id), params({ mode: M.CBC, padding: P.PKCS5, randomIV: true }), data(plain), ivItem(iv)],
      R.InvalidField,
    );

    // The server keeps no IVs: Decrypt without one is Invalid Message (1.x) / Missing Initialization Vector (2.x).
    await kmip.fails(V14, "Decrypt", [uid(id), p, data(field(gen, Tag.Data))], R.InvalidMessage);
    await kmip.fails(V21, "Decrypt", [uid(id), p, data(field(gen, Tag.Data))], R.InvalidMessage);
    // A wrong IV length is a parameter error; a bad padding a Cryptographic Failure.
    await kmip.fails(V14, "Decrypt", [uid(id), p, data(field(gen, Tag.Data)), ivItem(randomBytes(8))], R.InvalidField);
    await kmip.fails(V14, "Decrypt", [uid(id), p, data(randomBytes(32)), ivItem(iv)], R.CryptographicFailure);
  });

  test("the key's Cryptographic Parameters attribute supplies defaults when the request has none", async () => {
    const key = randomBytes(16);
    const id = await registerKey(key, A.AES, U.Encrypt | U.Decrypt, [
      attr1x("Cryptographic Parameters", params({ mode: M.CBC, padding: P.PKCS5, randomIV: true })),
    ]);
    const plain = Buffer.from("defaults from the key");
    const enc = await kmip.ok(V14, "Encrypt", [uid(id), data(plain)]);
    const iv = field(enc, Tag.IVCounterNonce);
    const d = createDecipheriv("aes-128-cbc", key, iv);
    assert.deepEqual(Buffer.concat([d.update(field(enc, Tag.Data)), d.final()]), plain);
    assert.deepEqual(field(await kmip.ok(V14, "Decrypt", [uid(id), data(field(enc, Tag.Data)), ivItem(iv)]), Tag.Data), plain);
    // A key without such an attribute and a request without parameters: the mode is required.
    const bare = await registerKey(randomBytes(16), A.AES, U.Encrypt);
    await kmip.fails(V14, "Encrypt", [uid(bare), data(plain)], R.InvalidField);
  });

  test("AES-GCM with AAD returns the tag; Decrypt verifies it (mismatch → Cryptographic Failure); multi-part matches one-shot", async () => {
    const key = randomBytes(32);
    const id = await registerKey(key, A.AES, U.Encrypt | U.Decrypt);
    const iv = randomBytes(12);
    const aad = Buffer.from("header: v1");
    const plain = randomBytes(100);
    const p = params({ mode: M.GCM, tagLength: 16 });
    const aadItem = bytes(Tag.AuthenticatedEncryptionAdditionalData, aad);
    const enc = await kmip.ok(V14, "Encrypt", [uid(id), p, data(plain), ivItem(iv), aadItem]);
    const c = createCipheriv("aes-256-gcm", key, iv);
    c.setAAD(aad);
    assert.deepEqual(field(enc, Tag.Data), Buffer.concat([c.update(plain), c.final()]));
    const tag = field(enc, Tag.AuthenticatedEncryptionTag);
    assert.deepEqual(tag, c.getAuthTag());
    const ct = field(enc, Tag.Data);
    const tagItem = (t: Buffer) => bytes(Tag.AuthenticatedEncryptionTag, t);
    assert.deepEqual(field(await kmip.ok(V14, "Decrypt", [uid(id), p, data(ct), ivItem(iv), aadItem, tagItem(tag)]), Tag.Data), plain);
    const bad = Buffer.from(tag);
    bad[0] ^= 1;
    await kmip.fails(V14, "Decrypt", [uid(id), p, data(ct), ivItem(iv), aadItem, tagItem(bad)], R.CryptographicFailure);
    await kmip.fails(
      V21,
      "Decrypt",
      [uid(id), p, data(ct), ivItem(iv), bytes(Tag.AuthenticatedEncryptionAdditionalData, Buffer.from("other")), tagItem(tag)],
      R.CryptographicFailure,
    );
    // Truncated tags of 12 bytes work; 1 or 32 bytes are refused.
    const short = await kmip.ok(V14, "Encrypt", [uid(id), params({ mode: M.GCM, tagLength: 12 }), data(plain), ivItem(iv)]);
    assert.equal(field(short, Tag.AuthenticatedEncryptionTag).length, 12);
    await kmip.fails(V14, "Encrypt", [uid(id), params({ mode: M.GCM, tagLength: 1 }), data(plain), ivItem(iv)], R.GeneralFailure);
    await kmip.fails(V21, "Encrypt", [uid(id), params({ mode: M.GCM, tagLength: 32 }), data(plain), ivItem(iv)], R.GeneralFailure);
    // No IV: a 12-byte one is generated and returned.
    const gen = await kmip.ok(V14, "Encrypt", [uid(id), p, data(plain)]);
    assert.equal(field(gen, Tag.IVCounterNonce).length, 12);

    // Multi-part (Init Indicator → Correlation Value → Final Indicator) gives the same result.
    const first = await kmip.ok(V21, "Encrypt", [
      uid(id),
      p,
      data(plain.subarray(0, 40)),
      ivItem(iv),
      bool(Tag.InitIndicator, true),
      aadItem,
    ]);
    const corr = field(first, Tag.CorrelationValue);
    assert.ok(corr.length > 0);
    assert.equal(find(first, Tag.AuthenticatedEncryptionTag), undefined);
    const last = await kmip.ok(V21, "Encrypt", [
      uid(id),
      p,
      data(plain.subarray(40)),
      bytes(Tag.CorrelationValue, corr),
      bool(Tag.FinalIndicator, true),
    ]);
    assert.deepEqual(Buffer.concat([field(first, Tag.Data), field(last, Tag.Data)]), ct);
    assert.deepEqual(field(last, Tag.AuthenticatedEncryptionTag), tag);
    // The session is gone after the final part.
    await kmip.fails(
      V21,
      "Encrypt",
      [uid(id), p, data(plain), bytes(Tag.CorrelationValue, corr), bool(Tag.FinalIndicator, true)],
      R.InvalidField,
    );
  });

  test("AES key wrap (RFC 3394 §4.1), 3DES-CBC and ChaCha20-Poly1305 agree with the references", async () => {
    const kek = await registerKey(hex("000102030405060708090A0B0C0D0E0F"), A.AES, U.Encrypt | U.Decrypt);
    const wrapped = hex("1FA68B0A8112B447AEF34BD8FB5A7B829D3E862371D2CFE5");
    const w = await kmip.ok(V14, "Encrypt", [uid(kek), params({ mode: M.NISTKeyWrap }), data(hex("00112233445566778899AABBCCDDEEFF"))]);
    assert.deepEqual(field(w, Tag.Data), wrapped);
    assert.deepEqual(
      field(await kmip.ok(V14, "Decrypt", [uid(kek), params({ mode: M.NISTKeyWrap }), data(wrapped)]), Tag.Data),
      hex("00112233445566778899AABBCCDDEEFF"),
    );
    const tampered = Buffer.from(wrapped);
    tampered[3] ^= 1;
    await kmip.fails(V14, "Decrypt", [uid(kek), params({ mode: M.NISTKeyWrap }), data(tampered)], R.CryptographicFailure);

    const k3 = randomBytes(24);
    const d3 = await registerKey(k3, A.DES3, U.Encrypt | U.Decrypt);
    const iv8 = randomBytes(8);
    const e3 = await kmip.ok(V14, "Encrypt", [
      uid(d3),
      params({ mode: M.CBC, padding: P.PKCS5 }),
      data(Buffer.from("legacy payment data")),
      ivItem(iv8),
    ]);
    const c3 = createCipheriv("des-ede3-cbc", k3, iv8);
    assert.deepEqual(field(e3, Tag.Data), Buffer.concat([c3.update("legacy payment data"), c3.final()]));

    const kc = randomBytes(32);
    const cc = await registerKey(kc, A.ChaCha20Poly1305, U.Encrypt | U.Decrypt);
    const nonce = randomBytes(12);
    const ec = await kmip.ok(V21, "Encrypt", [uid(cc), params({ mode: M.AEAD }), data(Buffer.from("chacha")), ivItem(nonce)]);
    const ref = createCipheriv("chacha20-poly1305", kc, nonce, { authTagLength: 16 });
    assert.deepEqual(field(ec, Tag.Data), Buffer.concat([ref.update("chacha"), ref.final()]));
    assert.deepEqual(field(ec, Tag.AuthenticatedEncryptionTag), ref.getAuthTag());
  });

  test("less common modes and multi-part: CCM, CFB, CTR nonce + Initial Counter Value, CBC decrypt in parts, Hash in parts", async () => {
    const key = randomBytes(16);
    const id = await registerKey(key, A.AES, U.Encrypt | U.Decrypt);
    const plain = randomBytes(77);
    // CCM: a 12-byte nonce, an 8-byte tag, with AAD.
    const nonce = randomBytes(12);
    const aad = bytes(Tag.AuthenticatedEncryptionAdditionalData, Buffer.from("ccm aad"));
    const ccm = await kmip.ok(V21, "Encrypt", [uid(id), params({ mode: M.CCM, tagLength: 8 }), data(plain), ivItem(nonce), aad]);
    const ref = createCipheriv("aes-128-ccm", key, nonce, { authTagLength: 8 });
    ref.setAAD(Buffer.from("ccm aad"), { plaintextLength: plain.length });
    assert.deepEqual(field(ccm, Tag.Data), Buffer.concat([ref.update(plain), ref.final()]));
    assert.deepEqual(field(ccm, Tag.AuthenticatedEncryptionTag), ref.getAuthTag());
    const ccmTag = bytes(Tag.AuthenticatedEncryptionTag, field(ccm, Tag.AuthenticatedEncryptionTag));
    assert.deepEqual(
      field(
        await kmip.ok(V21, "Decrypt", [
          uid(id),
          params({ mode: M.CCM, tagLength: 8 }),
          data(field(ccm, Tag.Data)),
          ivItem(nonce),
          aad,
          ccmTag,
        ]),
        Tag.Data,
      ),
      plain,
    );
    const bent = Buffer.from(field(ccm, Tag.Data));
    bent[0] ^= 1;
    await kmip.fails(
      V21,
      "Decrypt",
      [uid(id), params({ mode: M.CCM, tagLength: 8 }), data(bent), ivItem(nonce), aad, ccmTag],
      R.CryptographicFailure,
    );
    // CFB with a client IV.
    const iv = randomBytes(16);
    const cfb = await kmip.ok(V14, "Encrypt", [uid(id), params({ mode: M.CFB }), data(plain), ivItem(iv)]);
    const rc = createCipheriv("aes-128-cfb", key, iv);
    assert.deepEqual(field(cfb, Tag.Data), Buffer.concat([rc.update(plain), rc.final()]));
    // CTR with a 12-byte nonce and a 32-bit counter starting at 1 (RFC 3686 layout).
    const ctrParams = struct(
      Tag.CryptographicParameters,
      enm(Tag.BlockCipherMode, M.CTR),
      int(Tag.CounterLength, 32),
      int(Tag.InitialCounterValue, 1),
    );
    const ctr = await kmip.ok(V14, "Encrypt", [uid(id), ctrParams, data(plain), ivItem(nonce)]);
    const block0 = Buffer.concat([nonce, hex("00000001")]);
    const rt = createCipheriv("aes-128-ctr", key, block0);
    assert.deepEqual(field(ctr, Tag.Data), Buffer.concat([rt.update(plain), rt.final()]));
    // CBC PKCS5 decryption in three parts.
    const p = params({ mode: M.CBC, padding: P.PKCS5 });
    const ct = field(await kmip.ok(V14, "Encrypt", [uid(id), p, data(plain), ivItem(iv)]), Tag.Data);
    const d1 = await kmip.ok(V21, "Decrypt", [uid(id), p, data(ct.subarray(0, 20)), ivItem(iv), bool(Tag.InitIndicator, true)]);
    const corr = bytes(Tag.CorrelationValue, field(d1, Tag.CorrelationValue));
    const d2 = await kmip.ok(V21, "Decrypt", [uid(id), p, data(ct.subarray(20, 50)), corr]);
    const d3 = await kmip.ok(V21, "Decrypt", [uid(id), p, data(ct.subarray(50)), corr, bool(Tag.FinalIndicator, true)]);
    assert.deepEqual(Buffer.concat([field(d1, Tag.Data), field(d2, Tag.Data), field(d3, Tag.Data)]), plain);
    // Another key cannot continue this client's session.
    const other = await registerKey(key, A.AES, U.Encrypt | U.Decrypt);
    const e1 = await kmip.ok(V21, "Encrypt", [uid(id), p, data(plain.subarray(0, 5)), ivItem(iv), bool(Tag.InitIndicator, true)]);
    await kmip.fails(
      V21,
      "Encrypt",
      [uid(other), p, data(plain), bytes(Tag.CorrelationValue, field(e1, Tag.CorrelationValue))],
      R.InvalidField,
    );
    // Hash in two parts.
    const h1 = await kmip.ok(V14, "Hash", [params({ hash: H.SHA_512 }), data(plain.subarray(0, 30)), bool(Tag.InitIndicator, true)]);
    const h2 = await kmip.ok(V14, "Hash", [
      data(plain.subarray(30)),
      bytes(Tag.CorrelationValue, field(h1, Tag.CorrelationValue)),
      bool(Tag.FinalIndicator, true),
    ]);
    assert.deepEqual(field(h2, Tag.Data), createHash("sha512").update(plain).digest());
  });

  test("RSA OAEP (SHA-256) and PKCS#1 v1.5: encrypt with the public key, decrypt with the private key, cross-checked with node:crypto", async () => {
    const { priv, pub, publicKey } = await createPair(A.RSA, 2048);
    const plain = Buffer.from("a data key, 32 bytes long.......");
    for (const p of [
      params({ padding: P.OAEP, hash: H.SHA_256 }),
      params({ padding: P.PKCS1V1_5 }),
      params({ padding: P.OAEP, hash: H.SHA_384, mgfHash: H.SHA_256, pSource: Buffer.from("label") }),
    ]) {
      const enc = await kmip.ok(V14, "Encrypt", [uid(pub), p, data(plain)]);
      assert.equal(field(enc, Tag.Data).length, 256);
      assert.deepEqual(field(await kmip.ok(V14, "Decrypt", [uid(priv), p, data(field(enc, Tag.Data))]), Tag.Data), plain);
      // The private key object encrypts with its public half too.
      const enc2 = await kmip.ok(V14, "Encrypt", [uid(priv), p, data(plain)]);
      assert.deepEqual(field(await kmip.ok(V14, "Decrypt", [uid(priv), p, data(field(enc2, Tag.Data))]), Tag.Data), plain);
    }
    // Ciphertext made by node:crypto decrypts over KMIP.
    const local = publicEncrypt({ key: publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha256" }, plain);
    assert.deepEqual(
      field(await kmip.ok(V14, "Decrypt", [uid(priv), params({ padding: P.OAEP, hash: H.SHA_256 }), data(local)]), Tag.Data),
      plain,
    );
    const local15 = publicEncrypt({ key: publicKey, padding: constants.RSA_PKCS1_PADDING }, plain);
    assert.deepEqual(field(await kmip.ok(V14, "Decrypt", [uid(priv), params({ padding: P.PKCS1V1_5 }), data(local15)]), Tag.Data), plain);
    // A damaged OAEP ciphertext is a Cryptographic Failure; a damaged PKCS#1 v1.5 one gets implicit
    // rejection (a stable pseudo-random answer, no padding oracle).
    const broken = Buffer.from(local);
    broken[10] ^= 0x55;
    await kmip.fails(V14, "Decrypt", [uid(priv), params({ padding: P.OAEP, hash: H.SHA_256 }), data(broken)], R.CryptographicFailure);
    const broken15 = Buffer.from(local15);
    broken15[10] ^= 0x55;
    const r1 = field(await kmip.ok(V14, "Decrypt", [uid(priv), params({ padding: P.PKCS1V1_5 }), data(broken15)]), Tag.Data);
    const r2 = field(await kmip.ok(V14, "Decrypt", [uid(priv), params({ padding: P.PKCS1V1_5 }), data(broken15)]), Tag.Data);
    assert.deepEqual(r1, r2);
    assert.notDeepEqual(r1, plain);
    // The public key cannot decrypt; RSA needs a padding method.
    await kmip.fails(V14, "Decrypt", [uid(pub), params({ padding: P.OAEP }), data(local)], R.PermissionDenied);
    await kmip.fails(V14, "Encrypt", [uid(pub), params({ hash: H.SHA_256 }), data(plain)], R.InvalidField);
  });

  test("OASIS CS-AC-M-OAEP-8 and -10: OAEP with SHA-384 and MGF1-SHA-256 (and a P Source label) decrypts the published ciphertext", async (t) => {
    const root = process.env.KMIP_VECTORS_DIR ?? join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..", "shared", "kmip-vectors");
    const dir = join(root, "v1.4", "mandatory");
    if (!existsSync(join(dir, "CS-AC-M-OAEP-8-14.xml"))) return t.skip(`OASIS vectors not available at ${root} (set KMIP_VECTORS_DIR)`);
    for (const f of ["CS-AC-M-OAEP-8-14.xml", "CS-AC-M-OAEP-10-14.xml"]) {
      const msgs = parseXml(readFileSync(join(dir, f), "utf8")).children;
      let id = "";
      const hook = (s: string, ctx: { type: number }) => {
        if (s === "$UNIQUE_IDENTIFIER_0") return id;
        if (s.startsWith("$NOW") && ctx.type === ItemType.DateTime)
          return new Date(Math.floor(i.clock.now().getTime() / 1000 - 3600) * 1000).toISOString().replace(".000Z", "+00:00");
        return s;
      };
      const payloadOf = (k: number) =>
        (find(find(xmlElementToTtlv(msgs[k], { resolveValue: hook }), Tag.BatchItem) as TtlvItem, Tag.RequestPayload) as StructureItem)
          .value;
      const reg = await kmip.ok(V14, "Register", payloadOf(0));
      id = find(reg, Tag.UniqueIdentifier)?.value as string;
      const dec = await kmip.ok(V14, "Decrypt", payloadOf(2));
      assert.equal(field(dec, Tag.Data).toString("hex"), "6628194e12073db03ba94cda9ef9532397d50dba79b987004afefe34", f);
    }
  });

  test("Sign / Signature Verify: RSA-PSS, RSA PKCS#1 v1.5 and ECDSA P-256, checked with node:crypto; tampered data is Invalid", async () => {
    const rsa = await createPair(A.RSA, 2048);
    const msg = Buffer.from("pay 100 to alice");
    const tampered = Buffer.from("pay 900 to alice");
    const cases: [string, { priv: string; pub: string; publicKey: KeyObject }, StructureItem, (sig: Buffer) => boolean][] = [
      [
        "PSS",
        rsa,
        params({ padding: P.PSS, hash: H.SHA_256, alg: A.RSA }),
        (s) => cryptoVerify("sha256", msg, { key: rsa.publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }, s),
      ],
      [
        "PKCS1",
        rsa,
        params({ dsa: Enum.DigitalSignatureAlgorithm.SHA_256WithRSAEncryption }),
        (s) => cryptoVerify("sha256", msg, rsa.publicKey, s),
      ],
    ];
    const ec = await createPair(A.EC, 256, Enum.RecommendedCurve.P_256);
    cases.push([
      "ECDSA",
      ec,
      params({ dsa: Enum.DigitalSignatureAlgorithm.ECDSAWithSHA256 }),
      (s) => cryptoVerify("sha256", msg, { key: ec.publicKey, dsaEncoding: "der" }, s),
    ]);
    for (const [label, pair, p, check] of cases) {
      const sig = field(await kmip.ok(V14, "Sign", [uid(pair.priv), p, data(msg)]), Tag.SignatureData);
      assert.ok(check(sig), `${label}: node:crypto verifies the signature`);
      const sigItem = bytes(Tag.SignatureData, sig);
      assert.equal(
        validity(await kmip.ok(V14, "SignatureVerify", [uid(pair.pub), p, data(msg), sigItem])),
        Enum.ValidityIndicator.Valid,
        label,
      );
      // The private key object verifies too (with its public half).
      assert.equal(
        validity(await kmip.ok(V21, "SignatureVerify", [uid(pair.priv), p, data(msg), sigItem])),
        Enum.ValidityIndicator.Valid,
        label,
      );
      assert.equal(
        validity(await kmip.ok(V14, "SignatureVerify", [uid(pair.pub), p, data(tampered), sigItem])),
        Enum.ValidityIndicator.Invalid,
        label,
      );
      const badSig = Buffer.from(sig);
      badSig[badSig.length - 5] ^= 1;
      assert.equal(
        validity(await kmip.ok(V14, "SignatureVerify", [uid(pair.pub), p, data(msg), bytes(Tag.SignatureData, badSig)])),
        Enum.ValidityIndicator.Invalid,
        label,
      );
    }
    // Digested Data: the client hashes, the server signs the digest; node:crypto verifies over the message.
    const digest = createHash("sha256").update(msg).digest();
    for (const [p, opts] of [
      [params({ padding: P.PKCS1V1_5, hash: H.SHA_256 }), { key: rsa.publicKey }],
      [
        params({ padding: P.PSS, hash: H.SHA_256 }),
        { key: rsa.publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_AUTO },
      ],
    ] as const) {
      const sig = field(await kmip.ok(V14, "Sign", [uid(rsa.priv), p, bytes(Tag.DigestedData, digest)]), Tag.SignatureData);
      assert.ok(cryptoVerify("sha256", msg, opts, sig));
      assert.equal(
        validity(await kmip.ok(V14, "SignatureVerify", [uid(rsa.pub), p, bytes(Tag.DigestedData, digest), bytes(Tag.SignatureData, sig)])),
        Enum.ValidityIndicator.Valid,
      );
    }
    // PKCS#1 v1.5 signatures are deterministic: the multi-part signature equals the one-shot one.
    const p15 = params({ dsa: Enum.DigitalSignatureAlgorithm.SHA_384WithRSAEncryption });
    const whole = field(await kmip.ok(V14, "Sign", [uid(rsa.priv), p15, data(msg)]), Tag.SignatureData);
    const s1 = await kmip.ok(V21, "Sign", [uid(rsa.priv), p15, data(msg.subarray(0, 4)), bool(Tag.InitIndicator, true)]);
    const s2 = await kmip.ok(V21, "Sign", [
      uid(rsa.priv),
      data(msg.subarray(4)),
      bytes(Tag.CorrelationValue, field(s1, Tag.CorrelationValue)),
      bool(Tag.FinalIndicator, true),
    ]);
    assert.deepEqual(field(s2, Tag.SignatureData), whole);
    // PSS with its own MGF1 hash (node:crypto cannot, so the server encodes EMSA-PSS itself).
    const mgf = params({ padding: P.PSS, hash: H.SHA_256, mgfHash: H.SHA_1 });
    const mgfSig = field(await kmip.ok(V14, "Sign", [uid(rsa.priv), mgf, data(msg)]), Tag.SignatureData);
    assert.equal(
      validity(await kmip.ok(V14, "SignatureVerify", [uid(rsa.pub), mgf, data(msg), bytes(Tag.SignatureData, mgfSig)])),
      Enum.ValidityIndicator.Valid,
    );
    const sameHash = params({ padding: P.PSS, hash: H.SHA_256 });
    assert.equal(
      validity(await kmip.ok(V14, "SignatureVerify", [uid(rsa.pub), sameHash, data(msg), bytes(Tag.SignatureData, mgfSig)])),
      Enum.ValidityIndicator.Invalid,
    );
    // Signing needs the private key and Sign usage: the public key refuses.
    await kmip.fails(V14, "Sign", [uid(rsa.pub), params({ padding: P.PSS, hash: H.SHA_256 }), data(msg)], R.PermissionDenied);
  });

  test("MAC / MAC Verify: HMAC-SHA256 (RFC 4231 case 2) and AES-CMAC (RFC 4493) known answers; wrong MAC is Invalid", async () => {
    const id = await registerKey(Buffer.from("Jefe"), A.HMAC_SHA256, U.MACGenerate | U.MACVerify);
    const msg = Buffer.from("what do ya want for nothing?");
    const expected = hex("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    const m = await kmip.ok(V14, "MAC", [uid(id), data(msg)]);
    assert.deepEqual(field(m, Tag.MACData), expected);
    assert.deepEqual(expected, createHmac("sha256", "Jefe").update(msg).digest());
    assert.equal(
      validity(await kmip.ok(V14, "MACVerify", [uid(id), data(msg), bytes(Tag.MACData, expected)])),
      Enum.ValidityIndicator.Valid,
    );
    const wrong = Buffer.from(expected);
    wrong[31] ^= 1;
    assert.equal(
      validity(await kmip.ok(V21, "MACVerify", [uid(id), data(msg), bytes(Tag.MACData, wrong)])),
      Enum.ValidityIndicator.Invalid,
    );
    assert.equal(
      validity(await kmip.ok(V14, "MACVerify", [uid(id), data(msg), bytes(Tag.MACData, expected.subarray(0, 16))])),
      Enum.ValidityIndicator.Invalid,
    );
    // Multi-part MAC equals the one-shot MAC.
    const first = await kmip.ok(V21, "MAC", [uid(id), data(msg.subarray(0, 10)), bool(Tag.InitIndicator, true)]);
    const last = await kmip.ok(V21, "MAC", [
      uid(id),
      data(msg.subarray(10)),
      bytes(Tag.CorrelationValue, field(first, Tag.CorrelationValue)),
      bool(Tag.FinalIndicator, true),
    ]);
    assert.deepEqual(field(last, Tag.MACData), expected);

    const cmacKey = await registerKey(sp38a.key, A.AES, U.MACGenerate | U.MACVerify);
    const cp = params({ mode: M.CMAC });
    for (const [len, mac] of [
      [0, "bb1d6929e95937287fa37d129b756746"],
      [16, "070a16b46b4d4144f79bdd9dd04a287c"],
      [40, "dfa66747de9ae63030ca32611497c827"],
      [64, "51f0bebf7e3b9d92fc49741779363cfe"],
    ] as const) {
      const r = await kmip.ok(V14, "MAC", [uid(cmacKey), cp, data(sp38a.plain.subarray(0, len))]);
      assert.equal(field(r, Tag.MACData).toString("hex"), mac, `CMAC of ${len} bytes`);
    }
    // An AES key used as an HMAC key when the parameters say so (as in CS-AC-M-4).
    const h = await kmip.ok(V14, "MAC", [uid(cmacKey), params({ alg: A.HMAC_SHA256 }), data(msg)]);
    assert.deepEqual(field(h, Tag.MACData), createHmac("sha256", sp38a.key).update(msg).digest());
    // Encrypt-only usage refuses MAC.
    const encOnly = await registerKey(randomBytes(32), A.HMAC_SHA256, U.Encrypt);
    await kmip.fails(V14, "MAC", [uid(encOnly), data(msg)], R.PermissionDenied);
  });

  test("RNG Retrieve returns Data Length random bytes within bounds; Hash gives SHA-256 and SHA3-256 known answers", async () => {
    const r = await kmip.ok(V14, "RNGRetrieve", [int(Tag.DataLength, 48)]);
    assert.equal(field(r, Tag.Data).length, 48);
    const r2 = await kmip.ok(V21, "RNGRetrieve", [int(Tag.DataLength, 48)]);
    assert.notDeepEqual(field(r2, Tag.Data), field(r, Tag.Data));
    await kmip.fails(V14, "RNGRetrieve", [int(Tag.DataLength, 0)], R.InvalidField);
    await kmip.fails(V14, "RNGRetrieve", [int(Tag.DataLength, 64 * 1024 * 1024)], R.InvalidField);
    await kmip.fails(V14, "RNGRetrieve", [], R.InvalidField);

    const abc = Buffer.from("abc");
    const h = await kmip.ok(V14, "Hash", [params({ hash: H.SHA_256 }), data(abc)]);
    assert.equal(field(h, Tag.Data).toString("hex"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const h3 = await kmip.ok(V21, "Hash", [params({ hash: H.SHA3_256 }), data(abc)]);
    assert.equal(field(h3, Tag.Data).toString("hex"), "3a985da74fe225b2045c172d6bd390bd855f086e3e9d525b46bfe24511431532");
    await kmip.fails(V14, "Hash", [params({ hash: H.MD5 }), data(abc)], R.FeatureNotSupported);
    await kmip.fails(V14, "Hash", [data(abc)], R.InvalidField);
  });

  test("usage mask and lifecycle: Encrypt-only key refuses Decrypt; a Deactivated key refuses Encrypt but still decrypts", async () => {
    const encOnly = await createAes(256, U.Encrypt);
    const p = params({ mode: M.CBC, padding: P.PKCS5 });
    const enc = await kmip.ok(V14, "Encrypt", [uid(encOnly), p, data(Buffer.from("x"))]);
    const args = [uid(encOnly), p, data(field(enc, Tag.Data)), ivItem(field(enc, Tag.IVCounterNonce))];
    await kmip.fails(V14, "Decrypt", args, R.PermissionDenied);
    await kmip.fails(V21, "Decrypt", args, R.IncompatibleCryptographicUsageMask);

    const id = await createAes(128);
    const plain = Buffer.from("before the revocation");
    const before = await kmip.ok(V14, "Encrypt", [uid(id), p, data(plain)]);
    await kmip.ok(V14, "Revoke", [
      uid(id),
      struct(Tag.RevocationReason, enm(Tag.RevocationReasonCode, Enum.RevocationReasonCode.CessationOfOperation)),
    ]);
    await kmip.fails(V14, "Encrypt", [uid(id), p, data(plain)], R.PermissionDenied);
    await kmip.fails(V21, "Encrypt", [uid(id), p, data(plain)], R.WrongKeyLifecycleState);
    const dec = await kmip.ok(V14, "Decrypt", [uid(id), p, data(field(before, Tag.Data)), ivItem(field(before, Tag.IVCounterNonce))]);
    assert.deepEqual(field(dec, Tag.Data), plain);
    // Once destroyed, nothing: Object Destroyed in 2.x.
    await kmip.ok(V14, "Destroy", [uid(id)]);
    const gone = [uid(id), p, data(field(before, Tag.Data)), ivItem(field(before, Tag.IVCounterNonce))];
    await kmip.fails(V14, "Decrypt", gone, R.PermissionDenied);
    await kmip.fails(V21, "Decrypt", gone, R.ObjectDestroyed);

    // A Pre-Active key (no Activation Date) protects nothing.
    const pre = await kmip.ok(V14, "Create", [
      enm(Tag.ObjectType, Enum.ObjectType.SymmetricKey),
      struct(
        Tag.TemplateAttribute,
        attr1x("Cryptographic Algorithm", enm(Tag.CryptographicAlgorithm, A.AES)),
        attr1x("Cryptographic Length", int(Tag.CryptographicLength, 128)),
      ),
    ]);
    await kmip.fails(V14, "Encrypt", [uid(find(pre, Tag.UniqueIdentifier)?.value as string), p, data(plain)], R.PermissionDenied);

    // Protect Stop Date in the past / Process Start Date in the future (as in CS-BC-M-14).
    const dated = await registerKey(randomBytes(16), A.AES, U.Encrypt | U.Decrypt, [
      attr1x("Protect Stop Date", dateTime(Tag.ProtectStopDate, new Date(i.clock.now().getTime() - 3600_000))),
      attr1x("Process Start Date", dateTime(Tag.ProcessStartDate, new Date(i.clock.now().getTime() + 3600_000))),
    ]);
    await kmip.fails(V14, "Encrypt", [uid(dated), params({ mode: M.ECB }), data(Buffer.alloc(16))], R.PermissionDenied);
    await kmip.fails(V21, "Decrypt", [uid(dated), params({ mode: M.ECB }), data(Buffer.alloc(16))], R.WrongKeyLifecycleState);
  });

  test("a 2.x batch can Create and then Encrypt through the ID Placeholder", async () => {
    const [created, encrypted] = await kmip.batch(V21, [
      [
        "Create",
        [
          enm(Tag.ObjectType, Enum.ObjectType.SymmetricKey),
          struct(
            Tag.Attributes,
            enm(Tag.CryptographicAlgorithm, A.AES),
            int(Tag.CryptographicLength, 256),
            int(Tag.CryptographicUsageMask, U.Encrypt),
            dateTime(Tag.ActivationDate, new Date(i.clock.now().getTime() - 1000)),
          ),
        ],
      ],
      ["Encrypt", [params({ mode: M.GCM }), data(Buffer.from("placeholder"))]],
    ]);
    assert.equal(created.status, Enum.ResultStatus.Success);
    assert.equal(encrypted.status, Enum.ResultStatus.Success, encrypted.message);
    assert.equal(find(encrypted.payload, Tag.UniqueIdentifier)?.value, find(created.payload, Tag.UniqueIdentifier)?.value);
    assert.equal(field(encrypted.payload, Tag.AuthenticatedEncryptionTag).length, 16);
  });

  test("separation of duties: an admin bundle may not encrypt, decrypt, sign or MAC", async () => {
    const id = await createAes(256, U.Encrypt | U.Decrypt | U.MACGenerate);
    const admin = await Kmip.open(i.server.kmipPort, i.bundle("admin1"));
    try {
      const p = params({ mode: M.GCM });
      await admin.fails(V14, "Encrypt", [uid(id), p, data(Buffer.from("x"))], R.PermissionDenied);
      await admin.fails(
        V14,
        "Decrypt",
        [uid(id), p, data(Buffer.from("x")), ivItem(randomBytes(12)), bytes(Tag.AuthenticatedEncryptionTag, randomBytes(16))],
        R.PermissionDenied,
      );
      await admin.fails(V14, "MAC", [uid(id), params({ alg: A.HMAC_SHA256 }), data(Buffer.from("x"))], R.PermissionDenied);
    } finally {
      admin.close();
    }
    // The refusal is audited as a denial of the KMIP operation, with its target key and no data.
    const audit = await i.as.auditor.call("GET", "/v1/audit?action=kmip.encrypt&outcome=denied&actor=admin1");
    assert.equal(audit.status, 200);
    const events = audit.body.events as { actor: { cn: string }; target: { name: string }; detail: unknown }[];
    assert.equal(events.length, 1);
    assert.equal(events[0].target.name, id);
    assert.deepEqual(events[0].detail, { id });
  });

  test("a key created over REST encrypts over KMIP; node:crypto decrypts it with the material from REST", async () => {
    const created = await i.as.app.call("POST", "/v1/keys", { name: "rest-kmip-aes", type: "aes-256" });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const key = (await i.as.app.call("GET", "/v1/keys/rest-kmip-aes")).body;
    const id = key.versions[0].id as string;
    const plain = Buffer.from("one object model");
    const enc = await kmip.ok(V14, "Encrypt", [uid(id), params({ mode: M.GCM, tagLength: 16 }), data(plain)]);
    const material = Buffer.from((await i.as.app.call("GET", "/v1/keys/rest-kmip-aes/material")).body.material, "base64");
    const events = (await i.as.auditor.call("GET", "/v1/audit?action=kmip.encrypt&key=rest-kmip-aes")).body.events as {
      outcome: string;
      detail: unknown;
    }[];
    assert.deepEqual(
      events.map((e) => [e.outcome, e.detail]),
      [["success", { id }]],
    );
    const d = createDecipheriv("aes-256-gcm", material, field(enc, Tag.IVCounterNonce));
    d.setAuthTag(field(enc, Tag.AuthenticatedEncryptionTag));
    assert.deepEqual(Buffer.concat([d.update(field(enc, Tag.Data)), d.final()]), plain);
  });
});
