// Message authentication codes with plain parameters: HMAC (SHA-1, SHA-2, SHA-3) and AES-CMAC, and their constant-time verification.
import { createCipheriv, createHmac, timingSafeEqual } from "node:crypto";
import { fail } from "../errors/registry.js";

/** A MAC algorithm; `hash` is node:crypto's name ("sha256"). */
export type MacAlgorithm = { kind: "hmac"; hash: string } | { kind: "cmac" };

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

/** AES-CMAC (RFC 4493, NIST SP 800-38B) over node:crypto's AES: node:crypto has no CMAC. */
export function aesCmac(key: Buffer, data: Buffer): Buffer {
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

/** The MAC of `data` under `key`. */
export function computeMac(key: Buffer, alg: MacAlgorithm, data: Buffer): Buffer {
  return alg.kind === "cmac" ? aesCmac(key, data) : createHmac(alg.hash, key).update(data).digest();
}

/** Whether `mac` is the MAC of `data` under `key`, compared in constant time. */
export function verifyMac(key: Buffer, alg: MacAlgorithm, data: Buffer, mac: Buffer): boolean {
  const expected = computeMac(key, alg, data);
  const valid = mac.length === expected.length && timingSafeEqual(mac, expected);
  expected.fill(0);
  return valid;
}
