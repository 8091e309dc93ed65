// The one KMIP entry point: KmipHandler.reply(identity, bytes, encoding) → bytes, used by the TLS listener and POST /kmip.
import type { OpScope } from "../audit/operation.js";
import type { AuthCtx } from "../auth/identity.js";
import { isStrongroomError, StrongroomError } from "../errors/registry.js";
import { UndoJournal } from "../keys/object-service.js";
import { TtlvError } from "./codec/errors.js";
import { jsonToTtlv, ttlvToJson } from "./codec/json.js";
import { enumName, enumValue } from "./codec/names.js";
import { Enum } from "./codec/tables.js";
import { decodeTtlv, encodeTtlv, Tag, type TtlvItem } from "./codec/ttlv.js";
import { ttlvToXml, xmlToTtlv } from "./codec/xml.js";
import { buildResponse, type ParsedRequest, type ProtocolVersion, parseRequest, type ResultItem, SUPPORTED_VERSIONS } from "./message.js";
import type { KmipCall, KmipServices } from "./operation.js";
import { StreamSessions } from "./operations/crypto-streams.js";
import { OPERATIONS } from "./operations/index.js";
import { itemSize, ResponseBudget } from "./response-budget.js";

export type KmipEncoding = "ttlv" | "json" | "xml";

export interface KmipLimits {
  maxBatchItems: number;
  maxDepth: number;
  /** Server-side Maximum Response Size (limits.maxResponseBytes), in bytes of the reply's encoding. */
  maxResponseBytes?: number;
}

const DEFAULT_MAX_RESPONSE_BYTES = 8 * 1024 * 1024;
const DEFAULT_RESPONSE_MEMORY_BYTES = 64 * 1024 * 1024;

/** A reply and the release of the bytes it holds in the server's response budget (call once it is written). */
export interface KmipReply {
  bytes: Buffer;
  release(): void;
}

function decode(bytes: Buffer, encoding: KmipEncoding, limits: KmipLimits): TtlvItem {
  if (encoding === "ttlv") return decodeTtlv(bytes, { maxDepth: limits.maxDepth });
  const textIn = bytes.toString("utf8");
  return encoding === "json" ? jsonToTtlv(textIn, { maxDepth: limits.maxDepth }) : xmlToTtlv(textIn, { maxDepth: limits.maxDepth });
}

function encode(item: TtlvItem, encoding: KmipEncoding): Buffer {
  if (encoding === "ttlv") return encodeTtlv(item);
  return Buffer.from(encoding === "json" ? ttlvToJson(item) : ttlvToXml(item), "utf8");
}

/** The response version: the request's if supported, else the highest supported one below it. */
function replyVersion(v: ProtocolVersion): ProtocolVersion {
  return (
    SUPPORTED_VERSIONS.find((s) => s.major < v.major || (s.major === v.major && s.minor <= v.minor)) ??
    SUPPORTED_VERSIONS[SUPPORTED_VERSIONS.length - 1]
  );
}

function reasonFor(e: unknown, major: number): { reason: number; message: string } {
  if (e instanceof TtlvError)
    return { reason: enumValue(Tag.ResultReason, e.reason) ?? Enum.ResultReason.InvalidMessage, message: e.message };
  const err = isStrongroomError(e) ? e : new StrongroomError("internal", { requestId: "" });
  const name = err.kmipReason(major);
  return { reason: enumValue(Tag.ResultReason, name) ?? Enum.ResultReason.GeneralFailure, message: err.message };
}

/** A whole-message failure (undecodable or malformed header): one failed batch item, no operation. */
function messageFailure(e: unknown, v: ProtocolVersion, now: Date): TtlvItem {
  const { reason, message } = reasonFor(e, v.major);
  return buildResponse(
    v,
    now,
    [{ operation: null, uniqueBatchItemId: null, status: Enum.ResultStatus.OperationFailed, reason, message }],
    null,
  );
}

/** The encoded size of one batch item of the response (see response-budget.ts). */
function batchItemSize(v: ProtocolVersion, r: ResultItem, encoding: KmipEncoding): number {
  const item = buildResponse(v, new Date(0), [r], null).value[1];
  return itemSize(item, encoding);
}

/**
 * KMIP for one server: the services its operations call, the limits both listeners apply, the server-wide budget of
 * response bytes in flight (limits.responseMemoryBytes) and the multi-part sessions. Built by the composition root
 * (src/server.ts), which also drops the sessions when the server seals.
 */
export class KmipHandler {
  /** Response bytes in flight across both listeners (see response-budget.ts). */
  readonly budget: ResponseBudget;
  /** Multi-part cryptographic operations in progress. */
  readonly sessions = new StreamSessions();

  constructor(
    private readonly services: KmipServices,
    private readonly limits: KmipLimits,
    responseMemoryBytes: number = DEFAULT_RESPONSE_MEMORY_BYTES,
  ) {
    this.budget = new ResponseBudget(responseMemoryBytes);
  }

  /**
   * Handles one KMIP request message for an authenticated identity. Each batch item is authorized and audited on its
   * own (KmipAuditService.item), with the KMIP operation as the action. Never throws for bad input: a malformed
   * message gets a failure response in the same encoding.
   */
  async handle(auth: AuthCtx, bytes: Buffer, encoding: KmipEncoding): Promise<Buffer> {
    const r = await this.reply(auth, bytes, encoding);
    r.release();
    return r.bytes;
  }

  /**
   * `handle`, with the reply's bytes still counted in the server-wide response budget until `release` (the TLS
   * listener and POST /kmip release once the reply is written). Results are sized as they are produced: the item that
   * would take the response past limits.maxResponseBytes, and every item after it, fail with Response Too Large and
   * are not run (with Batch Error Continuation Option Stop or Undo the batch stops there, as after any failure).
   */
  reply(auth: AuthCtx, bytes: Buffer, encoding: KmipEncoding): Promise<KmipReply> {
    return handleKmipReply(this.services, this.sessions, this.budget, auth, bytes, encoding, this.limits);
  }
}

async function handleKmipReply(
  services: KmipServices,
  sessions: StreamSessions,
  budget: ResponseBudget,
  auth: AuthCtx,
  bytes: Buffer,
  encoding: KmipEncoding,
  limits: KmipLimits,
): Promise<KmipReply> {
  let held = 0;
  let released = false;
  const reply = (b: Buffer): KmipReply => ({
    bytes: b,
    release: () => {
      if (released) return;
      released = true;
      budget.give(held);
    },
  });
  const now = services.clock();
  let req: ParsedRequest;
  let version: ProtocolVersion = { major: 1, minor: 4 };
  try {
    const msg = decode(bytes, encoding, limits);
    req = parseRequest(msg, limits.maxBatchItems);
    version = replyVersion(req.version);
  } catch (e) {
    await services.kmipAudit.unreadable(auth, e instanceof TtlvError ? new StrongroomError("bad_request", { detail: e.message }) : e);
    return reply(encode(messageFailure(e, version, now), encoding));
  }
  if (services.sys.sealed) {
    return reply(encode(messageFailure(new StrongroomError("sealed"), version, now), encoding));
  }

  const maxBytes = limits.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
  const failed = (r: ResultItem, e: StrongroomError): ResultItem => {
    const { reason, message } = reasonFor(e, version.major);
    return { ...r, status: Enum.ResultStatus.OperationFailed, reason, message, payload: undefined, asyncCorrelation: undefined };
  };
  const tooLarge = new StrongroomError("response_too_large", { limit: maxBytes });
  const busy = new StrongroomError("responses_busy");
  // What each item costs at least (its Response Too Large failure), summed from the end: an item may only use what
  // leaves room for the failures of every item after it, so the whole response stays within maxBytes.
  const reserve: number[] = new Array(req.items.length + 1).fill(0);
  for (let i = req.items.length - 1; i >= 0; i--) {
    const it = req.items[i];
    reserve[i] =
      reserve[i + 1] +
      batchItemSize(version, failed({ operation: it.operation, uniqueBatchItemId: it.uniqueBatchItemId, status: 0 }, tooLarge), encoding);
  }
  let total = itemSize(buildResponse(version, now, [], req.clientCorrelation), encoding);
  /** Accounts result `r` of item `i`: it if it fits, else its failure, with the reason nothing more fits. */
  const admit = (i: number, r: ResultItem): { result: ResultItem; stop: StrongroomError | null } => {
    const size = batchItemSize(version, r, encoding);
    const stop = total + size + reserve[i + 1] > maxBytes ? tooLarge : budget.take(size) ? null : busy;
    if (!stop) {
      total += size;
      held += size;
      return { result: r, stop: null };
    }
    // The failure's few bytes were reserved above (so the response stays within maxBytes) and are always sent.
    const f = failed(r, stop);
    total += batchItemSize(version, f, encoding);
    return { result: f, stop };
  };

  const results: ResultItem[] = [];
  const undo = req.continuation === Enum.BatchErrorContinuationOption.Undo ? new UndoJournal() : null;
  const runBatch = async () => {
    let placeholder: string | null = null;
    let exhausted: StrongroomError | null = null;
    for (const [index, item] of req.items.entries()) {
      if (exhausted) {
        // Nothing more fits: the rest are not run.
        results.push(failed({ operation: item.operation, uniqueBatchItemId: item.uniqueBatchItemId, status: 0 }, exhausted));
        continue;
      }
      const def = OPERATIONS.get(item.operation);
      // An Operation our table does not name is not echoed as its number (request content): "unknown".
      const named = enumName(Tag.Operation, item.operation);
      const opName = def?.name ?? (named.startsWith("0x") ? "unknown" : named);
      const result: ResultItem = {
        operation: item.operation,
        uniqueBatchItemId: item.uniqueBatchItemId,
        status: Enum.ResultStatus.Success,
      };
      try {
        const run = def
          ? (op: OpScope) => {
              const call: KmipCall = {
                services,
                sessions,
                auth,
                major: version.major,
                minor: version.minor,
                op,
                payload: item.payload,
                placeholder,
                setPlaceholder: (id) => {
                  placeholder = id;
                },
              };
              return def.handle(call);
            }
          : null;
        result.payload = await services.kmipAudit.item(auth, opName, run);
      } catch (e) {
        if (isStrongroomError(e) && e.code === "approval_required") {
          // Dual control: "Operation Pending" with the approval id as Asynchronous Correlation Value.
          result.status = Enum.ResultStatus.OperationPending;
          result.message = e.message;
          result.asyncCorrelation = Buffer.from(String(e.params.id));
          result.payload = undefined;
        } else {
          const { reason, message } = reasonFor(e, version.major);
          result.status = Enum.ResultStatus.OperationFailed;
          result.reason = reason;
          result.message = message;
          result.payload = undefined;
        }
      }
      const admitted = admit(index, result);
      results.push(admitted.result);
      exhausted = admitted.stop;
      // Batch Error Continuation Option: Stop (the default) and Undo process nothing after a failure.
      if (admitted.result.status !== Enum.ResultStatus.Success && req.continuation !== Enum.BatchErrorContinuationOption.Continue) break;
    }
  };
  if (!undo) await runBatch();
  else {
    await services.objects.undoable(undo, runBatch);
    if (results.some((r) => r.status === Enum.ResultStatus.OperationFailed) && results.length > 1) {
      // Batch Error Continuation Option "Undo: If any operation in the request fails, then the server SHALL undo all
      // the previous operations"; their results say Operation Undone.
      try {
        await services.kmipAudit.undo(auth, undo);
        for (const r of results) if (r.status === Enum.ResultStatus.Success) r.status = Enum.ResultStatus.OperationUndone;
      } catch {
        // The earlier items stay as they were reported: done.
      }
    }
  }

  let response = buildResponse(version, now, results, req.clientCorrelation);
  if (req.maximumResponseSize !== null) {
    const size = encodeTtlv(response).length;
    if (size > req.maximumResponseSize) {
      // "If the response to the request exceeds the Maximum Response Size, the server SHALL return Response Too Large."
      const tooLarge = new StrongroomError("response_too_large", { limit: req.maximumResponseSize });
      const { reason, message } = reasonFor(tooLarge, version.major);
      response = buildResponse(
        version,
        now,
        // Items that did not succeed keep their own result (Pending, Undone, a failure); successful ones
        // lose the payload that did not fit.
        results.map((r) =>
          r.status === Enum.ResultStatus.Success
            ? { ...r, status: Enum.ResultStatus.OperationFailed, reason, message, payload: undefined }
            : r,
        ),
        req.clientCorrelation,
      );
    }
  }
  return reply(encode(response, encoding));
}
