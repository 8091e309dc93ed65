// KMIP Add Attribute: a new instance of a client-modifiable attribute (custom x- attributes, Name, Link, Object Group …).
import { type KmipOperation, targetId } from "../operation.js";
import { echo, parseChange } from "./attribute-change.js";
import { applyChange } from "./attribute-ops.js";
import { uidItem } from "./common.js";

export const addAttribute: KmipOperation = {
  name: "AddAttribute",
  async handle(c) {
    const id = targetId(c);
    const change = parseChange(c, "add");
    const value = await applyChange(c, id, change);
    return [uidItem(id), ...echo(c, change.name, value, change.index)];
  },
};
