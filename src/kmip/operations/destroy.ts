// KMIP Destroy: erases the material of a Pre-Active, Deactivated or Compromised object; metadata stays.
import { type KmipOperation, targetId } from "../operation.js";
import { uidItem } from "./common.js";

export const destroy: KmipOperation = {
  name: "Destroy",
  async handle(c) {
    const id = targetId(c);
    await c.app.objects.destroy(c.auth, c.op, id);
    return [uidItem(id)];
  },
};
