// RSA encryption for KMIP Encrypt/Decrypt: OAEP (any SHA-1/2/3 hash, MGF1 hash and P Source label) and PKCS#1 v1.5.
import { constants, type KeyObject, publicEncrypt } from "node:crypto";
import { rsaPrivate } from "../../crypto/offload.js";
import { fail } from "../../errors/registry.js";
import { Enum } from "../codec/tables.js";
import { Tag } from "../codec/ttlv.js";
import { type CryptoParams, hashBytes, hashName, name } from "./crypto-params.js";
import { modulusBytes, oaepDecrypt, oaepEncrypt, pkcs1Decrypt } from "./rsa-padding.js";

const P = Enum.PaddingMethod;

interface RsaScheme {
  padding: "oaep" | "pkcs1";
  hash: string;
  mgfHash: string;
  label?: Buffer;
}

/**
 * The RSA scheme the parameters name. Without a Hashing Algorithm OAEP uses RFC 8017's default,
 * SHA-1. The MGF1 hash defaults to the OAEP hash, as in OpenSSL, PyKMIP and the OASIS vectors
 * (CS-AC-M-2 verifies a PSS signature made with MGF1-SHA-256 and names no Mask Generator Hashing
 * Algorithm), although the Cryptographic Parameters table reads "if omitted defaults to SHA-1".
 */
function scheme(p: CryptoParams): RsaScheme {
  if (p.algorithm !== undefined && p.algorithm !== Enum.CryptographicAlgorithm.RSA) {
    fail("crypto_params", { detail: `Cryptographic Algorithm ${name(Tag.CryptographicAlgorithm, p.algorithm)} does not match an RSA key` });
  }
  if (p.padding === undefined) return fail("crypto_params", { detail: "Padding Method (OAEP or PKCS1 v1.5) is required for RSA" });
  if (p.padding === P.PKCS1V1_5) return { padding: "pkcs1", hash: "", mgfHash: "" };
  if (p.padding !== P.OAEP)
    return fail("not_supported", { detail: `Padding Method ${name(Tag.PaddingMethod, p.padding)} is not supported for RSA encryption` });
  if (p.maskGenerator !== undefined && p.maskGenerator !== Enum.MaskGenerator.MGF1)
    fail("not_supported", { detail: "only the MGF1 mask generator is supported" });
  const hash = hashName(p.hash ?? Enum.HashingAlgorithm.SHA_1);
  const mgfHash = hashName(p.mgfHash ?? p.hash ?? Enum.HashingAlgorithm.SHA_1, "Mask Generator Hashing Algorithm");
  return { padding: "oaep", hash, mgfHash, label: p.pSource };
}

export function rsaEncrypt(pub: KeyObject, p: CryptoParams, data: Buffer): Buffer {
  const s = scheme(p);
  const k = modulusBytes(pub);
  if (s.padding === "pkcs1") {
    if (data.length > k - 11) fail("crypto_params", { detail: `RSA PKCS#1 v1.5 with this key encrypts at most ${k - 11} bytes` });
    return publicEncrypt({ key: pub, padding: constants.RSA_PKCS1_PADDING }, data);
  }
  if (s.hash !== s.mgfHash) return oaepEncrypt(pub, data, s.hash, s.mgfHash, s.label);
  const max = k - 2 * hashBytes(s.hash) - 2;
  if (data.length > max) fail("crypto_params", { detail: `RSA-OAEP with this key and hash encrypts at most ${Math.max(max, 0)} bytes` });
  return publicEncrypt({ key: pub, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: s.hash, oaepLabel: s.label }, data);
}

/**
 * Every decryption failure is one Cryptographic Failure, whatever went wrong; PKCS#1 v1.5 uses
 * implicit rejection keyed by `keySecret` (the private key's PKCS#8 DER).
 */
export async function rsaDecrypt(priv: KeyObject, keySecret: Buffer, p: CryptoParams, data: Buffer): Promise<Buffer> {
  const s = scheme(p);
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
