// KMIP Destroy: erases the material of a Pre-Active, Deactivated or Compromised object; metadata stays.
import { digestAttribute } from "../attributes.js";
import { encodeTtlv } from "../codec/ttlv.js";
import { type KmipOperation, targetId } from "../operation.js";
import { digestInput } from "./attribute-ops.js";
import { uidItem } from "./common.js";

export const destroy: KmipOperation = {
  name: "Destroy",
  async handle(c) {
    const id = targetId(c);
    // The Digest describes the value the object had; it stays an attribute of the destroyed object.
    await c.services.objects.destroy(c.auth, c.op, id, (obj) => {
      const d = digestInput(c, obj);
      return d ? { digest: encodeTtlv(digestAttribute(d)).toString("base64") } : {};
    });
    return [uidItem(id)];
  },
};
