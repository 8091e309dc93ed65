// KMIP RNG Seed: refused. The server's generator (OpenSSL's DRBG behind node:crypto) reseeds from the operating system only.
import { fail } from "../../errors/registry.js";
import { ItemType, Tag } from "../codec/ttlv.js";
import { type KmipOperation, required } from "../operation.js";

export const rngSeed: KmipOperation = {
  name: "RNGSeed",
  async handle(c) {
    required(c.payload, Tag.Data, ItemType.ByteString, "Data");
    // A server may use, ignore or refuse seed data; letting clients feed the generator every key comes from is not
    // something a key manager should allow, so the request is denied.
    return fail("forbidden", { detail: "the server's random number generator does not accept seed data from clients" });
  },
};
