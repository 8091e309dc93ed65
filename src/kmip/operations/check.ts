// KMIP Check: whether the object could be used as described (usage mask, state) without using it.
import { fail } from "../../errors/registry.js";
import { find, ItemType, Tag } from "../codec/ttlv.js";
import { type KmipOperation, targetId } from "../operation.js";
import { uidItem } from "./common.js";

export const check: KmipOperation = {
  name: "Check",
  async handle(c) {
    const id = targetId(c);
    const { obj } = await c.services.objects.authorized(c.auth, c.op, id, "read");
    const mask = find(c.payload, Tag.CryptographicUsageMask);
    if (mask && mask.type === ItemType.Integer && (obj.usage_mask & mask.value) !== mask.value) {
      fail("usage_not_permitted", { detail: `the usage mask of ${id} does not allow the requested use` });
    }
    if (obj.state !== "Active") fail("invalid_state", { detail: `object ${id} is ${obj.state}` });
    // A successful Check answers with the Unique Identifier only; the failing field is what a failure reports.
    return [uidItem(id)];
  },
};
