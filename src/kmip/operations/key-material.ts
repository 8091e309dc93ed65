// Key Block encoding and decoding: KMIP Key Format Types ↔ the forms Strongroom stores (raw, PKCS#8, SubjectPublicKeyInfo).
import { createPrivateKey, createPublicKey, type KeyObject, X509Certificate } from "node:crypto";
import { AsnConvert } from "@peculiar/asn1-schema";
import { Certificate } from "@peculiar/asn1-x509";
import { checkKeyLimits, keySizeOf, precheckKeyDer } from "../../crypto/key-limits.js";
import { fail, isStrongroomError } from "../../errors/registry.js";
import type { ObjectRow } from "../../keys/key-model.js";
import type { ObjectAttributes } from "../../keys/key-service.js";
import { algorithmOf, defaultKeyFormat, factsOf } from "../attributes.js";
import { enumName } from "../codec/names.js";
import { Enum } from "../codec/tables.js";
import { bytes, enm, find, ItemType, int, type StructureItem, struct, Tag, type TtlvItem } from "../codec/ttlv.js";
import { transparentMaterial, transparentPrivateKey, transparentPublicKey } from "./transparent-keys.js";

const F = Enum.KeyFormatType;

export interface DecodedMaterial {
  /** What to keep secret (wrapped at rest): raw bytes, PKCS#8 DER, certificate DER, opaque bytes. */
  secret: Buffer | null;
  /** SubjectPublicKeyInfo DER for public keys, private keys and certificates. */
  publicKey: Buffer | null;
  algorithm?: number;
  length?: number;
  /** The Key Format Type the client used (Get returns this format when asked for none). */
  format?: number;
  /** The parsed private key (Register checks its consistency before storing it). */
  privateKey?: KeyObject;
}

/** KMIP algorithm and length of a key within the limits of key-limits.ts (checked before anything else uses it). */
function keyDetails(k: KeyObject, stated: number | undefined): { algorithm: number; length: number } {
  checkKeyLimits(k, "registered");
  const length = keySizeOf(k);
  // The stored type (and so a later Re-key) follows the stated length: it must be the key's own.
  if (stated !== undefined && stated !== length)
    fail("validation", { detail: `Cryptographic Length ${stated} does not match the key (${length} bits)` });
  const A = Enum.CryptographicAlgorithm;
  return { algorithm: k.asymmetricKeyType === "rsa" ? A.RSA : k.asymmetricKeyType === "ec" ? A.EC : A.DSA, length };
}

/** Reads the Key Block of a registered Symmetric/Private/Public Key or Secret Data. */
export function decodeKeyBlock(objectType: string, keyBlock: TtlvItem): DecodedMaterial {
  const fmt = find(keyBlock, Tag.KeyFormatType)?.value as number | undefined;
  if (find(keyBlock, Tag.KeyWrappingData)) fail("feature_not_supported", { detail: "registering wrapped key material is not supported" });
  const kv = find(keyBlock, Tag.KeyValue);
  if (!kv) return fail("validation", { detail: "Key Value missing" });
  const km = kv.type === ItemType.Structure ? find(kv, Tag.KeyMaterial) : kv;
  if (!km) return fail("validation", { detail: "Key Material missing" });
  const alg = find(keyBlock, Tag.CryptographicAlgorithm)?.value as number | undefined;
  const len = find(keyBlock, Tag.CryptographicLength)?.value as number | undefined;
  const raw = (): Buffer => {
    if (km.type === ItemType.ByteString) return Buffer.from(km.value);
    if (km.type === ItemType.Structure && fmt === F.TransparentSymmetricKey) {
      const k = find(km, Tag.Key);
      if (k && k.type === ItemType.ByteString) return Buffer.from(k.value);
    }
    return fail("format_not_supported", { detail: `key format ${enumName(Tag.KeyFormatType, fmt ?? 0)} is not supported here` });
  };
  try {
    if (objectType === "SymmetricKey" || objectType === "SecretData") {
      if (fmt !== F.Raw && fmt !== F.TransparentSymmetricKey && fmt !== F.Opaque) {
        fail("format_not_supported", { detail: `key format ${enumName(Tag.KeyFormatType, fmt ?? 0)} is not supported for ${objectType}` });
      }
      const secret = raw();
      return { secret, publicKey: null, algorithm: alg, length: len ?? secret.length * 8, format: fmt };
    }
    if (objectType === "PrivateKey") {
      let k: KeyObject;
      if (fmt === F.TransparentRSAPrivateKey || fmt === F.TransparentDSAPrivateKey) k = transparentPrivateKey(fmt, km);
      else {
        const der = raw();
        const type = fmt === F.PKCS_1 ? "pkcs1" : fmt === F.PKCS_8 ? "pkcs8" : fmt === F.ECPrivateKey ? "sec1" : null;
        if (!type)
          fail("format_not_supported", { detail: `key format ${enumName(Tag.KeyFormatType, fmt ?? 0)} is not supported for private keys` });
        try {
          // Sized before OpenSSL reads it (key-limits.ts: an oversized key poisons the thread's OpenSSL error queue).
          precheckKeyDer(der, type === "pkcs1" ? "pkcs1-private" : (type as "pkcs8" | "sec1"), "registered");
          k = createPrivateKey({ key: der, format: "der", type: type as "pkcs1" });
        } finally {
          der.fill(0);
        }
      }
      const d = keyDetails(k, len);
      return {
        secret: k.export({ type: "pkcs8", format: "der" }),
        publicKey: createPublicKey(k).export({ type: "spki", format: "der" }),
        algorithm: alg ?? d.algorithm,
        length: d.length,
        format: fmt,
        privateKey: k,
      };
    }
    if (objectType === "PublicKey") {
      let k: KeyObject;
      if (fmt === F.TransparentRSAPublicKey || fmt === F.TransparentDSAPublicKey) k = transparentPublicKey(fmt, km);
      else {
        const der = raw();
        const type = fmt === F.PKCS_1 ? "pkcs1" : fmt === F.X_509 ? "spki" : null;
        if (!type)
          fail("format_not_supported", { detail: `key format ${enumName(Tag.KeyFormatType, fmt ?? 0)} is not supported for public keys` });
        precheckKeyDer(der, type === "pkcs1" ? "pkcs1-public" : "spki", "registered");
        k = createPublicKey({ key: der, format: "der", type: type as "pkcs1" });
      }
      const d = keyDetails(k, len);
      return {
        secret: null,
        publicKey: k.export({ type: "spki", format: "der" }),
        algorithm: alg ?? d.algorithm,
        length: d.length,
        format: fmt,
      };
    }
  } catch (e) {
    if (!isStrongroomError(e) && (e as { code?: string }).code?.startsWith("ERR_"))
      fail("validation", { detail: "key material could not be parsed in the stated format" });
    throw e;
  }
  return fail("feature_not_supported", { detail: `cannot register ${objectType}` });
}

/** A certificate's DER value and its public key. */
export function decodeCertificate(der: Buffer): DecodedMaterial {
  try {
    // The subject key is sized before OpenSSL reads it (key-limits.ts precheckKeyDer); the CA's ceiling applies.
    const spki = AsnConvert.serialize(AsnConvert.parse(der, Certificate).tbsCertificate.subjectPublicKeyInfo);
    precheckKeyDer(new Uint8Array(spki), "spki", "certificate");
    const cert = new X509Certificate(der);
    return { secret: Buffer.from(der), publicKey: cert.publicKey.export({ type: "spki", format: "der" }) };
  } catch (e) {
    if (isStrongroomError(e)) throw e;
    return fail("validation", { detail: "Certificate Value is not an X.509 certificate" });
  }
}

/** The default Key Format Type for Get when the client names none. */
export function defaultFormat(o: ObjectRow): number {
  return defaultKeyFormat(o.object_type, o.type);
}

/** The Key Format Type an object is kept in: the one it was registered in, else the default for its kind. */
export function storedFormat(o: ObjectRow): number {
  const f = factsOf(JSON.parse(o.attributes) as ObjectAttributes).keyFormat;
  return f ?? defaultFormat(o);
}

/** Key material of `o` in Key Format Type `fmt` (bytes, or a transparent structure). `secret` is the unwrapped material (null for public keys). */
export function encodeMaterial(o: ObjectRow, fmt: number, secret: Buffer | null): TtlvItem {
  const bad = () =>
    fail("format_not_supported", { detail: `key format ${enumName(Tag.KeyFormatType, fmt)} is not available for this ${o.object_type}` });
  switch (o.object_type) {
    case "SymmetricKey":
    case "SecretData":
      if (fmt === F.Raw || fmt === F.Opaque) return bytes(Tag.KeyMaterial, secret as Buffer);
      if (fmt === F.TransparentSymmetricKey && o.object_type === "SymmetricKey")
        return struct(Tag.KeyMaterial, bytes(Tag.Key, secret as Buffer));
      return bad();
    case "PrivateKey": {
      const k = createPrivateKey({ key: secret as Buffer, format: "der", type: "pkcs8" });
      if (fmt === F.PKCS_8) return bytes(Tag.KeyMaterial, k.export({ type: "pkcs8", format: "der" }));
      if (fmt === F.PKCS_1 && k.asymmetricKeyType === "rsa") return bytes(Tag.KeyMaterial, k.export({ type: "pkcs1", format: "der" }));
      if (fmt === F.ECPrivateKey && k.asymmetricKeyType === "ec") return bytes(Tag.KeyMaterial, k.export({ type: "sec1", format: "der" }));
      return transparentMaterial(fmt, k) ?? bad();
    }
    case "PublicKey": {
      const k = createPublicKey({ key: o.public_key as Buffer, format: "der", type: "spki" });
      if (fmt === F.X_509) return bytes(Tag.KeyMaterial, k.export({ type: "spki", format: "der" }));
      if (fmt === F.PKCS_1 && k.asymmetricKeyType === "rsa") return bytes(Tag.KeyMaterial, k.export({ type: "pkcs1", format: "der" }));
      return transparentMaterial(fmt, k) ?? bad();
    }
    default:
      return bad();
  }
}

/** A Key Block with the given Key Value (plain Key Material, or wrapped bytes plus Key Wrapping Data). */
export function keyBlock(o: ObjectRow, fmt: number, keyValue: TtlvItem, wrapping?: StructureItem): StructureItem {
  const alg = algorithmOf(o.type);
  return struct(
    Tag.KeyBlock,
    enm(Tag.KeyFormatType, fmt),
    keyValue,
    alg.algorithm !== null ? enm(Tag.CryptographicAlgorithm, alg.algorithm) : null,
    alg.length !== null && o.object_type !== "SecretData" ? int(Tag.CryptographicLength, alg.length) : null,
    wrapping ?? null,
  );
}
