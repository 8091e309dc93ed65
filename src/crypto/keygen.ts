// Key types and generation of new key material (node:crypto only).
import { createPrivateKey, createPublicKey, generateKeyPair, type KeyObject, randomBytes } from "node:crypto";
import { promisify } from "node:util";
import { fail } from "../errors/registry.js";
import { checkGeneration } from "./key-limits.js";

const generateKeyPairAsync = promisify(generateKeyPair);

export const KEY_TYPES = [
  "aes-128",
  "aes-192",
  "aes-256",
  "rsa-2048",
  "rsa-3072",
  "rsa-4096",
  "ec-p256",
  "ec-p384",
  "hmac-sha256",
  "hmac-sha384",
  "hmac-sha512",
] as const;
export type KeyType = (typeof KEY_TYPES)[number];
export type KeyFamily = "aes" | "rsa" | "ec" | "hmac";

export const keyFamily = (t: KeyType): KeyFamily => t.split("-")[0] as KeyFamily;

/** HMAC-SHA1/224 keys (KMIP only) are sized by their digest. */
const hmacBytes = (t: string): number | undefined => ({ "hmac-sha1": 20, "hmac-sha224": 28 })[t];

/** Bits of a symmetric key / modulus / curve, as KMIP's Cryptographic Length. */
export function keyBits(t: KeyType): number {
  switch (t) {
    case "ec-p256":
      return 256;
    case "ec-p384":
      return 384;
    case "ec-p521" as KeyType:
      return 521;
    default:
      return Number(t.split("-")[1].replace("sha", ""));
  }
}

export interface GeneratedKey {
  /** Secret material: raw bytes (AES, HMAC) or PKCS#8 DER (RSA, EC). Caller zeroes it. */
  secret: Buffer;
  /** SubjectPublicKeyInfo DER for asymmetric keys. */
  publicKey: Buffer | null;
}

/** Largest symmetric key generated (HMAC-SHA-512's 512 bits): a re-key of a registered "aes-<huge>" type stays small. */
const MAX_SYMMETRIC_BITS = 512;

/**
 * Generates material for type `t` (REST types, and the KMIP types canGenerate admits or a re-key repeats). Key pairs
 * are generated off the event loop (async generateKeyPair) and within the sizes of key-limits.ts.
 */
export async function generateKey(t: KeyType): Promise<GeneratedKey> {
  const fam = keyFamily(t);
  if (fam === "aes" || fam === "hmac") return { secret: randomBytes(hmacBytes(t) ?? keyBits(t) / 8), publicKey: null };
  // Other symmetric algorithms KMIP clients may ask for (3DES, ChaCha20, Camellia): random bytes.
  if (fam === ("des3" as KeyFamily)) return { secret: randomBytes(24), publicKey: null };
  if (fam !== "rsa" && fam !== "ec") {
    const bits = Number(t.split("-")[1]);
    // Asymmetric algorithms without a generator here (DSA, …) must not get random bytes as a "key".
    if (fam === ("dsa" as KeyFamily) || !Number.isInteger(bits) || bits < 8 || bits > MAX_SYMMETRIC_BITS || bits % 8 !== 0)
      fail("feature_not_supported", { detail: `cannot generate ${t} keys` });
    return { secret: randomBytes(bits / 8), publicKey: null };
  }
  const curve = { "ec-p256": "P-256", "ec-p384": "P-384", "ec-p521": "P-521" }[t as string] ?? "";
  checkGeneration(fam, fam === "rsa" ? keyBits(t) : curve);
  const pair =
    fam === "rsa"
      ? await generateKeyPairAsync("rsa", { modulusLength: keyBits(t), publicExponent: 0x10001 })
      : await generateKeyPairAsync("ec", { namedCurve: curve });
  return {
    secret: pair.privateKey.export({ type: "pkcs8", format: "der" }),
    publicKey: pair.publicKey.export({ type: "spki", format: "der" }),
  };
}

export const privateKeyFromDer = (der: Buffer): KeyObject => createPrivateKey({ key: der, format: "der", type: "pkcs8" });
export const publicKeyFromDer = (der: Buffer): KeyObject => createPublicKey({ key: der, format: "der", type: "spki" });
