// AES-256-GCM sealing of small secrets (KEKs, key material) with bound additional data.
import { createCipheriv, createDecipheriv } from "node:crypto";
import { randomIv } from "./random-pool.js";

const NONCE = 12;
const TAG = 16;

/** Returns nonce || ciphertext || tag. */
export function seal(key: Buffer, plaintext: Buffer, aad: Buffer | string): Buffer {
  const nonce = randomIv(NONCE);
  const c = createCipheriv("aes-256-gcm", key, nonce);
  c.setAAD(typeof aad === "string" ? Buffer.from(aad) : aad);
  const ct = Buffer.concat([c.update(plaintext), c.final()]);
  return Buffer.concat([nonce, ct, c.getAuthTag()]);
}

/** Inverse of seal; throws if the key, data or AAD do not match. */
export function open(key: Buffer, sealed: Buffer, aad: Buffer | string): Buffer {
  if (sealed.length < NONCE + TAG) throw new Error("sealed value too short");
  const d = createDecipheriv("aes-256-gcm", key, sealed.subarray(0, NONCE));
  d.setAAD(typeof aad === "string" ? Buffer.from(aad) : aad);
  d.setAuthTag(sealed.subarray(sealed.length - TAG));
  return Buffer.concat([d.update(sealed.subarray(NONCE, sealed.length - TAG)), d.final()]);
}
