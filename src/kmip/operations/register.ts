// KMIP Register: stores client-supplied keys, secret data, certificates and opaque objects (secret parts wrapped at rest).
import { checkKeyPair } from "../../crypto/key-limits.js";
import { fail } from "../../errors/registry.js";
import type { ObjectFacts } from "../attributes.js";
import { requestAttributes } from "../attributes.js";
import { enumName } from "../codec/names.js";
import { Enum } from "../codec/tables.js";
import { find, ItemType, Tag } from "../codec/ttlv.js";
import type { KmipCall, KmipOperation } from "../operation.js";
import { OBJECT_TAGS, objectTypeOf, specFrom, typeFor, uidItem } from "./common.js";
import { type DecodedMaterial, decodeCertificate, decodeKeyBlock } from "./key-material.js";

/** Decodes the object in a Register (or 2.x Import) payload and stores it; returns its id. */
export async function registerFrom(c: KmipCall, importId?: string): Promise<string> {
  const objectType = objectTypeOf(find(c.payload, Tag.ObjectType));
  const attrs = requestAttributes(c.payload, c.major, Tag.TemplateAttribute, Tag.Attributes);
  const obj = find(c.payload, OBJECT_TAGS[objectType]);
  if (!obj || obj.type !== ItemType.Structure) return fail("validation", { detail: `${objectType} structure missing` });
  // PCI mode: secret material is not accepted in clear text (a wrapped Key Block is refused below as unsupported).
  const kb0 = find(obj, Tag.KeyBlock);
  if (!(kb0 && find(kb0, Tag.KeyWrappingData)))
    c.services.keyUse.refuseClearImport(
      objectType,
      "import the key wrapped under the key from GET /v1/sys/wrapping-key with POST /v1/keys/import (scheme rsa-aes-kwp)",
    );
  let m: DecodedMaterial;
  const facts: ObjectFacts = {};
  if (objectType === "Certificate") {
    const ct = find(obj, Tag.CertificateType);
    if (ct && ct.value !== Enum.CertificateType.X_509)
      fail("feature_not_supported", { detail: `certificate type ${enumName(Tag.CertificateType, ct.value as number)}` });
    const v = find(obj, Tag.CertificateValue);
    if (!v || v.type !== ItemType.ByteString) return fail("validation", { detail: "Certificate Value missing" });
    m = decodeCertificate(v.value);
  } else if (objectType === "OpaqueObject") {
    const v = find(obj, Tag.OpaqueDataValue);
    if (!v || v.type !== ItemType.ByteString) return fail("validation", { detail: "Opaque Data Value missing" });
    m = { secret: Buffer.from(v.value), publicKey: null };
    const odt = find(obj, Tag.OpaqueDataType);
    if (odt && odt.type === ItemType.Enumeration) facts.opaqueDataType = odt.value;
  } else {
    const kb = find(obj, Tag.KeyBlock);
    if (!kb) return fail("validation", { detail: "Key Block missing" });
    m = decodeKeyBlock(objectType, kb);
    // Remembered so that Get returns the object as registered when the client names no Key Format Type.
    facts.keyFormat = m.format;
    if (objectType === "PrivateKey" || objectType === "PublicKey") {
      const stated = attrs.find((a) => a.name === "Cryptographic Length")?.value.value;
      if (stated !== undefined && stated !== m.length) {
        m.secret?.fill(0);
        fail("validation", { detail: `Cryptographic Length ${stated} does not match the key (${m.length} bits)` });
      }
    }
    if (m.privateKey) {
      try {
        await checkKeyPair(m.privateKey);
      } catch (e) {
        m.secret?.fill(0);
        throw e;
      }
    }
    const sdt = find(obj, Tag.SecretDataType);
    if (objectType === "SecretData" && sdt && sdt.type === ItemType.Enumeration) facts.secretDataType = sdt.value;
  }
  try {
    const type = typeFor(attrs, objectType, { algorithm: m.algorithm, length: m.length });
    return await c.services.objects.register(
      c.auth,
      c.op,
      specFrom(attrs, objectType, type, objectType === "PublicKey", facts, c.services.clock()),
      m.secret,
      m.publicKey,
      importId,
    );
  } finally {
    m.secret?.fill(0);
  }
}

export const register: KmipOperation = {
  name: "Register",
  async handle(c) {
    const id = await registerFrom(c);
    c.setPlaceholder(id);
    return [uidItem(id)];
  },
};
