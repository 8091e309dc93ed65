// KMIP Activate: Pre-Active → Active, setting the Activation Date.
import type { KmipOperation } from "../operation.js";
import { targetId } from "../operation.js";
import { uidItem } from "./common.js";

export const activate: KmipOperation = {
  name: "Activate",
  async handle(c) {
    const id = targetId(c);
    await c.services.objects.activate(c.auth, c.op, id);
    return [uidItem(id)];
  },
};
