// KMIP Query: supported operations and object types, server information (KMIP 1.4 §4.25, 2.1 §6.1.37).
import { VERSION } from "../../version.js";
import { Enum } from "../codec/tables.js";
import { enm, findAll, struct, Tag, text } from "../codec/ttlv.js";
import type { KmipOperation } from "../operation.js";
import { OBJECT_TYPE_NAMES } from "./common.js";

/** Filled in by the operation table (avoids an import cycle). */
export const supported: { operations: number[] } = { operations: [] };

export const query: KmipOperation = {
  name: "Query",
  async handle(c) {
    const fns = new Set(findAll(c.payload, Tag.QueryFunction).map((f) => f.value as number));
    const out = [];
    if (fns.has(Enum.QueryFunction.QueryOperations)) out.push(...supported.operations.map((o) => enm(Tag.Operation, o)));
    if (fns.has(Enum.QueryFunction.QueryObjects)) out.push(...Object.keys(OBJECT_TYPE_NAMES).map((t) => enm(Tag.ObjectType, Number(t))));
    if (fns.has(Enum.QueryFunction.QueryServerInformation)) {
      out.push(text(Tag.VendorIdentification, "Strongroom"));
      out.push(struct(Tag.ServerInformation, text(Tag.ServerName, c.app.config.node), text(Tag.ServerVersion, VERSION)));
    }
    return out;
  },
};
