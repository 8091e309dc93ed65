// KMIP Request/Response Message structure: header and batch items in, results out (KMIP 1.4 §7, 2.1 §8).
import { StrongroomError } from "../errors/registry.js";
import { bytes, dateTime, enm, find, findAll, ItemType, int, type StructureItem, struct, Tag, type TtlvItem, text } from "./codec/ttlv.js";

export interface ProtocolVersion {
  major: number;
  minor: number;
}

export interface RequestBatchItem {
  operation: number;
  uniqueBatchItemId: Buffer | null;
  payload: StructureItem;
}

export interface ParsedRequest {
  version: ProtocolVersion;
  maximumResponseSize: number | null;
  /** Batch Error Continuation Option: 1 Continue, 2 Stop (default), 3 Undo. */
  continuation: number;
  clientCorrelation: string | null;
  items: RequestBatchItem[];
}

export interface ResultItem {
  operation: number | null;
  uniqueBatchItemId: Buffer | null;
  /** 0 Success, 1 Operation Failed (Enum.ResultStatus). */
  status: number;
  reason?: number;
  message?: string;
  /** Asynchronous Correlation Value of an Operation Pending result (the dual-control approval id). */
  asyncCorrelation?: Buffer;
  payload?: TtlvItem[];
}

/** Versions this server speaks, newest first (Discover Versions answers from this list). */
export const SUPPORTED_VERSIONS: ProtocolVersion[] = [
  { major: 2, minor: 1 },
  { major: 2, minor: 0 },
  { major: 1, minor: 4 },
  { major: 1, minor: 3 },
  { major: 1, minor: 2 },
  { major: 1, minor: 1 },
  { major: 1, minor: 0 },
];

const bad = (detail: string): never => {
  throw new StrongroomError("bad_request", { detail });
};

function intOf(parent: TtlvItem, tag: number, what: string): number | null {
  const it = find(parent, tag);
  if (!it) return null;
  if (it.type !== ItemType.Integer) bad(`${what} must be an Integer`);
  return it.value as number;
}

/** Reads the request header and batch items; throws Invalid Message for a malformed message. */
export function parseRequest(msg: TtlvItem, maxBatch: number): ParsedRequest {
  if (msg.tag !== Tag.RequestMessage || msg.type !== ItemType.Structure) bad("expected a Request Message");
  const header = find(msg, Tag.RequestHeader);
  if (!header || header.type !== ItemType.Structure) bad("Request Header missing");
  const pv = find(header as TtlvItem, Tag.ProtocolVersion);
  if (!pv || pv.type !== ItemType.Structure) bad("Protocol Version missing");
  const major = intOf(pv as TtlvItem, Tag.ProtocolVersionMajor, "Protocol Version Major");
  const minor = intOf(pv as TtlvItem, Tag.ProtocolVersionMinor, "Protocol Version Minor");
  if (major === null || minor === null) bad("Protocol Version incomplete");
  const batchCount = intOf(header as TtlvItem, Tag.BatchCount, "Batch Count");
  const batch = findAll(msg, Tag.BatchItem);
  if (batch.length > maxBatch) bad(`at most ${maxBatch} batch items per message`);
  if (batchCount !== null && batchCount !== batch.length) bad("Batch Count does not match the number of Batch Items");
  const cont = find(header as TtlvItem, Tag.BatchErrorContinuationOption);
  const corr = find(header as TtlvItem, Tag.ClientCorrelationValue);
  const items = batch.map((b): RequestBatchItem => {
    if (b.type !== ItemType.Structure) bad("Batch Item must be a Structure");
    const op = find(b, Tag.Operation);
    if (!op || op.type !== ItemType.Enumeration) bad("Operation missing");
    const id = find(b, Tag.UniqueBatchItemID);
    const payload = find(b, Tag.RequestPayload);
    if (payload && payload.type !== ItemType.Structure) bad("Request Payload must be a Structure");
    return {
      operation: (op as TtlvItem).value as number,
      uniqueBatchItemId: id && id.type === ItemType.ByteString ? id.value : null,
      payload: (payload as StructureItem | undefined) ?? struct(Tag.RequestPayload),
    };
  });
  return {
    version: { major: major as number, minor: minor as number },
    maximumResponseSize: intOf(header as TtlvItem, Tag.MaximumResponseSize, "Maximum Response Size"),
    continuation: cont && cont.type === ItemType.Enumeration ? cont.value : 2,
    clientCorrelation: corr && corr.type === ItemType.TextString ? corr.value : null,
    items,
  };
}

export function protocolVersion(v: ProtocolVersion): StructureItem {
  return struct(Tag.ProtocolVersion, int(Tag.ProtocolVersionMajor, v.major), int(Tag.ProtocolVersionMinor, v.minor));
}

export function buildResponse(v: ProtocolVersion, now: Date, results: ResultItem[], clientCorrelation: string | null): StructureItem {
  return struct(
    Tag.ResponseMessage,
    struct(
      Tag.ResponseHeader,
      protocolVersion(v),
      // KMIP 1.4 added Client Correlation Value to the response header.
      clientCorrelation !== null && (v.major > 1 || v.minor >= 4) ? text(Tag.ClientCorrelationValue, clientCorrelation) : null,
      dateTime(Tag.TimeStamp, now),
      int(Tag.BatchCount, results.length),
    ),
    ...results.map((r) =>
      struct(
        Tag.BatchItem,
        r.operation !== null ? enm(Tag.Operation, r.operation) : null,
        r.uniqueBatchItemId ? bytes(Tag.UniqueBatchItemID, r.uniqueBatchItemId) : null,
        enm(Tag.ResultStatus, r.status),
        r.reason !== undefined ? enm(Tag.ResultReason, r.reason) : null,
        r.asyncCorrelation ? bytes(Tag.AsynchronousCorrelationValue, r.asyncCorrelation) : null,
        r.message !== undefined ? text(Tag.ResultMessage, r.message) : null,
        r.payload ? struct(Tag.ResponsePayload, ...r.payload) : null,
      ),
    ),
  );
}
