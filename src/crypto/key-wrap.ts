// Key wrapping for export and BYOK import: AES Key Wrap with Padding (RFC 5649) and RSA-AES key wrap (PKCS#11 CKM_RSA_AES_KEY_WRAP), over the shared primitives.
import { type KeyObject, randomBytes } from "node:crypto";
import { type RsaEncryption, rsaDecrypt, rsaEncrypt } from "./rsa-cipher.js";
import { symmetricOneShot } from "./sym-cipher.js";

/** RSA-OAEP with SHA-256 and MGF1-SHA-256, no label: the RSA part of rsa-aes-kwp. */
const OAEP_SHA256: RsaEncryption = { padding: "oaep", hash: "sha256", mgfHash: "sha256" };

/** AES Key Wrap with Padding (RFC 5649, its standard integrity check value) of `plain` under `kek` (16, 24 or 32 bytes). */
export function kwpWrap(kek: Buffer, plain: Buffer): Buffer {
  return symmetricOneShot({ dir: "encrypt", key: kek, params: { cipher: "aes", mode: "kwp" } }, plain).data;
}

/** Inverse of kwpWrap; throws when the integrity check fails (wrong key or altered ciphertext). */
export function kwpUnwrap(kek: Buffer, wrapped: Buffer): Buffer {
  return symmetricOneShot({ dir: "decrypt", key: kek, params: { cipher: "aes", mode: "kwp" } }, wrapped).data;
}

/** CKM_RSA_AES_KEY_WRAP: a random AES-256 key wraps `plain` (KWP) and is itself RSA-OAEP-SHA-256 encrypted; RSA part first. */
export function rsaAesWrap(pub: KeyObject, plain: Buffer): Buffer {
  const ephemeral = randomBytes(32);
  try {
    return Buffer.concat([rsaEncrypt(pub, OAEP_SHA256, ephemeral), kwpWrap(ephemeral, plain)]);
  } finally {
    ephemeral.fill(0);
  }
}

/**
 * Inverse of rsaAesWrap. Every failure — wrong length, OAEP decoding, KWP integrity — ends in the same
 * KWP failure (an OAEP failure continues with a random AES key), so a caller cannot tell which part was
 * wrong: no padding oracle on the import key. The RSA private operation runs off the event loop.
 */
export async function rsaAesUnwrap(priv: KeyObject, blob: Buffer): Promise<Buffer> {
  const modulus = (priv.asymmetricKeyDetails?.modulusLength ?? 0) / 8;
  if (blob.length < modulus + 16 || (blob.length - modulus) % 8 !== 0) throw new Error("wrapped key has the wrong length");
  let aes: Buffer;
  try {
    // OAEP needs no key secret (that is PKCS#1 v1.5's implicit rejection).
    aes = await rsaDecrypt(priv, Buffer.alloc(0), OAEP_SHA256, blob.subarray(0, modulus));
    if (![16, 24, 32].includes(aes.length)) {
      aes.fill(0);
      aes = randomBytes(32);
    }
  } catch {
    aes = randomBytes(32);
  }
  try {
    return kwpUnwrap(aes, blob.subarray(modulus));
  } finally {
    aes.fill(0);
  }
}
