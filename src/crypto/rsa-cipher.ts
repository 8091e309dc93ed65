// RSA encryption with plain parameters: OAEP (any SHA-1/2/3 hash, MGF1 hash and label) and PKCS#1 v1.5; private-key work off the event loop.
import { constants, type KeyObject, publicEncrypt } from "node:crypto";
import { fail } from "../errors/registry.js";
import { hashBytes } from "./digest.js";
import { rsaPrivate } from "./offload.js";
import { modulusBytes, oaepDecrypt, oaepEncrypt, pkcs1Decrypt } from "./rsa-padding.js";

/** An RSA encryption scheme; hash names are node:crypto's ("sha256"). */
export type RsaEncryption = { padding: "pkcs1" } | { padding: "oaep"; hash: string; mgfHash: string; label?: Buffer };

/** Encrypts `data` with the public key; data longer than the scheme allows is refused (crypto_params). */
export function rsaEncrypt(pub: KeyObject, s: RsaEncryption, data: Buffer): Buffer {
  const k = modulusBytes(pub);
  if (s.padding === "pkcs1") {
    if (data.length > k - 11) fail("crypto_params", { detail: `RSA PKCS#1 v1.5 with this key encrypts at most ${k - 11} bytes` });
    return publicEncrypt({ key: pub, padding: constants.RSA_PKCS1_PADDING }, data);
  }
  // node:crypto's oaepHash is also the MGF1 hash: a different MGF1 hash needs the hand-written encoding.
  if (s.hash !== s.mgfHash) return oaepEncrypt(pub, data, s.hash, s.mgfHash, s.label);
  const max = k - 2 * hashBytes(s.hash) - 2;
  if (data.length > max) fail("crypto_params", { detail: `RSA-OAEP with this key and hash encrypts at most ${Math.max(max, 0)} bytes` });
  return publicEncrypt({ key: pub, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: s.hash, oaepLabel: s.label }, data);
}

/**
 * Decrypts with the private key. Every failure is one decrypt_failed, whatever went wrong; PKCS#1 v1.5 uses implicit
 * rejection keyed by `keySecret` (the private key's PKCS#8 DER; rsa-padding.ts).
 */
export async function rsaDecrypt(priv: KeyObject, keySecret: Buffer, s: RsaEncryption, data: Buffer): Promise<Buffer> {
  if (s.padding === "pkcs1") return pkcs1Decrypt(priv, data, keySecret);
  if (s.hash !== s.mgfHash) return oaepDecrypt(priv, data, s.hash, s.mgfHash, s.label);
  try {
    // Off the event loop (offload.ts), like every RSA private-key operation.
    return await rsaPrivate({
      fn: "decrypt",
      key: priv,
      padding: constants.RSA_PKCS1_OAEP_PADDING,
      oaepHash: s.hash,
      oaepLabel: s.label,
      data,
    });
  } catch {
    return fail("decrypt_failed");
  }
}
