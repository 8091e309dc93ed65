// Key types and generation of new key material (node:crypto only).
import { createPrivateKey, createPublicKey, generateKeyPair, type KeyObject, randomBytes } from "node:crypto";
import { promisify } from "node:util";

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

export async function generateKey(t: KeyType): Promise<GeneratedKey> {
  const fam = keyFamily(t);
  if (fam === "aes" || fam === "hmac") return { secret: randomBytes(hmacBytes(t) ?? keyBits(t) / 8), publicKey: null };
  // Other symmetric algorithms KMIP clients may ask for (3DES, ChaCha20, Camellia): random bytes.
  if (fam === ("des3" as KeyFamily)) return { secret: randomBytes(24), publicKey: null };
  if (fam !== "rsa" && fam !== "ec") return { secret: randomBytes(Number(t.split("-")[1]) / 8), publicKey: null };
  const pair =
    fam === "rsa"
      ? await generateKeyPairAsync("rsa", { modulusLength: keyBits(t), publicExponent: 0x10001 })
      : await generateKeyPairAsync("ec", { namedCurve: { "ec-p256": "P-256", "ec-p384": "P-384" }[t as string] ?? "P-521" });
  return {
    secret: pair.privateKey.export({ type: "pkcs8", format: "der" }),
    publicKey: pair.publicKey.export({ type: "spki", format: "der" }),
  };
}

export const privateKeyFromDer = (der: Buffer): KeyObject => createPrivateKey({ key: der, format: "der", type: "pkcs8" });
export const publicKeyFromDer = (der: Buffer): KeyObject => createPublicKey({ key: der, format: "der", type: "spki" });
