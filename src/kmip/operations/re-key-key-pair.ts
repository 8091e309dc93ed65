// KMIP Re-key Key Pair: a replacement private/public key pair linked to the old one.
import { fail } from "../../errors/registry.js";
import { find, ItemType, Tag, text } from "../codec/ttlv.js";
import type { KmipOperation } from "../operation.js";

export const reKeyKeyPair: KmipOperation = {
  name: "ReKeyKeyPair",
  async handle(c) {
    const p = find(c.payload, Tag.PrivateKeyUniqueIdentifier);
    const id = p && p.type === ItemType.TextString ? p.value : c.placeholder;
    if (!id) return fail("validation", { detail: "Private Key Unique Identifier missing" });
    const off = find(c.payload, Tag.Offset);
    const r = await c.services.objects.rekey(c.auth, c.op, id, off ? Number(off.value) : undefined);
    c.setPlaceholder(r.id);
    return [text(Tag.PrivateKeyUniqueIdentifier, r.id), text(Tag.PublicKeyUniqueIdentifier, r.publicId ?? "")];
  },
};
