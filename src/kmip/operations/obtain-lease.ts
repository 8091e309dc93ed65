// KMIP Obtain Lease: how long the client may keep using an object it retrieved before it must check back (Lease Time).
import { fail } from "../../errors/registry.js";
import { LEASE_TIME_SECONDS } from "../attributes.js";
import { dateTime, interval, Tag } from "../codec/ttlv.js";
import { type KmipOperation, targetId } from "../operation.js";
import { uidItem } from "./common.js";

export const obtainLease: KmipOperation = {
  name: "ObtainLease",
  async handle(c) {
    const id = targetId(c);
    const { obj } = await c.services.objects.authorized(c.auth, c.op, id, "read");
    // A lease only makes sense for an object that may still be used.
    if (obj.state !== "Active") fail("invalid_state", { detail: `object ${id} is ${obj.state}; leases are granted on Active objects` });
    // The answer is the Lease Time and the Last Change Date, with which the client can tell whether its copy is current.
    return [uidItem(id), interval(Tag.LeaseTime, LEASE_TIME_SECONDS), dateTime(Tag.LastChangeDate, new Date(obj.updated_at))];
  },
};
