// The single error type of the KMIP codec: every malformed input is reported as a TtlvError with a KMIP Result Reason.

/**
 * The KMIP Result Reason a server answers with when the codec rejects input:
 * "Invalid Message" — "The request message was not syntactically understood by the server";
 * "Invalid Field" — "The request is syntactically valid but some data in the request … has an invalid value".
 */
export type TtlvErrorReason = "Invalid Message" | "Invalid Field";

export class TtlvError extends Error {
  override readonly name = "TtlvError";
  readonly reason: TtlvErrorReason;
  /** Byte offset (TTLV) or character offset (XML/JSON) where the problem was found, when known. */
  readonly offset: number | undefined;

  constructor(reason: TtlvErrorReason, message: string, offset?: number) {
    super(offset === undefined ? message : `${message} (at offset ${offset})`);
    this.reason = reason;
    this.offset = offset;
  }
}

export function invalidMessage(message: string, offset?: number): TtlvError {
  return new TtlvError("Invalid Message", message, offset);
}

export function invalidField(message: string, offset?: number): TtlvError {
  return new TtlvError("Invalid Field", message, offset);
}
