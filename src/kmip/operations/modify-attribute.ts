// KMIP Modify Attribute: replaces one instance (1.x by Attribute Index, 2.x by Current Attribute).
import { type KmipOperation, targetId } from "../operation.js";
import { echo, parseChange } from "./attribute-change.js";
import { applyChange } from "./attribute-ops.js";
import { uidItem } from "./common.js";

export const modifyAttribute: KmipOperation = {
  name: "ModifyAttribute",
  async handle(c) {
    const id = targetId(c);
    const change = parseChange(c, "modify");
    const value = await applyChange(c, id, change);
    return [uidItem(id), ...echo(c, change.name, value, change.index)];
  },
};
