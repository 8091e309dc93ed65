// KMIP Export (2.x): the object as Get returns it, together with all of its attributes.
import { fail } from "../../errors/registry.js";
import { attributesStructure } from "../attributes.js";
import { type KmipOperation, targetId } from "../operation.js";
import { allAttributes } from "./attribute-ops.js";
import { get } from "./get.js";

export const exportObject: KmipOperation = {
  name: "Export",
  async handle(c) {
    if (c.major < 2) fail("operation_not_supported", { operation: "Export" });
    const id = targetId(c);
    // Export is Get plus attributes: the same policy ("material"), state and extractability rules apply.
    const [objectType, uid, body] = await get.handle(c);
    const l = await c.services.objects.load(undefined, id);
    const attrs = (await allAttributes(c, l)).filter((a) => a.name !== "Unique Identifier");
    return [objectType, uid, attributesStructure(attrs, c.major), body];
  },
};
