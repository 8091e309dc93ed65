// KMIP Import (2.x): registers an object under the Unique Identifier the client gives (exported from another server).
import { fail } from "../../errors/registry.js";
import { find, ItemType, Tag } from "../codec/ttlv.js";
import type { KmipOperation } from "../operation.js";
import { uidItem } from "./common.js";
import { registerFrom } from "./register.js";

export const importObject: KmipOperation = {
  name: "Import",
  async handle(c) {
    if (c.major < 2) fail("operation_not_supported", { operation: "Import" });
    const u = find(c.payload, Tag.UniqueIdentifier);
    if (!u || u.type !== ItemType.TextString || u.value.length === 0 || u.value.length > 128) {
      return fail("validation", { detail: "Import needs the object's Unique Identifier (1..128 characters)" });
    }
    const replace = find(c.payload, Tag.ReplaceExisting);
    if (replace && replace.value === true)
      fail("feature_not_supported", { detail: "Replace Existing is not supported: destroy the existing object first" });
    const wrap = find(c.payload, Tag.KeyWrapType);
    if (wrap && wrap.value !== 1) fail("feature_not_supported", { detail: "only Key Wrap Type Not Wrapped is supported for Import" });
    const id = await registerFrom(c, u.value);
    c.setPlaceholder(id);
    return [uidItem(id)];
  },
};
