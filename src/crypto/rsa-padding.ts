// Hand-written RSA encodings, only where node:crypto cannot express the parameters: OAEP and PSS with an MGF1 hash other than the message hash, PKCS#1 v1.5 decryption with implicit rejection, PKCS#1 v1.5 and PSS signatures of a given digest.
import { constants, createHash, createHmac, type KeyObject, publicDecrypt, publicEncrypt, randomBytes, timingSafeEqual } from "node:crypto";
import { fail } from "../errors/registry.js";
import { hashBytes } from "./digest.js";
import { rsaPrivate } from "./offload.js";

/*
 * Why by hand (everything else goes through node:crypto directly, see rsa-cipher.ts and signature.ts):
 * - OAEP: node's `oaepHash` sets the label hash and the MGF1 hash together; KMIP's Mask Generator Hashing Algorithm
 *   may differ (OASIS CS-AC-M-OAEP-8: SHA-384 with MGF1-SHA-256).
 * - PSS: node's sign/verify have no MGF1 hash option and always hash the data themselves.
 * - PKCS#1 v1.5 signatures of Digested Data: node hashes the data itself; here the caller's digest is wrapped in its
 *   DigestInfo and signed with the raw primitive.
 * - PKCS#1 v1.5 decryption: node 20 refuses RSA_PKCS1_PADDING for private decryption (Marvin); implicit rejection
 *   keeps it usable without a padding oracle.
 * Each is cross-tested against the `openssl` command line in test/crypto-rsa-padding.test.ts. The raw private-key
 * operation runs off the event loop (offload.ts).
 */

const NO_PADDING = constants.RSA_NO_PADDING;

export const modulusBytes = (k: KeyObject): number => Math.ceil((k.asymmetricKeyDetails?.modulusLength ?? 0) / 8);
const modulusBits = (k: KeyObject): number => k.asymmetricKeyDetails?.modulusLength ?? 0;

/** MGF1 (RFC 8017 B.2.1). */
function mgf1(seed: Buffer, length: number, hash: string): Buffer {
  const out: Buffer[] = [];
  const counter = Buffer.alloc(4);
  for (let i = 0, got = 0; got < length; i++) {
    counter.writeUInt32BE(i);
    const h = createHash(hash).update(seed).update(counter).digest();
    out.push(h);
    got += h.length;
  }
  return Buffer.concat(out).subarray(0, length);
}

function xorInto(a: Buffer, b: Buffer): Buffer {
  const r = Buffer.alloc(a.length);
  for (let i = 0; i < a.length; i++) r[i] = a[i] ^ b[i];
  return r;
}

/** Fits `em` to the modulus length for the raw RSA operation (left zero padding). */
const toModulus = (em: Buffer, k: number): Buffer => (em.length === k ? em : Buffer.concat([Buffer.alloc(k - em.length), em]));

/** RSAES-OAEP encryption (RFC 8017 §7.1.1) with its own MGF1 hash. */
export function oaepEncrypt(pub: KeyObject, data: Buffer, hash: string, mgfHash: string, label: Buffer = Buffer.alloc(0)): Buffer {
  const k = modulusBytes(pub);
  const hLen = hashBytes(hash);
  if (data.length > k - 2 * hLen - 2)
    fail("crypto_params", { detail: `RSA-OAEP with this key and hash encrypts at most ${k - 2 * hLen - 2} bytes` });
  const lHash = createHash(hash).update(label).digest();
  const db = Buffer.concat([lHash, Buffer.alloc(k - data.length - 2 * hLen - 2), Buffer.from([1]), data]);
  const seed = randomBytes(hLen);
  const maskedDb = xorInto(db, mgf1(seed, k - hLen - 1, mgfHash));
  const maskedSeed = xorInto(seed, mgf1(maskedDb, hLen, mgfHash));
  db.fill(0);
  const em = Buffer.concat([Buffer.from([0]), maskedSeed, maskedDb]);
  return publicEncrypt({ key: pub, padding: NO_PADDING }, em);
}

/** RSAES-OAEP decryption (RFC 8017 §7.1.2); every failure is the same single error. */
export async function oaepDecrypt(
  priv: KeyObject,
  ct: Buffer,
  hash: string,
  mgfHash: string,
  label: Buffer = Buffer.alloc(0),
): Promise<Buffer> {
  const k = modulusBytes(priv);
  const hLen = hashBytes(hash);
  if (ct.length !== k || k < 2 * hLen + 2) return fail("decrypt_failed");
  let em: Buffer;
  try {
    em = await rsaPrivate({ fn: "decrypt", key: priv, padding: NO_PADDING, data: ct });
  } catch {
    return fail("decrypt_failed");
  }
  em = toModulus(em, k);
  const maskedSeed = em.subarray(1, 1 + hLen);
  const maskedDb = em.subarray(1 + hLen);
  const seed = xorInto(maskedSeed, mgf1(maskedDb, hLen, mgfHash));
  const db = xorInto(maskedDb, mgf1(seed, k - hLen - 1, mgfHash));
  const lHash = createHash(hash).update(label).digest();
  // Scan without early exit: the position of the 0x01 separator and any bad byte are only
  // combined at the end.
  let bad = em[0] | (timingSafeEqual(db.subarray(0, hLen), lHash) ? 0 : 1);
  let found = 0;
  let index = 0;
  for (let i = hLen; i < db.length; i++) {
    const isOne = db[i] === 1 ? 1 : 0;
    const isZero = db[i] === 0 ? 1 : 0;
    const first = isOne & (found ^ 1);
    index = first ? i : index;
    found |= isOne;
    bad |= (found ^ 1) & (isZero ^ 1) & (isOne ^ 1);
  }
  bad |= found ^ 1;
  const out = Buffer.from(db.subarray(index + 1));
  db.fill(0);
  em.fill(0);
  if (bad !== 0) {
    out.fill(0);
    return fail("decrypt_failed");
  }
  return out;
}

/** PRF of the implicit-rejection construction: HMAC-SHA256 in counter mode, `bits` of output. */
function prf(key: Buffer, label: string, bits: number): Buffer {
  const out: Buffer[] = [];
  const len = Buffer.alloc(2);
  len.writeUInt16BE(bits);
  for (let i = 0, got = 0; got < bits / 8; i++) {
    const ctr = Buffer.alloc(2);
    ctr.writeUInt16BE(i);
    const h = createHmac("sha256", key).update(ctr).update(label).update(len).digest();
    out.push(h);
    got += h.length;
  }
  return Buffer.concat(out).subarray(0, bits / 8);
}

/**
 * RSAES-PKCS1-v1_5 decryption with implicit rejection (the construction of OpenSSL 3.2+ and
 * draft-irtf-cfrg-rsa-guidance, keyed from `keySecret`): a malformed padding yields a pseudo-random message derived
 * from the private key and the ciphertext instead of an error, so that the reply is no padding
 * oracle (Bleichenbacher/Marvin). node 20 refuses RSA_PKCS1_PADDING for private decryption.
 */
export async function pkcs1Decrypt(priv: KeyObject, ct: Buffer, keySecret: Buffer): Promise<Buffer> {
  const k = modulusBytes(priv);
  if (ct.length !== k || k < 11) return fail("decrypt_failed");
  let em: Buffer;
  try {
    em = toModulus(await rsaPrivate({ fn: "decrypt", key: priv, padding: NO_PADDING, data: ct }), k);
  } catch {
    return fail("decrypt_failed");
  }
  // The synthetic message, always computed. Its key derives from the private key's stored encoding
  // (`keySecret`, PKCS#8 DER) rather than from an exported private exponent, so that no copy of the
  // key lands in an immutable string.
  const dHash = createHash("sha256").update(keySecret).digest();
  const kdk = createHmac("sha256", dHash).update(ct).digest();
  dHash.fill(0);
  const lengths = prf(kdk, "length", 256 * 8);
  const synthetic = prf(kdk, "message", k * 8);
  const maxSep = k - 2 - 8;
  let mask = maxSep;
  for (let s = 1; s < 16; s <<= 1) mask |= mask >> s;
  let synLen = 0;
  for (let i = 0; i < lengths.length; i += 2) {
    const cand = lengths.readUInt16BE(i) & mask;
    synLen = cand < maxSep ? cand : synLen;
  }
  // The real message: 0x00 0x02 PS(≥ 8 non-zero bytes) 0x00 M.
  let good = (em[0] === 0 ? 1 : 0) & (em[1] === 2 ? 1 : 0);
  let found = 0;
  let zeroIndex = 0;
  for (let i = 2; i < k; i++) {
    const isZero = em[i] === 0 ? 1 : 0;
    const first = isZero & (found ^ 1);
    zeroIndex = first ? i : zeroIndex;
    found |= isZero;
  }
  good &= found & (zeroIndex >= 10 ? 1 : 0);
  const real = Buffer.from(em.subarray(zeroIndex + 1));
  const fake = Buffer.from(synthetic.subarray(k - synLen));
  em.fill(0);
  synthetic.fill(0);
  kdk.fill(0);
  if (good) {
    fake.fill(0);
    return real;
  }
  real.fill(0);
  return fake;
}

// ---- signatures over a given digest ----

/** DER DigestInfo prefixes (RFC 8017 §9.2 note 1) for EMSA-PKCS1-v1_5. */
const DIGEST_INFO: Record<string, string> = {
  sha1: "3021300906052b0e03021a05000414",
  sha224: "302d300d06096086480165030402040500041c",
  sha256: "3031300d060960864801650304020105000420",
  sha384: "3041300d060960864801650304020205000430",
  sha512: "3051300d060960864801650304020305000440",
  "sha512-224": "302d300d06096086480165030402050500041c",
  "sha512-256": "3031300d060960864801650304020605000420",
  "sha3-224": "302d300d06096086480165030402070500041c",
  "sha3-256": "3031300d060960864801650304020805000420",
  "sha3-384": "3041300d060960864801650304020905000430",
  "sha3-512": "3051300d060960864801650304020a05000440",
};

function digestInfo(hash: string, digest: Buffer): Buffer {
  const prefix = DIGEST_INFO[hash];
  if (!prefix) return fail("not_supported", { detail: `PKCS#1 v1.5 signatures with ${hash} are not supported` });
  if (digest.length !== hashBytes(hash)) fail("crypto_params", { detail: `Digested Data must be ${hashBytes(hash)} bytes for ${hash}` });
  return Buffer.concat([Buffer.from(prefix, "hex"), digest]);
}

/** RSASSA-PKCS1-v1_5 signature of a digest. */
export function pkcs1SignDigest(priv: KeyObject, hash: string, digest: Buffer): Promise<Buffer> {
  return rsaPrivate({ fn: "encrypt", key: priv, padding: constants.RSA_PKCS1_PADDING, data: digestInfo(hash, digest) });
}

export function pkcs1VerifyDigest(pub: KeyObject, hash: string, digest: Buffer, sig: Buffer): boolean {
  const expected = digestInfo(hash, digest);
  if (sig.length !== modulusBytes(pub)) return false;
  let got: Buffer;
  try {
    got = publicDecrypt({ key: pub, padding: constants.RSA_PKCS1_PADDING }, sig);
  } catch {
    return false;
  }
  return got.length === expected.length && timingSafeEqual(got, expected);
}

/** RSASSA-PSS signature of a digest (RFC 8017 §9.1.1 EMSA-PSS-ENCODE, then the raw RSA private operation). */
export function pssSignDigest(priv: KeyObject, hash: string, mgfHash: string, digest: Buffer, saltLength?: number): Promise<Buffer> {
  const hLen = hashBytes(hash);
  if (digest.length !== hLen) fail("crypto_params", { detail: `the digest must be ${hLen} bytes for ${hash}` });
  const emBits = modulusBits(priv) - 1;
  const emLen = Math.ceil(emBits / 8);
  const sLen = saltLength ?? hLen;
  if (emLen < hLen + sLen + 2) fail("crypto_params", { detail: "Salt Length is too long for this key and hash" });
  const salt = randomBytes(sLen);
  const h = createHash(hash).update(Buffer.alloc(8)).update(digest).update(salt).digest();
  const db = Buffer.concat([Buffer.alloc(emLen - sLen - hLen - 2), Buffer.from([1]), salt]);
  const maskedDb = xorInto(db, mgf1(h, emLen - hLen - 1, mgfHash));
  maskedDb[0] &= 0xff >> (8 * emLen - emBits);
  const em = Buffer.concat([maskedDb, h, Buffer.from([0xbc])]);
  return rsaPrivate({ fn: "encrypt", key: priv, padding: NO_PADDING, data: toModulus(em, modulusBytes(priv)) });
}

/** EMSA-PSS-VERIFY (RFC 8017 §9.1.2) of a digest; without a Salt Length the salt length is recovered. */
export function pssVerifyDigest(pub: KeyObject, hash: string, mgfHash: string, digest: Buffer, sig: Buffer, saltLength?: number): boolean {
  const hLen = hashBytes(hash);
  const k = modulusBytes(pub);
  if (digest.length !== hLen || sig.length !== k) return false;
  let m: Buffer;
  try {
    m = toModulus(publicDecrypt({ key: pub, padding: NO_PADDING }, sig), k);
  } catch {
    return false;
  }
  const emBits = modulusBits(pub) - 1;
  const emLen = Math.ceil(emBits / 8);
  if (k > emLen && m[0] !== 0) return false;
  const em = m.subarray(k - emLen);
  if (emLen < hLen + 2 || em[emLen - 1] !== 0xbc) return false;
  const maskedDb = em.subarray(0, emLen - hLen - 1);
  const h = em.subarray(emLen - hLen - 1, emLen - 1);
  const topBits = 8 * emLen - emBits;
  if (topBits > 0 && (maskedDb[0] & (0xff << (8 - topBits)) & 0xff) !== 0) return false;
  const db = xorInto(maskedDb, mgf1(h, emLen - hLen - 1, mgfHash));
  db[0] &= 0xff >> topBits;
  let sep = 0;
  while (sep < db.length && db[sep] === 0) sep++;
  if (sep >= db.length || db[sep] !== 1) return false;
  const salt = db.subarray(sep + 1);
  if (saltLength !== undefined && salt.length !== saltLength) return false;
  const h2 = createHash(hash).update(Buffer.alloc(8)).update(digest).update(salt).digest();
  return timingSafeEqual(h, h2);
}
