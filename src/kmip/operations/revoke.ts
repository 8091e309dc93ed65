// KMIP Revoke: Key/CA Compromise → Compromised; any other reason → Deactivated.
import { fail } from "../../errors/registry.js";
import type { RevocationReason } from "../../keys/key-model.js";
import { reasonName } from "../attributes.js";
import { find, ItemType, Tag } from "../codec/ttlv.js";
import { type KmipOperation, targetId } from "../operation.js";
import { uidItem } from "./common.js";

export const revoke: KmipOperation = {
  name: "Revoke",
  async handle(c) {
    const id = targetId(c);
    const rr = find(c.payload, Tag.RevocationReason);
    const code = rr ? find(rr, Tag.RevocationReasonCode) : undefined;
    if (!code || code.type !== ItemType.Enumeration) fail("validation", { detail: "Revocation Reason Code missing" });
    const occ = find(c.payload, Tag.CompromiseOccurrenceDate);
    const when = occ && occ.type === ItemType.DateTime ? new Date(Number(occ.value) * 1000) : undefined;
    await c.services.objects.revoke(c.auth, c.op, id, reasonName(code?.value as number) as RevocationReason, when);
    return [uidItem(id)];
  },
};
