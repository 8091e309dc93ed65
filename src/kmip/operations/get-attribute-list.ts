// KMIP Get Attribute List: the names of the attributes an object has.
import { is2x } from "../attributes.js";
import { enumValue } from "../codec/names.js";
import { enm, struct, Tag, text } from "../codec/ttlv.js";
import { type KmipOperation, targetId } from "../operation.js";
import { allAttributes } from "./attribute-ops.js";
import { uidItem } from "./common.js";

export const getAttributeList: KmipOperation = {
  name: "GetAttributeList",
  async handle(c) {
    const id = targetId(c);
    const l = await c.services.objects.authorized(c.auth, c.op, id, "read");
    const names = [...new Set((await allAttributes(c, l)).map((a) => a.name))];
    if (!is2x(c.major)) return [uidItem(id), ...names.map((n) => text(Tag.AttributeName, n))];
    return [
      uidItem(id),
      ...names.map((n) =>
        /^[xy]-/.test(n)
          ? struct(Tag.AttributeReference, text(Tag.VendorIdentification, n.slice(0, 1)), text(Tag.AttributeName, n.slice(2)))
          : enm(Tag.AttributeReference, enumValue(Tag.AttributeReference, n.replace(/\s+/g, "")) ?? 0),
      ),
    ];
  },
};
