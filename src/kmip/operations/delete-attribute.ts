// KMIP Delete Attribute: removes one instance of a client-modifiable attribute.
import { type KmipOperation, targetId } from "../operation.js";
import { echo, parseChange } from "./attribute-change.js";
import { applyChange } from "./attribute-ops.js";
import { uidItem } from "./common.js";

export const deleteAttribute: KmipOperation = {
  name: "DeleteAttribute",
  async handle(c) {
    const id = targetId(c);
    const change = parseChange(c, "delete");
    const value = await applyChange(c, id, change);
    return [uidItem(id), ...echo(c, change.name, value, change.index)];
  },
};
