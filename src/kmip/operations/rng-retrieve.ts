// KMIP RNG Retrieve (KMIP 1.4 §4.35 and 2.x): Data Length bytes from the server's CSPRNG (node:crypto randomBytes).
import { randomBytes } from "node:crypto";
import { fail } from "../../errors/registry.js";
import { bytes, type IntegerItem, ItemType, Tag } from "../codec/ttlv.js";
import { type KmipOperation, required } from "../operation.js";

/**
 * Bound on one item (64 KiB): a 48 KB request of 1,000 items once asked for 524 MB. A response as a whole is bounded
 * by limits.maxResponseBytes (handle-kmip.ts).
 */
export const MAX_RNG_BYTES = 64 * 1024;

export const rngRetrieve: KmipOperation = {
  name: "RNGRetrieve",
  async handle(c) {
    const n = required<IntegerItem>(c.payload, Tag.DataLength, ItemType.Integer, "Data Length").value;
    if (!Number.isInteger(n) || n < 1 || n > MAX_RNG_BYTES) fail("validation", { detail: `Data Length must be 1..${MAX_RNG_BYTES} bytes` });
    c.op.detail = { ...c.op.detail, length: n };
    return [bytes(Tag.Data, randomBytes(n))];
  },
};
