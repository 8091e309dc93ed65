// KMIP Create: generates a symmetric key; Pre-Active unless an Activation Date not in the future is given.
import { fail } from "../../errors/registry.js";
import { requestAttributes } from "../attributes.js";
import { enm, find, Tag } from "../codec/ttlv.js";
import type { KmipOperation } from "../operation.js";
import { canGenerate, objectTypeOf, requireQuantumSafe, specFrom, typeFor, uidItem } from "./common.js";

export const create: KmipOperation = {
  name: "Create",
  async handle(c) {
    const objectType = objectTypeOf(find(c.payload, Tag.ObjectType));
    if (objectType !== "SymmetricKey")
      fail("feature_not_supported", { detail: "Create makes symmetric keys; use Create Key Pair or Register" });
    const attrs = requestAttributes(c.payload, c.major, Tag.TemplateAttribute, Tag.Attributes);
    const type = typeFor(attrs, objectType);
    if (!canGenerate(type)) fail("feature_not_supported", { detail: `cannot generate ${type} keys` });
    requireQuantumSafe(attrs, type);
    const id = await c.services.objects.create(c.auth, c.op, specFrom(attrs, objectType, type, false, {}, c.services.clock()));
    c.setPlaceholder(id);
    return [enm(Tag.ObjectType, 2), uidItem(id)];
  },
};
