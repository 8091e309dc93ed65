// RSA encryption parameters for KMIP Encrypt/Decrypt: Cryptographic Parameters → the scheme src/crypto/rsa-cipher.ts runs (OAEP or PKCS#1 v1.5).
import type { RsaEncryption } from "../../crypto/rsa-cipher.js";
import { fail } from "../../errors/registry.js";
import { Enum } from "../codec/tables.js";
import { Tag } from "../codec/ttlv.js";
import { type CryptoParams, hashName, name } from "./crypto-params.js";

const P = Enum.PaddingMethod;

/**
 * The RSA scheme the parameters name. Without a Hashing Algorithm OAEP uses RFC 8017's default,
 * SHA-1. The MGF1 hash defaults to the OAEP hash, as in OpenSSL, PyKMIP and the OASIS vectors
 * (CS-AC-M-2 verifies a PSS signature made with MGF1-SHA-256 and names no Mask Generator Hashing
 * Algorithm), although the Cryptographic Parameters table reads "if omitted defaults to SHA-1".
 */
export function rsaScheme(p: CryptoParams): RsaEncryption {
  if (p.algorithm !== undefined && p.algorithm !== Enum.CryptographicAlgorithm.RSA) {
    fail("crypto_params", { detail: `Cryptographic Algorithm ${name(Tag.CryptographicAlgorithm, p.algorithm)} does not match an RSA key` });
  }
  if (p.padding === undefined) return fail("crypto_params", { detail: "Padding Method (OAEP or PKCS1 v1.5) is required for RSA" });
  if (p.padding === P.PKCS1V1_5) return { padding: "pkcs1" };
  if (p.padding !== P.OAEP)
    return fail("not_supported", { detail: `Padding Method ${name(Tag.PaddingMethod, p.padding)} is not supported for RSA encryption` });
  if (p.maskGenerator !== undefined && p.maskGenerator !== Enum.MaskGenerator.MGF1)
    fail("not_supported", { detail: "only the MGF1 mask generator is supported" });
  const hash = hashName(p.hash ?? Enum.HashingAlgorithm.SHA_1);
  const mgfHash = hashName(p.mgfHash ?? p.hash ?? Enum.HashingAlgorithm.SHA_1, "Mask Generator Hashing Algorithm");
  return { padding: "oaep", hash, mgfHash, label: p.pSource };
}
