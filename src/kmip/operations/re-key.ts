// KMIP Re-key: a replacement symmetric key (the key's next version) with the same attributes; Names move to it.
import { find, Tag } from "../codec/ttlv.js";
import { type KmipOperation, targetId } from "../operation.js";
import { uidItem } from "./common.js";

export const reKey: KmipOperation = {
  name: "ReKey",
  async handle(c) {
    const id = targetId(c);
    const off = find(c.payload, Tag.Offset);
    const r = await c.services.objects.rekey(c.auth, c.op, id, off ? Number(off.value) : undefined);
    c.setPlaceholder(r.id);
    return [uidItem(r.id)];
  },
};
