// KMIP Log (2.0): a client's message for the server's log; it is written to the audit event of the request.
import { ItemType, Tag } from "../codec/ttlv.js";
import { type KmipOperation, required } from "../operation.js";

/** Longest message kept; the rest is cut (the audit log is not a bulk store). */
const MAX_LOG_MESSAGE = 1024;

export const log: KmipOperation = {
  name: "Log",
  async handle(c) {
    // KMIP 2.0 Log: the client asks the server to log a message; it goes into this request's audit event.
    const msg = required(c.payload, Tag.LogMessage, ItemType.TextString, "Log Message").value as string;
    c.op.detail = { ...c.op.detail, logMessage: msg.slice(0, MAX_LOG_MESSAGE) };
    return [];
  },
};
