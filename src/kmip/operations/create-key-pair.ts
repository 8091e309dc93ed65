// KMIP Create Key Pair: an RSA or EC private key and its public key, linked to each other.
import { fail } from "../../errors/registry.js";
import { type Attr, requestAttributes } from "../attributes.js";
import { Tag, text } from "../codec/ttlv.js";
import type { KmipOperation } from "../operation.js";
import { canGenerate, requireQuantumSafe, specFrom, typeFor } from "./common.js";

export const createKeyPair: KmipOperation = {
  name: "CreateKeyPair",
  async handle(c) {
    const common = requestAttributes(c.payload, c.major, Tag.CommonTemplateAttribute, Tag.CommonAttributes);
    const priv = requestAttributes(c.payload, c.major, Tag.PrivateKeyTemplateAttribute, Tag.PrivateKeyAttributes);
    const pub = requestAttributes(c.payload, c.major, Tag.PublicKeyTemplateAttribute, Tag.PublicKeyAttributes);
    // Object-specific attributes override the common ones.
    const merge = (specific: Attr[]) => [
      ...common.filter((a) => !specific.some((s) => s.name === a.name && a.name !== "Name")),
      ...specific,
    ];
    const privAttrs = merge(priv);
    const pubAttrs = merge(pub);
    const type = typeFor(privAttrs, "PrivateKey");
    if (!canGenerate(type) || !/^(rsa|ec)-/.test(type)) fail("feature_not_supported", { detail: `cannot generate ${type} key pairs` });
    requireQuantumSafe([...privAttrs, ...pubAttrs], type);
    const ids = await c.services.objects.createKeyPair(
      c.auth,
      c.op,
      specFrom(privAttrs, "PrivateKey", type, false, {}, c.services.clock()),
      specFrom(pubAttrs, "PublicKey", type, true, {}, c.services.clock()),
    );
    c.setPlaceholder(ids.privateId);
    return [text(Tag.PrivateKeyUniqueIdentifier, ids.privateId), text(Tag.PublicKeyUniqueIdentifier, ids.publicId)];
  },
};
