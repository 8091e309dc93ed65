// KMIP Set Attribute (2.x): sets a single-valued attribute, replacing any value.
import { type KmipOperation, targetId } from "../operation.js";
import { echo, parseChange } from "./attribute-change.js";
import { applyChange } from "./attribute-ops.js";
import { uidItem } from "./common.js";

export const setAttribute: KmipOperation = {
  name: "SetAttribute",
  async handle(c) {
    const id = targetId(c);
    const change = parseChange(c, "set");
    const value = await applyChange(c, id, change);
    return [uidItem(id), ...echo(c, change.name, value, change.index)];
  },
};
