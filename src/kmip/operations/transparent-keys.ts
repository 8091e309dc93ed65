// KMIP Transparent key formats (RSA, DSA, EC private/public): Key Material structures of Big Integers ↔ PKCS#8 / SubjectPublicKeyInfo DER.
import { createPrivateKey, createPublicKey, type JsonWebKey, type KeyObject } from "node:crypto";
import { dsaComponents, dsaPrivateKey, dsaPublicKey } from "../../crypto/dsa-asn1.js";
import { precheckDsaBits, precheckRsaModulus } from "../../crypto/key-limits.js";
import { fail } from "../../errors/registry.js";
import { Enum } from "../codec/tables.js";
import { bigInt, find, ItemType, type StructureItem, struct, Tag, type TtlvItem } from "../codec/ttlv.js";

const F = Enum.KeyFormatType;

/** Unsigned big-endian magnitude of a non-negative Big Integer. */
function magnitude(n: bigint): Buffer {
  if (n < 0n) return fail("validation", { detail: "a key component is negative" });
  let hex = n.toString(16);
  if (hex.length % 2) hex = `0${hex}`;
  return Buffer.from(hex, "hex");
}

const fromMagnitude = (b: Buffer): bigint => (b.length === 0 ? 0n : BigInt(`0x${b.toString("hex")}`));
const b64u = (n: bigint) => magnitude(n).toString("base64url");
const fromB64u = (s: string | undefined) => fromMagnitude(Buffer.from(s ?? "", "base64url"));

function component(km: TtlvItem, tag: number, what: string): bigint {
  const it = find(km, tag);
  if (!it || it.type !== ItemType.BigInteger) return fail("validation", { detail: `Key Material ${what} missing` });
  return it.value;
}

function modPow(base: bigint, exp: bigint, mod: bigint): bigint {
  let r = 1n;
  let b = base % mod;
  let e = exp;
  while (e > 0n) {
    if (e & 1n) r = (r * b) % mod;
    b = (b * b) % mod;
    e >>= 1n;
  }
  return r;
}

const bits = (n: bigint): number => (n <= 0n ? 0 : n.toString(2).length);

/**
 * The modulus size of a Transparent RSA key, checked before OpenSSL sees the key (key-limits.ts precheckKeyDer: an
 * oversized key poisons the thread's OpenSSL error queue); the other parts may not be larger than the modulus.
 */
function rsaSize(km: TtlvItem): void {
  const n = bits(component(km, Tag.Modulus, "Modulus"));
  precheckRsaModulus(n, "registered");
  for (const it of km.type === ItemType.Structure ? km.value : [])
    if (it.type === ItemType.BigInteger && bits(it.value) > n)
      fail("key_not_accepted", { detail: "the RSA key has parts larger than its modulus" });
}

/** The private key a Transparent RSA/DSA Private Key structure describes. */
export function transparentPrivateKey(format: number, km: TtlvItem): KeyObject {
  if (format === F.TransparentRSAPrivateKey) {
    rsaSize(km);
    const jwk: JsonWebKey = {
      kty: "RSA",
      n: b64u(component(km, Tag.Modulus, "Modulus")),
      e: b64u(component(km, Tag.PublicExponent, "Public Exponent")),
      d: b64u(component(km, Tag.PrivateExponent, "Private Exponent")),
      p: b64u(component(km, Tag.P, "P")),
      q: b64u(component(km, Tag.Q, "Q")),
      dp: b64u(component(km, Tag.PrimeExponentP, "Prime Exponent P")),
      dq: b64u(component(km, Tag.PrimeExponentQ, "Prime Exponent Q")),
      qi: b64u(component(km, Tag.CRTCoefficient, "CRT Coefficient")),
    };
    return createPrivateKey({ key: jwk, format: "jwk" });
  }
  if (format === F.TransparentDSAPrivateKey) {
    const [p, q, g, x] = [component(km, Tag.P, "P"), component(km, Tag.Q, "Q"), component(km, Tag.G, "G"), component(km, Tag.X, "X")];
    precheckDsaBits(bits(p));
    return dsaPrivateKey(p, q, g, x);
  }
  return fail("format_not_supported", { detail: "transparent private key format not supported" });
}

/** The public key a Transparent RSA/DSA Public Key structure describes. */
export function transparentPublicKey(format: number, km: TtlvItem): KeyObject {
  if (format === F.TransparentRSAPublicKey) {
    rsaSize(km);
    const jwk: JsonWebKey = {
      kty: "RSA",
      n: b64u(component(km, Tag.Modulus, "Modulus")),
      e: b64u(component(km, Tag.PublicExponent, "Public Exponent")),
    };
    return createPublicKey({ key: jwk, format: "jwk" });
  }
  if (format === F.TransparentDSAPublicKey) {
    const [p, q, g, y] = [component(km, Tag.P, "P"), component(km, Tag.Q, "Q"), component(km, Tag.G, "G"), component(km, Tag.Y, "Y")];
    precheckDsaBits(bits(p));
    return dsaPublicKey(p, q, g, y);
  }
  return fail("format_not_supported", { detail: "transparent public key format not supported" });
}

/** DSA domain parameters and keys from PKCS#8 / SubjectPublicKeyInfo DER. */
function dsaParts(k: KeyObject): { p: bigint; q: bigint; g: bigint; x?: bigint; y: bigint } {
  const { p, q, g, x, y } = dsaComponents(k);
  return { p, q, g, x, y: y ?? modPow(g, x ?? 0n, p) };
}

/** A Transparent * Key Material structure for `k` in `format`, or undefined when the format does not fit the key. */
export function transparentMaterial(format: number, k: KeyObject): StructureItem | undefined {
  const t = k.asymmetricKeyType;
  if (t === "rsa" && (format === F.TransparentRSAPrivateKey || format === F.TransparentRSAPublicKey)) {
    const j = k.export({ format: "jwk" });
    if (format === F.TransparentRSAPublicKey) {
      return struct(Tag.KeyMaterial, bigInt(Tag.Modulus, fromB64u(j.n)), bigInt(Tag.PublicExponent, fromB64u(j.e)));
    }
    if (k.type !== "private") return undefined;
    return struct(
      Tag.KeyMaterial,
      bigInt(Tag.Modulus, fromB64u(j.n)),
      bigInt(Tag.PrivateExponent, fromB64u(j.d)),
      bigInt(Tag.PublicExponent, fromB64u(j.e)),
      bigInt(Tag.P, fromB64u(j.p)),
      bigInt(Tag.Q, fromB64u(j.q)),
      bigInt(Tag.PrimeExponentP, fromB64u(j.dp)),
      bigInt(Tag.PrimeExponentQ, fromB64u(j.dq)),
      bigInt(Tag.CRTCoefficient, fromB64u(j.qi)),
    );
  }
  if (t === "dsa" && (format === F.TransparentDSAPrivateKey || format === F.TransparentDSAPublicKey)) {
    const d = dsaParts(k);
    if (format === F.TransparentDSAPublicKey)
      return struct(Tag.KeyMaterial, bigInt(Tag.P, d.p), bigInt(Tag.Q, d.q), bigInt(Tag.G, d.g), bigInt(Tag.Y, d.y));
    if (d.x === undefined) return undefined;
    return struct(Tag.KeyMaterial, bigInt(Tag.P, d.p), bigInt(Tag.Q, d.q), bigInt(Tag.G, d.g), bigInt(Tag.X, d.x));
  }
  return undefined;
}
