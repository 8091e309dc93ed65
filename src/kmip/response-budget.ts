// Response size accounting for KMIP: the encoded size of a batch item in the reply's encoding, and the server-wide budget of response bytes in flight.
import { ttlvToJson } from "./codec/json.js";
import { encodedLength, type TtlvItem } from "./codec/ttlv.js";
import { ttlvToXml } from "./codec/xml.js";

export type ReplyEncoding = "ttlv" | "json" | "xml";

/**
 * Bytes `item` adds to a Response Message in `encoding`: exact for TTLV; for JSON the item's text plus its separator;
 * for XML its text plus the two spaces of indentation each of its lines gains one level down.
 */
export function itemSize(item: TtlvItem, encoding: ReplyEncoding): number {
  if (encoding === "ttlv") return encodedLength(item);
  if (encoding === "json") return Buffer.byteLength(ttlvToJson(item)) + 1;
  const x = ttlvToXml(item);
  let lines = 0;
  for (let i = x.indexOf("\n"); i >= 0; i = x.indexOf("\n", i + 1)) lines++;
  return Buffer.byteLength(x) + 2 * lines;
}

/**
 * Bytes of responses being built or written, across every connection of both listeners. A request whose items
 * would take it past the limit gets `responses_busy` for them (and they are not run) instead of growing memory.
 */
export class ResponseBudget {
  private used = 0;
  constructor(readonly limit: number) {}
  take(n: number): boolean {
    if (this.used + n > this.limit) return false;
    this.used += n;
    return true;
  }
  give(n: number): void {
    this.used = Math.max(0, this.used - n);
  }
  get inUse(): number {
    return this.used;
  }
}
