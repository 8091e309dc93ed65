// Minimal ASN.1 DER codec (ITU-T X.690) and PEM armor (RFC 7468); the decoder is hardened for untrusted input.

/** Universal tag numbers used by the PKI code. */
export const Tag = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  UTF8_STRING: 0x0c,
  SEQUENCE: 0x10,
  SET: 0x11,
  PRINTABLE_STRING: 0x13,
  IA5_STRING: 0x16,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  BMP_STRING: 0x1e,
} as const;

export type TagClass = "universal" | "application" | "context" | "private";
const CLASSES: readonly TagClass[] = ["universal", "application", "context", "private"];

/** One decoded element. Buffers are views into the decoded input, not copies. */
export interface DerNode {
  tag: number;
  class: TagClass;
  constructed: boolean;
  /** Content octets. */
  value: Buffer;
  /** Decoded content of a constructed element; empty for primitive ones. */
  children: DerNode[];
  /** Header + content: the exact bytes a signature covers. */
  raw: Buffer;
}

export const MAX_DEPTH = 32;

// ---------------------------------------------------------------- encoder

function encodeLength(length: number): Buffer {
  if (length < 0x80) return Buffer.from([length]);
  const bytes: number[] = [];
  for (let n = length; n > 0; n = Math.floor(n / 256)) bytes.unshift(n & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

/** Encodes one element; `identifier` is the whole identifier octet (class | constructed | tag number ≤ 30). */
export function tlv(identifier: number, content: Buffer): Buffer {
  if (!Number.isInteger(identifier) || identifier < 0 || identifier > 0xff || (identifier & 0x1f) === 0x1f) {
    throw new Error(`DER: unsupported identifier octet ${identifier}`);
  }
  return Buffer.concat([Buffer.from([identifier]), encodeLength(content.length), content]);
}

/** Non-negative INTEGER; a Buffer is read as an unsigned big-endian magnitude. */
export function derInteger(value: Buffer | bigint | number): Buffer {
  let magnitude: Buffer;
  if (Buffer.isBuffer(value)) {
    magnitude = value;
  } else {
    if (typeof value === "number" && !Number.isSafeInteger(value)) throw new Error("DER: INTEGER must be a safe integer");
    const n = BigInt(value);
    if (n < 0n) throw new Error("DER: negative INTEGER not supported");
    const hex = n.toString(16);
    magnitude = Buffer.from(hex.length % 2 ? `0${hex}` : hex, "hex");
  }
  // X.690 8.3.2: minimal two's-complement form, so strip leading zeros and add one back if the high bit is set.
  let i = 0;
  while (i < magnitude.length - 1 && magnitude[i] === 0) i++;
  let body = magnitude.length === 0 ? Buffer.from([0]) : magnitude.subarray(i);
  if (body[0] & 0x80) body = Buffer.concat([Buffer.from([0]), body]);
  return tlv(Tag.INTEGER, body);
}

export function derBoolean(value: boolean): Buffer {
  return tlv(Tag.BOOLEAN, Buffer.from([value ? 0xff : 0x00])); // X.690 11.1: TRUE is 0xFF in DER
}

export function derBitString(bytes: Buffer, unusedBits = 0): Buffer {
  if (!Number.isInteger(unusedBits) || unusedBits < 0 || unusedBits > 7 || (bytes.length === 0 && unusedBits !== 0)) {
    throw new Error("DER: invalid BIT STRING unused-bit count");
  }
  if (bytes.length > 0 && (bytes[bytes.length - 1] & ((1 << unusedBits) - 1)) !== 0) {
    throw new Error("DER: BIT STRING padding bits must be zero"); // X.690 11.2.1
  }
  return tlv(Tag.BIT_STRING, Buffer.concat([Buffer.from([unusedBits]), bytes]));
}

export function derOctetString(bytes: Buffer): Buffer {
  return tlv(Tag.OCTET_STRING, bytes);
}

export function derNull(): Buffer {
  return tlv(Tag.NULL, Buffer.alloc(0));
}

export function derOid(dotted: string): Buffer {
  if (!/^(0|[1-9]\d*)(\.(0|[1-9]\d*))+$/.test(dotted)) throw new Error(`DER: malformed OID "${dotted}"`);
  const arcs = dotted.split(".").map(BigInt);
  const [first, second] = arcs;
  if (first > 2n || (first < 2n && second >= 40n)) throw new Error(`DER: malformed OID "${dotted}"`);
  const out: number[] = [];
  // X.690 8.19: first two arcs share one subidentifier; each is base-128, high bit marks continuation.
  for (let arc of [first * 40n + second, ...arcs.slice(2)]) {
    const group = [Number(arc & 0x7fn)];
    for (arc >>= 7n; arc > 0n; arc >>= 7n) group.unshift(Number(arc & 0x7fn) | 0x80);
    out.push(...group);
  }
  return tlv(Tag.OID, Buffer.from(out));
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** False for strings with unpaired surrogates, which have no UTF-8/UTF-16BE encoding. */
export function isWellFormedUtf16(value: string): boolean {
  return !LONE_SURROGATE.test(value);
}

export function derUtf8String(value: string): Buffer {
  // Buffer.from would silently turn a lone surrogate into U+FFFD.
  if (!isWellFormedUtf16(value)) throw new Error("DER: string is not well-formed UTF-16");
  return tlv(Tag.UTF8_STRING, Buffer.from(value, "utf8"));
}

const PRINTABLE = /^[A-Za-z0-9 '()+,\-./:=?]*$/; // X.680 41.4

export function derPrintableString(value: string): Buffer {
  if (!PRINTABLE.test(value)) throw new Error("DER: invalid PrintableString characters");
  return tlv(Tag.PRINTABLE_STRING, Buffer.from(value, "latin1"));
}

export function derIa5String(value: string): Buffer {
  if (/[^\p{ASCII}]/u.test(value)) throw new Error("DER: IA5String must be ASCII");
  return tlv(Tag.IA5_STRING, Buffer.from(value, "latin1"));
}

/** BMPString as UTF-16BE: like OpenSSL, characters outside the BMP are written as surrogate pairs. */
export function derBmpString(value: string): Buffer {
  if (!isWellFormedUtf16(value)) throw new Error("DER: string is not well-formed UTF-16");
  const out = Buffer.alloc(value.length * 2);
  for (let i = 0; i < value.length; i++) out.writeUInt16BE(value.charCodeAt(i), i * 2);
  return tlv(Tag.BMP_STRING, out);
}

/** YYYYMMDDHHMMSS in UTC; fractional seconds are dropped (RFC 5280 4.1.2.5 forbids them). */
function timestamp(date: Date): string {
  if (!(date instanceof Date) || Number.isNaN(date.getTime())) throw new Error("DER: invalid Date");
  const year = date.getUTCFullYear();
  if (year < 0 || year > 9999) throw new Error("DER: year out of range");
  return date.toISOString().slice(0, 19).replace(/[-T:]/g, "");
}

export function derUtcTime(date: Date): Buffer {
  const year = date.getUTCFullYear();
  if (year < 1950 || year > 2049) throw new Error("DER: UTCTime only covers 1950-2049");
  return tlv(Tag.UTC_TIME, Buffer.from(`${timestamp(date).slice(2)}Z`, "latin1"));
}

export function derGeneralizedTime(date: Date): Buffer {
  return tlv(Tag.GENERALIZED_TIME, Buffer.from(`${timestamp(date)}Z`, "latin1"));
}

/** RFC 5280 4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050 (and before 1950). */
export function derTime(date: Date): Buffer {
  const year = date.getUTCFullYear();
  return year >= 1950 && year <= 2049 ? derUtcTime(date) : derGeneralizedTime(date);
}

export function derSequence(...items: Buffer[]): Buffer {
  return tlv(0x20 | Tag.SEQUENCE, Buffer.concat(items));
}

/** SET OF: X.690 11.6 requires the encodings in ascending byte order. */
export function derSet(...items: Buffer[]): Buffer {
  return tlv(0x20 | Tag.SET, Buffer.concat([...items].sort(Buffer.compare)));
}

function contextTag(n: number): number {
  if (!Number.isInteger(n) || n < 0 || n > 30) throw new Error(`DER: context tag [${n}] out of range`);
  return n;
}

/** [n] EXPLICIT: wraps a complete encoding in a constructed context-specific tag. */
export function derExplicit(n: number, inner: Buffer): Buffer {
  return tlv(0xa0 | contextTag(n), inner);
}

/** [n] IMPLICIT: replaces the identifier of an encoding, keeping its primitive/constructed bit. */
export function derImplicit(n: number, inner: Buffer): Buffer {
  const out = Buffer.from(inner);
  out[0] = 0x80 | (inner[0] & 0x20) | contextTag(n);
  return out;
}

// ---------------------------------------------------------------- decoder

/** Decodes exactly one DER element spanning the whole buffer; throws on any deviation from DER. */
export function decodeDer(input: Buffer): DerNode {
  const node = parseElement(input, 0, input.length, 1);
  if (node.raw.length !== input.length) throw new Error("DER: trailing data after element");
  return node;
}

function parseElement(buf: Buffer, start: number, end: number, depth: number): DerNode {
  if (depth > MAX_DEPTH) throw new Error(`DER: nesting deeper than ${MAX_DEPTH} levels`);
  let pos = start;
  if (pos >= end) throw new Error("DER: truncated element");
  const identifier = buf[pos++];
  const cls = CLASSES[identifier >> 6];
  const constructed = (identifier & 0x20) !== 0;

  let tag = identifier & 0x1f;
  if (tag === 0x1f) {
    // High-tag-number form (X.690 8.1.2.4); at most 3 octets, minimally encoded.
    tag = 0;
    for (let i = 0; ; i++) {
      if (pos >= end) throw new Error("DER: truncated tag");
      if (i === 3) throw new Error("DER: tag number too large");
      const b = buf[pos++];
      if (i === 0 && b === 0x80) throw new Error("DER: non-minimal tag encoding");
      tag = tag * 128 + (b & 0x7f);
      if ((b & 0x80) === 0) break;
    }
    if (tag < 0x1f) throw new Error("DER: non-minimal tag encoding");
  }

  if (pos >= end) throw new Error("DER: truncated length");
  let length = buf[pos++];
  if (length === 0x80) throw new Error("DER: indefinite length is not allowed");
  if (length & 0x80) {
    const count = length & 0x7f;
    if (count > 4) throw new Error("DER: length too large");
    if (count > end - pos) throw new Error("DER: truncated length");
    if (buf[pos] === 0) throw new Error("DER: non-minimal length encoding");
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + buf[pos++];
    if (length < 0x80) throw new Error("DER: non-minimal length encoding");
  }
  if (length > end - pos) throw new Error("DER: length exceeds available data");
  const contentEnd = pos + length;

  // DER (X.690 10.2) forbids constructed strings; SEQUENCE and SET are always constructed.
  if (cls === "universal" && constructed !== (tag === Tag.SEQUENCE || tag === Tag.SET)) {
    throw new Error(`DER: universal tag ${tag} has the wrong primitive/constructed form`);
  }

  const children: DerNode[] = [];
  if (constructed) {
    for (let p = pos; p < contentEnd; ) {
      const child = parseElement(buf, p, contentEnd, depth + 1);
      children.push(child);
      p += child.raw.length;
    }
  }
  return { tag, class: cls, constructed, value: buf.subarray(pos, contentEnd), children, raw: buf.subarray(start, contentEnd) };
}

const TAG_NAMES = new Map<number, string>(Object.entries(Tag).map(([name, n]) => [n, name]));

/** Throws unless `node` is the given universal type. */
export function expectTag(node: DerNode | undefined, tag: number, what: string): DerNode {
  if (node?.class !== "universal" || node.tag !== tag) {
    throw new Error(`${what}: expected ${TAG_NAMES.get(tag) ?? `tag ${tag}`}`);
  }
  return node;
}

/** Signed INTEGER value, rejecting non-minimal encodings. */
export function readInteger(node: DerNode | undefined, what = "INTEGER"): bigint {
  const v = expectTag(node, Tag.INTEGER, what).value;
  if (v.length === 0) throw new Error(`${what}: empty INTEGER`);
  if (v.length > 1 && ((v[0] === 0x00 && v[1] < 0x80) || (v[0] === 0xff && v[1] >= 0x80))) {
    throw new Error(`${what}: non-minimal INTEGER`);
  }
  const n = BigInt(`0x${v.toString("hex")}`);
  return v[0] & 0x80 ? n - (1n << BigInt(v.length * 8)) : n;
}

export function readOid(node: DerNode | undefined, what = "OID"): string {
  const v = expectTag(node, Tag.OID, what).value;
  if (v.length === 0 || v[v.length - 1] & 0x80) throw new Error(`${what}: truncated OID`);
  const subids: bigint[] = [];
  let acc = 0n;
  for (let i = 0; i < v.length; i++) {
    if (acc === 0n && v[i] === 0x80) throw new Error(`${what}: non-minimal OID`);
    acc = (acc << 7n) | BigInt(v[i] & 0x7f);
    if ((v[i] & 0x80) === 0) {
      subids.push(acc);
      acc = 0n;
    }
  }
  const first = subids[0] < 80n ? subids[0] / 40n : 2n;
  return [first, subids[0] - first * 40n, ...subids.slice(1)].join(".");
}

export function readBitString(node: DerNode | undefined, what = "BIT STRING"): { unusedBits: number; bytes: Buffer } {
  const v = expectTag(node, Tag.BIT_STRING, what).value;
  if (v.length === 0 || v[0] > 7 || (v.length === 1 && v[0] !== 0)) throw new Error(`${what}: malformed BIT STRING`);
  const unusedBits = v[0];
  if ((v[v.length - 1] & ((1 << unusedBits) - 1)) !== 0) throw new Error(`${what}: non-zero padding bits`);
  return { unusedBits, bytes: v.subarray(1) };
}

export function readOctetString(node: DerNode | undefined, what = "OCTET STRING"): Buffer {
  return expectTag(node, Tag.OCTET_STRING, what).value;
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** Text of a UTF8String, PrintableString, IA5String or BMPString; rejects invalid content. */
export function readString(node: DerNode | undefined, what = "string"): string {
  if (node?.class === "universal") {
    const v = node.value;
    switch (node.tag) {
      case Tag.UTF8_STRING:
        try {
          return utf8.decode(v);
        } catch {
          throw new Error(`${what}: invalid UTF-8`);
        }
      case Tag.PRINTABLE_STRING:
      case Tag.IA5_STRING: {
        const s = v.toString("latin1");
        if (node.tag === Tag.PRINTABLE_STRING ? !PRINTABLE.test(s) : /[^\p{ASCII}]/u.test(s)) {
          throw new Error(`${what}: invalid characters`);
        }
        return s;
      }
      case Tag.BMP_STRING: {
        if (v.length % 2) throw new Error(`${what}: odd-length BMPString`);
        let s = "";
        for (let i = 0; i < v.length; i += 2) s += String.fromCharCode(v.readUInt16BE(i));
        if (!isWellFormedUtf16(s)) throw new Error(`${what}: invalid UTF-16`);
        return s;
      }
    }
  }
  throw new Error(`${what}: unsupported string type`);
}

// ---------------------------------------------------------------- PEM

export function pemEncode(label: string, der: Buffer): string {
  const body = der.toString("base64").replace(/.{64}(?=.)/g, "$&\n");
  return `-----BEGIN ${label}-----\n${body}\n-----END ${label}-----\n`;
}

/**
 * DER payloads of every PEM block carrying one of `labels`, in order. Text between blocks is
 * ignored (RFC 7468 section 5); RFC 1421 headers are not supported.
 */
export function pemDecodeAll(pem: string, labels: string | readonly string[]): Buffer[] {
  const wanted = typeof labels === "string" ? [labels] : labels;
  const out: Buffer[] = [];
  // The body class excludes '-', so each match attempt scans at most to the next dash (no ReDoS).
  for (const m of pem.matchAll(/-----BEGIN ([A-Z0-9 ]+)-----([A-Za-z0-9+/=\s]*)-----END ([A-Z0-9 ]+)-----/g)) {
    if (m[1] !== m[3] || !wanted.includes(m[1])) continue;
    const b64 = m[2].replace(/\s+/g, "");
    if (b64.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(b64)) throw new Error(`PEM: malformed base64 in ${m[1]}`);
    out.push(Buffer.from(b64, "base64"));
  }
  return out;
}

/** The DER payload of the single PEM block with the given label. */
export function pemDecode(pem: string, label: string): Buffer {
  const blocks = pemDecodeAll(pem, label);
  if (blocks.length !== 1) throw new Error(`PEM: expected one ${label} block, found ${blocks.length}`);
  return blocks[0];
}
