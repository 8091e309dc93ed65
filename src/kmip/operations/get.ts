// KMIP Get: the object in the requested Key Format Type, optionally wrapped by a server-held AES or RSA key.
import { createPublicKey } from "node:crypto";
import { rsaEncrypt } from "../../crypto/rsa-cipher.js";
import { symmetricOneShot } from "../../crypto/sym-cipher.js";
import { fail } from "../../errors/registry.js";
import type { ObjectRow } from "../../keys/key-model.js";
import type { ObjectAttributes } from "../../keys/key-service.js";
import { factsOf } from "../attributes.js";
import { Enum } from "../codec/tables.js";
import { bytes, enm, find, ItemType, type StructureItem, struct, Tag, type TtlvItem, text } from "../codec/ttlv.js";
import { type KmipCall, type KmipOperation, targetId } from "../operation.js";
import { OBJECT_TAGS, uidItem } from "./common.js";
import { hashName } from "./crypto-params.js";
import { encodeMaterial, keyBlock, storedFormat } from "./key-material.js";

/** Wraps `plain` (TTLV-encoded Key Material is not used: KMIP wraps the key bytes) under a server-held key. */
async function wrap(c: KmipCall, spec: TtlvItem, plain: Buffer): Promise<{ wrapped: Buffer; data: StructureItem }> {
  const method = find(spec, Tag.WrappingMethod)?.value as number | undefined;
  if (method !== undefined && method !== Enum.WrappingMethod.Encrypt)
    fail("feature_not_supported", { detail: "only the Encrypt wrapping method is supported" });
  const eki = find(spec, Tag.EncryptionKeyInformation);
  if (!eki) return fail("feature_not_supported", { detail: "Key Wrapping Specification needs Encryption Key Information" });
  const wid = find(eki, Tag.UniqueIdentifier);
  if (!wid || wid.type !== ItemType.TextString) return fail("validation", { detail: "wrapping key Unique Identifier missing" });
  const params = find(eki, Tag.CryptographicParameters);
  // The wrapping key is used, not revealed: a protect use with Wrap Key usage, decided by the key-use policy.
  const w = await c.services.keyUse.object(c.auth, c.op, wid.value, { purpose: "wrap" });
  await c.services.keyUse.charge(c.op, w.obj, plain.length);
  let wrapped: Buffer;
  if (w.obj.object_type === "SymmetricKey" && w.unwrapped && w.obj.type.startsWith("aes-")) {
    const mode = params ? (find(params, Tag.BlockCipherMode)?.value as number | undefined) : undefined;
    const padded = mode === Enum.BlockCipherMode.AESKeyWrapPadding;
    if (!padded && plain.length % 8 !== 0)
      fail("crypto_params", { detail: "RFC 3394 key wrap needs a multiple of 8 bytes; use AES Key Wrap Padding" });
    // The shared AES key wrap (src/crypto/sym-cipher.ts) with the standard integrity check values.
    wrapped = symmetricOneShot(
      { dir: "encrypt", key: w.unwrapped.secret, params: { cipher: "aes", mode: padded ? "kwp" : "kw" } },
      plain,
    ).data;
  } else if (
    (w.obj.object_type === "PublicKey" || w.obj.object_type === "PrivateKey") &&
    w.obj.public_key &&
    w.obj.type.startsWith("rsa-")
  ) {
    const hashId = params ? (find(params, Tag.HashingAlgorithm)?.value as number | undefined) : undefined;
    const mgfId = params ? (find(params, Tag.MaskGeneratorHashingAlgorithm)?.value as number | undefined) : undefined;
    // RSA-OAEP: SHA-256 unless the Cryptographic Parameters name a hash (any the server knows); MGF1 over the same
    // hash unless they name another (then the hand-written encoding of src/crypto/rsa-padding.ts runs).
    const oaepHash = hashId === undefined ? "sha256" : hashName(hashId);
    const mgfHash = mgfId === undefined ? oaepHash : hashName(mgfId, "Mask Generator Hashing Algorithm");
    wrapped = rsaEncrypt(
      createPublicKey({ key: w.obj.public_key, format: "der", type: "spki" }),
      { padding: "oaep", hash: oaepHash, mgfHash },
      plain,
    );
  } else {
    return fail("feature_not_supported", { detail: "the wrapping key must be an AES key or an RSA key held by this server" });
  }
  const data = struct(
    Tag.KeyWrappingData,
    enm(Tag.WrappingMethod, Enum.WrappingMethod.Encrypt),
    struct(Tag.EncryptionKeyInformation, text(Tag.UniqueIdentifier, wid.value), params ?? null),
  );
  return { wrapped, data };
}

export function objectStructure(o: ObjectRow, block: StructureItem | null, secret: Buffer | null): TtlvItem {
  const facts = factsOf(JSON.parse(o.attributes) as ObjectAttributes);
  if (o.object_type === "Certificate") {
    return struct(Tag.Certificate, enm(Tag.CertificateType, Enum.CertificateType.X_509), bytes(Tag.CertificateValue, secret as Buffer));
  }
  if (o.object_type === "OpaqueObject") {
    return struct(
      Tag.OpaqueObject,
      enm(Tag.OpaqueDataType, facts.opaqueDataType ?? 0x80000000),
      bytes(Tag.OpaqueDataValue, secret as Buffer),
    );
  }
  if (o.object_type === "SecretData")
    return struct(Tag.SecretData, enm(Tag.SecretDataType, facts.secretDataType ?? Enum.SecretDataType.Password), block);
  return struct(OBJECT_TAGS[o.object_type], block);
}

export const get: KmipOperation = {
  name: "Get",
  async handle(c) {
    const id = targetId(c);
    const spec = find(c.payload, Tag.KeyWrappingSpecification);
    // Releasing the value: the key-use policy decides (the "material" right, state, exportable / Extractable, PCI
    // mode, Sensitive, reserved keys). Certificates and opaque objects are never wrapped by Get: they leave in clear.
    const { obj, key, unwrapped } = await c.services.keyUse.object(c.auth, c.op, id, (o) => ({
      purpose: "release",
      form: spec && o.object_type !== "Certificate" && o.object_type !== "OpaqueObject" ? "wrapped" : "clear",
    }));
    const stored = JSON.parse(obj.attributes) as ObjectAttributes;
    const secret = unwrapped?.secret ?? null;
    const fmtItem = find(c.payload, Tag.KeyFormatType);
    // Without a requested Key Format Type the object comes back in the format it was registered in.
    const fmt = fmtItem ? (fmtItem.value as number) : storedFormat(obj);
    let body: TtlvItem;
    if (obj.object_type === "Certificate" || obj.object_type === "OpaqueObject") {
      body = objectStructure(obj, null, secret);
    } else {
      const material = encodeMaterial(obj, fmt, secret);
      if (spec) {
        const plainBytes = material.type === ItemType.ByteString ? material.value : (find(material, Tag.Key)?.value as Buffer);
        const { wrapped, data } = await wrap(c, spec, plainBytes);
        body = objectStructure(obj, keyBlock(obj, fmt, bytes(Tag.KeyValue, wrapped), data), null);
      } else {
        body = objectStructure(obj, keyBlock(obj, fmt, struct(Tag.KeyValue, material)), secret);
      }
    }
    c.op.target = { name: key.name, version: obj.version };
    // "The server SHALL change the [Fresh] attribute value to False as soon as the object has been served to a client."
    if (!factsOf(stored).served) await c.services.objects.markServed(c.op, id);
    return [enm(Tag.ObjectType, Enum.ObjectType[obj.object_type]), uidItem(id), body];
  },
};
