// KMIP Interop (2.1): a client marks the beginning and end of an interoperability test case; recorded in the audit log.
import { fail } from "../../errors/registry.js";
import { Enum } from "../codec/tables.js";
import { ItemType, Tag } from "../codec/ttlv.js";
import { type KmipOperation, required } from "../operation.js";

export const interop: KmipOperation = {
  name: "Interop",
  async handle(c) {
    const fn = required(c.payload, Tag.InteropFunction, ItemType.Enumeration, "Interop Function").value as number;
    const id = required(c.payload, Tag.InteropIdentifier, ItemType.TextString, "Interop Identifier").value as string;
    // Begin and End only mark the test case in the audit trail. Reset would return the server to a known state,
    // which a production key manager does not do on a client's request.
    if (fn === Enum.InteropFunction.Reset) fail("feature_not_supported", { detail: "Interop Reset is not supported" });
    if (fn !== Enum.InteropFunction.Begin && fn !== Enum.InteropFunction.End) fail("validation", { detail: "unknown Interop Function" });
    c.op.detail = { ...c.op.detail, interop: fn === Enum.InteropFunction.Begin ? "begin" : "end", identifier: id.slice(0, 128) };
    return [];
  },
};
