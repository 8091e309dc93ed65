// Hostile clients against cryptography and response sizes: oversized and inconsistent keys, RSA load, response amplification.
import assert from "node:assert/strict";
import { createPrivateKey, generateKeyPair, randomBytes } from "node:crypto";
import { request } from "node:https";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import { loadConfig, writeConfig } from "../src/config/config.js";
import { ttlvToJson } from "../src/kmip/codec/json.js";
import { Enum } from "../src/kmip/codec/tables.js";
import {
  bigInt,
  bytes,
  dateTime,
  decodeTtlv,
  encodeTtlv,
  enm,
  find,
  findAll,
  int,
  struct,
  Tag,
  type TtlvItem,
  text,
} from "../src/kmip/codec/ttlv.js";
import { type Instance, newInstance } from "./helpers.js";
import { attr1x, KmipClient, request as kmipRequest, results } from "./kmip-client.js";

const V21: [number, number] = [2, 1];
const V14: [number, number] = [1, 4];
const U = Enum.CryptographicUsageMask;
const uid = (id: string) => text(Tag.UniqueIdentifier, id);
const CONTINUE = enm(Tag.BatchErrorContinuationOption, Enum.BatchErrorContinuationOption.Continue);
const MAX_RESPONSE = 1024 * 1024;
const LOCATE_CAP = 100;

// DER by hand: OpenSSL 3.5 (Node 24) checks RSA keys imported as JWK, so keys that are wrong on purpose are encoded
// directly (DER import is not checked, which is what the server's own consistency probe is for).
const derLength = (n: number) =>
  n < 0x80
    ? Buffer.from([n])
    : n < 0x100
      ? Buffer.from([0x81, n])
      : n < 0x10000
        ? Buffer.from([0x82, n >> 8, n & 0xff])
        : Buffer.from([0x83, n >> 16, (n >> 8) & 0xff, n & 0xff]);
const tlv = (tag: number, body: Buffer) => Buffer.concat([Buffer.from([tag]), derLength(body.length), body]);
const derInt = (b: Buffer) => tlv(0x02, b[0] & 0x80 ? Buffer.concat([Buffer.from([0]), b]) : b);
const RSA_ALG = tlv(0x30, Buffer.concat([tlv(0x06, Buffer.from("2a864886f70d010101", "hex")), tlv(0x05, Buffer.alloc(0))]));
const B64 = (s: string) => Buffer.from(s, "base64url");

/** PKCS#8 DER of an RSA private key from its parts (n, e, d, p, q, dp, dq, qi), consistent or not. */
function rsaPkcs8(parts: Buffer[]): Buffer {
  const pkcs1 = tlv(0x30, Buffer.concat([derInt(Buffer.from([0])), ...parts.map(derInt)]));
  return tlv(0x30, Buffer.concat([derInt(Buffer.from([0])), RSA_ALG, tlv(0x04, pkcs1)]));
}

/** A syntactically valid RSA private key of any size, instantly (its parts are random: only its size matters here). */
function fakeRsa(bits: number): { pkcs8: Buffer; spkiPem: string } {
  const big = (n: number) => {
    const b = randomBytes(n / 8);
    b[0] |= 0x80;
    b[b.length - 1] |= 1;
    return b;
  };
  const n = big(bits);
  const e = Buffer.from([1, 0, 1]);
  const half = () => big(bits / 2);
  const spki = tlv(
    0x30,
    Buffer.concat([RSA_ALG, tlv(0x03, Buffer.concat([Buffer.from([0]), tlv(0x30, Buffer.concat([derInt(n), derInt(e)]))]))]),
  );
  return {
    pkcs8: rsaPkcs8([n, e, big(bits), half(), half(), half(), half(), half()]),
    spkiPem: `-----BEGIN PUBLIC KEY-----\n${spki
      .toString("base64")
      .replace(/(.{64})/g, "$1\n")
      .trim()}\n-----END PUBLIC KEY-----\n`,
  };
}

function registerPrivate(der: Buffer, bits: number): TtlvItem[] {
  return [
    enm(Tag.ObjectType, Enum.ObjectType.PrivateKey),
    struct(
      Tag.Attributes,
      enm(Tag.CryptographicAlgorithm, Enum.CryptographicAlgorithm.RSA),
      int(Tag.CryptographicLength, bits),
      int(Tag.CryptographicUsageMask, U.Sign),
    ),
    struct(
      Tag.PrivateKey,
      struct(Tag.KeyBlock, enm(Tag.KeyFormatType, Enum.KeyFormatType.PKCS_8), struct(Tag.KeyValue, bytes(Tag.KeyMaterial, der))),
    ),
  ];
}

/** GET /v1/sys/health must answer within 2 s (liveness, not performance); returns the latency. */
function health(i: Instance): Promise<number> {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const req = request(`${i.url}/v1/sys/health`, { ca: i.bundle("app").ca, timeout: 2000 }, (res) => {
      res.resume();
      res.on("end", () => resolve(Date.now() - t0));
    });
    req.on("timeout", () => req.destroy(new Error("health did not answer within 2 s")));
    req.on("error", reject);
    req.end();
  });
}

/** Polls health every 100 ms while `work` runs; every answer must come within 2 s. */
async function liveDuring<T>(i: Instance, work: Promise<T>): Promise<{ result: T; worst: number; polls: number }> {
  let done = false;
  let worst = 0;
  let polls = 0;
  const poller = (async () => {
    while (!done) {
      worst = Math.max(worst, await health(i));
      polls++;
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  try {
    const result = await work;
    return { result, worst, polls };
  } finally {
    done = true;
    await poller;
  }
}

describe("hostile cryptography and response sizes", () => {
  let i: Instance;
  let kmip: KmipClient;
  before(async () => {
    i = await newInstance();
    // Small response limits keep the test light; the defaults are 8 MiB, 64 MiB and 1,000.
    const cfg = loadConfig(i.dir);
    cfg.limits = { ...cfg.limits, maxResponseBytes: MAX_RESPONSE, responseMemoryBytes: 4 * MAX_RESPONSE, kmipLocateMaxItems: LOCATE_CAP };
    writeConfig(cfg);
    await i.restart();
    kmip = await KmipClient.open(i.server.kmipPort, i.bundle("app"));
  });
  after(async () => {
    kmip.close();
    await i.cleanup();
  });

  test("KMIP Register of an RSA-32768 or RSA-8192 private key is refused (Invalid Field) in milliseconds; health stays live", async () => {
    for (const bits of [32768, 8192]) {
      const der = fakeRsa(bits).pkcs8;
      const t0 = Date.now();
      const [r] = await kmip.call(V21, [["Register", registerPrivate(der, bits)]]);
      assert.equal(r.status, Enum.ResultStatus.OperationFailed, `RSA-${bits} refused`);
      assert.equal(r.reason, Enum.ResultReason.InvalidField);
      assert.match(r.message ?? "", /RSA keys must have 1024 to 4096 bits/);
      assert.ok(Date.now() - t0 < 2000, "refused before any RSA operation");
    }
    await health(i);
  });

  test("RSA-32768 public keys (X.509, Transparent) over KMIP and an RSA-8192 PKCS#8 key over REST are refused; the next TLS reads still work", async () => {
    // On Node.js 24 / OpenSSL 3.5 parsing such a key left an error in the thread's OpenSSL queue that failed the next
    // TLS read (ERR_SSL_TOO_SMALL_BUFFER): the keys must be sized before OpenSSL sees them.
    const { spkiPem } = fakeRsa(32768);
    const spki = Buffer.from(spkiPem.replace(/-----[A-Z ]+-----|\s/g, ""), "base64");
    const attrs = struct(
      Tag.Attributes,
      enm(Tag.CryptographicAlgorithm, Enum.CryptographicAlgorithm.RSA),
      int(Tag.CryptographicLength, 32768),
      int(Tag.CryptographicUsageMask, U.Verify),
    );
    const publicKey = (fmt: number, material: TtlvItem): TtlvItem[] => [
      enm(Tag.ObjectType, Enum.ObjectType.PublicKey),
      attrs,
      struct(Tag.PublicKey, struct(Tag.KeyBlock, enm(Tag.KeyFormatType, fmt), struct(Tag.KeyValue, material))),
    ];
    const n = BigInt(`0x${randomBytes(4096).toString("hex")}`) | (1n << 32767n) | 1n;
    for (const body of [
      publicKey(Enum.KeyFormatType.X_509, bytes(Tag.KeyMaterial, spki)),
      publicKey(
        Enum.KeyFormatType.TransparentRSAPublicKey,
        struct(Tag.KeyMaterial, bigInt(Tag.Modulus, n), bigInt(Tag.PublicExponent, 65537n)),
      ),
    ]) {
      const [r] = await kmip.call(V21, [["Register", body]]);
      assert.equal(r.status, Enum.ResultStatus.OperationFailed);
      assert.equal(r.reason, Enum.ResultReason.InvalidField);
      assert.match(r.message ?? "", /RSA keys must have 1024 to 4096 bits; this one has 32768/);
    }
    // (REST bodies are size-bounded below an RSA-32768 private key: RSA-8192 is the largest that reaches the parser.)
    const rest = await i.as.app.call("POST", "/v1/keys/import", {
      name: "huge",
      type: "rsa-4096",
      material: fakeRsa(8192).pkcs8.toString("base64"),
    });
    assert.equal(rest.status, 400);
    assert.equal(rest.body.error.code, "key_not_accepted");
    // The same KMIP connection and fresh TLS connections keep working.
    const [ok] = await kmip.call(V21, [["Query", [enm(Tag.QueryFunction, Enum.QueryFunction.QueryOperations)]]]);
    assert.equal(ok.status, Enum.ResultStatus.Success, ok.message);
    await health(i);
  });

  test("an inconsistent RSA private key (modulus of another key) is refused over KMIP Register and REST import", async () => {
    const gen = promisify(generateKeyPair);
    const a = (await gen("rsa", { modulusLength: 2048 })).privateKey.export({ format: "jwk" });
    const b = (await gen("rsa", { modulusLength: 2048 })).privateKey.export({ format: "jwk" });
    const mixed = rsaPkcs8([b.n, a.e, a.d, a.p, a.q, a.dp, a.dq, a.qi].map((x) => B64(x as string)));
    const [r] = await kmip.call(V21, [["Register", registerPrivate(mixed, 2048)]]);
    assert.equal(r.status, Enum.ResultStatus.OperationFailed);
    assert.equal(r.reason, Enum.ResultReason.InvalidField);
    assert.match(r.message ?? "", /inconsistent/);
    const rest = await i.as.app.call("POST", "/v1/keys/import", { name: "mixed", type: "rsa-2048", material: mixed.toString("base64") });
    assert.equal(rest.status, 400);
    assert.equal(rest.body.error.code, "key_not_accepted");
    assert.equal((await i.as.app.call("GET", "/v1/keys/mixed")).status, 404);
    // A consistent key still registers.
    const good = createPrivateKey({ key: a, format: "jwk" }).export({ type: "pkcs8", format: "der" });
    const [ok] = await kmip.call(V21, [["Register", registerPrivate(good, 2048)]]);
    assert.equal(ok.status, Enum.ResultStatus.Success, ok.message);
  });

  test("a caller-supplied RSA-8192 wrapping key for export is refused (REST key_not_accepted)", async () => {
    assert.equal((await i.as.app.call("POST", "/v1/keys", { name: "to-export", type: "aes-256" })).status, 201);
    const pem = fakeRsa(8192).spkiPem;
    const r = await i.as.app.call("POST", "/v1/keys/to-export/export", { wrappingKey: { publicKey: pem } });
    assert.equal(r.status, 400);
    assert.equal(r.body.error.code, "key_not_accepted");
    assert.match(r.body.error.message, /4096/);
  });

  test("health answers within 2 s while 4 clients run RSA-4096 Sign and Decrypt batches", async () => {
    const p = await kmip.ok(V14, "CreateKeyPair", [
      struct(
        Tag.CommonTemplateAttribute,
        attr1x("Cryptographic Algorithm", enm(Tag.CryptographicAlgorithm, Enum.CryptographicAlgorithm.RSA)),
        attr1x("Cryptographic Length", int(Tag.CryptographicLength, 4096)),
        attr1x("Activation Date", dateTime(Tag.ActivationDate, new Date(i.clock.now().getTime() - 3600_000))),
      ),
      struct(
        Tag.PrivateKeyTemplateAttribute,
        attr1x("Cryptographic Usage Mask", int(Tag.CryptographicUsageMask, U.Sign | U.Decrypt | U.Encrypt)),
      ),
      struct(Tag.PublicKeyTemplateAttribute, attr1x("Cryptographic Usage Mask", int(Tag.CryptographicUsageMask, U.Verify | U.Encrypt))),
    ]);
    const priv = String(find(p, Tag.PrivateKeyUniqueIdentifier)?.value);
    const oaep = struct(
      Tag.CryptographicParameters,
      enm(Tag.PaddingMethod, Enum.PaddingMethod.OAEP),
      enm(Tag.HashingAlgorithm, Enum.HashingAlgorithm.SHA_256),
    );
    const ct = find(await kmip.ok(V21, "Encrypt", [uid(priv), oaep, bytes(Tag.Data, Buffer.from("secret"))]), Tag.Data)?.value as Buffer;
    const pss = struct(
      Tag.CryptographicParameters,
      enm(Tag.PaddingMethod, Enum.PaddingMethod.PSS),
      enm(Tag.HashingAlgorithm, Enum.HashingAlgorithm.SHA_256),
    );
    const clients = await Promise.all([0, 1, 2, 3].map(() => KmipClient.open(i.server.kmipPort, i.bundle("app"))));
    try {
      const batch: [keyof typeof Enum.Operation, TtlvItem[]][] = [];
      for (let n = 0; n < 20; n++) {
        batch.push(["Sign", [uid(priv), pss, bytes(Tag.Data, randomBytes(32))]]);
        batch.push(["Decrypt", [uid(priv), oaep, bytes(Tag.Data, ct)]]);
      }
      const work = Promise.all(clients.map(async (c) => (await c.call(V21, batch)).concat(await c.call(V21, batch))));
      const { result, worst, polls } = await liveDuring(i, work);
      for (const rs of result) for (const r of rs) assert.equal(r.status, Enum.ResultStatus.Success, r.message);
      assert.ok(polls >= 1);
      console.log(`# RSA-4096: ${result.flat().length} operations, health worst ${worst} ms over ${polls} polls`);
    } finally {
      for (const c of clients) c.close();
    }
  });

  test("RNG Retrieve: more than 64 KiB in one item is Invalid Field", async () => {
    const [r] = await kmip.call(V21, [["RNGRetrieve", [int(Tag.DataLength, 64 * 1024 + 1)]]]);
    assert.equal(r.status, Enum.ResultStatus.OperationFailed);
    assert.equal(r.reason, Enum.ResultReason.InvalidField);
    const [ok] = await kmip.call(V21, [["RNGRetrieve", [int(Tag.DataLength, 64 * 1024)]]]);
    assert.equal(((find(ok.payload as TtlvItem, Tag.Data) as TtlvItem).value as Buffer).length, 64 * 1024);
  });

  test("1,000 x RNG Retrieve: the response stays within limits.maxResponseBytes, the item crossing it and the rest are Response Too Large", async () => {
    const items: [keyof typeof Enum.Operation, TtlvItem[]][] = Array.from({ length: 1000 }, () => [
      "RNGRetrieve",
      [int(Tag.DataLength, 64 * 1024)],
    ]);
    const frame = await kmip.sendRaw(encodeTtlv(kmipRequest(V21, items, [CONTINUE])));
    assert.ok(frame.length > 0 && frame.length <= MAX_RESPONSE, `response of ${frame.length} bytes`);
    const rs = results(decodeTtlv(frame));
    assert.equal(rs.length, 1000);
    const first = rs.findIndex((r) => r.status !== Enum.ResultStatus.Success);
    assert.ok(first > 0 && first < 20, `first refused item ${first}`);
    for (const r of rs.slice(first)) assert.equal(r.reason, Enum.ResultReason.ResponseTooLarge);
    // The same over POST /kmip in KMIP JSON (bounded in that encoding's bytes).
    const body = ttlvToJson(kmipRequest(V21, items.slice(0, 100), [CONTINUE]));
    const http = await i.as.app.call("POST", "/kmip", body, { "content-type": "application/json" });
    assert.equal(http.status, 200);
    assert.ok(Buffer.byteLength(JSON.stringify(http.body)) <= MAX_RESPONSE);
  });

  test("Locate without Maximum Items returns at most limits.kmipLocateMaxItems ids and reports Located Items", async () => {
    const create: [keyof typeof Enum.Operation, TtlvItem[]][] = Array.from({ length: LOCATE_CAP + 20 }, () => [
      "Create",
      [
        enm(Tag.ObjectType, Enum.ObjectType.SymmetricKey),
        struct(Tag.Attributes, enm(Tag.CryptographicAlgorithm, Enum.CryptographicAlgorithm.AES), int(Tag.CryptographicLength, 128)),
      ],
    ]);
    for (const r of await kmip.call(V21, create)) assert.equal(r.status, Enum.ResultStatus.Success);
    const [loc] = await kmip.call(V21, [["Locate", [struct(Tag.Attributes, enm(Tag.ObjectType, Enum.ObjectType.SymmetricKey))]]]);
    assert.equal(findAll(loc.payload as TtlvItem, Tag.UniqueIdentifier).length, LOCATE_CAP);
    assert.ok(Number(find(loc.payload as TtlvItem, Tag.LocatedItems)?.value) >= LOCATE_CAP + 20);
    // A client Maximum Items above the cap gets the cap; Offset Items pages on.
    const [big] = await kmip.call(V21, [
      ["Locate", [int(Tag.MaximumItems, 100_000), struct(Tag.Attributes, enm(Tag.ObjectType, Enum.ObjectType.SymmetricKey))]],
    ]);
    assert.equal(findAll(big.payload as TtlvItem, Tag.UniqueIdentifier).length, LOCATE_CAP);
    const [next] = await kmip.call(V21, [
      ["Locate", [int(Tag.OffsetItems, LOCATE_CAP), struct(Tag.Attributes, enm(Tag.ObjectType, Enum.ObjectType.SymmetricKey))]],
    ]);
    assert.ok(findAll(next.payload as TtlvItem, Tag.UniqueIdentifier).length >= 20);
  });

  test("the response memory budget: while replies hold it, further items get General Failure (retry) and are not run", async () => {
    const kmipHandler = i.server.kmipHandler;
    const auth = { actor: { role: "client", cn: "app", ou: "", serial: "x", groups: [] }, requestId: "t" } as never;
    const items: [keyof typeof Enum.Operation, TtlvItem[]][] = Array.from({ length: 15 }, () => [
      "RNGRetrieve",
      [int(Tag.DataLength, 64 * 1024)],
    ]);
    const msg = encodeTtlv(kmipRequest(V21, items, [CONTINUE]));
    // Four replies of ~1 MiB fill the 4 MiB budget as long as they are not released (not yet written).
    const held = [];
    for (let n = 0; n < 4; n++) held.push(await kmipHandler.reply(auth, msg, "ttlv"));
    const fifth = await kmipHandler.reply(auth, msg, "ttlv");
    const rs = results(decodeTtlv(fifth.bytes));
    assert.ok(rs.some((r) => r.reason === Enum.ResultReason.GeneralFailure && /retry/.test(r.message ?? "")));
    for (const h of [...held, fifth]) h.release();
    const again = await kmipHandler.reply(auth, msg, "ttlv");
    const ok = results(decodeTtlv(again.bytes));
    again.release();
    assert.ok(
      ok.every((r) => r.status === Enum.ResultStatus.Success),
      "released budget serves again",
    );
  });

  test("4 parallel amplification requests: health stays live and RSS stays bounded", async () => {
    const items: [keyof typeof Enum.Operation, TtlvItem[]][] = Array.from({ length: 1000 }, () => [
      "RNGRetrieve",
      [int(Tag.DataLength, 64 * 1024)],
    ]);
    const msg = encodeTtlv(kmipRequest(V21, items, [CONTINUE]));
    const clients = await Promise.all([0, 1, 2, 3].map(() => KmipClient.open(i.server.kmipPort, i.bundle("app"))));
    const rss0 = process.memoryUsage().rss;
    let peak = rss0;
    const sampler = setInterval(() => {
      peak = Math.max(peak, process.memoryUsage().rss);
    }, 20);
    try {
      const work = Promise.all(clients.map(async (c) => [await c.sendRaw(msg), await c.sendRaw(msg)]));
      const { result, worst } = await liveDuring(i, work);
      for (const f of result.flat()) assert.ok(f.length > 0 && f.length <= MAX_RESPONSE);
      const grew = (peak - rss0) / 1024 / 1024;
      console.log(
        `# amplification: 8 requests of 1,000 x 64 KiB, health worst ${worst} ms, RSS ${Math.round(rss0 / 2 ** 20)} MB -> peak +${grew.toFixed(0)} MB`,
      );
      // Generous: unbounded, these 8 requests would have asked for 512 MB of response.
      assert.ok(grew < 200, `RSS grew by ${grew.toFixed(0)} MB`);
    } finally {
      clearInterval(sampler);
      for (const c of clients) c.close();
    }
  });
});
