// The one rule for which asymmetric keys the server accepts (size, curve, exponent) and the consistency check of a private key.
import { createPublicKey, type KeyObject, verify } from "node:crypto";
import { PrivateKeyInfo } from "@peculiar/asn1-pkcs8";
import { RSAPrivateKey, RSAPublicKey } from "@peculiar/asn1-rsa";
import { AsnConvert } from "@peculiar/asn1-schema";
import { SubjectPublicKeyInfo } from "@peculiar/asn1-x509";
import { fail, isStrongroomError } from "../errors/registry.js";
import { signAsync } from "./offload.js";

/**
 * Where a key comes from decides the range; the ceiling is what keeps one request from occupying a CPU for seconds
 * (an RSA private operation grows with the cube of the modulus: 32,768 bits is ~500x the work of 4,096).
 * - `held`: keys the server generates, imports over REST, or uses as a caller-supplied wrapping key: RSA 2048–4096.
 * - `registered`: keys brought in over KMIP Register/Import: also RSA 1024 (the KMIP baseline profile's vectors
 *   register RSA-1024) and DSA (kept and returned, never used by the server for any operation).
 * - `certificate`: subject keys of CSRs the CA signs (only ever verified, a public operation): RSA 2048–8192.
 */
export type KeyUse = "held" | "registered" | "certificate";

export const RSA_BITS: Record<KeyUse, [number, number]> = {
  held: [2048, 4096],
  registered: [1024, 4096],
  certificate: [2048, 8192],
};
/** Named curves, by OpenSSL name and KMIP/NIST name. */
export const EC_CURVES: Readonly<Record<string, string>> = { prime256v1: "P-256", secp384r1: "P-384", secp521r1: "P-521" };
/** DSA (KMIP Register only): the domain sizes of FIPS 186 up to 3072 bits; 512 appears in the KMIP baseline vectors. */
export const DSA_BITS: [number, number] = [512, 3072];
/** RSA public exponent: odd, 3 ≤ e < 2^32 (a huge exponent makes every public operation as costly as a private one). */
export const RSA_MAX_PUBLIC_EXPONENT = 2n ** 32n - 1n;

/** Bits of the key for messages and KMIP Cryptographic Length: modulus (RSA, DSA) or curve size (EC). */
export function keySizeOf(k: KeyObject): number {
  const d = k.asymmetricKeyDetails ?? {};
  if (k.asymmetricKeyType === "ec") return Number(EC_CURVES[d.namedCurve ?? ""]?.slice(2) ?? 0);
  return d.modulusLength ?? 0;
}

/**
 * Throws `key_not_accepted` unless `k` (public or private) is a key this server accepts for `use`. Reads only the
 * parsed key's details, so it is cheap even for a hostile 32,768-bit key: call it before any operation with the key.
 */
export function checkKeyLimits(k: KeyObject, use: KeyUse): void {
  const refuse = (detail: string): never => fail("key_not_accepted", { detail });
  const d = k.asymmetricKeyDetails ?? {};
  switch (k.asymmetricKeyType) {
    case "rsa": {
      const [lo, hi] = RSA_BITS[use];
      const bits = d.modulusLength ?? 0;
      if (bits < lo || bits > hi) refuse(`RSA keys must have ${lo} to ${hi} bits; this one has ${bits}`);
      const e = d.publicExponent ?? 0n;
      if (e < 3n || e > RSA_MAX_PUBLIC_EXPONENT || e % 2n === 0n) refuse("the RSA public exponent must be odd, at least 3 and below 2^32");
      return;
    }
    case "ec":
      if (!EC_CURVES[d.namedCurve ?? ""]) refuse("EC keys must be on curve P-256, P-384 or P-521");
      return;
    case "dsa": {
      const bits = d.modulusLength ?? 0;
      if (use !== "registered") refuse("DSA keys are only accepted by KMIP Register (kept, never used)");
      if (bits < DSA_BITS[0] || bits > DSA_BITS[1])
        refuse(`DSA keys must have ${DSA_BITS[0]} to ${DSA_BITS[1]} bits; this one has ${bits}`);
      return;
    }
    default:
      refuse(`${k.asymmetricKeyType ?? "unknown"} keys are not supported`);
  }
}

/** DER forms of untrusted asymmetric keys that precheckKeyDer reads. */
export type KeyDerKind = "pkcs8" | "pkcs1-private" | "spki" | "pkcs1-public" | "sec1";
/** Untrusted key DER above this is refused unread (an RSA-32,768 private key is ~18 KiB; a real RSA-8192 one ~5 KiB). */
export const MAX_KEY_DER_BYTES = 64 * 1024;
const RSA_OIDS = new Set(["1.2.840.113549.1.1.1", "1.2.840.113549.1.1.10"]); // rsaEncryption, RSASSA-PSS
const DSA_OID = "1.2.840.10040.4.1";

/** Thrown by precheckKeyDer for DER it cannot read: callers treat it like OpenSSL's own parse failure. */
export class KeyDerError extends Error {
  readonly code = "ERR_STRONGROOM_KEY_DER";
}

/** Bit length of an unsigned big-endian INTEGER body (leading zero bytes, as DER adds for a set top bit, ignored). */
export function bitLength(b: Uint8Array): number {
  let i = 0;
  while (i < b.length && b[i] === 0) i++;
  return i === b.length ? 0 : (b.length - i - 1) * 8 + (32 - Math.clz32(b[i]));
}

/** Refuses an RSA modulus above the ceiling of `use`, with the message checkKeyLimits gives. */
export function precheckRsaModulus(modulusBits: number, use: KeyUse): void {
  const [lo, hi] = RSA_BITS[use];
  if (modulusBits > hi) fail("key_not_accepted", { detail: `RSA keys must have ${lo} to ${hi} bits; this one has ${modulusBits}` });
}

/** Refuses DSA domain parameters whose p exceeds the DSA ceiling (same message as checkKeyLimits). */
export function precheckDsaBits(pBits: number): void {
  if (pBits > DSA_BITS[1])
    fail("key_not_accepted", { detail: `DSA keys must have ${DSA_BITS[0]} to ${DSA_BITS[1]} bits; this one has ${pBits}` });
}

function checkRsaPrivate(der: ArrayBuffer | Uint8Array, use: KeyUse): void {
  const k = AsnConvert.parse(der, RSAPrivateKey);
  const bits = bitLength(new Uint8Array(k.modulus));
  precheckRsaModulus(bits, use);
  // A key whose other parts dwarf its modulus is not an RSA key; refusing it keeps large numbers away from OpenSSL too.
  const parts = [k.publicExponent, k.privateExponent, k.prime1, k.prime2, k.exponent1, k.exponent2, k.coefficient];
  for (const p of [...parts, ...(k.otherPrimeInfos ?? []).flatMap((o) => [o.prime, o.exponent, o.coefficient])])
    if (bitLength(new Uint8Array(p)) > bits) fail("key_not_accepted", { detail: "the RSA key has parts larger than its modulus" });
}

function checkRsaPublic(der: ArrayBuffer | Uint8Array, use: KeyUse): void {
  const k = AsnConvert.parse(der, RSAPublicKey);
  const bits = bitLength(new Uint8Array(k.modulus));
  precheckRsaModulus(bits, use);
  if (bitLength(new Uint8Array(k.publicExponent)) > 32)
    fail("key_not_accepted", { detail: "the RSA public exponent must be odd, at least 3 and below 2^32" });
}

/** Bits of p in DSA Dss-Parms (SEQUENCE { p, q, g }), read as a plain SEQUENCE OF INTEGER. */
function checkDsaParams(params: ArrayBuffer | undefined): void {
  if (!params) return;
  const b = new Uint8Array(params);
  // SEQUENCE header, then the first INTEGER's header: lengths in short or long form.
  const len = (at: number): [number, number] => {
    const first = b[at];
    if (first === undefined) throw new KeyDerError("truncated DSA parameters");
    if (first < 0x80) return [first, at + 1];
    const n = first & 0x7f;
    if (n === 0 || n > 3) throw new KeyDerError("bad DSA parameters length");
    let v = 0;
    for (let i = 1; i <= n; i++) v = v * 256 + (b[at + i] ?? 0);
    return [v, at + 1 + n];
  };
  if (b[0] !== 0x30) throw new KeyDerError("DSA parameters are not a SEQUENCE");
  const [, afterSeq] = len(1);
  if (b[afterSeq] !== 0x02) throw new KeyDerError("DSA p is not an INTEGER");
  const [pLen, pAt] = len(afterSeq + 1);
  if (pAt + pLen > b.length) throw new KeyDerError("truncated DSA p");
  precheckDsaBits(bitLength(b.subarray(pAt, pAt + pLen)));
}

/**
 * Size check of untrusted asymmetric key DER BEFORE OpenSSL parses it: OpenSSL 3.5 (Node.js 24) parses an oversized
 * RSA key but leaves "OSSL_PARAM_set_BN: too small buffer" in the thread's error queue, which fails the next TLS read
 * of an unrelated connection. Bounded input size first, then the RSA modulus (and DSA p) read with the ASN.1 schemas;
 * above the ceiling of `use` it throws `key_not_accepted` (the message of checkKeyLimits, which still runs after the
 * parse for everything else). DER it cannot read throws KeyDerError (callers report it as unparseable key material).
 */
export function precheckKeyDer(der: Uint8Array, kind: KeyDerKind, use: KeyUse): void {
  if (der.length > MAX_KEY_DER_BYTES)
    fail("key_not_accepted", { detail: `key material of ${der.length} bytes is above the limit of ${MAX_KEY_DER_BYTES}` });
  if (kind === "sec1") return; // EC: the curve is checked after the parse; the size bound is all that matters before.
  try {
    if (kind === "pkcs1-private") checkRsaPrivate(der, use);
    else if (kind === "pkcs1-public") checkRsaPublic(der, use);
    else if (kind === "pkcs8") {
      const info = AsnConvert.parse(der, PrivateKeyInfo);
      const oid = info.privateKeyAlgorithm.algorithm;
      if (RSA_OIDS.has(oid)) checkRsaPrivate(info.privateKey.buffer, use);
      else if (oid === DSA_OID) checkDsaParams(info.privateKeyAlgorithm.parameters ?? undefined);
    } else {
      const spki = AsnConvert.parse(der, SubjectPublicKeyInfo);
      const oid = spki.algorithm.algorithm;
      if (RSA_OIDS.has(oid)) checkRsaPublic(spki.subjectPublicKey, use);
      else if (oid === DSA_OID) checkDsaParams(spki.algorithm.parameters ?? undefined);
    }
  } catch (e) {
    if (isStrongroomError(e) || e instanceof KeyDerError) throw e;
    throw new KeyDerError("key material is not readable DER");
  }
}

/** The bounds for generating a key of `family` with `bits` (RSA modulus) or `curve`: the `held` range. */
export function checkGeneration(family: "rsa" | "ec", size: number | string): void {
  if (family === "rsa") {
    const [lo, hi] = RSA_BITS.held;
    if (!Number.isInteger(size) || (size as number) < lo || (size as number) > hi)
      fail("key_not_accepted", { detail: `RSA keys are generated with ${lo} to ${hi} bits` });
  } else if (!Object.values(EC_CURVES).includes(String(size))) {
    fail("key_not_accepted", { detail: "EC keys are generated on curve P-256, P-384 or P-521" });
  }
}

const PROBE = Buffer.from("strongroom key consistency probe");

/**
 * A private key must be internally consistent: node parses RSA keys without checking that d, p, q match n and e, and
 * an EC key may carry a public point that is not its own. A signature made with the private key (off the event loop)
 * must verify under the public key derived from it — and under `publicKey` when the caller links one to it.
 * DSA keys (kept, never used) are only parsed.
 */
export async function checkKeyPair(priv: KeyObject, publicKey?: KeyObject): Promise<void> {
  if (priv.asymmetricKeyType !== "rsa" && priv.asymmetricKeyType !== "ec") return;
  const derived = createPublicKey(priv);
  if (publicKey && !derived.export({ type: "spki", format: "der" }).equals(publicKey.export({ type: "spki", format: "der" })))
    fail("key_not_accepted", { detail: "the public key does not belong to the private key" });
  let ok = false;
  try {
    const sig = await signAsync("sha256", PROBE, { key: priv });
    ok = verify("sha256", PROBE, derived, sig);
  } catch {
    ok = false;
  }
  if (!ok) fail("key_not_accepted", { detail: "the private key is inconsistent (its parts do not form one key)" });
}
