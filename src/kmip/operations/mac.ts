// KMIP MAC (KMIP 1.4 §4.33 and 2.x): HMAC-SHA1/SHA2/SHA3 and AES-CMAC with a symmetric key, one-shot or multi-part.
import { createCipheriv, createHmac } from "node:crypto";
import { fail } from "../../errors/registry.js";
import { Enum } from "../codec/tables.js";
import { bytes, Tag } from "../codec/ttlv.js";
import type { KmipCall, KmipOperation } from "../operation.js";
import { uidItem } from "./common.js";
import {
  type CryptoParams,
  effectiveParams,
  familyOf,
  name,
  optionalBytes,
  symmetricSecret,
  type UsableKey,
  useKey,
} from "./crypto-params.js";
import { runBuffered, type StreamStep, streamStep } from "./crypto-streams.js";

const A = Enum.CryptographicAlgorithm;

const HMACS: Record<number, string> = {
  [A.HMAC_SHA1]: "sha1",
  [A.HMAC_SHA224]: "sha224",
  [A.HMAC_SHA256]: "sha256",
  [A.HMAC_SHA384]: "sha384",
  [A.HMAC_SHA512]: "sha512",
  [A.HMAC_SHA3_224]: "sha3-224",
  [A.HMAC_SHA3_256]: "sha3-256",
  [A.HMAC_SHA3_384]: "sha3-384",
  [A.HMAC_SHA3_512]: "sha3-512",
};

export type MacAlgorithm = { kind: "hmac"; hash: string } | { kind: "cmac" };

/**
 * The MAC algorithm: the Cryptographic Algorithm of the Cryptographic Parameters (an HMAC, which
 * any symmetric key can key), Block Cipher Mode CMAC with an AES key, or else the key's own HMAC
 * algorithm.
 */
export function macAlgorithm(u: UsableKey, p: CryptoParams): MacAlgorithm {
  const family = familyOf(u.obj.type);
  const cmac = (): MacAlgorithm => {
    if (family !== "aes") fail("crypto_params", { detail: "CMAC needs an AES key" });
    return { kind: "cmac" };
  };
  if (p.algorithm !== undefined) {
    const h = HMACS[p.algorithm];
    if (h) return { kind: "hmac", hash: h };
    if (p.algorithm === A.AES && p.mode === Enum.BlockCipherMode.CMAC) return cmac();
    return fail("not_supported", { detail: `MAC with ${name(Tag.CryptographicAlgorithm, p.algorithm)} is not supported` });
  }
  if (p.mode === Enum.BlockCipherMode.CMAC) return cmac();
  const own = /^hmac-(sha.+)$/.exec(u.obj.type);
  if (own) return { kind: "hmac", hash: own[1] };
  return fail("crypto_params", {
    detail: `Cryptographic Algorithm (an HMAC) or Block Cipher Mode CMAC is required for a MAC with a ${u.obj.type} key`,
  });
}

function xor16(a: Buffer, b: Buffer): Buffer {
  const r = Buffer.alloc(16);
  for (let i = 0; i < 16; i++) r[i] = a[i] ^ b[i];
  return r;
}

/** The CMAC subkey doubling in GF(2^128) (RFC 4493 §2.3). */
function dbl(b: Buffer): Buffer {
  const out = Buffer.alloc(16);
  let carry = 0;
  for (let i = 15; i >= 0; i--) {
    out[i] = ((b[i] << 1) | carry) & 0xff;
    carry = b[i] >> 7;
  }
  if (b[0] & 0x80) out[15] ^= 0x87;
  return out;
}

/** AES-CMAC (RFC 4493, NIST SP 800-38B) over node:crypto's AES. */
function aesCmac(key: Buffer, data: Buffer): Buffer {
  const bits = key.length * 8;
  if (![128, 192, 256].includes(bits)) fail("crypto_params", { detail: "an AES key must be 128, 192 or 256 bits" });
  const ecb = createCipheriv(`aes-${bits}-ecb`, key, null);
  ecb.setAutoPadding(false);
  const l = ecb.update(Buffer.alloc(16));
  const k1 = dbl(l);
  const k2 = dbl(k1);
  const n = Math.max(1, Math.ceil(data.length / 16));
  const lastStart = (n - 1) * 16;
  const complete = data.length > 0 && data.length % 16 === 0;
  const tail = Buffer.alloc(16);
  data.copy(tail, 0, lastStart);
  if (!complete) tail[data.length - lastStart] = 0x80;
  const last = xor16(tail, complete ? k1 : k2);
  const cbc = createCipheriv(`aes-${bits}-cbc`, key, Buffer.alloc(16));
  cbc.setAutoPadding(false);
  const out = Buffer.concat([cbc.update(data.subarray(0, lastStart)), cbc.update(last), cbc.final()]);
  for (const b of [l, k1, k2, tail, last]) b.fill(0);
  return Buffer.from(out.subarray(out.length - 16));
}

export function computeMac(key: Buffer, alg: MacAlgorithm, data: Buffer): Buffer {
  return alg.kind === "cmac" ? aesCmac(key, data) : createHmac(alg.hash, key).update(data).digest();
}

export function macInput(c: KmipCall, step: StreamStep): Buffer {
  const data = optionalBytes(c, Tag.Data, "Data");
  if (!data && step.kind !== "continue") fail("validation", { detail: "Data missing" });
  return data ?? Buffer.alloc(0);
}

export const mac: KmipOperation = {
  name: "MAC",
  async handle(c) {
    const step = streamStep(c);
    // MAC generation protects: an Active key with MAC Generate usage.
    const u = await useKey(c, "hmac", "MACGenerate", "protect");
    const key = symmetricSecret(u, "MAC");
    return runBuffered(
      c,
      "MAC",
      u.id,
      step,
      macInput(c, step),
      () => macAlgorithm(u, effectiveParams(c, u.obj)),
      (alg, all) => [uidItem(u.id), bytes(Tag.MACData, computeMac(key, alg, all))],
      [uidItem(u.id)],
    );
  },
};
