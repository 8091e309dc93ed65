// Helpers shared by KMIP operation handlers: attributes → object spec, key blocks, response items.
import { createPrivateKey, createPublicKey, type KeyObject } from "node:crypto";
import { KEY_TYPES } from "../../crypto/keygen.js";
import { fail } from "../../errors/registry.js";
import type { ObjectType } from "../../keys/key-model.js";
import type { ObjectSpec } from "../../keys/object-service.js";
import { defaultUsage } from "../../keys/usage.js";
import { type Attr, type ObjectFacts, setStored, storableAttributes } from "../attributes.js";
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

/** The tag of each object type's structure in Register and Get payloads. */
export const OBJECT_TAGS: Record<ObjectType, number> = {
  SymmetricKey: Tag.SymmetricKey,
  PrivateKey: Tag.PrivateKey,
  PublicKey: Tag.PublicKey,
  SecretData: Tag.SecretData,
  Certificate: Tag.Certificate,
  OpaqueObject: Tag.OpaqueObject,
};

export function objectTypeOf(item: TtlvItem | undefined): ObjectType {
  if (!item || item.type !== ItemType.Enumeration) return fail("validation", { detail: "Object Type missing" });
  const t = OBJECT_TYPE_NAMES[item.value as number];
  if (!t)
    return fail("feature_not_supported", { detail: `object type ${enumName(Tag.ObjectType, item.value as number)} is not supported` });
  return t;
}

const first = (attrs: Attr[], name: string): TtlvItem | undefined => attrs.find((a) => a.name === name)?.value;

/** Curve bits from Recommended Curve (2.x attribute, or inside 1.x Cryptographic Domain Parameters). */
function curveBits(attrs: Attr[]): number | undefined {
  const rc =
    first(attrs, "Recommended Curve") ??
    (first(attrs, "Cryptographic Domain Parameters")
      ? find(first(attrs, "Cryptographic Domain Parameters") as TtlvItem, Tag.RecommendedCurve)
      : undefined);
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
  return (
    (KEY_TYPES as readonly string[]).includes(type) || /^(des3-(168|192)|chacha20-256|camellia-(128|192|256)|hmac-sha(1|224))$/.test(type)
  );
}

export function namesOf(attrs: Attr[]): string[] {
  return attrs
    .filter((a) => a.name === "Name")
    .map((a) => {
      const v = find(a.value, Tag.NameValue);
      if (!v || v.type !== ItemType.TextString) fail("validation", { detail: "Name Value missing" });
      const name = (v as TtlvItem).value as string;
      // Names become REST key names: bounded, and no control characters.
      if (name.length === 0 || name.length > 255 || /[\u0000-\u001f\u007f]/.test(name)) {
        fail("validation", { detail: "Name Value must be 1..255 characters without control characters" });
      }
      return name;
    });
}

export function specFrom(
  attrs: Attr[],
  objectType: ObjectType,
  type: string,
  pub = false,
  facts: ObjectFacts = {},
  now = new Date(),
): ObjectSpec {
  const mask = first(attrs, "Cryptographic Usage Mask");
  const act = first(attrs, "Activation Date");
  const deact = first(attrs, "Deactivation Date");
  if (act && deact && (deact.value as bigint) < (act.value as bigint))
    fail("validation", { detail: "the Deactivation Date may not precede the Activation Date" });
  const attributes = storableAttributes(attrs.filter((a) => a.name !== "Activation Date"));
  // An Activation Date in the future leaves the object Pre-Active; the date itself is kept as an attribute.
  if (act && Number(act.value as bigint) * 1000 > now.getTime()) setStored(attributes, "Activation Date", [act]);
  // The server-maintained history flags start from the creation request's values.
  const initial: ObjectFacts = {
    ...facts,
    alwaysSensitive: first(attrs, "Sensitive")?.value === true,
    neverExtractable: first(attrs, "Extractable")?.value === false,
  };
  if (first(attrs, "Fresh")?.value === false) initial.served = true;
  // Usage Limits Count is the server's: the total at creation, then counted down by use (KeyUseService.charge).
  const limits = first(attrs, "Usage Limits");
  if (limits) {
    const total = find(limits, Tag.UsageLimitsTotal);
    const unit = find(limits, Tag.UsageLimitsUnit);
    if (!total || (total.type !== ItemType.LongInteger && total.type !== ItemType.Integer))
      fail("validation", { detail: "Usage Limits Total missing" });
    const n = Number((total as TtlvItem).value);
    initial.usageLimits = { total: n, count: n, unit: unit?.value === Enum.UsageLimitsUnit.Object ? "object" : "byte" };
  }
  return {
    objectType,
    type,
    usageMask: mask
      ? (mask.value as number)
      : (KEY_TYPES as readonly string[]).includes(type)
        ? defaultUsage(type as (typeof KEY_TYPES)[number], pub)
        : 0,
    names: namesOf(attrs),
    attributes: { ...attributes, ...initial },
    activationDate: act ? new Date(Number(act.value as bigint) * 1000) : undefined,
    deactivationDate: deact ? new Date(Number(deact.value as bigint) * 1000) : undefined,
  };
}

export const uidItem = (id: string) => text(Tag.UniqueIdentifier, id);

export function toPrivateKey(der: Buffer): KeyObject {
  return createPrivateKey({ key: der, format: "der", type: "pkcs8" });
}

export function toPublicKey(der: Buffer): KeyObject {
  return createPublicKey({ key: der, format: "der", type: "spki" });
}

/**
 * KMIP 2.1 Quantum Safe: a client asking for a quantum-safe object must not silently get one that is not. Symmetric
 * keys of 256 bits or more (AES-256, ChaCha20) and HMAC with SHA-384/512 keep ≥128-bit strength against Grover's
 * algorithm; RSA, EC and DSA keys fall to Shor's algorithm and are never quantum safe.
 */
export function requireQuantumSafe(attrs: Attr[], type: string): void {
  if (first(attrs, "Quantum Safe")?.value !== true) return;
  const [fam, rest] = [type.split("-")[0], type.split("-")[1] ?? ""];
  const bits = Number(rest.replace(/\D/g, ""));
  const safe = (["aes", "chacha20", "camellia"].includes(fam) && bits >= 256) || (fam === "hmac" && bits >= 384);
  if (!safe) fail("not_quantum_safe", { type });
}
