// Helpers shared by KMIP operation handlers: attributes → object spec, key blocks, response items.
import { createPrivateKey, createPublicKey, type KeyObject } from "node:crypto";
import { KEY_TYPES } from "../../crypto/keygen.js";
import { fail } from "../../errors/registry.js";
import type { ObjectType } from "../../keys/key-model.js";
import type { ObjectSpec } from "../../keys/object-service.js";
import { defaultUsage } from "../../keys/usage.js";
import { type Attr, storableAttributes } from "../attributes.js";
import { enumName } from "../codec/names.js";
import { Enum } from "../codec/tables.js";
import { find, ItemType, Tag, type TtlvItem, text } from "../codec/ttlv.js";

export const OBJECT_TYPE_NAMES: Record<number, ObjectType> = {
  [Enum.ObjectType.SymmetricKey]: "SymmetricKey",
  [Enum.ObjectType.PrivateKey]: "PrivateKey",
  [Enum.ObjectType.PublicKey]: "PublicKey",
  [Enum.ObjectType.SecretData]: "SecretData",
  [Enum.ObjectType.Certificate]: "Certificate",
  [Enum.ObjectType.OpaqueObject]: "OpaqueObject",
};

export function objectTypeOf(item: TtlvItem | undefined): ObjectType {
  if (!item || item.type !== ItemType.Enumeration) return fail("validation", { detail: "Object Type missing" });
  const t = OBJECT_TYPE_NAMES[item.value as number];
  if (!t) return fail("feature_not_supported", { detail: `object type ${enumName(Tag.ObjectType, item.value as number)} is not supported` });
  return t;
}

const first = (attrs: Attr[], name: string): TtlvItem | undefined => attrs.find((a) => a.name === name)?.value;

/** Curve bits from Recommended Curve (2.x attribute, or inside 1.x Cryptographic Domain Parameters). */
function curveBits(attrs: Attr[]): number | undefined {
  const rc = first(attrs, "Recommended Curve") ?? (first(attrs, "Cryptographic Domain Parameters") ? find(first(attrs, "Cryptographic Domain Parameters") as TtlvItem, Tag.RecommendedCurve) : undefined);
  if (!rc) return undefined;
  const v = rc.value as number;
  if (v === Enum.RecommendedCurve.P_256) return 256;
  if (v === Enum.RecommendedCurve.P_384) return 384;
  if (v === Enum.RecommendedCurve.P_521) return 521;
  return fail("feature_not_supported", { detail: `curve ${enumName(Tag.RecommendedCurve, v)} is not supported` });
}

/** Strongroom type for a KMIP algorithm + length (+ curve). */
export function typeFor(attrs: Attr[], objectType: ObjectType, fallback?: { algorithm?: number; length?: number }): string {
  if (objectType === "SecretData") return "secret-data";
  if (objectType === "OpaqueObject") return "opaque";
  if (objectType === "Certificate") return "certificate";
  const alg = (first(attrs, "Cryptographic Algorithm")?.value as number | undefined) ?? fallback?.algorithm;
  const len = (first(attrs, "Cryptographic Length")?.value as number | undefined) ?? fallback?.length;
  if (alg === undefined) return fail("validation", { detail: "Cryptographic Algorithm missing" });
  const A = Enum.CryptographicAlgorithm;
  switch (alg) {
    case A.AES:
      return `aes-${len ?? 256}`;
    case A.RSA:
      return `rsa-${len ?? 2048}`;
    case A.EC:
    case A.ECDSA:
    case A.ECDH: {
      const bits = curveBits(attrs) ?? len ?? 256;
      return `ec-p${bits}`;
    }
    case A.HMAC_SHA1:
      return "hmac-sha1";
    case A.HMAC_SHA224:
      return "hmac-sha224";
    case A.HMAC_SHA256:
      return "hmac-sha256";
    case A.HMAC_SHA384:
      return "hmac-sha384";
    case A.HMAC_SHA512:
      return "hmac-sha512";
    default:
      return `${enumName(Tag.CryptographicAlgorithm, alg).toLowerCase()}-${len ?? 0}`;
  }
}

/** Whether the server can generate this type (node:crypto primitives only). */
export function canGenerate(type: string): boolean {
  return (KEY_TYPES as readonly string[]).includes(type) || /^(des3-(168|192)|chacha20-256|camellia-(128|192|256)|hmac-sha(1|224))$/.test(type);
}

export function namesOf(attrs: Attr[]): string[] {
  return attrs
    .filter((a) => a.name === "Name")
    .map((a) => {
      const v = find(a.value, Tag.NameValue);
      if (!v || v.type !== ItemType.TextString) fail("validation", { detail: "Name Value missing" });
      return (v as TtlvItem).value as string;
    });
}

export function specFrom(attrs: Attr[], objectType: ObjectType, type: string, pub = false): ObjectSpec {
  const mask = first(attrs, "Cryptographic Usage Mask");
  const act = first(attrs, "Activation Date");
  return {
    objectType,
    type,
    usageMask: mask ? (mask.value as number) : (KEY_TYPES as readonly string[]).includes(type) ? defaultUsage(type as (typeof KEY_TYPES)[number], pub) : 0,
    names: namesOf(attrs),
    attributes: storableAttributes(attrs.filter((a) => a.name !== "Activation Date")),
    activationDate: act ? new Date(Number(act.value as bigint) * 1000) : undefined,
  };
}

export const uidItem = (id: string) => text(Tag.UniqueIdentifier, id);

export function toPrivateKey(der: Buffer): KeyObject {
  return createPrivateKey({ key: der, format: "der", type: "pkcs8" });
}

export function toPublicKey(der: Buffer): KeyObject {
  return createPublicKey({ key: der, format: "der", type: "spki" });
}
